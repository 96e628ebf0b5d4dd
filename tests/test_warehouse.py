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

from platform_assets.warehouse import DuckDBWarehouse, Warehouse
from platform_assets.warehouse_postgres import PostgresWarehouse, numbered


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


def test_unsafe_identifiers_are_refused(warehouse):
    with pytest.raises(ValueError, match="unsafe"):
        warehouse.replace_table("raw", "t; drop table raw.t", pl.DataFrame({"x": [1]}))


def test_append_adds_a_generation(warehouse):
    warehouse.append("raw", "t", pl.DataFrame({"part": ["a"], "x": [1]}))
    warehouse.append("raw", "t", pl.DataFrame({"part": ["b"], "x": [2]}))
    assert rows(warehouse) == [("a", 1), ("b", 2)]


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
from platform_assets.warehouse import DuckDBWarehouse
from platform_assets.warehouse_postgres import PostgresWarehouse
kind, target = sys.argv[1], sys.argv[2]
w = DuckDBWarehouse(path=target) if kind == "duckdb" else PostgresWarehouse(dsn=target)
big = pl.DataFrame({"part": ["a"] * 3_000_000, "x": range(3_000_000)})
print("writing", flush=True)
while True:  # rewrite the slice until killed: the kill lands inside a transaction
    w.replace_slice("killed", "t", big, {"part": "a"})
"""


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_sigkill_mid_write_leaves_the_previous_slice(kind, tmp_path, request):
    target = str(tmp_path / "w.duckdb") if kind == "duckdb" else request.getfixturevalue("pg_dsn")
    w = DuckDBWarehouse(path=target) if kind == "duckdb" else PostgresWarehouse(dsn=target)
    before = pl.DataFrame({"part": ["a", "a", "b"], "x": [1, 2, 3]})
    w.replace_table("killed", "t", before)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, kind, target],
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
    # Either the slice as it was or one complete rewrite: never a partial or doubled slice.
    assert after.rows() in ([("a", 2, 2), ("b", 1, 1)], [("a", 3_000_000, 3_000_000), ("b", 1, 1)])
