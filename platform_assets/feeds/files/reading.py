"""Landing files as text tables: every value a string, so bad values become rejected rows, not crashes.

A file is parsed once per fingerprint and process (`TEXT_TABLES`): the assets of a run, and every
partition of a backfill, ask for the same files, and an unchanged file reads the same every time.
"""

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from platform_assets.feeds import contract as c
from platform_assets.feeds.base import UnreadableFile
from platform_assets.feeds.files.checks import OBSERVATION_REQUIRED
from platform_assets.feeds.files.csv_rows import needs_record_check, read_records
from platform_assets.feeds.files.layout import Fingerprint


class UnreadableFileError(Exception):
    """A file no row can be taken from: wrong format, corrupt, or lacking required columns."""


# Internal columns a text table may carry besides the file's own: `_line` (1-based record), and for a
# record the reader could only partly read, `_error` (why it is rejected) and `_raw` (its text).
INTERNAL = ("_line", "_error", "_raw")


def read_text_table(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    """Every column of a CSV / Parquet / JSONL file as text, names lower-cased, plus `_line`, `_error`
    and `_raw` (null but for records read only in part: a bad JSONL line, a truncated last CSV line).

    Raises UnreadableFileError when the file cannot be parsed or lacks a required column.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = _flag_truncated_end(path, _read_csv(path))
        elif suffix == ".parquet":
            df = pl.read_parquet(path).with_row_index("_line", offset=1)
        elif suffix == ".jsonl":
            df = _read_jsonl(path)
        else:
            raise UnreadableFileError(f"unsupported file type {suffix!r}")
        for col in ("_error", "_raw"):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None, pl.String).alias(col))
        df = df.with_columns(pl.col("_line").cast(pl.Int64), pl.all().exclude("_line").cast(pl.String))
        names = {col: col.strip().lower() for col in df.columns if col not in INTERNAL}
        twice = sorted({name for name in names.values() if list(names.values()).count(name) > 1})
        if twice:
            raise UnreadableFileError(
                f"duplicate column(s) {', '.join(twice)} (names are matched case-insensitively)"
            )
        df = df.rename(names)
    except UnreadableFileError:
        raise
    except PermissionError as err:  # the file is fine, the process may not read it: say so, not "parse"
        raise UnreadableFileError(f"cannot read the file: {err.strerror} (check its permissions)") from err
    except Exception as err:  # polars raises many error types for corrupt input; all mean the same here
        raise UnreadableFileError(f"cannot parse as {suffix.lstrip('.').upper()}: {first_line(err)}") from err
    missing = [col for col in required if col not in df.columns]
    if missing:
        found = ", ".join(col for col in df.columns if col not in INTERNAL)
        raise UnreadableFileError(f"missing required column(s) {', '.join(missing)} (found: {found})")
    data = [col for col in df.columns if col not in INTERNAL]
    # Blank lines carry nothing: they are not records (CSV reads them as all-null rows).
    return df.filter(
        pl.any_horizontal(*(c.clean(col).is_not_null() for col in data), pl.col("_error").is_not_null())
    )


CR_PROBE = 65536  # bytes of a file's start that tell its line ends


def _cr_only(head: bytes) -> bool:
    """Whether text starting with `head` ends its lines with a lone CR (old Mac exports)."""
    return b"\r" in head and b"\n" not in head


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(CR_PROBE)


def _read_csv(path: Path) -> pl.DataFrame:
    """A CSV as text columns. Lines ended by a lone CR are read as lines: the CSV reader would take the
    whole file for one header of thousands of columns and no row at all. UTF-16 (Excel's "Unicode
    text") is named as such: read as UTF-8 its header is a string of NULs the error would print."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4]:
        raise UnreadableFileError("the file is UTF-16 text, not UTF-8: save it as CSV UTF-8")
    if _cr_only(data[:CR_PROBE]):
        data = data.replace(b"\r", b"\n")
    try:
        fast: pl.DataFrame | None = pl.read_csv(io.BytesIO(data), infer_schema=False)
    except pl.exceptions.ComputeError as err:  # a line with an extra field, a quote left open
        fast, failure = None, err
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        if fast is None:
            raise failure from None  # not text: the reader's own words
        raise
    if fast is not None and not needs_record_check(text, fast.width):
        return fast.with_row_index("_line", offset=1)
    return read_records(text)


def _flag_truncated_end(path: Path, df: pl.DataFrame) -> pl.DataFrame:
    """A last line with no end of line and fewer fields than the header was cut off mid-write (a copy
    still running, a full disk): its values cannot be trusted ("159." may have been "159.5"), so it
    is marked to be rejected. The CSV reader fills missing fields with nulls, which would hide it."""
    with path.open("rb") as f:
        f.seek(max(path.stat().st_size - 65536, 0))
        tail = f.read()
    if df.height == 0 or not tail or tail.endswith((b"\n", b"\r")):
        return df
    last = tail.splitlines()[-1].decode("utf-8", errors="replace")
    fields = len(next(csv.reader([last]), []))
    width = len([col for col in df.columns if col not in INTERNAL])
    if fields >= width:
        return df
    error = f"truncated last line (no end of line, {fields} of {width} fields)"
    is_last = pl.col("_line") == df["_line"].max()
    before = {
        col: pl.col(col) if col in df.columns else pl.lit(None, pl.String) for col in ("_error", "_raw")
    }
    return df.with_columns(
        pl.when(is_last).then(pl.lit(error)).otherwise(before["_error"]).alias("_error"),
        pl.when(is_last).then(pl.lit(last)).otherwise(before["_raw"]).alias("_raw"),
    )


def _read_jsonl(path: Path) -> pl.DataFrame:
    """The non-blank lines of a JSONL file, `_line` being the physical line number. A line that is not
    a JSON object is kept as a record with `_error` (rejected with its line), so one bad line does not
    cost the file's other rows."""
    lines = path.read_bytes().splitlines()
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    try:
        df = pl.read_ndjson(io.BytesIO(b"\n".join(line for _, line in numbered)), infer_schema_length=None)
        return df.with_columns(pl.Series("_line", [i for i, _ in numbered], dtype=pl.Int64))
    except Exception:  # noqa: BLE001 - some line is bad: read them one by one to find which
        return _read_jsonl_lines(numbered)


def _read_jsonl_lines(numbered: list[tuple[int, bytes]]) -> pl.DataFrame:
    """JSONL line by line: objects become rows of text values, anything else a row with `_error`."""
    records = []
    for number, line in numbered:
        try:
            value = json.loads(line)
            error = None if isinstance(value, dict) else f"line is JSON {type(value).__name__}, not an object"
        except ValueError as err:
            value, error = None, f"invalid JSON: {first_line(err)}"
        if error is None:
            records.append({"_line": number, **{k: _text(v) for k, v in value.items()}})
        else:
            records.append({"_line": number, "_error": error, "_raw": line.decode("utf-8", errors="replace")})
    if all("_error" in r for r in records):  # nothing to recover: the file is not JSONL at all
        first = records[0]
        raise UnreadableFileError(
            f"cannot parse as JSONL: no line is a JSON object (line {first['_line']}: {first['_error']})"
        )
    columns = list(dict.fromkeys(k for r in records for k in r))
    return pl.DataFrame(
        {col: [r.get(col) for r in records] for col in columns},
        schema={col: pl.Int64 if col == "_line" else pl.String for col in columns},
    )


def _text(value: object) -> str | None:
    """A JSON value as the text the fast reader gives it (booleans lower-case, objects as JSON)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def first_line(err: Exception) -> str:
    """The first line of an error's message (polars messages run long), or its type when it has none."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class TextTables:
    """Text tables of landing files by path, each valid while the file keeps its fingerprint.

    A changed file is parsed again and replaces its entry; entries live as long as the process (a
    Dagster run), so they hold at most the files the run's landing zone had.
    """

    def __init__(self) -> None:
        self._tables: dict[tuple[Path, tuple[str, ...]], tuple[Fingerprint, pl.DataFrame | str]] = {}
        self.parses: Counter[Path] = Counter()  # times each file was parsed: what the cache saves

    def read(self, file: Fingerprint, required: tuple[str, ...]) -> pl.DataFrame:
        """`read_text_table` of the file, parsed only when its fingerprint changed; an unreadable file
        raises UnreadableFileError again without being parsed again."""
        key = (file.path, required)
        cached = self._tables.get(key)
        if cached is None or cached[0] != file:
            self.parses[file.path] += 1
            try:
                table: pl.DataFrame | str = read_text_table(file.path, required)
            except UnreadableFileError as err:
                table = str(err)
            cached = self._tables[key] = (file, table)
        if isinstance(cached[1], str):
            raise UnreadableFileError(cached[1])
        return cached[1]


TEXT_TABLES = TextTables()


@dataclass(frozen=True)
class Batch:
    """Rows of several files as text, plus the files that could not be read (still in place)."""

    rows: pl.DataFrame  # the wanted columns as String, then _file, _line, _record, _error
    unreadable: tuple[UnreadableFile, ...]  # moved_to None: the caller decides what to set aside
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)  # each read file's own columns


def read_batch(
    root: Path,
    files: Iterable[Fingerprint],
    required: tuple[str, ...],
    columns: tuple[str, ...],
    *,
    extras: bool = False,
) -> Batch:
    """The files' rows under the contract's `columns` (plus any others when `extras`), in file order."""
    frames, unreadable, found = [], [], {}
    for file in files:
        try:
            table = TEXT_TABLES.read(file, required)
        except UnreadableFileError as err:
            unreadable.append(UnreadableFile(str(file.path), None, str(err)))
            continue
        name = file.path.relative_to(root).as_posix()
        found[name] = tuple(col for col in table.columns if col not in INTERNAL)
        frames.append(_normalize(table, name, columns, extras))
    schema = {col: pl.String() for col in columns} | {
        "_file": pl.String(),
        "_line": pl.Int64(),
        "_record": pl.String(),
        "_error": pl.String(),
    }
    rows = pl.concat(frames, how="diagonal") if frames else pl.DataFrame(schema=schema)
    return Batch(rows, tuple(unreadable), found)


def _normalize(df: pl.DataFrame, name: str, columns: tuple[str, ...], extras: bool) -> pl.DataFrame:
    """The contract's columns (null when the file lacks one), the record as JSON (or as the text of a
    record read only in part), and where it came from."""
    data = [col for col in df.columns if col not in INTERNAL]
    kept = list(columns) + ([col for col in data if col not in columns] if extras else [])
    return df.select(
        *[pl.col(col) if col in df.columns else pl.lit(None, pl.String).alias(col) for col in kept],
        pl.lit(name).alias("_file"),
        pl.col("_line"),
        pl.coalesce(pl.col("_raw"), c.record(data)).alias("_record"),
        pl.col("_error"),
    )


def usable_dates(path: Path) -> pl.Series:
    """The usable dates of an observation file, reading its date column only: what the landing sensor
    and the landing manifest need to know before a run reads the file in full.

    Raises UnreadableFileError or ValueError when the feed could not read the file's dates.
    """
    if path.suffix.lower() == ".jsonl" or (path.suffix.lower() == ".csv" and _cr_only(_head(path))):
        # no columnar layout to skip into (or lines a scan cannot split): read it as the feed does
        dates = read_text_table(path, OBSERVATION_REQUIRED).select("date")
    else:
        scan = (
            pl.scan_csv(path, infer_schema=False) if path.suffix.lower() == ".csv" else pl.scan_parquet(path)
        )
        names = {name.strip().lower(): name for name in scan.collect_schema().names()}
        missing = [col for col in OBSERVATION_REQUIRED if col not in names]
        if missing:
            raise ValueError(f"missing required column(s) {', '.join(missing)}")
        dates = scan.select(pl.col(names["date"]).cast(pl.String).alias("date")).collect()
    return dates.select(c.iso_date("date").alias("day")).filter(c.in_date_range(pl.col("day"))).to_series()


def observation_months(path: Path) -> list[str]:
    """The monthly partition keys of the usable dates in an observation file (`usable_dates`).

    Raises UnreadableFileError or ValueError when the feed could not use the file.
    """
    months = usable_dates(path).dt.month_start().unique().sort()
    if months.is_empty():
        raise ValueError("no row has a usable date")
    return [m.isoformat() for m in months]
