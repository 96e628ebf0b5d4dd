"""Data-quality verdicts on stored data: pure functions the Dagster asset checks wrap.

Each returns a `Verdict`; WARN verdicts flag something to look at, ERROR ones mean the data must not
reach the forecasts (the wrapping checks are blocking).
"""

from dataclasses import dataclass, field
from datetime import date

import polars as pl


@dataclass(frozen=True)
class Verdict:
    passed: bool
    severity: str  # "WARN" or "ERROR": how bad a failure is
    description: str
    metadata: dict = field(default_factory=dict)


def volume_anomaly(counts: pl.DataFrame, window: int = 28, low: float = 0.5, high: float = 2.0) -> Verdict:
    """Observed rows in the newest period against the median of the `window` periods before it.

    `counts` has columns period_date, n (one row per period). A sudden drop usually means a feed lost
    files or stores; a jump, duplicated input.
    """
    ordered = counts.sort("period_date")
    if ordered.height < 2:
        return Verdict(True, "WARN", "not enough periods to judge volume", {"periods": ordered.height})
    newest = ordered.row(-1, named=True)
    median = ordered.slice(max(ordered.height - 1 - window, 0), min(window, ordered.height - 1))["n"].median()
    ratio = newest["n"] / median if median else float("inf")
    meta = {
        "newest_period": str(newest["period_date"]),
        "rows": newest["n"],
        "median": median,
        "ratio": ratio,
    }
    if ratio < low or ratio > high:
        return Verdict(False, "WARN", f"newest period has {ratio:.2f}x the usual rows", meta)
    return Verdict(True, "WARN", f"newest period has {ratio:.2f}x the usual rows", meta)


def freshness(newest: date | None, today: date, max_age_days: int) -> Verdict:
    """How old the newest actual period is: stale data means forecasts start from an old point."""
    if newest is None:
        return Verdict(False, "ERROR", "no actuals at all", {})
    age = (today - newest).days
    meta = {"newest_period": str(newest), "age_days": age, "max_age_days": max_age_days}
    if age > max_age_days:
        return Verdict(False, "WARN", f"newest actual is {age} days old (> {max_age_days})", meta)
    return Verdict(True, "WARN", f"newest actual is {age} days old", meta)


def unused_by_partition(counts: pl.DataFrame, warn_above: float = 0.01, error_above: float = 0.10) -> Verdict:
    """Per monthly ingest partition, the share of rows the forecasts do not use (rejected at ingest or
    excluded in the warehouse): a month whose prices were half negated stands out even when the whole
    history's share stays small. `counts`: ingest_partition, rows, rejected, excluded."""
    shares = (
        counts.with_columns(share=(pl.col("rejected") + pl.col("excluded")) / pl.max_horizontal("rows", 1))
        .sort(["share", "ingest_partition"], descending=[True, False])
        .filter(pl.col("share") > warn_above)
    )
    meta = {"partitions_above_warn": shares.to_dicts()}
    if shares.is_empty():
        return Verdict(True, "WARN", f"no partition has more than {warn_above:.0%} of rows unused", meta)
    worst = shares.row(0, named=True)
    level, limit = ("ERROR", error_above) if worst["share"] > error_above else ("WARN", warn_above)
    return Verdict(
        False,
        level,
        f"partition {worst['ingest_partition']}: {worst['share']:.1%} of rows rejected or excluded "
        f"(> {limit:.0%}); {shares.height} partition(s) above {warn_above:.0%}",
        meta,
    )


@dataclass(frozen=True)
class IngestBatch:
    """What one ingest run brought for its own partitions: the rows it read, how many were accepted,
    rejected, or accepted without a target although dated within the history, and the files it
    quarantined (whole files lost) and ignored."""

    rows_in: int
    accepted: int
    rejected: int
    untargeted: int
    files_read: int
    quarantined: tuple[str, ...]
    ignored: tuple[str, ...]
    worst_partition: str | None = None  # the partition with the highest share rejected or untargeted
    worst_rejected: float = 0.0  # that share: one broken month stands out in a long backfill
    # where that partition's rejected rows mostly come from ("file: reason xN"): rows without a usable
    # date are counted in the span's first partition, so the partition alone can name the wrong month
    worst_cause: str | None = None


def untargeted_rows(accepted: pl.DataFrame, target: str, last_actual_before: date | None) -> int:
    """Accepted rows without the target dated on or before the last actual: in the history they leave
    a period looking observed with nothing in it (plan rows come after the last actual)."""
    actual = accepted.filter(pl.col(target).is_not_null())["date"].max()
    last = max((d for d in (actual, last_actual_before) if d is not None), default=None)
    if last is None:
        return 0
    return accepted.filter(pl.col(target).is_null() & (pl.col("date") <= last)).height


def ingest_batch(
    batch: IngestBatch, warn_above: float = 0.01, error_above: float = 0.10, quarantined_error: float = 0.5
) -> Verdict:
    """The run's own batch, not the whole history: rejected and untargeted shares of its rows (WARN
    above `warn_above`, ERROR above `error_above`), the share of its worst partition rejected or without
    a target (WARN);
    quarantined files (WARN for any, ERROR when more than `quarantined_error` of the files the run used
    were quarantined); files in observations/ it ignored (WARN). ERROR: nothing of the batch lands."""
    total = max(batch.rows_in, 1)
    files = batch.files_read + len(batch.quarantined)
    shares = {
        "rejected": (batch.rejected / total, "of this run's rows rejected"),
        "untargeted": (
            batch.untargeted / total,
            "of this run's rows without a target although dated within the history",
        ),
        "partition_rejected": (
            batch.worst_rejected,
            f"of partition {batch.worst_partition}'s rows rejected or without a target"
            + (f" (most: {batch.worst_cause})" if batch.worst_cause else ""),
        ),
    }
    # A partition's share only warns: rows without a usable date are counted in the first partition
    # (so that it can be inflated), and `unused_rows_by_partition` judges each month after dbt.
    problems = [
        ("ERROR" if share > error_above and key != "partition_rejected" else "WARN", f"{share:.1%} {what}")
        for key, (share, what) in shares.items()
        if share > warn_above
    ]
    if batch.quarantined:
        severity = "ERROR" if len(batch.quarantined) / files > quarantined_error else "WARN"
        names = ", ".join(batch.quarantined)
        problems.append((severity, f"{len(batch.quarantined)} of {files} files quarantined ({names})"))
    if skipped := [name for name in batch.ignored if name.startswith("observations/")]:
        problems.append(("WARN", f"{len(skipped)} entries of observations/ ignored ({', '.join(skipped)})"))
    meta = {
        **{k: v for k, v in vars(batch).items() if not isinstance(v, tuple)},
        "quarantined": list(batch.quarantined),
        "ignored": list(batch.ignored),
        **{f"{k}_rate": share for k, (share, _) in shares.items()},
    }
    if not problems:
        return Verdict(True, "WARN", f"{shares['rejected'][0]:.2%} of this run's rows rejected", meta)
    severity = "ERROR" if any(s == "ERROR" for s, _ in problems) else "WARN"
    return Verdict(False, severity, "; ".join(m for _, m in problems), meta)
