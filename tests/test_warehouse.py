"""The warehouse resources, DuckDB and Postgres alike: slices replace atomically and idempotently,
a failed write changes nothing, and a writer killed with SIGKILL mid-write leaves the previous rows."""

import os
import signal
import subprocess
import sys
import time
import uuid

import polars as pl
import pytest

from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from platform_assets.storage.postgres_warehouse import PostgresWarehouse, numbered
from platform_assets.storage.warehouse import OneOf, Warehouse


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request, tmp_path) -> Warehouse:
    if request.param == "duckdb":
        return DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    dsn = request.getfixturevalue("pg_dsn")
    schema = f"t_{uuid.uuid4().hex[:8]}"  # one schema per test: tests share the session database
    return _Scoped(PostgresWarehouse(dsn=dsn), schema)


class _Scoped:
    """The resource with every call pointed at this test's own schema instead of `raw`."""

    def __init__(self, inner: Warehouse, schema: str) -> None:
        self.inner, self.schema = inner, schema

    def __getattr__(self, name: str):
        method = getattr(self.inner, name)
        if name == "query":
            return lambda sql, params=None: method(sql.replace("raw.", f"{self.schema}."), params)
        return lambda schema, *args: method(self.schema if schema == "raw" else schema, *args)


def rows(w) -> list[tuple]:
    return w.query("select * from raw.t order by part, x").rows()


def test_replace_slice_is_idempotent(warehouse):
    df = pl.DataFrame({"part": ["a", "a", "b"], "x": [1, 2, 3]})
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "a"), {"part": "a"})
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "b"), {"part": "b"})
    first = rows(warehouse)
    warehouse.replace_slice("raw", "t", df.filter(pl.col("part") == "a"), {"part": "a"})
    assert rows(warehouse) == first == [("a", 1), ("a", 2), ("b", 3)]


def test_many_slices_replace_together(warehouse):
    """OneOf: the slices named are replaced by the rows given (a slice given no rows empties), the
    others stay; an empty OneOf deletes nothing."""
    df = pl.DataFrame({"part": ["a", "b", "c"], "x": [1, 2, 3]})
    warehouse.replace_slice("raw", "t", df, {"part": OneOf(("a", "b", "c"))})
    warehouse.replace_slice("raw", "t", pl.DataFrame({"part": ["b"], "x": [20]}), {"part": OneOf(("a", "b"))})
    assert rows(warehouse) == [("b", 20), ("c", 3)]
    warehouse.replace_slice("raw", "t", pl.DataFrame({"part": ["d"], "x": [4]}), {"part": OneOf(())})
    assert rows(warehouse) == [("b", 20), ("c", 3), ("d", 4)]


def test_failed_write_leaves_previous_rows(warehouse):
    warehouse.replace_slice("raw", "t", pl.DataFrame({"part": ["a"], "x": [1]}), {"part": "a"})
    # A value that cannot be stored fails after the delete ran: the transaction rolls back.
    bad = pl.DataFrame({"part": ["a"], "x": ["not a number"]})
    with pytest.raises(Exception, match="(?i)conver|cast|type"):
        warehouse.replace_slice("raw", "t", bad, {"part": "a"})
    assert rows(warehouse) == [("a", 1)]


def test_replace_table_swaps_everything(warehouse):
    warehouse.replace_table("raw", "t", pl.DataFrame({"part": ["a", "b"], "x": [1, 2]}))
    warehouse.replace_table("raw", "t", pl.DataFrame({"part": ["c"], "x": [3]}))
    assert rows(warehouse) == [("c", 3)]


def test_replace_table_chunks_writes_every_chunk(warehouse):
    warehouse.replace_table("raw", "t", pl.DataFrame({"part": ["old"], "x": [0]}))
    chunks = (pl.DataFrame({"part": [p] * 2, "x": [i, i + 1]}) for i, p in enumerate("abc"))
    assert warehouse.replace_table_chunks("raw", "t", chunks) == 6
    assert rows(warehouse) == [("a", 0), ("a", 1), ("b", 1), ("b", 2), ("c", 2), ("c", 3)]
    # one chunk without rows still makes the table, with its columns
    warehouse.replace_table_chunks("raw", "t", [pl.DataFrame(schema={"part": pl.String, "x": pl.Int64})])
    assert warehouse.query("select * from raw.t").columns == ["part", "x"] and rows(warehouse) == []


def test_replace_table_chunks_failing_midway_leaves_the_previous_table(warehouse):
    before = pl.DataFrame({"part": ["old", "old"], "x": [1, 2]})
    warehouse.replace_table("raw", "t", before)

    def failing():
        yield pl.DataFrame({"part": ["a"], "x": [1]})
        raise RuntimeError("building the second chunk failed")

    with pytest.raises(RuntimeError, match="second chunk"):
        warehouse.replace_table_chunks("raw", "t", failing())
    with pytest.raises(ValueError, match="differ from the first"):
        chunks = [pl.DataFrame({"part": ["a"], "x": [1]}), pl.DataFrame({"part": ["b"], "x": [2.5]})]
        warehouse.replace_table_chunks("raw", "t", chunks)
    with pytest.raises(ValueError, match="no chunks"):
        warehouse.replace_table_chunks("raw", "t", [])
    assert rows(warehouse) == [("old", 1), ("old", 2)]
    # what a failed write left aside does not get in the way of the next one
    assert warehouse.replace_table_chunks("raw", "t", [before.with_columns(part=pl.lit("new"))]) == 2
    assert rows(warehouse) == [("new", 1), ("new", 2)]


def test_unsafe_identifiers_are_refused(warehouse):
    with pytest.raises(ValueError, match="unsafe"):
        warehouse.replace_table("raw", "t; drop table raw.t", pl.DataFrame({"x": [1]}))


def test_append_adds_a_generation(warehouse):
    warehouse.append("raw", "t", pl.DataFrame({"part": ["a"], "x": [1]}))
    warehouse.append("raw", "t", pl.DataFrame({"part": ["b"], "x": [2]}))
    assert rows(warehouse) == [("a", 1), ("b", 2)]


def test_a_write_adds_the_columns_it_brings(warehouse):
    """A newly configured interval level writes quantile columns the table lacks: they are added, null in
    the older rows, instead of failing the write."""
    warehouse.append("marts", "bands", pl.DataFrame({"g": ["a"], "p10": [1.0]}))
    warehouse.replace_slice(
        "marts", "bands", pl.DataFrame({"g": ["b"], "p10": [2.0], "p97_5": [3.0]}), {"g": "b"}
    )
    got = warehouse.query("select g, p10, p97_5 from marts.bands order by g")
    assert got.rows() == [("a", 1.0, None), ("b", 2.0, 3.0)]


def test_types_round_trip(warehouse):
    from datetime import date, datetime

    df = pl.DataFrame(
        {
            "part": ["a", "b"],
            "x": [1, 2],
            "f": [0.5, None],
            "d": [date(2025, 1, 1), date(2025, 1, 2)],
            "ts": [datetime(2025, 1, 1, 3), datetime(2025, 1, 2, 4)],
            "ok": [True, False],
            "nothing": [None, None],
        }
    )
    warehouse.replace_slice("raw", "t", df, {"part": "a"})
    back = warehouse.query("select * from raw.t order by part")
    assert back.drop("nothing").equals(df.drop("nothing"))
    assert back["nothing"].dtype == pl.String


def test_placeholders_skip_quoted_text():
    assert numbered("select '?' as q, a from t where b = ? and c = ?") == (
        "select '?' as q, a from t where b = $1 and c = $2"
    )


KILLED_WRITER = """
import sys, polars as pl
from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from platform_assets.storage.postgres_warehouse import PostgresWarehouse
kind, target, how = sys.argv[1:4]
w = DuckDBWarehouse(path=target) if kind == "duckdb" else PostgresWarehouse(dsn=target)
big = pl.DataFrame({"part": ["a"] * 3_000_000, "x": range(3_000_000)})
chunks = [big.slice(0, 1_500_000), big.slice(1_500_000), pl.DataFrame({"part": ["b"], "x": [3]})]
print("writing", flush=True)
while True:  # rewrite until killed: the kill lands inside a write
    if how == "slice":
        w.replace_slice("killed", "t", big, {"part": "a"})
    else:  # the whole table, the same rows
        w.replace_table_chunks("killed", "t", iter(chunks))
"""


@pytest.mark.parametrize("how", ["slice", "chunks"])
@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_sigkill_mid_write_leaves_the_previous_rows(kind, how, tmp_path, request):
    target = str(tmp_path / "w.duckdb") if kind == "duckdb" else request.getfixturevalue("pg_dsn")
    w = DuckDBWarehouse(path=target) if kind == "duckdb" else PostgresWarehouse(dsn=target)
    before = pl.DataFrame({"part": ["a", "a", "b"], "x": [1, 2, 3]})
    w.replace_table("killed", "t", before)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, kind, target, how],
        stdout=subprocess.PIPE,
        text=True,
        cwd=os.getcwd(),
    )
    assert child.stdout.readline().strip() == "writing"
    time.sleep(2.5)  # the child rewrites the slice back to back: the kill lands inside one of them
    child.send_signal(signal.SIGKILL)
    child.wait()
    after = w.query(
        "select part, count(*) as n, count(distinct x) as xs from killed.t group by part order by part"
    )
    # Either the rows as they were or one complete rewrite: never a partial or doubled slice or table.
    assert after.rows() in ([("a", 2, 2), ("b", 1, 1)], [("a", 3_000_000, 3_000_000), ("b", 1, 1)])
