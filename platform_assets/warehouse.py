"""The warehouse resource: how Python assets read and write tables, whatever the engine.

Assets call `query`, `replace_table` and `replace_slice`; each write is one transaction, so a failed
run leaves the previous table (or partition) as it was. DuckDB is the embedded default.
"""

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"unsafe SQL identifier {name!r}")
    return f'"{name}"'


class DuckDBWarehouse(dg.ConfigurableResource):
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
        """Create an empty table with the contract's columns, so dbt sources always resolve."""
        empty = pl.DataFrame(schema=dict(columns))  # noqa: F841 -- read by DuckDB's replacement scan
        target = f"{_ident(schema)}.{_ident(table)}"
        with self.connect() as con:
            con.execute(f"create schema if not exists {_ident(schema)}")
            con.execute(f"create table if not exists {target} as select * from empty")

    def replace_table(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Swap the whole table in one transaction."""
        target = f"{_ident(schema)}.{_ident(table)}"
        with self.connect() as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {_ident(schema)}")
            con.register("incoming", df.to_arrow())
            con.execute(f"create or replace table {target} as select * from incoming")
            con.execute("commit")
        return df.height

    def replace_slice(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, str]) -> int:
        """Delete the rows matching `where` and insert `df` in one transaction: idempotent re-runs."""
        if not where:
            raise ValueError("replace_slice needs a predicate; use append to add rows")
        return self._write(schema, table, df, where)

    def append(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Add rows (e.g. a new forecast generation) in one transaction."""
        return self._write(schema, table, df, {})

    def _write(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, str]) -> int:
        target = f"{_ident(schema)}.{_ident(table)}"
        with self.connect() as con:
            con.execute("begin")
            con.execute(f"create schema if not exists {_ident(schema)}")
            con.register("incoming", df.to_arrow())
            con.execute(f"create table if not exists {target} as select * from incoming limit 0")
            if where:
                predicate = " and ".join(f"{_ident(c)} = ?" for c in where)
                con.execute(f"delete from {target} where {predicate}", list(where.values()))
            con.execute(f"insert into {target} by name select * from incoming")
            con.execute("commit")
        return df.height
