"""Monitoring: the statistics behind the drift and decay checks, the warehouse reads they need and where
their results go (no Dagster wiring here: that is defs/monitoring.py)."""
