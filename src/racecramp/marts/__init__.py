"""Marts: pure transforms from the warehouse tables to what the medical director reads (registry: marts.registry)."""
