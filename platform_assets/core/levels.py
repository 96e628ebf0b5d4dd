"""Central prediction-interval levels and the quantile columns that carry them, named in one place.

A level L (in percent) is the band between the quantiles (100 - L) / 2 and 100 - (100 - L) / 2, in
columns `p{q}` with a decimal point written as `_`: 80 -> p10 / p90, 95 -> p2_5 / p97_5. The 80% band
is always present: the output contract keeps p10 / p50 / p90 whatever else is configured.
"""

import re
from collections.abc import Iterable
from typing import TypeVar

import polars as pl

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)

REQUIRED = 80.0
DEFAULT = (80.0, 95.0)
MEDIAN = "p50"
_NAME = re.compile(r"p(\d+(?:_\d+)?)")


def parse_levels(text: str) -> tuple[float, ...]:
    """`80,95` -> (80.0, 95.0), sorted; refuses what cannot name a central band, and a list without 80."""
    try:
        levels = {float(part) for part in text.split(",") if part.strip()}
    except ValueError:
        raise ValueError(
            f"levels {text!r}: expected numbers in percent separated by commas, e.g. 80,95"
        ) from None
    bad = sorted(v for v in levels if not 0 < v < 100)
    if bad:
        raise ValueError(f"levels {text!r}: {bad[0]:g} is not a central interval level (0 < level < 100)")
    if REQUIRED not in levels:
        raise ValueError(f"levels {text!r}: must include 80 (the output contract's p10 / p90)")
    return tuple(sorted(levels))


def quantile_name(percent: float) -> str:
    """The column of a quantile given in percent: 2.5 -> p2_5, 10 -> p10."""
    return "p" + f"{round(percent, 6):g}".replace(".", "_")


def bounds(level: float) -> tuple[str, str]:
    """(lower, upper) column names of a level's band: 95 -> (p2_5, p97_5)."""
    tail = (100 - level) / 2
    return quantile_name(tail), quantile_name(100 - tail)


def tails(level: float) -> tuple[float, float]:
    """(lower, upper) quantile probabilities of a level's band: 80 -> (0.1, 0.9)."""
    tail = (100 - level) / 200
    return tail, 1 - tail


def band_columns(levels: Iterable[float]) -> list[str]:
    """Every quantile column, lowest first: (80, 95) -> p2_5, p10, p50, p90, p97_5."""
    ordered = sorted(levels, reverse=True)  # widest band first: its lower bound is the lowest
    return [*(bounds(v)[0] for v in ordered), MEDIAN, *(bounds(v)[1] for v in reversed(ordered))]


def levels_in(columns: Iterable[str]) -> tuple[float, ...]:
    """The levels whose two bound columns are both among `columns` (what a stored table carries)."""
    present = set(columns)
    found = set()
    for name in present:
        match = _NAME.fullmatch(name)
        if match and (q := float(match.group(1).replace("_", "."))) < 50:
            level = round(100 - 2 * q, 6)
            if bounds(level)[1] in present:
                found.add(level)
    return tuple(sorted(found))


def level_label(level: float) -> str:
    """A level as metric names and text show it: 80 -> '80', 99.5 -> '99_5'."""
    return quantile_name(level)[1:]


def coverage_metric(level: float, segment: str | None = None) -> str:
    """The metric holding a level's coverage, pooled or of one demand segment: the name training writes
    and the quality tables read (80 -> 'coverage_80'; 95, 'lumpy' -> 'coverage_95_lumpy')."""
    name = f"coverage_{level_label(level)}"
    return f"{name}_{segment}" if segment else name


def ordered(frame: Frame, levels: Iterable[float]) -> Frame:
    """Every quantile column non-negative and monotone outward from p50 (p2_5 <= p10 <= p50 <= p90 <=
    p97_5), whatever produced the numbers: a wider band never sits inside a narrower one."""
    columns = band_columns(levels)
    middle = columns.index(MEDIAN)
    frame = frame.with_columns(pl.col(MEDIAN).clip(lower_bound=0))
    for inner, outer in zip(columns[middle:0:-1], columns[middle - 1 :: -1], strict=True):
        frame = frame.with_columns(pl.min_horizontal(outer, inner).clip(lower_bound=0).alias(outer))
    for inner, outer in zip(columns[middle:-1], columns[middle + 1 :], strict=True):
        frame = frame.with_columns(pl.max_horizontal(outer, inner).alias(outer))
    return frame
