"""Landing files as text tables: every value a string, so bad values become rejected rows, not crashes.

A file is parsed once per fingerprint and process (`TEXT_TABLES`): the assets of a run, and every
partition of a backfill, ask for the same files, and an unchanged file reads the same every time.
"""

import io
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from platform_assets.feeds import contract as c
from platform_assets.feeds.base import UnreadableFile
from platform_assets.feeds.files.checks import OBSERVATION_REQUIRED
from platform_assets.feeds.files.layout import Fingerprint


class UnreadableFileError(Exception):
    """A file no row can be taken from: wrong format, corrupt, or lacking required columns."""


def read_text_table(path: Path, required: tuple[str, ...]) -> pl.DataFrame:
    """Every column of a CSV / Parquet / JSONL file as text, names lower-cased, plus `_line`.

    Raises UnreadableFileError when the file cannot be parsed or lacks a required column.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            df = pl.read_csv(path, infer_schema=False).with_row_index("_line", offset=1)
        elif suffix == ".parquet":
            df = pl.read_parquet(path).with_row_index("_line", offset=1)
        elif suffix == ".jsonl":
            df = _read_jsonl(path)
        else:
            raise UnreadableFileError(f"unsupported file type {suffix!r}")
        df = df.with_columns(pl.col("_line").cast(pl.Int64), pl.all().exclude("_line").cast(pl.String))
        df = df.rename({col: col.strip().lower() for col in df.columns if col != "_line"})
    except UnreadableFileError:
        raise
    except Exception as err:  # polars raises many error types for corrupt input; all mean the same here
        raise UnreadableFileError(f"cannot parse as {suffix.lstrip('.').upper()}: {first_line(err)}") from err
    missing = [col for col in required if col not in df.columns]
    if missing:
        found = ", ".join(col for col in df.columns if col != "_line")
        raise UnreadableFileError(f"missing required column(s) {', '.join(missing)} (found: {found})")
    data = [col for col in df.columns if col != "_line"]
    # Blank lines carry nothing: they are not records (CSV reads them as all-null rows).
    return df.filter(pl.any_horizontal(c.clean(col).is_not_null() for col in data))


def _read_jsonl(path: Path) -> pl.DataFrame:
    """The non-blank lines of a JSONL file, `_line` being the physical line number."""
    lines = path.read_bytes().splitlines()
    numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
    df = pl.read_ndjson(io.BytesIO(b"\n".join(line for _, line in numbered)), infer_schema_length=None)
    return df.with_columns(pl.Series("_line", [i for i, _ in numbered], dtype=pl.Int64))


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

    rows: pl.DataFrame  # the wanted columns as String, then _file, _line, _record
    unreadable: tuple[UnreadableFile, ...]  # moved_to None: the caller decides what to set aside


def read_batch(
    root: Path,
    files: Iterable[Fingerprint],
    required: tuple[str, ...],
    columns: tuple[str, ...],
    *,
    extras: bool = False,
) -> Batch:
    """The files' rows under the contract's `columns` (plus any others when `extras`), in file order."""
    frames, unreadable = [], []
    for file in files:
        try:
            frames.append(_normalize(TEXT_TABLES.read(file, required), root, file.path, columns, extras))
        except UnreadableFileError as err:
            unreadable.append(UnreadableFile(str(file.path), None, str(err)))
    schema = {col: pl.String() for col in columns} | {
        "_file": pl.String(),
        "_line": pl.Int64(),
        "_record": pl.String(),
    }
    rows = pl.concat(frames, how="diagonal") if frames else pl.DataFrame(schema=schema)
    return Batch(rows, tuple(unreadable))


def _normalize(
    df: pl.DataFrame, root: Path, path: Path, columns: tuple[str, ...], extras: bool
) -> pl.DataFrame:
    """The contract's columns (null when the file lacks one), the record as JSON, and where it came from."""
    data = [col for col in df.columns if col != "_line"]
    kept = list(columns) + ([col for col in data if col not in columns] if extras else [])
    return df.select(
        *[pl.col(col) if col in df.columns else pl.lit(None, pl.String).alias(col) for col in kept],
        pl.lit(path.relative_to(root).as_posix()).alias("_file"),
        pl.col("_line"),
        c.record(data).alias("_record"),
    )


def usable_dates(path: Path) -> pl.Series:
    """The usable dates of an observation file, reading its date column only: what the landing sensor
    and the landing manifest need to know before a run reads the file in full.

    Raises UnreadableFileError or ValueError when the feed could not read the file's dates.
    """
    if path.suffix.lower() == ".jsonl":  # no columnar layout to skip into: read it as the feed does
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
