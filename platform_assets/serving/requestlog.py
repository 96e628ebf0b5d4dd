"""The request log: one row per request the API answered, rejected ones included, in the API's own
SQLite file (WAL: the API keeps writing while `served_requests` reads; never the warehouse).

Requests are queued in memory and written by one thread, each batch being whatever queued while the
previous one was written (one transaction each): the request path never waits for the disk, and the
log trails it by one batch. `close` (the API's shutdown, on SIGTERM) writes everything queued; a
SIGKILL loses what is queued and not yet written (WAL with synchronous=normal: a committed batch
survives the process, only a power loss can take the newest ones).
Keys never reach the log: only the key id, and any key-shaped text in parameters or payloads is
replaced (`redact`)."""

import json
import queue
import re
import sqlite3
import threading
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
}
TABLE = f"""
create table if not exists requests (
    {", ".join(f"{name} {'integer' if t == pl.Int32 else 'real' if t == pl.Float64 else 'text'}"
               for name, t in SCHEMA.items())},
    primary key (request_id)
)
"""  # fmt: skip
READ = "select * from requests where received_at >= ? and received_at < ? order by received_at, request_id"
INDEX = "create index if not exists requests_received_at on requests (received_at)"


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


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    con = sqlite3.connect(path, timeout=30, check_same_thread=False)
    con.execute("pragma journal_mode=wal")
    con.execute("pragma synchronous=normal")
    con.execute(TABLE)
    con.execute(INDEX)
    return con


class RequestLog:
    """Queue rows with `record`; a writer thread inserts them (`start`, `close`)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._queue: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.written = 0

    def record(self, row: dict) -> None:
        self._queue.put(row)

    def pending(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        con = connect(self.path)
        self._thread = threading.Thread(target=self._run, args=(con,), name="request-log", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Write everything queued, then stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _run(self, con: sqlite3.Connection) -> None:
        insert = f"insert or replace into requests values ({', '.join('?' * len(SCHEMA))})"
        stopping = False
        while not stopping:
            batch, stopping = self._next_batch()
            if batch:
                rows = [tuple(_stored(row.get(name)) for name in SCHEMA) for row in batch]
                with con:
                    con.executemany(insert, rows)
                self.written += len(rows)
        con.close()

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


def _stored(value: object) -> object:
    return stamp(value) if isinstance(value, datetime) else value


def read_requests(path: Path, start: datetime, end: datetime) -> pl.DataFrame:
    """The rows received in [start, end) (UTC), oldest first, read-only (the API may be writing)."""
    if not Path(path).exists():
        return pl.DataFrame(schema=SCHEMA)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute(READ, (stamp(start), stamp(end))).fetchall()
    finally:
        con.close()
    frame = pl.DataFrame(rows, schema={n: pl.String if n == "received_at" else t for n, t in SCHEMA.items()},
                         orient="row")  # fmt: skip
    return frame.with_columns(pl.col("received_at").str.to_datetime(time_zone="UTC", time_unit="us"))
