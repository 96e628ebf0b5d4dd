"""The API's keys and request log in Postgres: the warehouse database's `serving` schema. On
Kubernetes every API replica (and `shelfcast keys` run from any pod) shares them, no pod keeps a
local file, and `served_requests` reads the log from the database the warehouse is in.

Through ADBC like the warehouse (serving/requestlog.py and serving/keys.py hold the interfaces)."""

from datetime import datetime
from typing import TYPE_CHECKING

import polars as pl

from platform_assets.serving.keys import ApiKey, KeyStore
from platform_assets.serving.requestlog import END_OF_TIME, SCHEMA, RequestStore

if TYPE_CHECKING:
    import adbc_driver_postgresql.dbapi as adbc

SERVING_SCHEMA = "serving"
PG_TYPES = {pl.Int32: "integer", pl.Float64: "double precision", pl.Datetime("us", "UTC"): "timestamptz"}
REQUESTS = f"{SERVING_SCHEMA}.requests"
KEYS = f"{SERVING_SCHEMA}.api_keys"
REQUESTS_DDL = f"""
create table if not exists {REQUESTS} (
    {", ".join(f"{name} {PG_TYPES.get(t, 'text')}" for name, t in SCHEMA.items())},
    primary key (request_id)
);
create index if not exists requests_received_at on {REQUESTS} (received_at)
"""
KEYS_DDL = f"""
create table if not exists {KEYS} (
    key_id text primary key,
    name text not null,
    scope text not null,
    salt bytea not null,
    hash bytea not null,
    created_at text not null,
    revoked_at text
)
"""


def _ensure_requests(cur: "adbc.Cursor") -> None:
    """`serving.requests` with every column of SCHEMA: created, or given the columns a log written
    before them lacks. DDL runs only when something is missing: no lock on a table in use."""
    sql = "select column_name from information_schema.columns where table_schema = $1 and table_name = $2"
    cur.execute(sql, (SERVING_SCHEMA, "requests"))
    known = {row[0] for row in cur.fetchall()}
    if not known:
        for statement in REQUESTS_DDL.split(";"):
            cur.execute(statement)
    for name in [n for n in SCHEMA if n not in known and known]:
        cur.execute(f"alter table {REQUESTS} add column {name} {PG_TYPES.get(SCHEMA[name], 'text')}")


def _open(dsn: str, table: str) -> "adbc.Connection":
    """A connection (autocommit off) on which the `serving` schema and `table` (REQUESTS or KEYS) exist."""
    import adbc_driver_postgresql.dbapi as adbc  # only a Postgres deployment loads the driver

    con = adbc.connect(dsn)
    try:
        with con.cursor() as cur:
            cur.execute(f"create schema if not exists {SERVING_SCHEMA}")
            if table == REQUESTS:
                _ensure_requests(cur)
            else:
                cur.execute(KEYS_DDL)
        con.commit()
    except Exception:
        con.close()
        raise
    return con


class PostgresRequestStore(RequestStore):
    """`serving.requests`; the writer keeps one connection, opened again after a failure."""

    def __init__(self, dsn: str):
        self.dsn = dsn
        self._con: adbc.Connection | None = None

    def append(self, rows: pl.DataFrame) -> None:
        if self._con is None:
            self._con = _open(self.dsn, REQUESTS)
        columns = ", ".join(SCHEMA)
        with self._con.cursor() as cur:
            cur.execute(f"create temporary table incoming (like {REQUESTS}) on commit drop")
            if rows.height:
                cur.adbc_ingest("incoming", rows.to_arrow(), mode="append", temporary=True)
            cur.execute(
                f"insert into {REQUESTS} ({columns}) select {columns} from incoming "
                "on conflict (request_id) do nothing"
            )
        self._con.commit()

    def close(self) -> None:
        if self._con is not None:
            con, self._con = self._con, None
            con.close()

    def read(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        sql = (
            f"select {', '.join(SCHEMA)} from {REQUESTS} where received_at >= $1 and received_at < $2 "
            "order by received_at, request_id"
        )
        con = _open(self.dsn, REQUESTS)
        try:
            with con.cursor() as cur:
                cur.execute(sql, (start, end or END_OF_TIME))
                frame = pl.from_arrow(cur.fetch_arrow_table())
        finally:
            con.close()
        return frame.cast(SCHEMA)  # type: ignore[arg-type]


class PostgresKeyStore(KeyStore):
    """`serving.api_keys`; a connection per call (the key ring re-reads every few seconds)."""

    def __init__(self, dsn: str, pepper: str | None = None):
        super().__init__(pepper)
        self.dsn = dsn

    def _run(self, sql: str, params: tuple = ()) -> list[tuple]:
        con = _open(self.dsn, KEYS)
        try:
            with con.cursor() as cur:
                cur.execute(sql, params or None)
                rows = cur.fetchall() if cur.description else []
            con.commit()
        finally:
            con.close()
        return rows

    def _insert(self, key: ApiKey, salt: bytes, digest: bytes) -> None:
        self._run(
            f"insert into {KEYS} values ($1, $2, $3, $4, $5, $6, null)",
            (key.key_id, key.name, key.scope, salt, digest, key.created_at),
        )

    def all_keys(self) -> list[ApiKey]:
        rows = self._run(f"select key_id, name, scope, created_at, revoked_at from {KEYS} order by 4, 1")
        return [ApiKey(*row) for row in rows]

    def _set_revoked(self, key_id: str, revoked_at: str) -> None:
        self._run(
            f"update {KEYS} set revoked_at = $1 where key_id = $2 and revoked_at is null",
            (revoked_at, key_id),
        )

    def _salt_and_hash(self, key_id: str) -> tuple[bytes, bytes] | None:
        rows = self._run(f"select salt, hash from {KEYS} where key_id = $1", (key_id,))
        return rows[0] if rows else None
