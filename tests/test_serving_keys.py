"""API keys, the rate limiter and the request log's writer, on their own, on both stores: the API's
own SQLite files (embedded) and the warehouse database's `serving` schema (Postgres)."""

import hashlib
import hmac
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc
import dagster as dg
import polars as pl
import pytest

from platform_assets.config.api import api_config
from platform_assets.config.settings import sibling_database
from platform_assets.serving.keys import SCOPES, ApiKey, KeyRing, SqliteKeyStore, split_key
from platform_assets.serving.postgres_store import PostgresKeyStore, PostgresRequestStore
from platform_assets.serving.ratelimit import RateLimiter
from platform_assets.serving.requestlog import SCHEMA, RequestLog, RequestStore, SqliteRequestStore, redact
from platform_assets.serving.stores import key_store, request_store
from tests.support.postgres import scratch_database

STORES = ["sqlite", "postgres"]


@pytest.fixture(scope="module")
def serving_db(pg_dsn: str) -> Iterator[str]:
    """A database of this module's own on the test server (its `serving` schema is what we test)."""
    with scratch_database(sibling_database(pg_dsn, "serving")) as dsn:
        yield dsn


@pytest.fixture
def fresh_db(request: pytest.FixtureRequest) -> str:
    """`serving_db` with no `serving` schema yet (each test starts from nothing)."""
    dsn = request.getfixturevalue("serving_db")
    with adbc.connect(dsn, autocommit=True) as con, con.cursor() as cur:
        cur.execute("drop schema if exists serving cascade")
    return dsn


def stored_hashes(kind: str, where: Path | str) -> dict[str, tuple[bytes, bytes]]:
    """key id -> (salt, hash), read straight from the store's table."""
    if kind == "sqlite":
        with sqlite3.connect(where) as con:
            rows = con.execute("select key_id, salt, hash from api_keys").fetchall()
    else:
        with adbc.connect(str(where)) as con, con.cursor() as cur:
            cur.execute("select key_id, salt, hash from serving.api_keys")
            rows = cur.fetchall()
    return {i: (bytes(salt), bytes(digest)) for i, salt, digest in rows}


@pytest.fixture(params=STORES)
def keys_at(request: pytest.FixtureRequest, tmp_path: Path):
    """(kind, where the table is, a store factory taking a pepper) for each store."""
    if request.param == "sqlite":
        path = tmp_path / "keys.sqlite"
        return "sqlite", path, lambda pepper=None: SqliteKeyStore(path, pepper)
    dsn = request.getfixturevalue("fresh_db")
    return "postgres", dsn, lambda pepper=None: PostgresKeyStore(dsn, pepper)


@pytest.fixture(params=STORES)
def log_store(request: pytest.FixtureRequest, tmp_path: Path) -> RequestStore:
    if request.param == "sqlite":
        return SqliteRequestStore(tmp_path / "requests.sqlite")
    return PostgresRequestStore(request.getfixturevalue("fresh_db"))


def test_a_key_is_shown_once_and_stored_as_a_salted_scrypt_hash(keys_at):
    kind, where, make = keys_at
    store = make()
    key, text = store.create("planner", "what-if")
    other, other_text = store.create("planner", "what-if")
    key_id, secret = split_key(text)
    assert key_id == key.key_id and len(secret) >= 40
    rows = stored_hashes(kind, where)
    if kind == "sqlite":
        assert secret.encode() not in Path(where).read_bytes()
    salt, digest = rows[key.key_id]
    assert digest == hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert rows[other.key_id][0] != salt  # salted: each key its own salt
    assert store.matches(key.key_id, secret) and not store.matches(key.key_id, secret[:-1] + "x")
    assert not store.matches(other.key_id, secret)
    assert [k.name for k in store.all_keys()] == ["planner", "planner"] and other_text != text


def test_the_pepper_is_in_every_hash(keys_at):
    """With a pepper the stored hash is scrypt of HMAC(pepper, secret): the store alone (a dump)
    cannot check a guess; the same key under another pepper, or none, is refused."""
    kind, where, make = keys_at
    key, text = make("pepper-from-a-secret").create("app", "read")
    _, secret = split_key(text)
    salt, digest = stored_hashes(kind, where)[key.key_id]
    peppered = hmac.new(b"pepper-from-a-secret", secret.encode(), hashlib.sha256).digest()
    assert digest == hashlib.scrypt(peppered, salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert make("pepper-from-a-secret").matches(key.key_id, secret)
    assert not make("another-pepper").matches(key.key_id, secret)
    assert not make(None).matches(key.key_id, secret)


def test_scopes_nest():
    allowed = {s: [t for t in SCOPES if ApiKey("id", "name", s, "now").allows(t)] for s in SCOPES}
    assert allowed == {"read": ["read"], "what-if": ["read", "what-if"], "admin": list(SCOPES)}


def test_key_ring_checks_once_then_recognises_and_sees_revocations(keys_at):
    _, _, make = keys_at
    store = make()
    ring = KeyRing(store, refresh_seconds=3600)
    assert ring.authenticate("shk_ffffffffffff_x") is None  # the records are read
    key, text = store.create("app", "read")
    assert ring.recognise(text) is None  # not verified by this process yet
    assert ring.authenticate(text) == key and ring.recognise(text) == key
    assert ring.recognise(text[:-2] + "zz") is None
    assert ring.authenticate(text[:-2] + "zz") is None  # same key id, wrong secret: refused
    assert ring.authenticate("not-a-key") is None and ring.authenticate("shk_ffffffffffff_x") is None
    ring.refresh_seconds = 0  # from here the records are re-read on every check
    revoked = store.revoke(key.key_id)
    assert revoked.revoked_at is not None and ring.authenticate(text) is None
    with pytest.raises(KeyError, match="no key"):
        store.revoke("ffffffffffff")


def test_a_started_ring_sees_a_revocation_without_a_request_reading_the_store(keys_at):
    _, _, make = keys_at
    store = make()
    key, text = store.create("app", "read")
    ring = KeyRing(store, refresh_seconds=0.05)
    ring.start()
    try:
        assert ring.authenticate(text) == key and ring.recognise(text) == key
        store.revoke(key.key_id)
        deadline = time.monotonic() + 10
        while ring.recognise(text) is not None and time.monotonic() < deadline:
            time.sleep(0.02)  # recognise only reads what the background thread re-read
        assert ring.recognise(text) is None and ring.authenticate(text) is None
    finally:
        ring.stop()


def test_rate_limiter_allows_a_burst_then_the_rate():
    limiter = RateLimiter(rate=1000.0, burst=3)
    assert [limiter.take("k") for _ in range(3)] == [None, None, None]
    assert limiter.take("k") in (None, 1)  # a millisecond refills one token
    slow = RateLimiter(rate=0.1, burst=1)
    assert slow.take("k") is None and slow.take("k") == 10 and slow.take("other") is None
    assert RateLimiter(rate=0, burst=1).take("k") is None
    peeked = RateLimiter(rate=0.1, burst=2)
    assert peeked.empty("k") is None and peeked.empty("k") is None  # looking spends nothing
    assert peeked.take("k") is None and peeked.take("k") is None and peeked.empty("k") == 10


def test_request_log_writes_everything_queued_on_close(log_store: RequestStore):
    log = RequestLog(log_store)
    log.start()
    at = datetime(2026, 3, 1, 12, tzinfo=UTC)

    def produce(worker: int) -> None:
        for i in range(500):
            log.record(
                {"request_id": f"{worker}-{i}", "received_at": at + timedelta(microseconds=i), "status": 200}
            )

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    rows = log_store.read(at, at + timedelta(days=1))
    assert rows.height == 2000 == log.written and rows["request_id"].n_unique() == 2000
    assert rows.schema == pl.Schema(SCHEMA) and rows["received_at"].is_sorted()
    assert log_store.read(at + timedelta(days=1), at + timedelta(days=2)).is_empty()


def test_request_store_keeps_a_row_once_and_reads_since(log_store: RequestStore):
    """Appending a batch again (a retried batch) stores each request once; `read(start)` without an
    end is everything since `start`, with every column as written."""
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    row = {name: None for name in SCHEMA} | {
        "request_id": "r1", "received_at": at, "key_id": "abc", "method": "GET", "route": "/v1/forecasts",
        "status": 404, "latency_ms": 1.25, "problem": "unknown series",
    }  # fmt: skip
    batch = pl.DataFrame(
        [row, row | {"request_id": "r2", "received_at": at + timedelta(hours=1)}], schema=SCHEMA
    )
    log_store.append(batch)
    log_store.append(batch)
    log_store.close()
    assert log_store.read(at).to_dicts() == batch.to_dicts()
    assert log_store.read(at + timedelta(microseconds=1))["request_id"].to_list() == ["r2"]


def test_a_refused_batch_is_written_with_the_next(tmp_path: Path):
    """The store away for a moment (here: its directory is a file) loses nothing once it is back."""
    blocker = tmp_path / "serving"
    blocker.write_text("not a directory")
    store = SqliteRequestStore(blocker / "requests.sqlite")
    log = RequestLog(store)
    log.start()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    log.record({"request_id": "early", "received_at": at, "status": 200})
    while log.failed_batches == 0:
        threading.Event().wait(0.01)
    blocker.unlink()
    log.record({"request_id": "late", "received_at": at, "status": 200})
    log.close()
    assert sorted(store.read(at)["request_id"]) == ["early", "late"] and log.written == 2


def test_rows_the_store_refuses_for_long_go_to_the_spool_and_come_back(tmp_path: Path, monkeypatch):
    """Past the hold limit, and at shutdown, refused rows move to Parquet files on local disk (memory
    stays bounded); the next writer on the same spool stores them first, once the store takes rows."""
    monkeypatch.setattr("platform_assets.serving.requestlog.RETRY_SECONDS", 0.01)
    blocker = tmp_path / "serving"
    blocker.write_text("not a directory")
    store, spool = SqliteRequestStore(blocker / "requests.sqlite"), tmp_path / "spool"
    log = RequestLog(store, spool, hold_limit=2)
    log.start()
    at = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(3):  # one at a time: each batch is refused, the third passes the limit
        log.record({"request_id": f"r{i}", "received_at": at, "status": 200})
        while log.failed_batches <= i:
            threading.Event().wait(0.01)
    while log.spooled < 3:
        threading.Event().wait(0.01)
    assert log.pending() == 3 and log._held == []
    log.record({"request_id": "r3", "received_at": at, "status": 200})
    log.close()  # still refused: r3 joins the spool instead of being lost
    assert log.written == 0 and log.spooled == 4 and len(list(spool.glob("*.parquet"))) == 2

    blocker.unlink()
    again = RequestLog(store, spool)
    again.start()
    assert again.pending() == 4
    again.record({"request_id": "r4", "received_at": at, "status": 200})
    again.close()
    assert sorted(store.read(at)["request_id"]) == [f"r{i}" for i in range(5)]
    assert again.written == 5 and again.pending() == 0 and list(spool.glob("*")) == []


def test_the_warehouse_chooses_the_store(tmp_path: Path, fresh_db: str):
    """Postgres warehouse: keys and log in its `serving` schema, nothing under SHELFCAST_HOME (no pod
    keeps a file); DuckDB: the API's own files."""
    embedded = api_config({"SHELFCAST_HOME": str(tmp_path / "embedded")})
    assert isinstance(key_store(embedded.home, embedded.pg_dsn), SqliteKeyStore)
    assert isinstance(request_store(embedded.home, embedded.pg_dsn), SqliteRequestStore)
    home = tmp_path / "on-postgres"
    on_pg = api_config({
        "SHELFCAST_HOME": str(home), "SHELFCAST_WAREHOUSE": "postgres", "SHELFCAST_PG_DSN": fresh_db,
        "SHELFCAST_SERVE_KEY_PEPPER": "p",
    })  # fmt: skip
    keys = key_store(on_pg.home, on_pg.pg_dsn, on_pg.serving.serve_key_pepper)
    assert isinstance(keys, PostgresKeyStore) and keys.pepper == "p"
    key, _ = keys.create("api", "read")
    log = request_store(on_pg.home, on_pg.pg_dsn)
    assert isinstance(log, PostgresRequestStore)
    at = datetime(2026, 3, 1, tzinfo=UTC)
    log.append(pl.DataFrame([{"request_id": "r", "received_at": at, "key_id": key.key_id}], schema=SCHEMA))
    log.close()
    assert not home.exists()
    assert log.read(at)["key_id"].to_list() == [key.key_id]


def test_key_shaped_text_is_redacted():
    assert redact('{"k": "shk_0123456789ab_SECRET-_x"}') == '{"k": "shk_[redacted]"}'
    assert redact("plain text") == "plain text" and redact(None) is None


def test_served_requests_loads_a_day_of_the_postgres_log(fresh_db: str, tmp_path: Path, monkeypatch):
    """On Postgres the `served_requests` asset reads `serving.requests` (no file under the home) and
    replaces its day in monitoring.served_requests, idempotently."""
    from platform_assets.config.resources import ShelfcastConfig
    from platform_assets.defs.serving import served_requests
    from platform_assets.storage.postgres_warehouse import PostgresWarehouse, dbt_environment

    for name in dbt_environment(fresh_db):  # the resource exports dbt's variables: undone after
        monkeypatch.setenv(name, "")
    day = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {"request_id": f"r{i}", "received_at": day + timedelta(hours=6 * i), "status": 200} for i in range(6)
    ]
    store = PostgresRequestStore(fresh_db)
    store.append(pl.DataFrame(rows, schema=SCHEMA))
    store.close()
    warehouse = PostgresWarehouse(dsn=fresh_db)
    for _ in range(2):
        result = dg.materialize(
            [served_requests],
            resources={"config": ShelfcastConfig(home=str(tmp_path)), "warehouse": warehouse},
            partition_key="2026-03-01",
        )
        assert result.success
        loaded = warehouse.query("select request_id from monitoring.served_requests order by request_id")
        assert loaded["request_id"].to_list() == ["r0", "r1", "r2", "r3"]
    assert list(tmp_path.iterdir()) == []


def test_the_api_on_postgres_checks_keys_and_logs_there(fresh_db: str, tmp_path: Path):
    """The app configured for a Postgres warehouse: a key created in `serving.api_keys` (with the
    pepper) passes the guard, a bad one gets 401, both requests land in `serving.requests` when the
    app stops, and nothing is written under SHELFCAST_HOME. (No bundle here: the guard's verdict is
    what is tested; 503 means the key was accepted.)"""
    from fastapi.testclient import TestClient

    from platform_assets.serving.api.app import create_app

    config = api_config({
        "SHELFCAST_HOME": str(tmp_path / "home"), "SHELFCAST_WAREHOUSE": "postgres",
        "SHELFCAST_PG_DSN": fresh_db, "SHELFCAST_SERVE_KEY_PEPPER": "from-a-secret",
    })  # fmt: skip
    key = key_store(config.home, config.pg_dsn, "from-a-secret").create("app", "read")[1]
    started = datetime.now(UTC)
    with TestClient(create_app(config)) as client:
        accepted = client.get("/v1/models/champion", headers={"X-API-Key": key})
        refused = client.get("/v1/models/champion", headers={"X-API-Key": key[:-1] + "x"})
    assert (accepted.status_code, refused.status_code) == (503, 401)
    log = PostgresRequestStore(fresh_db).read(started)
    assert log["status"].to_list() == [503, 401] and log["key_id"].to_list() == [split_key(key)[0], None]
    assert key not in str(log.to_dicts()) and not (tmp_path / "home").exists()


def test_a_log_written_before_a_column_existed_gains_it(log_store: RequestStore):
    """A request table of an older version (no `problem` column) is extended, not replaced: its rows
    stay and new rows carry the new column."""
    pg = {pl.Int32: "integer", pl.Float64: "double precision", SCHEMA["received_at"]: "timestamptz"}
    if isinstance(log_store, SqliteRequestStore):
        old = ", ".join(
            f"{n} {'text' if n == 'received_at' else pg.get(t, 'text')}"
            for n, t in SCHEMA.items()
            if n != "problem"
        )
        log_store.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(log_store.path) as con:
            con.execute(f"create table requests ({old}, primary key (request_id))")
            con.execute(
                "insert into requests (request_id, received_at) values ('old', '2026-03-01T00:00:00.000000Z')"
            )
    else:
        old = ", ".join(f"{n} {pg.get(t, 'text')}" for n, t in SCHEMA.items() if n != "problem")
        with adbc.connect(log_store.dsn, autocommit=True) as con, con.cursor() as cur:
            cur.execute("create schema serving")
            cur.execute(f"create table serving.requests ({old}, primary key (request_id))")
            cur.execute(
                "insert into serving.requests (request_id, received_at) values ('old', '2026-03-01Z')"
            )
    at = datetime(2026, 3, 1, 1, tzinfo=UTC)
    log_store.append(pl.DataFrame([{"request_id": "new", "received_at": at, "problem": "p"}], schema=SCHEMA))
    log_store.close()
    rows = log_store.read(datetime(2026, 3, 1, tzinfo=UTC))
    assert rows.select("request_id", "problem").rows() == [("old", None), ("new", "p")]


def test_shelfcast_serve_on_postgres_logs_every_request_by_sigterm(fresh_db: str, tmp_path: Path):
    """A real `shelfcast serve` process on a Postgres warehouse, as a Kubernetes pod runs it: a key
    made by `shelfcast keys create` (Postgres, peppered) is accepted, a wrong one refused, and after
    SIGTERM (what Kubernetes sends) every request answered is in `serving.requests`."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")} | {
        "SHELFCAST_HOME": str(tmp_path / "home"), "SHELFCAST_WAREHOUSE": "postgres",
        "SHELFCAST_PG_DSN": fresh_db, "SHELFCAST_SERVE_KEY_PEPPER": "pepper",
        "SHELFCAST_SERVE_RATE_LIMIT": "0",
        "SHELFCAST_SERVE_AUTH_FAILURE_RATE": "0",  # 20 wrong keys from one client: all checked here
    }  # fmt: skip
    cli = [sys.executable, "-m", "platform_assets.cli.shelfcast"]
    created = subprocess.run([*cli, "keys", "create", "--name", "pod", "--scope", "read"], env=env,
                             capture_output=True, text=True, check=True)  # fmt: skip
    key = created.stdout.strip().splitlines()[-1]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--no-access-log"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    url, started = f"http://127.0.0.1:{port}", datetime.now(UTC)
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/healthz")
                break
            except httpx.TransportError:
                threading.Event().wait(0.1)

        def ask(i: int) -> int:
            headers = {"X-API-Key": key if i % 2 else key[:-1] + "x"}
            return httpx.get(f"{url}/v1/models/champion", headers=headers).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(ask, range(40)))  # a wrong key costs a scrypt each
    finally:
        server.send_signal(signal.SIGTERM)
        stderr = server.communicate(timeout=60)[1]
    assert sorted(set(statuses)) == [401, 503], stderr  # 503: the key passed, no bundle yet
    log = PostgresRequestStore(fresh_db).read(started)
    assert log.filter(pl.col("route") == "/v1/models/champion").height == 40
    assert log["status"].value_counts().sort("status").rows() == [(200, 1), (401, 20), (503, 20)]
    assert key.encode() not in stderr and not (tmp_path / "home").exists()
