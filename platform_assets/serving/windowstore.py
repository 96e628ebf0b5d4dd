"""Where the replicas' window partials meet: each replica upserts its partial of a window under
(window, replica), and in the same transaction the window's merged statistics are rewritten from every
replica's partial (`request_windows`: one row per window x statistic x label). Upserts by key make
every write idempotent: a replica that restarts restores its open partials (`restore`) and carries on,
so nothing is counted twice, and a window rewritten gives the same rows.

Embedded: a SQLite file of the API's own beside the request log (WAL; several local replicas share
it). On Kubernetes the same two tables belong in Postgres, where every pod writes its partials and the
merge reads them all (README: "Many replicas")."""

import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from platform_assets.monitoring.request_windows import US, Partial

PARTIALS = """
create table if not exists window_partials (
    window_start integer not null, replica text not null, final integer not null, partial text not null,
    updated_at text not null, primary key (window_start, replica)
)"""
WINDOWS = """
create table if not exists request_windows (
    window_start text not null, window_end text not null, statistic text not null, label text not null,
    value real, final integer not null, replicas integer not null, updated_at text not null,
    primary key (window_start, statistic, label)
)"""
SCHEMA = {
    "window_start": pl.Datetime("us", "UTC"),
    "window_end": pl.Datetime("us", "UTC"),
    "statistic": pl.String,
    "label": pl.String,
    "value": pl.Float64,
    "final": pl.Boolean,
    "replicas": pl.Int32,
    "updated_at": pl.Datetime("us", "UTC"),
}
# Statistics of a merged partial: (statistic, label, value) rows.
Statistics = Callable[[Partial], list[tuple[str, str, float | None]]]


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / US, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class WindowStore:
    def __init__(self, path: Path, width_us: int):
        self.path, self.width_us = Path(path), width_us
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        self._con.execute("pragma journal_mode=wal")
        self._con.execute("pragma synchronous=normal")
        self._con.execute(PARTIALS)
        self._con.execute(WINDOWS)

    def close(self) -> None:
        self._con.close()

    def write(
        self, replica: str, partials: dict[int, Partial], final: bool, stats: Statistics, now_us: int
    ) -> dict[int, list[tuple]]:
        """Upsert this replica's partials and rewrite the merged statistics of their windows (returned)."""
        merged: dict[int, list[tuple]] = {}
        if not partials:
            return merged
        con, updated = self._con, iso(now_us)
        con.execute("begin immediate")
        try:
            for start, partial in sorted(partials.items()):
                con.execute(
                    "insert or replace into window_partials values (?, ?, ?, ?, ?)",
                    (start, replica, int(final), json.dumps(partial.as_json(), sort_keys=True), updated),
                )
                merged[start] = self._merge(start, stats, final, updated)
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return merged

    def _merge(self, start: int, stats: Statistics, final: bool, updated: str) -> list[tuple]:
        stored = self._con.execute(
            "select partial from window_partials where window_start = ? order by replica", (start,)
        ).fetchall()
        merged = Partial()
        for (text,) in stored:
            merged = merged.merge(Partial.from_json(json.loads(text)))
        rows = [
            (iso(start), iso(start + self.width_us), name, label, value, int(final), len(stored), updated)
            for name, label, value in stats(merged)
        ]
        self._con.execute("delete from request_windows where window_start = ?", (iso(start),))
        self._con.executemany("insert into request_windows values (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return [(name, label, value) for _, _, name, label, value, *_ in rows]

    def restore(self, replica: str, gone: Callable[[str], bool]) -> dict[int, Partial]:
        """The partials not yet final of this replica and of every stopped process of the same replica
        (`gone(name)`: a restart, or a worker replaced), taken over under `replica` in one transaction:
        a window then holds their counts once, and becomes final when this process finalizes it."""
        base = replica.rsplit(":", 1)[0]
        con = self._con
        con.execute("begin immediate")
        try:
            rows = con.execute(
                "select window_start, replica, partial from window_partials"
                " where final = 0 and (replica = ? or replica like ?)",
                (replica, f"{base}:%"),
            ).fetchall()
            taken: dict[int, Partial] = {}
            for start, name, text in rows:
                if name == replica or (name.rsplit(":", 1)[0] == base and gone(name)):
                    taken[start] = taken.get(start, Partial()).merge(Partial.from_json(json.loads(text)))
                    con.execute(
                        "delete from window_partials where window_start = ? and replica = ?", (start, name)
                    )
            for start, partial in taken.items():
                con.execute(
                    "insert or replace into window_partials values (?, ?, 0, ?, ?)",
                    (start, replica, json.dumps(partial.as_json(), sort_keys=True), iso(0)),
                )
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        return taken

    def prune(self, before_us: int) -> None:
        self._con.execute("delete from window_partials where window_start < ?", (before_us,))
        self._con.execute("delete from request_windows where window_start < ?", (iso(before_us),))


def read_windows(path: Path, since: datetime | None = None) -> pl.DataFrame:
    """The merged window rows (from `since`), oldest first, read-only."""
    if not Path(path).exists():
        return pl.DataFrame(schema=SCHEMA)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        start = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if since else ""
        rows = con.execute(
            "select * from request_windows where window_start >= ? order by window_start, statistic, label",
            (start,),
        ).fetchall()
    finally:
        con.close()
    text = {n: pl.String if t == pl.Datetime("us", "UTC") else t for n, t in SCHEMA.items()}
    frame = pl.DataFrame(rows, schema={**text, "final": pl.Int64}, orient="row")
    return frame.with_columns(
        *(pl.col(c).str.to_datetime(time_zone="UTC", time_unit="us") for c in ("window_start", "window_end",
                                                                                "updated_at")),
        pl.col("final").cast(pl.Boolean),
    )  # fmt: skip
