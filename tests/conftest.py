"""Fixtures shared across test modules; the helpers they and the tests use live in tests/support."""

import os
from collections.abc import Iterator

import dagster as dg
import pytest

from tests.support.graph import SMALL_GRAPH, ServedGraph, shelfcast_graph
from tests.support.postgres import PG_URL, drop_databases


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """Fresh Postgres databases for this test session (the warehouse's, plus `_dagster` and `_mlflow`
    beside it), dropped afterwards. Outside CI a missing server skips the Postgres tests with the
    reason; in CI (CI set) it fails them."""
    from platform_assets.storage.databases import ensure_databases

    dsn = f"{PG_URL}/shelfcast_test_{os.getpid()}"
    try:
        created = ensure_databases(dsn)
    except Exception as exc:  # no server answering: the only case a Postgres test may skip
        if os.environ.get("CI"):
            raise
        pytest.skip(f"Postgres at {PG_URL} did not answer ({exc}); CI is unset, so skipping")
    try:
        yield dsn
    finally:
        drop_databases(created)


@pytest.fixture(scope="session")
def served_graph(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedGraph]:
    """A small graph the serving tests share (one full_refresh): its home, settings and instance."""
    home = tmp_path_factory.mktemp("serving")
    with dg.DagsterInstance.ephemeral() as instance:
        with shelfcast_graph(home, instance, **SMALL_GRAPH) as g:
            result = g.run_history()
            assert result.success
        yield ServedGraph(home, dict(SMALL_GRAPH), instance, result)
