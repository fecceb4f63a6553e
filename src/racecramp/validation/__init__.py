"""Validation: landed records checked against their kind's model and the race context, without database I/O."""
