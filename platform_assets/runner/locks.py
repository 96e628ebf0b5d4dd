"""What keeps two drivers of one SHELFCAST_HOME apart. DuckDB lets one process open its file at a time:
steps queue for the `warehouse` pool slot (deploy/dagster-local.yaml), so a reader outside a step (the
demo's summary) claims the same slot, and a second `make demo` on a home where one is running stops at
once with one line instead of racing the first one (on a fresh home both would set up the pool)."""

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from platform_assets.storage.warehouse import WAREHOUSE_POOL

CLAIM_POLL_S = 0.5


class HomeBusy(RuntimeError):
    """Another process holds the home's lock; the message names it."""


@contextmanager
def home_lock(home: Path, what: str) -> Iterator[None]:
    """Hold `<home>/.<what>.lock` (an OS lock: released when the process ends, however it ends)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / f".{what}.lock"
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise HomeBusy(
                f"another {what} is running on {home} (pid {holder}): wait for it to finish, "
                "or set SHELFCAST_HOME to use another home"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def warehouse_slot(instance: dg.DagsterInstance, run_id: str, holder: str) -> Iterator[None]:
    """Wait for a slot of the `warehouse` pool, as a step of `run_id` named `holder`, and give it back."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        yield
        return
    if storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 0:
        storage.initialize_concurrency_limit_to_default(WAREHOUSE_POOL)
    if storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 0:  # no limit configured
        yield
        return
    try:
        while not storage.claim_concurrency_slot(WAREHOUSE_POOL, run_id, holder).is_claimed:
            time.sleep(CLAIM_POLL_S)
        yield
    finally:
        storage.free_concurrency_slot_for_step(run_id, holder)
