"""Row-level rules shared by the feeds that read text: parse strings, name what is wrong, window rows.

Every value arrives as a string, so a bad value becomes a rejected row with a reason, never a crash.
Reasons are short fixed phrases (the record itself is kept as JSON), so they group well in reports.
"""

from datetime import date

import polars as pl

from platform_assets.core.schemas import REJECTED_ROWS, conform

# Dates outside this range are typos (e.g. 2205 for 2025): accepting them would stretch the feed's
# span, and with it the monthly partitions to ingest, over centuries. Long business histories (monthly
# series from the 1950s) lie inside it; typos within it are judged against the data (plausibility.py).
DATE_MIN, DATE_MAX = date(1900, 1, 1), date(2099, 12, 31)

_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")


def clean(col: str) -> pl.Expr:
    """Trimmed text, with empty strings read as missing (CSV has no other way to say null)."""
    text = pl.col(col).str.strip_chars()
    return pl.when(text != "").then(text)


def number(col: str) -> pl.Expr:
    """A finite float, or null when the text is missing or not a number ('nan' and 'inf' are not)."""
    value = clean(col).cast(pl.Float64, strict=False)
    return pl.when(value.is_finite()).then(value)


def not_a_number(col: str) -> pl.Expr:
    """True where text is present but does not read as a finite number."""
    return clean(col).is_not_null() & number(col).is_null()


def iso_date(col: str) -> pl.Expr:
    """A date written year first: `YYYY-MM-DD`, also with `/` or `.` between the parts, as `YYYYMMDD`,
    or with a time part after it (what Parquet datetimes print as). Day-first and month-first dates
    (`01/02/2025`) stay unparseable: which one a file means cannot be told row by row."""
    text = (
        clean(col)
        .str.replace(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})", "$1-$2-$3")
        .str.replace(r"^(\d{4})(\d{2})(\d{2})([T ]|$)", "$1-$2-$3$4")
    )
    day = text.str.extract(r"^(\d{4}-\d{1,2}-\d{1,2})(?:[T ][0-9:.+\-Z]*)?$", 1)
    return day.str.to_date("%Y-%m-%d", strict=False)


def in_date_range(day: pl.Expr) -> pl.Expr:
    return day.is_between(pl.lit(DATE_MIN), pl.lit(DATE_MAX))


def boolean(col: str) -> pl.Expr:
    """true/false/1/0/yes/no in any case; null for anything else (see `bad_boolean`)."""
    text = clean(col).str.to_lowercase()
    return pl.when(text.is_in(_TRUE)).then(True).when(text.is_in(_FALSE)).then(False)


def bad_boolean(col: str) -> pl.Expr:
    return clean(col).is_not_null() & boolean(col).is_null()


def reasons(checks: list[tuple[pl.Expr, str]]) -> pl.Expr:
    """Every failed check of a row joined by '; ', or null when the row passes them all."""
    joined = pl.concat_str(
        [pl.when(failed.fill_null(False)).then(pl.lit(reason)) for failed, reason in checks],
        separator="; ",
        ignore_nulls=True,
    )
    return pl.when(joined != "").then(joined)


def record(columns: list[str]) -> pl.Expr:
    """The row as the file had it, as JSON text, so a rejected row loses nothing."""
    return pl.struct([pl.col(c).cast(pl.String) for c in columns]).struct.json_encode()


def in_window(window_date: pl.Expr, start: date, end: date, anchor: date) -> pl.Expr:
    """Rows dated in [start, end); rows with no usable date belong to the window holding `anchor`.

    The anchor is the first day of the feed's span, so a row whose date cannot be read is counted
    (and rejected) exactly once over any set of consecutive windows that covers the span.
    """
    dated = window_date.is_not_null() & (window_date >= start) & (window_date < end)
    return dated | (window_date.is_null() & pl.lit(start <= anchor < end))


def rejected_rows(frame: pl.DataFrame, source: str) -> pl.DataFrame:
    """The REJECTED_ROWS view of rows carrying `file`, `line`, `reason` and `record` columns, and the
    row's parsed keys (`product_id`, `store_id`, `date`) where the feed has them (null otherwise)."""
    keys = [pl.lit(None).alias(k) for k in ("product_id", "store_id", "date") if k not in frame.columns]
    return conform(
        frame.with_columns(pl.lit(source).alias("source"), *keys).sort("file", "line", maintain_order=True),
        REJECTED_ROWS,
    )
