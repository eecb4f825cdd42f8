"""Site load management: load groups share a grid limit among charge points and locker bays (#19)."""
