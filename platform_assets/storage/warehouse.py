"""The warehouse resource: how Python assets read and write tables, whatever the engine.

Assets call `query`, `replace_table`, `replace_slice` and `append` on a `Warehouse`; each write is one
transaction, so a failed or killed run leaves the previous table (or slice) as it was, and re-running
a slice replaces it instead of duplicating it (`replace_table_chunks`, for a table built a part at a
time, writes the parts aside and swaps them in with one transaction). DuckDB (one file) is the embedded
default; Postgres (`platform_assets/storage/postgres_warehouse.py`) is the production one. SQL passed to
`query` is the common subset of both dialects with `?` placeholders.
"""

import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

# The Dagster concurrency pool of every step that writes the warehouse: a DuckDB file takes one writer
# (the instance sets the pool's limit: deploy/dagster-local.yaml).
WAREHOUSE_POOL = "warehouse"


def ident(name: str) -> str:
    """A quoted identifier, refusing anything that is not a plain name (no SQL from data)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


def qualified(schema: str, table: str) -> str:
    return f"{ident(schema)}.{ident(table)}"


def typed(df: pl.DataFrame) -> pl.DataFrame:
    """Columns that are all-null literals get a concrete type both engines can store."""
    return df.with_columns(pl.col(c).cast(pl.String) for c, t in df.schema.items() if t == pl.Null)


def chunk_schema(first: pl.Schema | None, df: pl.DataFrame) -> pl.Schema:
    """The columns of a table written in chunks: the first chunk's, which every later one must repeat."""
    if first is not None and df.schema != first:
        raise ValueError(f"a chunk's columns {dict(df.schema)} differ from the first chunk's {dict(first)}")
    return df.schema


@dataclass(frozen=True)
class AtLeast:
    """A `where` value matching `column >= value` (e.g. every period from a date on) instead of equality."""

    value: object


def predicate(where: Mapping[str, object]) -> str:
    return " and ".join(
        f"{ident(c)} >= ?" if isinstance(v, AtLeast) else f"{ident(c)} = ?" for c, v in where.items()
    )


def parameters(where: Mapping[str, object]) -> list:
    """The values `predicate(where)` binds, in order."""
    return [v.value if isinstance(v, AtLeast) else v for v in where.values()]


class Warehouse(dg.ConfigurableResource):
    """What the assets need of a warehouse; the engine behind it is chosen by configuration."""

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        raise NotImplementedError

    def table_exists(self, schema: str, table: str) -> bool:
        raise NotImplementedError

    def ensure_table(self, schema: str, table: str, columns: Mapping[str, pl.DataType]) -> None:
        """Create an empty table with the contract's columns, so dbt sources always resolve."""
        raise NotImplementedError

    def replace_table(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Swap the whole table in one transaction."""
        raise NotImplementedError

    def replace_table_chunks(self, schema: str, table: str, chunks: Iterable[pl.DataFrame]) -> int:
        """Swap the whole table for the rows of `chunks` (one schema; at least one chunk), taking each
        chunk from the iterable only once the previous one is written, so a caller building them one by
        one holds one at a time. The rows go to `<table>__building` and one transaction swaps it in: an
        error (one raised by the iterable too) or a kill leaves the previous table as it was."""
        raise NotImplementedError

    def replace_slice(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int:
        """Delete the rows matching `where` and insert `df` in one transaction: idempotent re-runs.

        `where` maps columns to values (`=`) or to `AtLeast(value)` (`>=`: a table's tail, e.g. the
        periods an incremental build recomputed)."""
        if not where:
            raise ValueError("replace_slice needs a predicate; use append to add rows")
        return self._write(schema, table, typed(df), where)

    def append(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Add rows in one transaction."""
        return self._write(schema, table, typed(df), {})

    def _write(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int:
        raise NotImplementedError


class DuckDBWarehouse(Warehouse):
    """One DuckDB file; DuckDB allows one writer per file, so connections are short-lived."""

    path: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # dbt runs as a subprocess and finds the same file through its profile's env_var().
        os.environ["SHELFCAST_DUCKDB_PATH"] = str(Path(self.path).resolve())

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(self.path)
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.connect() as con:
            return con.execute(sql, params or []).pl()

    def table_exists(self, schema: str, table: str) -> bool:
        sql = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
        with self.connect() as con:
            return con.execute(sql, [schema, table]).fetchone()[0] > 0

    def ensure_table(self, schema: str, table: str, columns: Mapping[str, pl.DataType]) -> None:
        empty = pl.DataFrame(schema=dict(columns))  # noqa: F841 -- read by DuckDB's replacement scan
        with self.connect() as con:
            con.execute(f"create schema if not exists {ident(schema)}")
            con.execute(f"create table if not exists {qualified(schema, table)} as select * from empty")

    def replace_table(self, schema: str, table: str, df: pl.DataFrame) -> int:
        with self.connect() as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {ident(schema)}")
            con.register("incoming", typed(df).to_arrow())
            con.execute(f"create or replace table {qualified(schema, table)} as select * from incoming")
            con.execute("commit")
        return df.height

    def replace_table_chunks(self, schema: str, table: str, chunks: Iterable[pl.DataFrame]) -> int:
        # A transaction and a connection per chunk: DuckDB holds what a transaction wrote in memory until
        # it ends, and caches blocks until the last connection closes (measured: ~200 bytes a feature
        # row, as much as the rows themselves, in one transaction).
        building, columns, rows = qualified(schema, f"{table}__building"), None, 0
        for chunk in chunks:
            df = typed(chunk)
            first, columns = columns is None, chunk_schema(columns, df)
            with self.connect() as con:
                con.execute(f"create schema if not exists {ident(schema)}")
                con.register("incoming", df.to_arrow())
                if first:  # replaces what a failed run left
                    con.execute(f"create or replace table {building} as select * from incoming")
                else:
                    con.execute(f"insert into {building} by name select * from incoming")
            rows += df.height
            del chunk, df  # not held while the iterable builds the next chunk
        if columns is None:
            raise ValueError(f"no chunks to write to {qualified(schema, table)}")
        with self.connect() as con:
            con.execute("begin")
            con.execute(f"drop table if exists {qualified(schema, table)}")
            con.execute(f"alter table {building} rename to {ident(table)}")
            con.execute("commit")
        return rows

    def _write(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int:
        target = qualified(schema, table)
        with self.connect() as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {ident(schema)}")
            con.register("incoming", df.to_arrow())
            con.execute(f"create table if not exists {target} as select * from incoming limit 0")
            if where:
                con.execute(f"delete from {target} where {predicate(where)}", parameters(where))
            con.execute(f"insert into {target} by name select * from incoming")
            con.execute("commit")
        return df.height
