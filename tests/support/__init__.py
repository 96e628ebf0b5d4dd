"""Helpers the test modules share: graph builders, synthetic frames, Postgres databases.

Fixtures live in tests/conftest.py; these are plain functions and constants a test imports.
"""
