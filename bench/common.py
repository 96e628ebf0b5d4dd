"""Helpers shared by the benchmarks: the graph run in a child process, and the results they publish.

Why: a run is only comparable across sizes and engines when it starts in a fresh process with a clean
environment and its timings come from the same place (the run's event log, `wait4` rusage); a published
number is only readable next to the machine and the command that produced it.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import dagster as dg
import httpx

from platform_assets.modeling.names import CHAMPION, MODEL_NAME

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "BENCHMARKS.md"
RESULTS_DIR = ROOT / "bench" / "results"
LOCAL_INSTANCE = "deploy/dagster-local.yaml"
CLOCK = os.sysconf("SC_CLK_TCK")


def markers(name: str) -> tuple[str, str]:
    """The comments that fence benchmark `name`'s section of BENCHMARKS.md (see `write_section`)."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def command(script: str) -> str:
    """How this benchmark was started, as BENCHMARKS.md quotes it: `python bench/<script> <args>`."""
    return " ".join(["python", f"bench/{Path(script).name}", *sys.argv[1:]])


def now() -> str:
    """The UTC time, to the second, that results are stamped with."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def machine(packages: Iterable[str] = (), **extra: object) -> dict:
    """What the numbers were measured on: platform, CPUs, memory, Python and the installed version of
    each of `packages`; `extra` adds what one benchmark also depends on (its threads, its server)."""
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
        "python": platform.python_version(),
        **{package: version(package) for package in packages},
        **extra,
    }


def fresh_dagster_home(path: Path, template: str = LOCAL_INSTANCE) -> Path:
    """A fresh DAGSTER_HOME at `path` holding the instance yaml `template` (relative to the repo root)."""
    path.mkdir(parents=True)
    shutil.copy(ROOT / template, path / "dagster.yaml")
    return path


def synthetic_size(products: int, stores: int, days: int) -> dict[str, str]:
    """The SHELFCAST_SYNTH_* variables that size the synthetic feed."""
    return {
        "SHELFCAST_SYNTH_PRODUCTS": str(products),
        "SHELFCAST_SYNTH_STORES": str(stores),
        "SHELFCAST_SYNTH_DAYS": str(days),
    }


def clean_env(home: Path, dagster_home: Path, values: dict[str, str]) -> dict[str, str]:
    """The child's environment: no SHELFCAST_* or DAGSTER_HOME leaks in from the caller's shell; `values`
    are full variable names."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_") and k != "DAGSTER_HOME"}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        SHELFCAST_HOME=str(home),
        # As `make demo` exports it: dbt resolves the profile while parsing.
        SHELFCAST_DUCKDB_PATH=str(home / "warehouse.duckdb"),
        **values,
    )
    return env


@contextmanager
def env_set(values: dict[str, str]) -> Iterator[None]:
    """os.environ with `values` for the duration: the instance yaml reads its Postgres URL from it."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                del os.environ[key]
            else:
                os.environ[key] = value


@dataclass
class ChildRun:
    wall_seconds: float
    exit_code: int
    usage: object  # resource.struct_rusage of the child and the descendants it reaped
    timed_out: bool = False

    @property
    def cpu_seconds(self) -> float:
        return self.usage.ru_utime + self.usage.ru_stime

    @property
    def peak_rss_mib(self) -> float:
        return self.usage.ru_maxrss / 1024  # Linux reports KiB


def run_child(cmd: list[str], env: dict[str, str], log_path: Path, timeout: float | None = None) -> ChildRun:
    """Run `cmd` from the repo root with its output in `log_path`; past `timeout` seconds its process
    group is killed (the dbt subprocesses with it)."""
    with log_path.open("w") as log:
        began = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=timeout is not None
        )
        expired = threading.Event()

        def kill() -> None:
            expired.set()
            os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill) if timeout is not None else None
        if timer is not None:
            timer.start()
        # wait4, not wait(): it hands back this child's own rusage (its peak RSS and CPU time,
        # including the dbt subprocesses it reaped), where RUSAGE_CHILDREN would mix in earlier runs.
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        if timer is not None:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
    return ChildRun(wall, proc.returncode, usage, expired.is_set())


def run_stats(dagster_home: Path, env: dict[str, str]) -> dict:
    """The newest run's job wall time and per-step durations, read back from its event log."""
    url = {k: v for k, v in env.items() if k == "SHELFCAST_DAGSTER_PG_URL"}
    with env_set(url), dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        (record,) = instance.get_run_records(limit=1)
        timed = [s for s in instance.get_run_step_stats(record.dagster_run.run_id) if s.end_time is not None]
        steps = {s.step_key: s.end_time - s.start_time for s in sorted(timed, key=lambda s: s.start_time)}
        return {
            "run_id": record.dagster_run.run_id,
            "job_seconds": record.end_time - record.start_time,
            "steps": steps,
        }


def write_section(start: str, end: str, section: str) -> None:
    """Replace one benchmark's section of BENCHMARKS.md between its markers, leaving the others alone."""
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section.rstrip("\n") + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    BENCHMARKS.write_text(text)


def write_results(results_path: Path, results: object) -> None:
    """A benchmark's raw results, as JSON."""
    results_path.parent.mkdir(parents=True, exist_ok=True)
    results_path.write_text(json.dumps(results, indent=2) + "\n")


def publish(results_path: Path, start: str, end: str, results: object, section: str) -> None:
    """Write a benchmark's raw results (JSON) and its BENCHMARKS.md section from them, together."""
    write_results(results_path, results)
    write_section(start, end, section)
    print(f"wrote {results_path.relative_to(ROOT)} and {BENCHMARKS.relative_to(ROOT)}")


# --- the API benches (serving_bench.py, live_monitoring_bench.py) ---


def what_if_scenarios(series: list, dates: list, count: int) -> list[tuple[str, str, str]]:
    """The (product, store, target date) of the what-ifs both servers answer: a promotional 20% price
    cut on one date of one series, `count` of them drawn with a fixed seed."""
    rng = random.Random(7)
    return [(*rng.choice(series), rng.choice(dates)) for _ in range(count)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def build_home(home: Path) -> None:
    """A full_refresh of the default synthetic feed (100 products x 3 stores x 730 days) into `home`."""
    code = (
        "import dagster as dg\n"
        "from platform_assets.config.settings import load_settings\n"
        "from platform_assets.definitions import build_defs\n"
        "from platform_assets.defs.orchestration import partition_range_tags\n"
        "from platform_assets.runner.history import history_range\n"
        "defs = build_defs(load_settings())\n"
        "config = defs.resources['config'].process_config_and_initialize()\n"
        "with dg.DagsterInstance.ephemeral() as instance:\n"
        "    tags = partition_range_tags(*history_range(config))\n"
        "    job = defs.resolve_job_def('full_refresh')\n"
        "    assert job.execute_in_process(instance=instance, tags=tags).success\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
    env.update(SHELFCAST_HOME=str(home), SHELFCAST_DUCKDB_PATH=str(home / "warehouse.duckdb"))
    subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)


class Server:
    """A server (`shelfcast serve`, or `mlflow models serve`, which runs uvicorn in a child) in a process
    group of its own, with the group's CPU time and peak RSS read from /proc and signals sent to it."""

    def __init__(
        self, home: Path, workers: int = 1, extra: dict[str, str] | None = None, mlflow: bool = False
    ):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SHELFCAST_")}
        if mlflow:  # the champion's pickle needs the shelfcast package importable
            env.update(MLFLOW_TRACKING_URI=f"sqlite:///{home / 'mlflow.db'}", PYTHONPATH=str(ROOT))
            command = [sys.executable, "-m", "mlflow", "models", "serve", "--env-manager", "local", "-m",
                       f"models:/{MODEL_NAME}@{CHAMPION}", "-h", "127.0.0.1", "-w", str(workers)]  # fmt: skip
            ready = "/ping"
        else:
            env.update(SHELFCAST_HOME=str(home), SHELFCAST_SERVE_RATE_LIMIT="0", **(extra or {}))
            command = [sys.executable, "-m", "platform_assets.cli.shelfcast", "serve", "--no-access-log",
                       "--workers", str(workers)]  # fmt: skip
            ready = "/readyz"
        # A file, not a pipe: a full pipe would stall the server.
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed with the process in stop)
        self.process = subprocess.Popen(
            [*command, "--port", str(self.port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
            stderr=self.errors, start_new_session=True,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{self.port}"
        self.peak_rss = 0
        self._sampling = True
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.url}{ready}").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            self.errors.seek(0)
            tail = self.errors.read()[-1500:]  # before stop() closes the file
            self.stop(signal.SIGKILL)
            raise RuntimeError(f"{' '.join(command[2:5])} did not become ready: {tail}")
        threading.Thread(target=self._sample, daemon=True).start()

    def _group(self) -> list[list[str]]:
        """The /proc/PID/stat fields (after the name) of every live process in the server's group."""
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == self.process.pid:  # pgrp: the group's leader is the process started
                out.append([stat.parent.name, *fields])
        return out

    def cpu_seconds(self) -> float:
        return sum(int(f[12]) + int(f[13]) for f in self._group()) / CLOCK  # utime + stime

    def _sample(self) -> None:
        while self._sampling and self.process.poll() is None:
            rss = 0
            for fields in self._group():
                try:
                    status = Path(f"/proc/{fields[0]}/status").read_text().splitlines()
                except FileNotFoundError:
                    continue
                rss += next((int(line.split()[1]) for line in status if line.startswith("VmRSS")), 0)
            self.peak_rss = max(self.peak_rss, rss * 1024)
            time.sleep(0.2)

    def stop(self, sig: int) -> None:
        self._sampling = False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=120)
        self.errors.close()
