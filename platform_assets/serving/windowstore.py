"""Where the replicas' window partials meet: each API process upserts its partial of a window under
(window, replica), and in the same transaction the window's merged statistics are rewritten from every
replica's partial (`request_windows`: one row per window x statistic x label). Upserts by key make
every write idempotent: a process that restarts takes its open partials over (`restore`) and carries
on, so nothing is counted twice, and a window rewritten gives the same rows.

Two engines, one SQL (DB-API; `?` placeholders, numbered for Postgres): embedded, a SQLite file of the
API's own beside the request log (WAL; the processes of one host share it, a write transaction at a
time); with a Postgres warehouse, the `serving` schema of its database (every pod of the API writes
there, an advisory lock taken per transaction serialising the merges; nothing pod-local)."""

import itertools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from platform_assets.monitoring.request_windows import US, Partial

PG_SCHEMA = "serving"
PG_LOCK = 7_140_014  # the advisory lock the Postgres writers take (any constant of ours)
TABLES = """
create table if not exists {prefix}window_partials (
    window_start bigint not null, replica text not null, final integer not null, partial text not null,
    updated_at text not null, primary key (window_start, replica)
);
create table if not exists {prefix}request_windows (
    window_start text not null, window_end text not null, statistic text not null, label text not null,
    value double precision, final integer not null, replicas integer not null, updated_at text not null,
    primary key (window_start, statistic, label)
)"""
UPSERT = (
    "insert into {prefix}window_partials values (?, ?, ?, ?, ?)"
    " on conflict (window_start, replica) do update"
    " set final = excluded.final, partial = excluded.partial, updated_at = excluded.updated_at"
)
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
    """The two tables on one connection (`sqlite` or `postgres`), used by one thread at a time."""

    def __init__(self, con, width_us: int, postgres: bool):
        self._con, self.width_us, self.postgres = con, width_us, postgres
        self._prefix = f"{PG_SCHEMA}." if postgres else ""
        with self._transaction() as cur:
            if postgres:
                cur.execute(f"create schema if not exists {PG_SCHEMA}")
            for statement in TABLES.format(prefix=self._prefix).split(";"):
                cur.execute(statement)

    @classmethod
    def sqlite(cls, path: Path, width_us: int) -> "WindowStore":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=30, check_same_thread=False, isolation_level=None)
        con.execute("pragma journal_mode=wal")
        con.execute("pragma synchronous=normal")
        return cls(con, width_us, postgres=False)

    @classmethod
    def postgres(cls, dsn: str, width_us: int) -> "WindowStore":
        import adbc_driver_postgresql.dbapi as adbc  # only a Postgres deployment loads the driver

        return cls(adbc.connect(dsn), width_us, postgres=True)

    def close(self) -> None:
        self._con.close()

    def _sql(self, text: str) -> str:
        text = text.replace("{prefix}", self._prefix)
        if not self.postgres:
            return text
        numbers = itertools.count(1)
        return re.sub(r"\?", lambda _: f"${next(numbers)}", text)

    @contextmanager
    def _transaction(self) -> Iterator:
        cur = self._con.cursor()
        try:
            if self.postgres:
                cur.execute(f"select pg_advisory_xact_lock({PG_LOCK})")
            else:
                cur.execute("begin immediate")
            yield cur
            if self.postgres:
                self._con.commit()
            else:
                cur.execute("commit")
        except BaseException:
            if self.postgres:
                self._con.rollback()
            else:
                cur.execute("rollback")
            raise
        finally:
            cur.close()

    def write(
        self, replica: str, partials: dict[int, Partial], final: bool, stats: Statistics, now_us: int
    ) -> dict[int, list[tuple]]:
        """Upsert this replica's partials and rewrite the merged statistics of their windows (returned)."""
        merged: dict[int, list[tuple]] = {}
        if not partials:
            return merged
        updated = iso(now_us)
        with self._transaction() as cur:
            for start, partial in sorted(partials.items()):
                text = json.dumps(partial.as_json(), sort_keys=True)
                cur.execute(self._sql(UPSERT), (start, replica, int(final), text, updated))
                merged[start] = self._merge(cur, start, stats, final, updated)
        return merged

    def _merge(self, cur, start: int, stats: Statistics, final: bool, updated: str) -> list[tuple]:
        cur.execute(
            self._sql("select partial from {prefix}window_partials where window_start = ? order by replica"),
            (start,),
        )
        stored = cur.fetchall()
        merged = Partial()
        for (text,) in stored:
            merged = merged.merge(Partial.from_json(json.loads(text)))
        rows = [
            (iso(start), iso(start + self.width_us), name, label, value, int(final), len(stored), updated)
            for name, label, value in stats(merged)
        ]
        cur.execute(self._sql("delete from {prefix}request_windows where window_start = ?"), (iso(start),))
        insert = self._sql("insert into {prefix}request_windows values (?, ?, ?, ?, ?, ?, ?, ?)")
        for row in rows:
            cur.execute(insert, row)
        return [(name, label, value) for _, _, name, label, value, *_ in rows]

    def restore(self, replica: str, gone: Callable[[str], bool]) -> dict[int, Partial]:
        """The partials not yet final of this replica and of every stopped process of the same replica
        (`gone(name)`: a restart, or a worker replaced), taken over under `replica` in one transaction:
        a window then holds their counts once, and becomes final when this process finalizes it."""
        base = replica.rsplit(":", 1)[0]
        taken: dict[int, Partial] = {}
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "select window_start, replica, partial from {prefix}window_partials"
                    " where final = 0 and (replica = ? or replica like ?)"
                ),
                (replica, f"{base}:%"),
            )
            for start, name, text in cur.fetchall():
                if name == replica or (name.rsplit(":", 1)[0] == base and gone(name)):
                    taken[start] = taken.get(start, Partial()).merge(Partial.from_json(json.loads(text)))
                    cur.execute(
                        self._sql(
                            "delete from {prefix}window_partials where window_start = ? and replica = ?"
                        ),
                        (start, name),
                    )
            for start, partial in taken.items():
                text = json.dumps(partial.as_json(), sort_keys=True)
                cur.execute(self._sql(UPSERT), (start, replica, 0, text, iso(0)))
        return taken

    def prune(self, before_us: int) -> None:
        with self._transaction() as cur:
            cur.execute(self._sql("delete from {prefix}window_partials where window_start < ?"), (before_us,))
            cur.execute(
                self._sql("delete from {prefix}request_windows where window_start < ?"), (iso(before_us),)
            )

    def read(self, since: datetime | None = None) -> pl.DataFrame:
        """The merged window rows (from `since`), oldest first."""
        with self._transaction() as cur:
            cur.execute(
                self._sql(
                    "select * from {prefix}request_windows where window_start >= ?"
                    " order by window_start, statistic, label"
                ),
                (_since(since),),
            )
            return _frame(cur.fetchall())


def _since(since: datetime | None) -> str:
    return since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if since else ""


def _frame(rows: list[tuple]) -> pl.DataFrame:
    text = {n: pl.String if t == pl.Datetime("us", "UTC") else t for n, t in SCHEMA.items()}
    frame = pl.DataFrame(rows, schema={**text, "final": pl.Int64}, orient="row")
    return frame.with_columns(
        *(pl.col(c).str.to_datetime(time_zone="UTC", time_unit="us") for c in ("window_start", "window_end",
                                                                                "updated_at")),
        pl.col("final").cast(pl.Boolean),
    )  # fmt: skip


def read_windows(path: Path, since: datetime | None = None) -> pl.DataFrame:
    """The merged window rows of an embedded store (from `since`), read-only: what a reader beside
    the API (a dashboard, the bench) sees while it writes."""
    if not Path(path).exists():
        return pl.DataFrame(schema=SCHEMA)
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        sql = "select * from request_windows where window_start >= ? order by window_start, statistic, label"
        return _frame(con.execute(sql, (_since(since),)).fetchall())
    finally:
        con.close()


def window_store(home: Path, pg_dsn: str | None, width_us: int) -> WindowStore:
    """The window store: Postgres when `pg_dsn` (the warehouse is Postgres), else the SQLite file."""
    from platform_assets.serving.layout import windows_path

    return (
        WindowStore.postgres(pg_dsn, width_us) if pg_dsn else WindowStore.sqlite(windows_path(home), width_us)
    )


def recent_windows(home: Path, pg_dsn: str | None, since: datetime) -> pl.DataFrame:
    """The merged window rows from `since`, from the store `window_store` names (readers: the API's
    /v1/monitoring, the Dagster asset and sensor)."""
    if not pg_dsn:
        from platform_assets.serving.layout import windows_path

        return read_windows(windows_path(home), since)
    store = WindowStore.postgres(pg_dsn, 0)
    try:
        return store.read(since)
    finally:
        store.close()
