"""API keys: created, listed and revoked with `shelfcast keys`, checked by the API (api/auth.py).

A key is `shk_<key id>_<secret>`, shown once when created. The store keeps the key id (public: it
names the key in the request log), a name, a scope, and a salted scrypt hash of the secret, never the
key. Scopes nest: `read` < `what-if` < `admin`.

scrypt is slow on purpose (~50 ms a check), so `KeyRing` checks a key once and then recognises it by
a keyed digest held only in the process's memory (the digest key dies with the process); key records
are re-read every few seconds, so a revocation reaches a running API that fast.
"""

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, dklen=32, maxmem=64 * 2**20, **SCRYPT)


def split_key(presented: str) -> tuple[str, str] | None:
    """(key id, secret) of a well-formed key, else None."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    return (key_id, secret) if prefix == PREFIX and key_id and secret else None


class KeyStore:
    """The key table in the API's own SQLite file (never the warehouse)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.execute("pragma journal_mode=wal")
        return con

    def create(self, name: str, scope: str) -> tuple[ApiKey, str]:
        """A new key and its full text, which is not stored and cannot be shown again."""
        if scope not in SCOPES:
            raise ValueError(f"scope {scope!r}: expected one of {SCOPES}")
        key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as con:
            con.execute(
                "insert into api_keys values (?, ?, ?, ?, ?, ?, null)",
                (key_id, name, scope, salt, _hash(secret, salt), created),
            )
        return ApiKey(key_id, name, scope, created), f"{PREFIX}_{key_id}_{secret}"

    def all_keys(self) -> list[ApiKey]:
        with self._connect() as con:
            rows = con.execute(
                "select key_id, name, scope, created_at, revoked_at from api_keys order by created_at, key_id"
            ).fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke(self, key_id: str) -> ApiKey:
        revoked = datetime.now(UTC).isoformat(timespec="seconds")
        with self._connect() as con:
            con.execute(
                "update api_keys set revoked_at = ? where key_id = ? and revoked_at is null",
                (revoked, key_id),
            )
        found = [k for k in self.all_keys() if k.key_id == key_id]
        if not found:
            raise KeyError(f"no key {key_id!r} (see `shelfcast keys list`)")
        return found[0]

    def matches(self, key_id: str, secret: str) -> bool:
        """The slow check: does `secret` hash to the stored hash of `key_id`?"""
        with self._connect() as con:
            row = con.execute("select salt, hash from api_keys where key_id = ?", (key_id,)).fetchone()
        return row is not None and hmac.compare_digest(_hash(secret, row[0]), row[1])


class KeyRing:
    """What the API checks keys with: active key records, re-read every `refresh_seconds`, and the
    keys already verified (by an in-memory keyed digest)."""

    def __init__(self, store: KeyStore, refresh_seconds: float = 2.0):
        self.store, self.refresh_seconds = store, refresh_seconds
        self._digest_key = secrets.token_bytes(32)
        self._verified: dict[str, bytes] = {}
        self._records: dict[str, ApiKey] = {}
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _active(self) -> dict[str, ApiKey]:
        with self._lock:
            if time.monotonic() - self._read_at >= self.refresh_seconds:
                self._records = {k.key_id: k for k in self.store.all_keys() if k.revoked_at is None}
                self._verified = {i: d for i, d in self._verified.items() if i in self._records}
                self._read_at = time.monotonic()
            return self._records

    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key `presented` is, or None (malformed, unknown, revoked or wrong secret)."""
        parts = split_key(presented)
        if parts is None:
            return None
        key_id, secret = parts
        record = self._active().get(key_id)
        if record is None:
            return None
        digest = hmac.new(self._digest_key, presented.encode(), hashlib.sha256).digest()
        known = self._verified.get(key_id)
        if known is not None and hmac.compare_digest(known, digest):
            return record
        if not self.store.matches(key_id, secret):
            return None
        self._verified[key_id] = digest
        return record
