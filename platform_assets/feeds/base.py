"""What every feed returns, so the ingest assets land any source the same way."""

from dataclasses import dataclass
from datetime import date
from typing import Protocol

import polars as pl

from platform_assets.core.schemas import REJECTED_ROWS, empty


@dataclass(frozen=True)
class UnreadableFile:
    """A file that could not be parsed at all: set aside whole so the other files still land."""

    path: str  # original path
    moved_to: str | None  # where it was set aside (None if the feed cannot move it)
    error: str  # clear human message


@dataclass(frozen=True)
class IgnoredFile:
    """A file in the landing zone the feed does not read, and why: listed so that no file goes unseen."""

    path: str
    reason: str


@dataclass(frozen=True)
class FeedResult:
    """One slice of a raw table plus the rows refused on the way; nothing read goes missing."""

    accepted: pl.DataFrame  # conforms to the schemas.RAW_* contract of the table, stable sort
    rejected: pl.DataFrame  # conforms to schemas.REJECTED_ROWS
    rows_in: int  # data rows read (header excluded), always == accepted + rejected
    unreadable: tuple[UnreadableFile, ...] = ()
    ignored: tuple[IgnoredFile, ...] = ()

    def __post_init__(self) -> None:
        # Checked here so a feed bug fails where it happens, not later in the ingest asset.
        if self.rows_in != self.accepted.height + self.rejected.height:
            raise ValueError(
                f"rows in {self.rows_in} != accepted {self.accepted.height} + rejected {self.rejected.height}"
            )

    @classmethod
    def empty(cls, schema: dict[str, pl.DataType]) -> "FeedResult":
        """A slice with nothing in it, for tables or windows a feed has no rows for."""
        return cls(empty(schema), empty(REJECTED_ROWS), 0)


class Feed(Protocol):
    """A source of raw products, suppliers and dated observations."""

    name: str
    freq: str  # a frequency of core/periods.py (D, W, W-THU, M, ME, ...): configured or inferred

    def products(self) -> FeedResult: ...

    def suppliers(self) -> FeedResult: ...

    def events(self) -> FeedResult:
        """Dated events (schemas.RAW_EVENTS), known ahead like the price plans; empty when none."""
        ...

    def observations(self, start: date, end: date) -> FeedResult:
        """Rows with start <= date < end (see `contract.in_window` for rows without a usable date)."""
        ...

    def span(self) -> tuple[date, date]:
        """First and last observation date, plan rows included."""
        ...
