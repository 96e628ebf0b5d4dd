"""The API as `shelfcast serve` runs it (a real uvicorn process): a new bundle swapped in under
concurrent requests with no error, the request log complete after SIGTERM, keys from the CLI, and no
key or hash in anything the run wrote."""

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from platform_assets.features.config import FeatureConfig
from platform_assets.features.store import sales_factors
from platform_assets.modeling.names import CHAMPION, MODEL_NAME
from platform_assets.modeling.registry import load_combination
from platform_assets.serving.champion import champion_evidence
from platform_assets.serving.layout import keys_path, requests_path, serving_root, windows_path
from platform_assets.serving.publish import publish_bundle
from tests.support.graph import ServedGraph, shelfcast_graph

CLI = [sys.executable, "-m", "platform_assets.cli.shelfcast"]
KEY_TEXT = re.compile(rb"shk_[0-9a-f]{12}_[A-Za-z0-9_-]{20}")


def environment(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    return {
        **env,
        "SHELFCAST_HOME": str(home),
        "SHELFCAST_SERVE_RELOAD_SECONDS": "0.2",
        "SHELFCAST_SERVE_RATE_LIMIT": "0",
    }


def create_key(home: Path, scope: str) -> str:
    out = subprocess.run(
        [*CLI, "keys", "create", "--name", f"cli-{scope}", "--scope", scope],
        env=environment(home), capture_output=True, text=True, check=True,
    )  # fmt: skip
    *before, last = out.stdout.strip().splitlines()
    assert last.startswith("shk_") and " " not in last and not any(last in line for line in before)
    return last


@pytest.fixture(scope="module")
def server(served_graph: ServedGraph, tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    logs = tmp_path_factory.mktemp("server-logs")
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        process = subprocess.Popen(
            [*CLI, "serve", "--port", str(port)], env=environment(served_graph.home), stdout=out, stderr=err
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    yield url, process, logs
    if process.poll() is None:
        process.kill()


def republish(graph: ServedGraph) -> str:
    """A new bundle from the same warehouse, as the serving_bundle asset makes one."""
    with shelfcast_graph(graph.home, graph.instance, **graph.env) as g:
        cfg = FeatureConfig(horizon=g.config.forecasting.horizon, freq=g.config.resolved_freq())
        model, version, run_id = load_combination(g.mlflow.tracking_uri, CHAMPION)
        champion = champion_evidence(g.mlflow.tracking_uri, MODEL_NAME, version, run_id)
        factors = sales_factors(g.warehouse, cfg)
        published = publish_bundle(
            g.warehouse, g.config.home_path, model, champion, factors, cfg, "swap-test", 3, 28
        )
    return published.generation


def test_new_bundle_swaps_in_under_load_without_errors(server, served_graph):
    url, _, _ = server
    key = create_key(served_graph.home, "what-if")
    headers = {"Authorization": f"Bearer {key}"}
    what_if = {
        "scenarios": [{"product_id": "P0001", "store_id": "S02", "changes": [{"price_change_pct": -10}]}]
    }
    old = httpx.get(f"{url}/readyz").json()["generation"]
    stop_at = [time.monotonic() + 60]

    def hammer(worker: int) -> list[tuple[int, str | None]]:
        seen = []
        with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
            while time.monotonic() < stop_at[0]:
                if worker % 2:
                    r = client.get("/v1/forecasts", params={"product_id": "P0001"})
                else:
                    r = client.post("/v1/what-if", json=what_if)
                seen.append((r.status_code, r.json().get("generation")))
        return seen

    with ThreadPoolExecutor(6) as pool:
        running = [pool.submit(hammer, w) for w in range(6)]
        time.sleep(1)
        new = republish(served_graph)
        while httpx.get(f"{url}/readyz").json()["generation"] != new and time.monotonic() < stop_at[0]:
            time.sleep(0.1)
        stop_at[0] = time.monotonic() + 1  # keep the load on a moment past the swap
        results = [r for f in running for r in f.result()]
    statuses = Counter(status for status, _ in results)
    assert set(statuses) == {200}, statuses
    generations = [generation for _, generation in results]
    assert generations[0] == old and {old, new} <= set(generations)
    assert len(os.listdir(serving_root(served_graph.home))) >= 3  # two bundles and `current`


def test_sigterm_drains_and_writes_every_request(server, served_graph):
    """SIGTERM in the middle of a burst: every request answered, in flight ones included, is logged."""
    url, process, logs = server
    key = create_key(served_graph.home, "read")
    answered: list[str] = []

    def call(client: httpx.Client, i: int) -> None:
        headers = {"X-API-Key": key} if i % 5 else {}  # some rejected: logged too
        try:
            response = client.get("/v1/forecasts", params={"product_id": "P0002"}, headers=headers)
        except httpx.TransportError:  # refused once the server stopped accepting
            return
        answered.append(response.headers["x-request-id"])

    with httpx.Client(base_url=url, timeout=30) as client, ThreadPoolExecutor(8) as pool:
        running = [pool.submit(call, client, i) for i in range(2000)]
        while len(answered) < 200:
            time.sleep(0.01)
        process.send_signal(signal.SIGTERM)
        for future in running:
            future.result()
    # uvicorn shuts down gracefully, then exits by the signal it caught
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (logs / "stderr").read_text()
    with sqlite3.connect(requests_path(served_graph.home)) as con:
        logged = {row[0] for row in con.execute("select request_id from requests")}
    assert 200 <= len(answered) < 2000 and set(answered) <= logged


def test_nothing_secret_in_what_the_run_wrote(server, served_graph):
    url, process, logs = server
    assert process.poll() is not None  # after the SIGTERM test: everything is flushed
    with sqlite3.connect(keys_path(served_graph.home)) as con:
        hashes = [row[0] for row in con.execute("select hash from api_keys")]
    secrets = [(h, h.hex().encode()) for h in hashes]
    key_store = keys_path(served_graph.home).name  # and its -wal / -shm files
    files = [p for p in [*served_graph.home.rglob("*"), *logs.rglob("*")] if p.is_file()]
    assert {"requests.sqlite", "stderr", "manifest.json"} <= {p.name for p in files}
    for path in files:
        data = path.read_bytes()
        assert not KEY_TEXT.search(data), path  # no key anywhere, the key store included
        if not path.name.startswith(key_store):
            assert not any(raw in data or hexed in data for raw, hexed in secrets), path


def workers_of(pid: int) -> set[int]:
    """uvicorn's worker processes under `pid` (spawned children; not multiprocessing's resource tracker)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[1]) == pid and b"spawn_main" in command:
            found.add(int(stat.parent.name))
    return found


def test_serve_workers_setting_runs_processes_of_their_own(served_graph):
    """SHELFCAST_SERVE_WORKERS=2: two API processes share the port, each keeping window partials under
    its pid; after SIGTERM the request log holds every request either answered."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **environment(served_graph.home),
        "SHELFCAST_SERVE_WORKERS": "2",
        "SHELFCAST_SERVE_REPLICA": "workers-test",
    }
    process = subprocess.Popen([*CLI, "serve", "--port", str(port)], env=env, stderr=subprocess.DEVNULL)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz").status_code == 200 and len(workers_of(process.pid)) == 2:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    workers = workers_of(process.pid)
    key = create_key(served_graph.home, "read")

    def call(_: int) -> str:  # a connection each: the kernel hands them to either worker
        params = {"product_id": "P0002", "store_id": "S01"}
        response = httpx.get(f"{url}/v1/forecasts", params=params, headers={"X-API-Key": key}, timeout=30)
        assert response.status_code == 200
        return response.headers["x-request-id"]

    with ThreadPoolExecutor(4) as pool:
        answered = list(pool.map(call, range(200)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    with sqlite3.connect(requests_path(served_graph.home)) as con:
        logged = {row[0] for row in con.execute("select request_id from requests")}
    with sqlite3.connect(windows_path(served_graph.home)) as con:
        sql = "select distinct replica from window_partials where replica like 'workers-test:%'"
        replicas = {row[0] for row in con.execute(sql)}
    assert len(workers) == 2 and set(answered) <= logged
    assert {int(name.rsplit(":", 1)[1]) for name in replicas} == workers
