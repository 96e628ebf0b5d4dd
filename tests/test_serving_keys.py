"""API keys, the rate limiter and the request log's writer, on their own."""

import hashlib
import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from platform_assets.serving.keys import SCOPES, ApiKey, KeyRing, KeyStore, split_key
from platform_assets.serving.ratelimit import RateLimiter
from platform_assets.serving.requestlog import RequestLog, read_requests, redact


def test_a_key_is_shown_once_and_stored_as_a_salted_scrypt_hash(tmp_path: Path):
    store = KeyStore(tmp_path / "keys.sqlite")
    key, text = store.create("planner", "what-if")
    other, other_text = store.create("planner", "what-if")
    key_id, secret = split_key(text)
    assert key_id == key.key_id and len(secret) >= 40
    with sqlite3.connect(tmp_path / "keys.sqlite") as con:
        rows = {
            i: (salt, digest) for i, salt, digest in con.execute("select key_id, salt, hash from api_keys")
        }
    assert secret.encode() not in (tmp_path / "keys.sqlite").read_bytes()
    salt, digest = rows[key.key_id]
    assert digest == hashlib.scrypt(secret.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    assert rows[other.key_id][0] != salt  # salted: each key its own salt
    assert store.matches(key.key_id, secret) and not store.matches(key.key_id, secret[:-1] + "x")
    assert not store.matches(other.key_id, secret)
    assert [k.name for k in store.all_keys()] == ["planner", "planner"] and other_text != text


def test_scopes_nest():
    allowed = {s: [t for t in SCOPES if ApiKey("id", "name", s, "now").allows(t)] for s in SCOPES}
    assert allowed == {"read": ["read"], "what-if": ["read", "what-if"], "admin": list(SCOPES)}


def test_key_ring_checks_once_then_recognises_and_sees_revocations(tmp_path: Path):
    store = KeyStore(tmp_path / "keys.sqlite")
    key, text = store.create("app", "read")
    ring = KeyRing(store, refresh_seconds=0)
    assert ring.authenticate(text) == key
    assert ring.authenticate(text[:-2] + "zz") is None  # same key id, wrong secret: refused
    assert ring.authenticate("not-a-key") is None and ring.authenticate("shk_ffffffffffff_x") is None
    store.revoke(key.key_id)
    assert ring.authenticate(text) is None


def test_rate_limiter_allows_a_burst_then_the_rate():
    limiter = RateLimiter(rate=1000.0, burst=3)
    assert [limiter.take("k") for _ in range(3)] == [None, None, None]
    assert limiter.take("k") in (None, 1)  # a millisecond refills one token
    slow = RateLimiter(rate=0.1, burst=1)
    assert slow.take("k") is None and slow.take("k") == 10 and slow.take("other") is None
    assert RateLimiter(rate=0, burst=1).take("k") is None


def test_request_log_writes_everything_queued_on_close(tmp_path: Path):
    log = RequestLog(tmp_path / "requests.sqlite")
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
    rows = read_requests(tmp_path / "requests.sqlite", at, at + timedelta(days=1))
    assert rows.height == 2000 == log.written and rows["request_id"].n_unique() == 2000
    assert read_requests(
        tmp_path / "requests.sqlite", at + timedelta(days=1), at + timedelta(days=2)
    ).is_empty()


def test_key_shaped_text_is_redacted():
    assert redact('{"k": "shk_0123456789ab_SECRET-_x"}') == '{"k": "shk_[redacted]"}'
    assert redact("plain text") == "plain text" and redact(None) is None
