"""The locker gateway of seed 004 ("Harbor Gateway"), one module per resource."""
