"""Whether the served requests need a person: sustained input drift or an error-rate spike over the
newest final request windows (request_windows.py). One window drifting or failing is noise (a batch
of unusual what-ifs, a client retrying); `sustained` windows in a row are a signal."""

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class AlertRules:
    sustained: int = 3  # newest consecutive windows that must all drift / all spike
    error_rate: float = 0.05  # a window's share of 5xx answers that is a spike


@dataclass(frozen=True)
class RequestAlert:
    drift: bool
    errors: bool
    newest: str | None  # the newest final window's start (ISO), the sensor's cursor
    summary: str
    table: pl.DataFrame  # per window: start, requests, error_rate, outlier_share, drift

    @property
    def alarm(self) -> bool:
        return self.drift or self.errors


def per_window(rows: pl.DataFrame) -> pl.DataFrame:
    """The final windows' headline statistics, one row per window, oldest first."""
    wanted = ["requests", "error_rate", "outlier_share", "drift", "drifted_inputs", "late_dropped"]
    headline = rows.filter(pl.col("final"), pl.col("label") == "", pl.col("statistic").is_in(wanted))
    if headline.is_empty():
        return pl.DataFrame(
            schema={"window_start": pl.Datetime("us", "UTC"), **dict.fromkeys(wanted, pl.Float64)}
        )
    wide = headline.pivot(on="statistic", index="window_start", values="value").sort("window_start")
    return wide.select("window_start", *(pl.col(c) if c in wide.columns else pl.lit(None, pl.Float64).alias(c)
                                         for c in wanted))  # fmt: skip


def request_alert(rows: pl.DataFrame, rules: AlertRules) -> RequestAlert:
    """The verdict over the newest `rules.sustained` final windows of `rows` (a window table)."""
    table = per_window(rows)
    newest = table.tail(rules.sustained)
    if table.is_empty():
        return RequestAlert(False, False, None, "no final request window yet", table)
    full = newest.height == rules.sustained
    drift = full and bool((newest["drift"].fill_null(0) >= 1).all())
    errors = full and bool((newest["error_rate"].fill_null(0) >= rules.error_rate).all())
    start = newest["window_start"][-1].isoformat()
    parts = []
    if drift:
        parts.append(f"what-if inputs drifted in the last {rules.sustained} windows")
    if errors:
        parts.append(f"error rate >= {rules.error_rate:.0%} in the last {rules.sustained} windows "
                     f"(newest {newest['error_rate'][-1]:.1%})")  # fmt: skip
    if not parts:
        parts.append(f"no sustained drift or error spike over the newest {newest.height} windows")
    return RequestAlert(drift, errors, start, f"{'; '.join(parts)} (newest window {start})", table)
