"""The smart-lock API of seed 003 (the "ARAN" Plus Platform's Locks collection), one module per
resource."""
