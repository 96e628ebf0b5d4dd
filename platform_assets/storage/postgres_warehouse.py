"""The Postgres warehouse: the same tables and calls as DuckDB, through ADBC (Arrow in, Arrow out).

Writes go through `adbc_ingest` (COPY under the hood) into a temporary table, then one statement
moves them into place, all inside one transaction: a failed or killed run leaves the previous data,
and no row ever travels through a Python loop.
"""

import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

import dagster as dg
import polars as pl

from platform_assets.storage.warehouse import (
    TABLE_COLUMNS,
    Warehouse,
    chunk_schema,
    ident,
    parameters,
    predicate,
    qualified,
    typed,
)

if TYPE_CHECKING:
    import adbc_driver_postgresql.dbapi as adbc

PG_TYPES = {
    pl.String: "text",
    pl.Float64: "double precision",
    pl.Float32: "real",
    pl.Int64: "bigint",
    pl.Int32: "integer",
    pl.Int16: "smallint",
    pl.Int8: "smallint",
    pl.UInt32: "bigint",
    pl.Boolean: "boolean",
    pl.Date: "date",
}
_QUOTED_OR_MARK = re.compile(r"'(?:[^']|'')*'|\?")


def numbered(sql: str) -> str:
    """`?` placeholders (the DuckDB style the assets write) as Postgres' `$1, $2, ...`."""
    count = 0

    def swap(match: re.Match) -> str:
        nonlocal count
        if match.group() != "?":
            return match.group()
        count += 1
        return f"${count}"

    return _QUOTED_OR_MARK.sub(swap, sql)


def pg_type(dtype: pl.DataType) -> str:
    if isinstance(dtype, pl.Datetime):
        return "timestamp"
    try:
        return PG_TYPES[dtype.base_type()]
    except KeyError:
        raise TypeError(f"no Postgres column type for polars {dtype}") from None


def dbt_environment(dsn: str) -> dict[str, str]:
    """The variables dbt's `postgres` profile reads, from the one DSN users configure."""
    url = urlparse(dsn)
    return {
        "SHELFCAST_DBT_TARGET": "postgres",
        "SHELFCAST_PG_HOST": url.hostname or "127.0.0.1",
        "SHELFCAST_PG_PORT": str(url.port or 5432),
        "SHELFCAST_PG_USER": unquote(url.username or "postgres"),
        "SHELFCAST_PG_PASSWORD": unquote(url.password or ""),
        "SHELFCAST_PG_DATABASE": url.path.lstrip("/") or "postgres",
    }


class PostgresWarehouse(Warehouse):
    """One Postgres database; schemas raw, staging, intermediate, marts, features, ml, monitoring."""

    dsn: str

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # dbt runs as a subprocess and connects through its profile's env_var() calls.
        os.environ.update(dbt_environment(self.dsn))

    @contextmanager
    def connect(self) -> Iterator["adbc.Connection"]:
        import adbc_driver_postgresql.dbapi as adbc  # only a Postgres deployment loads the driver

        con = adbc.connect(self.dsn)  # autocommit off: every call below is one transaction
        try:
            yield con
        finally:
            con.close()

    def query(self, sql: str, params: list | None = None) -> pl.DataFrame:
        with self.connect() as con, con.cursor() as cur:
            cur.execute(numbered(sql), params or None)
            frame = pl.from_arrow(cur.fetch_arrow_table())
            con.rollback()  # read-only: end the transaction without writing
        return frame

    def table_exists(self, schema: str, table: str) -> bool:
        sql = "select count(*) as n from information_schema.tables where table_schema = ? and table_name = ?"
        return self.query(sql, [schema, table]).item() > 0

    def ensure_table(self, schema: str, table: str, columns: Mapping[str, pl.DataType]) -> None:
        ddl = ", ".join(f"{ident(c)} {pg_type(t)}" for c, t in columns.items())
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {ident(schema)}")
            cur.execute(f"create table if not exists {qualified(schema, table)} ({ddl})")
            con.commit()

    def replace_table(self, schema: str, table: str, df: pl.DataFrame) -> int:
        target = qualified(schema, table)
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {ident(schema)}")
            self._stage(cur, typed(df))
            cur.execute(f"drop table if exists {target}")
            cur.execute(f"create table {target} ({self._ddl(typed(df))})")
            cur.execute(f"insert into {target} select * from incoming")
            cur.execute(f"analyze {target}")  # fresh statistics: without them joins plan as nested loops
            con.commit()
        return df.height

    def replace_table_chunks(self, schema: str, table: str, chunks: Iterable[pl.DataFrame]) -> int:
        # One transaction: the server, not this process, holds what it wrote. The previous table is
        # locked only by the swap at the end, not while the chunks are built.
        target, building = qualified(schema, table), qualified(schema, f"{table}__building")
        columns, rows = None, 0
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {ident(schema)}")
            for chunk in chunks:
                df = typed(chunk)
                first, columns = columns is None, chunk_schema(columns, df)
                if first:
                    self._stage(cur, df)
                    cur.execute(f"drop table if exists {building}")
                    cur.execute(f"create table {building} ({self._ddl(df)})")
                else:
                    cur.execute("truncate incoming")
                    self._load(cur, df)
                cur.execute(f"insert into {building} select * from incoming")
                rows += df.height
                del chunk, df  # not held while the iterable builds the next chunk
            if columns is None:
                raise ValueError(f"no chunks to write to {target}")
            cur.execute(f"drop table if exists {target}")
            cur.execute(f"alter table {building} rename to {ident(table)}")
            cur.execute(f"analyze {target}")
            con.commit()
        return rows

    def _write(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int:
        target = qualified(schema, table)
        columns = ", ".join(ident(c) for c in df.columns)
        with self.connect() as con, con.cursor() as cur:
            cur.execute(f"create schema if not exists {ident(schema)}")
            cur.execute(f"create table if not exists {target} ({self._ddl(df)})")
            self._add_columns(cur, schema, table, df)
            self._stage(cur, df)
            if where:
                cur.execute(numbered(f"delete from {target} where {predicate(where)}"), parameters(where))
            cur.execute(f"insert into {target} ({columns}) select {columns} from incoming")
            cur.execute(f"analyze {target}")
            con.commit()
        return df.height

    @staticmethod
    def _add_columns(cur: "adbc.Cursor", schema: str, table: str, df: pl.DataFrame) -> None:
        """The columns of `df` the table lacks, added (null in its rows)."""
        cur.execute(numbered(TABLE_COLUMNS), [schema, table])
        existing = {row[0] for row in cur.fetchall()}
        target = qualified(schema, table)
        for name, dtype in df.schema.items():
            if name not in existing:
                cur.execute(f"alter table {target} add column {ident(name)} {pg_type(dtype)}")

    @staticmethod
    def _ddl(df: pl.DataFrame) -> str:
        return ", ".join(f"{ident(c)} {pg_type(t)}" for c, t in df.schema.items())

    def _stage(self, cur: "adbc.Cursor", df: pl.DataFrame) -> None:
        """The incoming rows in a temporary table of the transaction, loaded by COPY."""
        cur.execute(f"create temporary table incoming ({self._ddl(df)}) on commit drop")
        self._load(cur, df)

    @staticmethod
    def _load(cur: "adbc.Cursor", df: pl.DataFrame) -> None:
        """Append `df` to the staged `incoming` by COPY."""
        if df.height:
            cur.adbc_ingest("incoming", df.to_arrow(), mode="append", temporary=True)
