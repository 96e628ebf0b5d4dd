"""Which store keeps the API's keys and request log, chosen by the warehouse: embedded (DuckDB),
SQLite files of the API's own under `$SHELFCAST_HOME/serving`; Postgres, the warehouse database's
`serving` schema (shared by every API replica; nothing pod-local)."""

from pathlib import Path

from platform_assets.serving.keys import KeyStore, SqliteKeyStore
from platform_assets.serving.layout import keys_path, requests_path
from platform_assets.serving.requestlog import RequestStore, SqliteRequestStore


def key_store(home: Path, pg_dsn: str | None, pepper: str | None = None) -> KeyStore:
    """The key store: Postgres when `pg_dsn` (the warehouse is Postgres), else the SQLite file."""
    if pg_dsn:
        from platform_assets.serving.postgres_store import PostgresKeyStore

        return PostgresKeyStore(pg_dsn, pepper)
    return SqliteKeyStore(keys_path(home), pepper)


def request_store(home: Path, pg_dsn: str | None) -> RequestStore:
    """The request log's store, chosen as `key_store`."""
    if pg_dsn:
        from platform_assets.serving.postgres_store import PostgresRequestStore

        return PostgresRequestStore(pg_dsn)
    return SqliteRequestStore(requests_path(home))
