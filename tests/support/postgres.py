"""Throwaway Postgres databases on the local server the Postgres tests use."""

import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

import adbc_driver_postgresql.dbapi as adbc

from platform_assets.storage.databases import COLLATION

# The local server the Postgres tests use, and its maintenance database: where databases are created
# and dropped.
PG_URL = "postgresql://postgres@127.0.0.1:5432"
PG_SERVER = f"{PG_URL}/postgres"


def drop_databases(names: Iterable[str]) -> None:
    """Drop each database, closing the connections still open to it."""
    with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
        for name in names:
            cur.execute(f'drop database if exists "{name}" with (force)')


@contextmanager
def scratch_database(dsn: str) -> Iterator[str]:
    """The database `dsn` names, created empty (with the warehouse's collation) and dropped after."""
    name = dsn.rsplit("/", 1)[1]
    drop_databases([name])
    with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f'create database "{name}" {COLLATION}')
    try:
        yield dsn
    finally:
        drop_databases([name])


@contextmanager
def password_role(name: str, password: str) -> Iterator[str]:
    """A login role with a password that may create databases (the server's trust auth accepts any
    password: the point is that the DSN carries one); dropped after, with the databases it owns."""
    with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
        cur.execute(f'drop role if exists "{name}"')
        cur.execute(f"create role \"{name}\" login createdb password '{password}'")
    try:
        yield name
    finally:
        with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
            cur.execute(
                "select datname from pg_database d join pg_roles r on d.datdba = r.oid where rolname = $1",
                [name],
            )
            owned = [row[0] for row in cur.fetchall()]
        drop_databases(owned)
        with adbc.connect(PG_SERVER, autocommit=True) as con, con.cursor() as cur:
            cur.execute(f'drop role if exists "{name}"')


def _holds(value: bytes | None, needle: bytes) -> bool:
    """A binary value holds `needle` as is or zlib-compressed (how Dagster stores its snapshots)."""
    if value is None:
        return False
    with suppress(zlib.error):
        value = zlib.decompress(value)
    return needle in value


def tables_containing(dsn: str, needle: str) -> list[str]:
    """Every table of the database (any schema but the catalog's) with a row holding `needle`: in its
    text form, or in a binary column, compressed or not."""
    with adbc.connect(dsn) as con, con.cursor() as cur:
        cur.execute(
            "select c.table_schema, c.table_name, c.column_name, c.data_type"
            " from information_schema.columns c join information_schema.tables t"
            " using (table_schema, table_name) where t.table_type = 'BASE TABLE'"
            " and c.table_schema not in ('pg_catalog', 'information_schema')"
        )
        columns = cur.fetchall()
        hits = set()
        for schema, table, column, kind in columns:
            name = f'"{schema}"."{table}"'
            if kind != "bytea":
                cur.execute(f'select count(*) from {name} where strpos("{column}"::text, $1) > 0', [needle])
                found = cur.fetchone()[0] > 0
            else:
                cur.execute(f'select "{column}" from {name}')
                found = any(_holds(row[0], needle.encode()) for row in cur.fetchall())
            if found:
                hits.add(f"{schema}.{table}.{column}")
        con.rollback()
    return sorted(hits)
