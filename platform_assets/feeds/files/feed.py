"""FilesFeed: the landing zone parsed and validated once per state of its files, sliced per window.

A backfill asks for hundreds of monthly windows, and the configuration asks for the frequency and the
span: all of them slice one validated frame, cached process-wide by the fingerprints of the files it
was read from, so a new or changed file is read again and an unchanged zone is not.
"""

import functools
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from platform_assets.core.periods import check_freq, infer_freq
from platform_assets.core.schemas import (
    RAW_EVENTS,
    RAW_OBSERVATIONS,
    RAW_PRODUCTS,
    RAW_SUPPLIERS,
    REJECTED_ROWS,
    conform,
    empty,
)
from platform_assets.feeds import contract as c
from platform_assets.feeds.base import FeedResult, IgnoredFile, UnreadableFile
from platform_assets.feeds.files.checks import (
    OBSERVATION_COLUMNS,
    OBSERVATION_KEY,
    OBSERVATION_REQUIRED,
    PRODUCT_COLUMNS,
    SUPPLIER_COLUMNS,
    attribute_values,
    catalog_result,
    untargeted_files,
    validate_observations,
)
from platform_assets.feeds.files.events import EVENT_COLUMNS, EVENT_REQUIRED, events_result
from platform_assets.feeds.files.layout import (
    OBSERVATION_FORMATS,
    Fingerprint,
    fingerprints,
    ignored_files,
    inside,
    observation_paths,
    set_aside,
    table_paths,
)
from platform_assets.feeds.files.reading import read_batch
from platform_assets.feeds.plausibility import DateBounds, bound_dates, bound_plans

_INTERNAL = ("_file", "_line", "_record", "_error")
OUTSIDE = "{} is a symlink to outside the landing directory: refused"


@dataclass(frozen=True, eq=False)
class LandedObservations:
    """Every observation row of the landing zone, typed, with `_reason` (null when accepted) and
    `_window` (its usable date), and the observation files that could not be read (still in place)."""

    rows: pl.DataFrame
    unreadable: tuple[UnreadableFile, ...]
    empty: tuple[str, ...] = ()  # files read that hold no row (only a header)

    @functools.cached_property
    def freq(self) -> str:
        """The frequency the accepted rows' dates follow."""
        return infer_freq(self.rows.filter(pl.col("_reason").is_null()))


@functools.lru_cache(maxsize=1)
def landed_observations(
    root: Path,
    files: tuple[Fingerprint, ...],
    products: tuple[Fingerprint, ...],
    target: str = "units_sold",
    bounds: DateBounds | None = None,
    freq: str | None = None,
) -> LandedObservations:
    """The observation files validated against the readable product files, implausible dates rejected
    (`bounds`; plans past the horizon on the `freq` grid, else the inferred one); the arguments are the
    cache key (one entry: a process serves one landing zone at a time). A file without the `target`
    column dated within the history is unreadable (`untargeted_files`)."""
    batch = read_batch(root, files, OBSERVATION_REQUIRED, OBSERVATION_COLUMNS)
    known = read_batch(root, products, ("product_id",), ("product_id",)).rows
    known_ids = known.select(c.clean("product_id")).to_series().drop_nulls().unique()
    rows = validate_observations(batch.rows, known_ids)
    if bounds is not None:
        rows = bound_dates(rows, bounds)
        grid = freq or _inferred_freq(rows)
        rows = bound_plans(rows, bounds, grid) if grid else rows
    untargeted = untargeted_files(rows, batch.columns, target)
    lacking = tuple(UnreadableFile(str(root / name), None, why) for name, why in untargeted.items())
    holding = set(batch.rows["_file"].unique())
    return LandedObservations(
        rows.filter(~pl.col("_file").is_in(list(untargeted))),
        (*batch.unreadable, *lacking),
        tuple(name for name in batch.columns if name not in holding),
    )


def _inferred_freq(rows: pl.DataFrame) -> str | None:
    """The accepted rows' frequency; None when it cannot be inferred (FilesFeed.freq then says why)."""
    try:
        return infer_freq(rows.filter(pl.col("_reason").is_null()))
    except ValueError:
        return None


# An observation file with a header and no row says nothing: listed (the run's verdict warns), not
# read silently as a month without data.
NO_ROWS = "read, but it holds no rows (only a header)"


class FilesFeed:
    """Reads `landing_dir` as it is at each call: new files land without restarting anything, and
    unchanged files are not parsed again."""

    name = "files"

    def __init__(
        self,
        landing_dir: str | Path,
        *,
        quarantine_dir: str | Path,
        freq: str | None = None,
        bounds: DateBounds | None = None,
        target: str = "units_sold",
    ) -> None:
        self.root = Path(landing_dir)
        if not self.root.is_dir():
            raise ValueError(
                f"landing directory {self.root} does not exist (see the README's landing contract)"
            )
        self.quarantine = Path(quarantine_dir)
        self._freq = check_freq(freq)
        self.bounds = bounds
        self.target = target

    @functools.cached_property
    def freq(self) -> str:
        """The configured frequency, else the one the observation dates follow."""
        return self._freq or self._landed().freq

    def products(self) -> FeedResult:
        paths = table_paths(self.root, "products")
        if not paths:
            refused = [p.name for p in self.root.glob("products.*") if p.is_symlink()]
            why = "".join(f" ({OUTSIDE.format(name)})" for name in refused)
            raise FileNotFoundError(
                f"no products.csv or products.parquet in {self.root}: the catalog is required{why}"
            )
        batch = read_batch(self.root, fingerprints(paths), ("product_id",), PRODUCT_COLUMNS, extras=True)
        extras = [col for col in batch.rows.columns if col not in (*PRODUCT_COLUMNS, *_INTERNAL)]
        attributes = (
            pl.struct(attribute_values(batch.rows, extras)).struct.json_encode() if extras else pl.lit("{}")
        )
        rows = batch.rows.with_columns(
            *[c.clean(col).alias(col) for col in PRODUCT_COLUMNS], attributes.alias("attributes")
        )
        return catalog_result(rows, "product_id", RAW_PRODUCTS, "products", self._set_aside(batch.unreadable))

    def suppliers(self) -> FeedResult:
        paths = table_paths(self.root, "suppliers")
        if not paths:
            return FeedResult.empty(RAW_SUPPLIERS)
        batch = read_batch(self.root, fingerprints(paths), ("supplier_id",), SUPPLIER_COLUMNS)
        rows = batch.rows.with_columns(c.clean(col).alias(col) for col in SUPPLIER_COLUMNS)
        return catalog_result(
            rows, "supplier_id", RAW_SUPPLIERS, "suppliers", self._set_aside(batch.unreadable)
        )

    def events(self) -> FeedResult:
        paths = table_paths(self.root, "events")
        if not paths:
            return FeedResult.empty(RAW_EVENTS)
        batch = read_batch(self.root, fingerprints(paths), EVENT_REQUIRED, EVENT_COLUMNS)
        return events_result(batch.rows, self._set_aside(batch.unreadable))

    def observations(self, start: date, end: date) -> FeedResult:
        """Rows dated in [start, end); rows without a usable date land in the window of span()[0].

        The first call that meets an unreadable file sets it aside and reports it; span() and freq
        never move a file, so the call that lands the rows is the one that reports them.
        """
        landed = self._landed()
        unreadable = self._set_aside(landed.unreadable)
        ignored = (*ignored_files(self.root), *(IgnoredFile(name, NO_ROWS) for name in landed.empty))
        rows = landed.rows
        if rows.height == 0:
            return FeedResult(empty(RAW_OBSERVATIONS), empty(REJECTED_ROWS), 0, unreadable, ignored)
        window = rows.filter(c.in_window(pl.col("_window"), start, end, self._span(rows, unreadable)[0]))
        accepted = window.filter(pl.col("_reason").is_null()).rename(
            {"_file": "source_file", "_line": "source_line"}
        )
        accepted = conform(
            accepted.with_columns(pl.lit(None, pl.Float64).alias("sales_amount")), RAW_OBSERVATIONS
        ).sort([*OBSERVATION_KEY, "source_file", "source_line"], maintain_order=True)
        rejected = window.filter(pl.col("_reason").is_not_null()).select(
            pl.col("_file").alias("file"),
            pl.col("_line").alias("line"),
            pl.col("_reason").alias("reason"),
            pl.col("_record").alias("record"),
            pl.col("_key_product").alias("product_id"),
            pl.col("_key_store").alias("store_id"),
            pl.col("_window").alias("date"),
        )
        return FeedResult(
            accepted, c.rejected_rows(rejected, "observations"), window.height, unreadable, ignored
        )

    def span(self) -> tuple[date, date]:
        """First and last usable date of any observation row (plans and rejected rows included)."""
        landed = self._landed()
        return self._span(landed.rows, landed.unreadable)

    def _span(self, rows: pl.DataFrame, unreadable: tuple[UnreadableFile, ...]) -> tuple[date, date]:
        if rows["_window"].is_null().all():
            why = "".join(f"; {Path(u.path).name} is unreadable: {u.error}" for u in unreadable)
            why += _layout_hint(self.root)
            raise ValueError(f"no observation under {self.root / 'observations'} has a usable date{why}")
        return rows["_window"].min(), rows["_window"].max()

    def _landed(self) -> LandedObservations:
        """The landing zone's observations as its files are now (read only if they changed)."""
        files = fingerprints(observation_paths(self.root))
        products = fingerprints(table_paths(self.root, "products"))
        return landed_observations(self.root, files, products, self.target, self.bounds, self._freq)

    def _set_aside(self, unreadable: tuple[UnreadableFile, ...]) -> tuple[UnreadableFile, ...]:
        """Move unreadable files to the quarantine, each with a report."""
        return tuple(set_aside(Path(u.path), self.quarantine, u.error) for u in unreadable)


def _layout_hint(root: Path) -> str:
    """Why a landing zone may have no observations: data files where the folder should be (the
    variable pointed at `observations/` itself, or the files dropped beside `products.csv`)."""
    if (root / "observations").is_dir():
        return "" if inside(root, root / "observations") else f" ({OUTSIDE.format('observations/')})"
    tables = ("products", "suppliers", "events")
    entries = root.iterdir() if root.is_dir() else []
    loose = [p for p in entries if p.suffix in OBSERVATION_FORMATS and p.stem not in tables]
    if not loose:
        return f" (no folder {root / 'observations'})"
    return (
        f" (no folder observations/ in {root}, but {len(loose)} data files directly in it: "
        "SHELFCAST_LANDING_DIR names the folder holding products.csv and observations/)"
    )
