"""The warehouse resource: how Python assets read and write tables, whatever the engine.

Assets call `query`, `replace_table`, `replace_slice` and `append` on a `Warehouse`; each write is one
transaction, so a failed or killed run leaves the previous table (or slice) as it was, and re-running
a slice replaces it instead of duplicating it (`replace_table_chunks`, for a table built a part at a
time, writes the parts aside and swaps them in with one transaction). DuckDB (one file) is the embedded
default (`duckdb_warehouse.py`); Postgres (`postgres_warehouse.py`) is the production one. SQL passed to
`query` is the common subset of both dialects with `?` placeholders.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import dagster as dg
import polars as pl

# The Dagster concurrency pool of every step that writes the warehouse: a DuckDB file takes one writer
# (the instance sets the pool's limit: deploy/dagster-local.yaml).
WAREHOUSE_POOL = "warehouse"
# The kind of the assets that write warehouse tables: shown in the UI as the configured engine
# (definitions.py), since the same asset writes DuckDB or Postgres.
WAREHOUSE_KIND = "warehouse"
ENGINE_KINDS = frozenset({WAREHOUSE_KIND, "duckdb", "postgres"})


# The columns a table has (parameters: schema, table); writes add the ones an incoming frame brings.
TABLE_COLUMNS = "select column_name from information_schema.columns where table_schema = ? and table_name = ?"


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


@dataclass(frozen=True)
class OneOf:
    """A `where` value matching `column IN (values)`: many slices (e.g. every monthly partition of a
    backfill) replaced by one delete and one insert instead of one transaction per slice."""

    values: tuple


def _condition(column: str, value: object) -> str:
    if isinstance(value, AtLeast):
        return f"{ident(column)} >= ?"
    if isinstance(value, OneOf):
        return f"{ident(column)} in ({', '.join('?' * len(value.values))})" if value.values else "false"
    return f"{ident(column)} = ?"


def predicate(where: Mapping[str, object]) -> str:
    return " and ".join(_condition(c, v) for c, v in where.items())


def parameters(where: Mapping[str, object]) -> list:
    """The values `predicate(where)` binds, in order."""
    bound: list = []
    for v in where.values():
        bound.extend(v.values if isinstance(v, OneOf) else [v.value if isinstance(v, AtLeast) else v])
    return bound


class Warehouse(dg.ConfigurableResource, ABC):
    """What the assets need of a warehouse; the engine behind it is chosen by configuration
    (storage/duckdb_warehouse.py, storage/postgres_warehouse.py)."""

    @abstractmethod
    def query(self, sql: str, params: list | None = None) -> pl.DataFrame: ...

    @abstractmethod
    def table_exists(self, schema: str, table: str) -> bool: ...

    @abstractmethod
    def ensure_table(self, schema: str, table: str, columns: Mapping[str, pl.DataType]) -> None:
        """Create an empty table with the contract's columns, so dbt sources always resolve."""

    @abstractmethod
    def replace_table(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Swap the whole table in one transaction."""

    @abstractmethod
    def replace_table_chunks(self, schema: str, table: str, chunks: Iterable[pl.DataFrame]) -> int:
        """Swap the whole table for the rows of `chunks` (one schema; at least one chunk), taking each
        chunk from the iterable only once the previous one is written, so a caller building them one by
        one holds one at a time. The rows go to `<table>__building` and one transaction swaps it in: an
        error (one raised by the iterable too) or a kill leaves the previous table as it was."""

    def replace_slice(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int:
        """Delete the rows matching `where` and insert `df` in one transaction: idempotent re-runs.

        `where` maps columns to values (`=`), to `AtLeast(value)` (`>=`: a table's tail, e.g. the
        periods an incremental build recomputed) or to `OneOf(values)` (`IN`: many slices at once). A
        column of `df` the table lacks is added (null in the older rows): a newly configured interval
        level adds its quantiles to `marts.forecasts`."""
        if not where:
            raise ValueError("replace_slice needs a predicate; use append to add rows")
        return self._write(schema, table, typed(df), where)

    def append(self, schema: str, table: str, df: pl.DataFrame) -> int:
        """Add rows in one transaction (new columns added as in `replace_slice`)."""
        return self._write(schema, table, typed(df), {})

    @abstractmethod
    def _write(self, schema: str, table: str, df: pl.DataFrame, where: Mapping[str, object]) -> int: ...
