"""The request log: one row per request the API answered, rejected ones included, kept by a
`RequestStore`: embedded, the API's own SQLite file (WAL: the API keeps writing while readers read;
never the warehouse); on Postgres, the warehouse database's `serving.requests` table
(serving/postgres_store.py), so every API replica writes one log and no pod keeps a local file.

Requests are queued in memory and written by one thread, each batch being whatever queued while the
previous one was written and for LINGER_SECONDS after it (one transaction each; at 500 requests/s a
transaction per row took nearly a third of the API's CPU): the request path never waits for the
store, and the log trails it by one batch. A batch the store refuses (Postgres restarting) is kept
and tried again with the next one. `close` (the API's shutdown, on SIGTERM) writes everything
queued; a SIGKILL loses what is queued and not yet written (SQLite WAL with synchronous=normal: a
committed batch survives the process, only a power loss can take the newest ones).
Keys never reach the log: only the key id, and any key-shaped text in parameters or payloads is
replaced (`redact`)."""

import json
import logging
import queue
import re
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from platform_assets.serving.keys import PREFIX

# Text that looks like an API key, wherever a client put it by mistake.
KEY_PATTERN = re.compile(rf"{PREFIX}_[0-9a-f]+_[A-Za-z0-9_\-]+")
MAX_PAYLOAD = 64 * 1024
SCHEMA = {
    "request_id": pl.String,
    "received_at": pl.Datetime("us", "UTC"),
    "key_id": pl.String,
    "method": pl.String,
    "route": pl.String,
    "path": pl.String,
    "params": pl.String,
    "payload": pl.String,
    "status": pl.Int32,
    "latency_ms": pl.Float64,
    "model_version": pl.String,
    "generation": pl.String,
    "problem": pl.String,
    "scores": pl.String,  # a what-if's outlier scores and binned inputs (serving/outliers.py), JSON
}


AFTER_RECEIVED_AT = tuple(SCHEMA)[2:]
assert tuple(SCHEMA)[:2] == ("request_id", "received_at")


def _sqlite_type(dtype: pl.DataType) -> str:
    return "integer" if dtype == pl.Int32 else "real" if dtype == pl.Float64 else "text"


TABLE = f"""
create table if not exists requests (
    {", ".join(f"{name} {_sqlite_type(t)}" for name, t in SCHEMA.items())},
    primary key (request_id)
)
"""
INDEX = "create index if not exists requests_received_at on requests (received_at)"
# How times are stored in SQLite: UTC, fixed width, so they sort and compare as text (polars' format
# for the same text as `stamp`).
STAMP = "%Y-%m-%dT%H:%M:%S%.6fZ"
# Far enough in the future for "everything since `start`".
END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
# How long the writer waits before trying a refused batch again.
RETRY_SECONDS = 1.0
# How long the writer lets rows gather after each batch (`close` cuts it short).
LINGER_SECONDS = 0.02
# Rows the writer holds in memory while the store refuses them; past this they go to the spool on disk.
HOLD_LIMIT = 50_000
log = logging.getLogger(__name__)


def redact(text: str | None) -> str | None:
    return None if text is None else KEY_PATTERN.sub(f"{PREFIX}_[redacted]", text)


def payload_text(body: bytes) -> str | None:
    """The body as logged: text, at most MAX_PAYLOAD bytes, key-shaped text redacted."""
    if not body:
        return None
    text = body[:MAX_PAYLOAD].decode("utf-8", errors="replace")
    return redact(text + ("...[truncated]" if len(body) > MAX_PAYLOAD else ""))


def params_text(params: list[tuple[str, str]]) -> str | None:
    return redact(json.dumps(params)) if params else None


def rows_frame(rows: list[dict]) -> pl.DataFrame:
    """Queued rows (dicts, missing keys null) as a frame of SCHEMA, in the order they came."""
    return pl.DataFrame([{name: row.get(name) for name in SCHEMA} for row in rows], schema=SCHEMA)


class RequestStore(ABC):
    """Where the log rows are kept. Small on purpose: the writer appends batches, readers (the
    `served_requests` asset, live monitoring) read what was received in a time range."""

    @abstractmethod
    def append(self, rows: pl.DataFrame) -> None:
        """Store `rows` (SCHEMA) in one transaction; a request id already stored is kept once."""

    def append_rows(self, rows: list[dict]) -> None:
        """Store the writer's queued rows (dicts, missing keys null), as `append` does."""
        self.append(rows_frame(rows))

    @abstractmethod
    def read(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        """The rows received in [start, end) (UTC; no end: everything since start), oldest first."""

    @abstractmethod
    def close(self) -> None:
        """Release the writer's connection (the store may be appended to again after)."""


def _sqlite_row(row: dict) -> tuple:
    """A queued row as SQLite stores it: SCHEMA's order, `received_at` as its STAMP text."""
    at = row.get("received_at")
    return (row.get("request_id"), None if at is None else stamp(at), *map(row.get, AFTER_RECEIVED_AT))


class SqliteRequestStore(RequestStore):
    """The embedded log: the API's own SQLite file, WAL, read through read-only connections."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._con: sqlite3.Connection | None = None

    def append(self, rows: pl.DataFrame) -> None:
        self._insert(rows.with_columns(pl.col("received_at").dt.strftime(STAMP)).iter_rows())

    def append_rows(self, rows: list[dict]) -> None:
        """The writer's rows as tuples, no frame: building one costs ~1 ms a batch, and at a few hundred
        requests/s a batch is a row or two, so it was most of the log's CPU."""
        self._insert([_sqlite_row(row) for row in rows])

    def _insert(self, rows: Iterable[tuple]) -> None:
        if self._con is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._con.execute("pragma journal_mode=wal")
            self._con.execute("pragma synchronous=normal")
            self._con.execute(TABLE)
            known = {row[1] for row in self._con.execute("pragma table_info(requests)")}
            for name in [n for n in SCHEMA if n not in known]:  # a log written before the column existed
                self._con.execute(f"alter table requests add column {name} {_sqlite_type(SCHEMA[name])}")
            self._con.execute(INDEX)
        insert = f"insert or replace into requests values ({', '.join('?' * len(SCHEMA))})"
        with self._con:
            self._con.executemany(insert, rows)

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None

    def read(self, start: datetime, end: datetime | None = None) -> pl.DataFrame:
        if not self.path.exists():
            return pl.DataFrame(schema=SCHEMA)
        sql = "select * from requests where received_at >= ? and received_at < ? order by 2, 1"
        con = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            rows = con.execute(sql, (stamp(start), stamp(end or END_OF_TIME))).fetchall()
        finally:
            con.close()
        text = {n: pl.String if n == "received_at" else t for n, t in SCHEMA.items()}
        frame = pl.DataFrame(rows, schema=text, orient="row")
        return frame.with_columns(pl.col("received_at").str.to_datetime(time_zone="UTC", time_unit="us"))


class RequestLog:
    """Queue rows with `record`; a writer thread appends them to `store` (`start`, `close`).

    While the store refuses rows (a database restarting) the writer keeps them and retries with the
    next batch; past `hold_limit` rows, and at shutdown, it moves them to `spool` (Parquet files on
    local disk), which it writes to the store first once the store takes rows again, also after a
    restart. Memory stays bounded and a row is lost only if the local disk fails too (then said)."""

    def __init__(self, store: RequestStore, spool: Path | None = None, hold_limit: int = HOLD_LIMIT):
        self.store = store
        self.spool = spool
        self.hold_limit = hold_limit
        self._queue: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._held: list[dict] = []  # rows of refused batches, written before newer ones
        self._closing = threading.Event()
        self.written = 0
        self.failed_batches = 0
        self.spooled = 0

    def record(self, row: dict) -> None:
        self._queue.put(row)

    def pending(self) -> int:
        """Rows not in the store yet: queued, held after a refusal, or spooled to disk."""
        return self._queue.qsize() + len(self._held) + self.spooled

    def start(self) -> None:
        self.spooled = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in self._spool_files())
        self._thread = threading.Thread(target=self._run, name="request-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write everything queued (or spool what the store refuses), then stop the writer."""
        if self._thread is not None:
            self._closing.set()
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            self._held.extend(batch)
            if self._drain_spool() and self._held and self._append(self._held, final=stopping):
                self.written += len(self._held)
                self._held = []
            if self._held and (stopping or len(self._held) > self.hold_limit):
                self._to_spool()
            self._closing.wait(LINGER_SECONDS)
        self.store.close()

    def _append(self, rows: list[dict], final: bool) -> bool:
        """Append `rows`; on closing, a refused batch is tried a few more times before it is spooled."""
        for attempt in range(3 if final else 1):
            try:
                self.store.append_rows(rows)
                return True
            except Exception as exc:  # the store is away: keep the rows, say so, go on serving
                self.failed_batches += 1
                self.store.close()
                log.error("request log: %d rows not written yet (%s)", len(rows), type(exc).__name__)
                time.sleep(RETRY_SECONDS * (attempt + 1))
        return False

    def _spool_files(self) -> list[Path]:
        return sorted(self.spool.glob("*.parquet")) if self.spool and self.spool.is_dir() else []

    def _drain_spool(self) -> bool:
        """Write the spooled files to the store, oldest first (a file written twice is stored once:
        request ids are unique); False while the store refuses them."""
        for path in self._spool_files():
            rows = pl.read_parquet(path)
            try:
                self.store.append(rows)
            except Exception as exc:
                self.failed_batches += 1
                self.store.close()
                log.error(
                    "request log: %d spooled rows not written yet (%s)", rows.height, type(exc).__name__
                )
                return False
            path.unlink()
            self.spooled -= rows.height
            self.written += rows.height
        return True

    def _to_spool(self) -> None:
        rows = rows_frame(self._held)
        if self.spool is None:
            log.error("request log: %d rows lost (the store refused them and there is no spool)", rows.height)
        else:
            try:
                self.spool.mkdir(parents=True, exist_ok=True)
                name = f"{time.time_ns():020d}.parquet"
                rows.write_parquet(self.spool / f".{name}")
                (self.spool / f".{name}").rename(self.spool / name)  # readers never see half a file
                self.spooled += rows.height
                log.error(
                    "request log: %d rows kept in %s until the store takes them", rows.height, self.spool
                )
            except OSError as exc:
                log.error(
                    "request log: %d rows lost: the spool cannot be written either (%s)", rows.height, exc
                )
        self._held = []

    def _next_batch(self) -> tuple[list[dict], bool]:
        """The next row and all queued behind it; True once `close` was asked."""
        batch = [self._queue.get()]
        while True:
            if batch[-1] is None:
                return batch[:-1], True
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                return batch, False


def stamp(at: datetime) -> str:
    """UTC, fixed width: the stored times sort and compare as text."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
