"""Dagster definitions, one module per asset layer, merged by `platform_assets.definitions`."""
