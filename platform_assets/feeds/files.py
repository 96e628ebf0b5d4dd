"""The landing-zone feed: the user's own CSV / Parquet / JSONL files, checked against the contract.

    DIR/products.{csv,parquet}        product_id*, name, category, brand, supplier_id, extra attributes
    DIR/suppliers.{csv,parquet}       supplier_id*, name, country                        (optional)
    DIR/observations/*.{csv,parquet,jsonl}
                                      date* (ISO), product_id*, store_id, price, units_sold, on_promo

Every value is read as text and validated with vectorized expressions, so a bad value rejects its row
(with file, line, reason and the record) instead of failing the run. A file that cannot be parsed at
all is moved to the quarantine directory with a `.report.txt` saying why; the other files still land.
`line` is the 1-based data record of the file (header excluded; the physical line in JSONL); blank
lines are not records. Column names are matched case-insensitively.
"""

import functools
import io
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from platform_assets.core.periods import check_freq, infer_freq
from platform_assets.core.schemas import (
    DEFAULT_STORE,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
    conform,
    empty,
)
from platform_assets.feeds import contract as c
from platform_assets.feeds.base import FeedResult, UnreadableFile

OBSERVATION_FORMATS = (".csv", ".parquet", ".jsonl")
TABLE_FORMATS = (".csv", ".parquet")
OBSERVATION_COLUMNS = ("date", "product_id", "store_id", "price", "units_sold", "on_promo")
PRODUCT_COLUMNS = ("product_id", "name", "category", "brand", "supplier_id")
SUPPLIER_COLUMNS = ("supplier_id", "name", "country")
_KEY = ["date", "product_id", "store_id"]
_INTERNAL = ("_file", "_line", "_record")


class UnreadableFileError(Exception):
    """A file no row can be taken from: wrong format, corrupt, or lacking required columns."""


@dataclass(frozen=True)
class _Batch:
    """Rows of several files as text, plus the files that could not be read."""

    rows: pl.DataFrame  # the wanted columns as String, then _file, _line, _record
    unreadable: tuple[UnreadableFile, ...]


class FilesFeed:
    """Reads `landing_dir` afresh on every call: new files land without restarting anything."""

    name = "files"

    def __init__(
        self, landing_dir: str | Path, *, quarantine_dir: str | Path, freq: str | None = None
    ) -> None:
        self.root = Path(landing_dir)
        if not self.root.is_dir():
            raise ValueError(
                f"landing directory {self.root} does not exist (see the README's landing contract)"
            )
        self.quarantine = Path(quarantine_dir)
        self._freq = check_freq(freq)

    @functools.cached_property
    def freq(self) -> str:
        """The configured frequency, else the one the observation dates follow."""
        return self._freq or infer_freq(self._observations(move=False)[0].filter(pl.col("_reason").is_null()))

    def products(self) -> FeedResult:
        paths = self._tables("products")
        if not paths:
            raise FileNotFoundError(
                f"no products.csv or products.parquet in {self.root}: the catalog is required"
            )
        batch = self._read_all(paths, ("product_id",), PRODUCT_COLUMNS, move=True, extras=True)
        extras = [col for col in batch.rows.columns if col not in (*PRODUCT_COLUMNS, *_INTERNAL)]
        attributes = (
            pl.struct(attribute_values(batch.rows, extras)).struct.json_encode() if extras else pl.lit("{}")
        )
        rows = batch.rows.with_columns(
            *[c.clean(col).alias(col) for col in PRODUCT_COLUMNS], attributes.alias("attributes")
        )
        return _catalog(rows, "product_id", RAW_PRODUCTS, "products", batch.unreadable)

    def suppliers(self) -> FeedResult:
        paths = self._tables("suppliers")
        if not paths:
            return FeedResult.empty(RAW_SUPPLIERS)
        batch = self._read_all(paths, ("supplier_id",), SUPPLIER_COLUMNS, move=True)
        rows = batch.rows.with_columns(c.clean(col).alias(col) for col in SUPPLIER_COLUMNS)
        return _catalog(rows, "supplier_id", RAW_SUPPLIERS, "suppliers", batch.unreadable)

    def observations(self, start: date, end: date) -> FeedResult:
        """Rows dated in [start, end); rows without a usable date land in the window of span()[0]."""
        rows, unreadable = self._observations(move=True)
        if rows.height == 0:
            return FeedResult(empty(RAW_OBSERVATIONS), empty(REJECTED_ROWS), 0, unreadable)
        window = rows.filter(c.in_window(pl.col("_window"), start, end, self._span(rows, unreadable)[0]))
        accepted = window.filter(pl.col("_reason").is_null()).rename(
            {"_file": "source_file", "_line": "source_line"}
        )
        accepted = conform(
            accepted.with_columns(pl.lit(None, pl.Float64).alias("sales_amount")), RAW_OBSERVATIONS
        ).sort([*_KEY, "source_file", "source_line"], maintain_order=True)
        rejected = window.filter(pl.col("_reason").is_not_null()).rename(
            {"_file": "file", "_line": "line", "_reason": "reason", "_record": "record"}
        )
        return FeedResult(accepted, c.rejected_rows(rejected, "observations"), window.height, unreadable)

    def span(self) -> tuple[date, date]:
        """First and last usable date of any observation row (plans and rejected rows included)."""
        return self._span(*self._observations(move=False))

    def _span(self, rows: pl.DataFrame, unreadable: tuple[UnreadableFile, ...]) -> tuple[date, date]:
        if rows["_window"].is_null().all():
            why = "".join(f"; {Path(u.path).name} is unreadable: {u.error}" for u in unreadable)
            raise ValueError(f"no observation under {self.root / 'observations'} has a usable date{why}")
        return rows["_window"].min(), rows["_window"].max()

    def _tables(self, stem: str) -> list[Path]:
        return [p for ext in TABLE_FORMATS if (p := self.root / f"{stem}{ext}").is_file()]

    def _observations(self, move: bool) -> tuple[pl.DataFrame, tuple[UnreadableFile, ...]]:
        """Every observation row, typed, with `_reason` (null when accepted) and `_window` (its date).

        span() and freq read without moving anything (unreadable files come back with moved_to None):
        only observations() sets files aside, so the call that lands the rows reports them.
        """
        folder = self.root / "observations"
        paths = (
            sorted(p for p in folder.glob("*") if p.suffix.lower() in OBSERVATION_FORMATS)
            if folder.is_dir()
            else []
        )
        batch = self._read_all(paths, ("date", "product_id"), OBSERVATION_COLUMNS, move=move)
        known = self._known_products()
        return validate_observations(batch.rows, known), batch.unreadable

    def _known_products(self) -> pl.Series:
        """Product ids of the readable product files (read without moving: products() reports them)."""
        batch = self._read_all(self._tables("products"), ("product_id",), ("product_id",), move=False)
        return batch.rows.select(c.clean("product_id")).to_series().drop_nulls().unique()

    def _read_all(
        self,
        paths: list[Path],
        required: tuple[str, ...],
        columns: tuple[str, ...],
        *,
        move: bool,
        extras: bool = False,
    ) -> _Batch:
        frames, unreadable = [], []
        for path in paths:
            try:
                frames.append(_normalize(read_text_table(path, required), self.root, path, columns, extras))
            except UnreadableFileError as err:
                unreadable.append(
                    self._set_aside(path, str(err)) if move else UnreadableFile(str(path), None, str(err))
                )
        schema = {col: pl.String() for col in columns} | {
            "_file": pl.String(),
            "_line": pl.Int64(),
            "_record": pl.String(),
        }
        rows = pl.concat(frames, how="diagonal") if frames else pl.DataFrame(schema=schema)
        return _Batch(rows, tuple(unreadable))

    def _set_aside(self, path: Path, error: str) -> UnreadableFile:
        """Move a file the feed cannot read to the quarantine, with a report next to it."""
        self.quarantine.mkdir(parents=True, exist_ok=True)
        target, n = self.quarantine / path.name, 0
        while target.exists():  # never overwrite an earlier quarantined file of the same name
            n += 1
            target = self.quarantine / f"{path.stem}.{n}{path.suffix}"
        shutil.move(path, target)
        target.with_name(f"{target.name}.report.txt").write_text(
            f"file: {path}\nerror: {error}\n"
            "Nothing was ingested from this file. Fix it and put it back in the landing directory.\n"
        )
        return UnreadableFile(path=str(path), moved_to=str(target), error=error)


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
            lines = path.read_bytes().splitlines()
            numbered = [(i, line) for i, line in enumerate(lines, start=1) if line.strip()]
            df = pl.read_ndjson(
                io.BytesIO(b"\n".join(line for _, line in numbered)), infer_schema_length=None
            )
            df = df.with_columns(pl.Series("_line", [i for i, _ in numbered], dtype=pl.Int64))
        else:
            raise UnreadableFileError(f"unsupported file type {suffix!r}")
        df = df.with_columns(pl.col("_line").cast(pl.Int64), pl.all().exclude("_line").cast(pl.String))
        df = df.rename({col: col.strip().lower() for col in df.columns if col != "_line"})
    except UnreadableFileError:
        raise
    except Exception as err:  # polars raises many error types for corrupt input; all mean the same here
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnreadableFileError(f"cannot parse as {suffix.lstrip('.').upper()}: {first_line}") from err
    missing = [col for col in required if col not in df.columns]
    if missing:
        found = ", ".join(col for col in df.columns if col != "_line")
        raise UnreadableFileError(f"missing required column(s) {', '.join(missing)} (found: {found})")
    data = [col for col in df.columns if col != "_line"]
    # Blank lines carry nothing: they are not records (CSV reads them as all-null rows).
    return df.filter(pl.any_horizontal(c.clean(col).is_not_null() for col in data))


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


def attribute_values(rows: pl.DataFrame, columns: list[str]) -> list[pl.Expr]:
    """Extra product columns for the attributes JSON: a column whose every value is a number becomes
    JSON numbers (integers where all are whole), so features can use it; any other column stays text."""
    exprs = []
    for col in columns:
        text, value = rows.select(c.clean(col)).to_series(), rows.select(c.number(col)).to_series()
        if text.null_count() == text.len() or value.null_count() != text.null_count():
            exprs.append(c.clean(col).alias(col))
            continue
        whole = (value.drop_nulls() == value.drop_nulls().round()).all()
        exprs.append(c.number(col).cast(pl.Int64 if whole else pl.Float64).alias(col))
    return exprs


def _catalog(
    rows: pl.DataFrame,
    key: str,
    schema: dict[str, pl.DataType],
    source: str,
    unreadable: tuple[UnreadableFile, ...],
) -> FeedResult:
    """Products or suppliers: the key is required and unique (the first occurrence wins)."""
    checked = rows.with_columns(
        c.reasons(
            [
                (pl.col(key).is_null(), f"missing {key}"),
                (pl.col(key).is_not_null() & (pl.int_range(pl.len()).over(key) > 0), f"duplicate {key}"),
            ]
        ).alias("reason")
    )
    accepted = checked.filter(pl.col("reason").is_null()).rename(
        {"_file": "source_file", "_line": "source_line"}
    )
    rejected = checked.filter(pl.col("reason").is_not_null()).rename(
        {"_file": "file", "_line": "line", "_record": "record"}
    )
    return FeedResult(
        conform(accepted, schema).sort(key, maintain_order=True),
        c.rejected_rows(rejected, source),
        rows.height,
        unreadable,
    )


def validate_observations(rows: pl.DataFrame, known_products: pl.Series) -> pl.DataFrame:
    """Typed observation rows with `_reason` (null when accepted) and `_window` (the usable date or null).

    Duplicates of a (date, product_id, store_id) key among otherwise valid rows: the first (by file
    name, then line) is kept; a later row with the same values is a "duplicate", with other values a
    "conflicting duplicate".
    """
    day = c.iso_date("date")
    price, units = c.number("price"), c.number("units_sold")
    typed = rows.with_columns(
        day.alias("_day"),
        c.reasons(
            [
                (c.clean("product_id").is_null(), "missing product_id"),
                (c.clean("date").is_null(), "missing date"),
                (c.clean("date").is_not_null() & day.is_null(), "unparseable date"),
                (day.is_not_null() & ~c.in_date_range(day), "date out of range"),
                (c.not_a_number("price"), "non-numeric price"),
                (price < 0, "negative price"),
                (c.not_a_number("units_sold"), "non-numeric units_sold"),
                (units < 0, "negative units_sold"),
                (c.bad_boolean("on_promo"), "bad on_promo value"),
                (
                    c.clean("price").is_null() & c.clean("units_sold").is_null(),
                    "missing both price and units_sold",
                ),
                (
                    c.clean("product_id").is_not_null()
                    & ~c.clean("product_id").is_in(known_products.implode()),
                    "unknown product",
                ),
            ]
        ).alias("_reason"),
    ).with_columns(
        pl.col("_day").alias("date"),
        c.clean("product_id").alias("product_id"),
        c.clean("store_id").fill_null(DEFAULT_STORE).alias("store_id"),
        price.alias("price"),
        units.alias("units_sold"),
        c.boolean("on_promo").alias("on_promo"),
        pl.when(c.in_date_range(pl.col("_day"))).then(pl.col("_day")).alias("_window"),
    )
    valid = pl.col("_reason").is_null()
    group = [*_KEY, pl.col("_reason").is_null()]
    same = pl.all_horizontal(
        pl.col(col).eq_missing(pl.col(col).first().over(group)) for col in ("price", "units_sold", "on_promo")
    )
    repeat = valid & (pl.int_range(pl.len()).over(group) > 0)
    return typed.with_columns(
        pl.when(repeat & same)
        .then(pl.lit("duplicate"))
        .when(repeat)
        .then(pl.lit("conflicting duplicate (date, product_id, store_id)"))
        .otherwise(pl.col("_reason"))
        .alias("_reason")
    ).drop("_day")
