"""Tables of the sync engine (push side): owned by the sync engine."""
