"""The DuckDB warehouse resource: slices replace atomically, a failed write changes nothing."""

import polars as pl
import pytest

from platform_assets.warehouse import DuckDBWarehouse


@pytest.fixture
def warehouse(tmp_path) -> DuckDBWarehouse:
    return DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))


def rows(w: DuckDBWarehouse) -> list[tuple]:
    return w.query("select * from raw.t order by all").rows()


def test_replace_slice_is_idempotent(warehouse):
    df = pl.DataFrame({"part": ["a", "a", "b"], "x": [1, 2, 3]})
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "a"), {"part": "a"})
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "b"), {"part": "b"})
    first = rows(warehouse)
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "a"), {"part": "a"})
    assert rows(warehouse) == first == [("a", 1), ("a", 2), ("b", 3)]


def test_failed_write_leaves_previous_rows(warehouse):
    warehouse.replace_slice("raw", "t", pl.DataFrame({"part": ["a"], "x": [1]}), {"part": "a"})
    # A value that cannot be cast fails the insert after the delete ran: the transaction rolls back.
    bad = pl.DataFrame({"part": ["a"], "x": ["not a number"]})
    with pytest.raises(Exception, match="(?i)conver|cast"):
        warehouse.replace_slice("raw", "t", bad, {"part": "a"})
    assert rows(warehouse) == [("a", 1)]


def test_unsafe_identifiers_are_refused(warehouse):
    with pytest.raises(ValueError, match="unsafe"):
        warehouse.replace_table("raw", "t; drop table raw.t", pl.DataFrame({"x": [1]}))


def test_append_adds_a_generation(warehouse):
    warehouse.append("raw", "t", pl.DataFrame({"part": ["a"], "x": [1]}))
    warehouse.append("raw", "t", pl.DataFrame({"part": ["b"], "x": [2]}))
    assert rows(warehouse) == [("a", 1), ("b", 2)]
