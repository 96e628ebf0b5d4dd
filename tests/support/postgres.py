"""Throwaway Postgres databases on the local server the Postgres tests use."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

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
