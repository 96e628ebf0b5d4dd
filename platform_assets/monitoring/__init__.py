"""Monitoring: pure statistics behind the drift and decay asset checks (no Dagster imports here)."""
