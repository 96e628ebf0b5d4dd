"""API keys: created, listed and revoked with `shelfcast keys`, checked by the API (api/auth.py).

A key is `shk_<key id>_<secret>`, shown once when created. The store keeps the key id (public: it
names the key in the request log), a name, a scope, and a salted scrypt hash of the secret, never the
key. Scopes nest: `read` < `what-if` < `admin`. With a pepper (SHELFCAST_SERVE_KEY_PEPPER, from a
Kubernetes Secret) the secret is HMAC'd with it before scrypt, so a copy of the store alone (a
database dump) cannot even test guesses. Changing the pepper invalidates every key. The store is the
API's own SQLite file (embedded) or the warehouse database's `serving.api_keys`
(serving/postgres_store.py); serving/stores.py chooses.

scrypt is slow on purpose (~50 ms a check), so `KeyRing` checks a key once and then recognises it by
a keyed digest held only in the process's memory (the digest key dies with the process); key records
are re-read every few seconds, so a revocation reaches a running API that fast.
"""

import hashlib
import hmac
import logging
import secrets
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)

SCOPES = ("read", "what-if", "admin")
PREFIX = "shk"
# scrypt cost (N, r, p): 16 MiB of memory and tens of milliseconds per check.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}
SCHEMA = """
create table if not exists api_keys (
    key_id text primary key,
    name text not null,
    scope text not null,
    salt blob not null,
    hash blob not null,
    created_at text not null,
    revoked_at text
)
"""


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    scope: str
    created_at: str
    revoked_at: str | None = None

    def allows(self, scope: str) -> bool:
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


def _hash(secret: str, salt: bytes, pepper: str | None) -> bytes:
    password = (
        hmac.new(pepper.encode(), secret.encode(), hashlib.sha256).digest() if pepper else secret.encode()
    )
    return hashlib.scrypt(password, salt=salt, dklen=32, maxmem=64 * 2**20, **SCRYPT)


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    return (key_id, secret) if prefix == PREFIX and key_id and secret else None


class KeyStore(ABC):
    """Key records and their salted hashes; what a key is and how it is checked is decided here, the
    subclasses only keep the rows."""

    def __init__(self, pepper: str | None = None):
        self.pepper = pepper or None

    @abstractmethod
    def all_keys(self) -> list[ApiKey]:
        """Every key, revoked ones included, oldest first."""

    @abstractmethod
    def _insert(self, key: ApiKey, salt: bytes, digest: bytes) -> None: ...

    @abstractmethod
    def _set_revoked(self, key_id: str, revoked_at: str) -> None:
        """Mark `key_id` revoked at `revoked_at` unless it is already."""

    @abstractmethod
    def _salt_and_hash(self, key_id: str) -> tuple[bytes, bytes] | None: ...

    def create(self, name: str, scope: str) -> tuple[ApiKey, str]:
        """A new key and its full text, which is not stored and cannot be shown again."""
        if scope not in SCOPES:
            raise ValueError(f"scope {scope!r}: expected one of {SCOPES}")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        key = ApiKey(key_id, name, scope, datetime.now(UTC).isoformat(timespec="seconds"))
        self._insert(key, salt, _hash(secret, salt, self.pepper))
        return key, f"{PREFIX}_{key_id}_{secret}"

    def revoke(self, key_id: str) -> ApiKey:
        self._set_revoked(key_id, datetime.now(UTC).isoformat(timespec="seconds"))
        found = [k for k in self.all_keys() if k.key_id == key_id]
        if not found:
            raise KeyError(f"no key {key_id!r} (see `shelfcast keys list`)")
        return found[0]

    def matches(self, key_id: str, secret: str) -> bool:
        """The slow check: does `secret` hash to the stored hash of `key_id`?"""
        row = self._salt_and_hash(key_id)
        return row is not None and hmac.compare_digest(_hash(secret, row[0], self.pepper), bytes(row[1]))


class SqliteKeyStore(KeyStore):
    """The key table in the API's own SQLite file (never the warehouse)."""

    def __init__(self, path: Path, pepper: str | None = None):
        super().__init__(pepper)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.execute("pragma journal_mode=wal")
        return con

    def _insert(self, key: ApiKey, salt: bytes, digest: bytes) -> None:
        with self._connect() as con:
            con.execute(
                "insert into api_keys values (?, ?, ?, ?, ?, ?, null)",
                (key.key_id, key.name, key.scope, salt, digest, key.created_at),
            )

    def all_keys(self) -> list[ApiKey]:
        with self._connect() as con:
            rows = con.execute(
                "select key_id, name, scope, created_at, revoked_at from api_keys order by created_at, key_id"
            ).fetchall()
        return [ApiKey(*row) for row in rows]

    def _set_revoked(self, key_id: str, revoked_at: str) -> None:
        with self._connect() as con:
            con.execute(
                "update api_keys set revoked_at = ? where key_id = ? and revoked_at is null",
                (revoked_at, key_id),
            )

    def _salt_and_hash(self, key_id: str) -> tuple[bytes, bytes] | None:
        with self._connect() as con:
            return con.execute("select salt, hash from api_keys where key_id = ?", (key_id,)).fetchone()


class KeyRing:
    """What the API checks keys with: active key records, re-read every `refresh_seconds`, and the
    keys already verified (by an in-memory keyed digest). Once started (the API does), a background
    thread re-reads the records, so no request waits for the store (a Postgres round trip on the event
    loop) and a store that cannot be read keeps the last records; unstarted (the CLI, tests), a stale
    ring re-reads on the next check."""

    def __init__(self, store: KeyStore, refresh_seconds: float = 2.0):
        self.store, self.refresh_seconds = store, refresh_seconds
        self._digest_key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._records: dict[str, ApiKey] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()
        self._stopping: threading.Event | None = None

    def start(self) -> None:
        """Read the records now, then keep them fresh from a background thread."""
        self._active(now=True)
        self._stopping = threading.Event()
        threading.Thread(target=self._refresh, args=(self._stopping,), name="key-ring", daemon=True).start()

    def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    def _refresh(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.refresh_seconds):
            try:
                self._active(now=True)
            except Exception as exc:  # the store is down: keep checking with the records read last
                log.warning("API key records not re-read (%s): using those read last", type(exc).__name__)

    def _active(self, now: bool = False) -> dict[str, ApiKey]:
        """The active key records, re-read when asked (`now`) or, unstarted, when older than
        `refresh_seconds`."""
        stale = self._stopping is None and time.monotonic() - self._read_at >= self.refresh_seconds
        if not (now or stale):
            return self._records
        with self._lock:
            records = {k.key_id: k for k in self.store.all_keys() if k.revoked_at is None}
            self._verified = {i: d for i, d in self._verified.items() if i in records}
            self._records, self._read_at = records, time.monotonic()
            return records

    def _digest(self, presented: str) -> bytes:
        return hmac.new(self._digest_key, presented.encode(), hashlib.sha256).digest()

    def recognise(self, presented: str) -> ApiKey | None:
        """The active key `presented` is if this process has verified it before (no slow hash), else
        None: the guard limits failed checks per client before it pays for `authenticate`."""
        parts = split_key(presented)
        record = None if parts is None else self._active().get(parts[0])
        known = None if record is None else self._verified.get(record.key_id)
        return record if known is not None and hmac.compare_digest(known, self._digest(presented)) else None

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key `presented` is, or None (malformed, unknown, revoked or wrong secret)."""
        found = self.recognise(presented)
        parts = split_key(presented)
        if found is not None or parts is None:
            return found
        key_id, secret = parts
        # A key id not among the records read last may be a key created since: read them again (the
        # guard limits how often one client can make this happen).
        record = self._active().get(key_id) or self._active(now=True).get(key_id)
        if record is None or not self.store.matches(key_id, secret):
            return None
        self._verified[key_id] = self._digest(presented)
        return record
