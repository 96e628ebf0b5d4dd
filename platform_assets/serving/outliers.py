"""Outliers per what-if request: every changed (series, period) row is compared with what the model has
seen of that series and its category (prices, promotions), and its model input row is placed by the
bundle's robust distance (reference.py). The result is a warning per series and kind a person can act
on ("price 4.1x this series' highest seen: the model extrapolates") and the request's scores, which
the request log and the window statistics carry (`Scores.as_json`, `Scores.bins`)."""

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.serving.reference import HORIZON, Bins, InputDistance

# A price this far below the plan, without a promotion, is a cut; rare when under this share of the
# category's periods without a promotion had one (sources.py: cut_without_promo_share).
CUT, RARE = 0.1, 0.05
EXTRAPOLATES = "the model extrapolates"
INPUT = "input:"  # the model input columns of a changed row, beside its plan's price and promotion


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else a / b


# A requested price beyond a bound of the reference: (kind, bound column, above it?, what a person reads).
PRICE_BOUNDS = (
    ("price_above_history", "price_max", True, "{ratio:.1f}x this series' highest seen ({bound:g})"),
    ("price_below_history", "price_min", False, "{share:.0%} below this series' lowest seen ({bound:g})"),
    ("price_above_category", "category_max", True, "{ratio:.1f}x the highest in its category ({bound:g})"),
    (
        "price_below_category",
        "category_min",
        False,
        "{share:.0%} below the lowest in its category ({bound:g})",
    ),
)


def _row_kinds(r: dict) -> list[tuple[str, str]]:
    """(kind, what a person reads) for each way a changed row leaves the history."""
    found = []
    price = r["price"]
    for kind, column, above, text in PRICE_BOUNDS:
        bound = r[column]
        if price is not None and bound is not None and (price > bound if above else price < bound):
            found.append((kind, "price " + text.format(ratio=price / bound if above else None,
                                                        share=None if above else 1 - price / bound,
                                                        bound=bound)))  # fmt: skip
    if r["on_promo"] and r["promo_share"] == 0:
        found.append(("promo_never_seen", "a promotion, and this series was never on promotion"))
    cut = price is not None and r["plan_price"] is not None and price < (1 - CUT) * r["plan_price"]
    if cut and not r["on_promo"] and (r["cut_without_promo_share"] or 0) < RARE:
        share = r["cut_without_promo_share"] or 0
        found.append(("price_cut_without_promo", f"a price cut without a promotion, which only {share:.1%} "
                      "of its category's periods without a promotion had"))  # fmt: skip
    return found


@dataclass
class Scores:
    """One request's outlier scores (over its changed rows) and its inputs counted in reference bins."""

    rows: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    distance_max: float | None = None
    distance_threshold: float | None = None
    price_ratio_max: float | None = None  # the highest requested price / the series' highest seen
    price_ratio_min: float | None = None  # the lowest requested price / the series' lowest seen
    horizon_max: int | None = None
    bins: dict[str, list[int]] = field(default_factory=dict)

    @property
    def flagged(self) -> bool:
        return bool(self.kinds)

    def as_json(self) -> dict:
        return {
            "flagged": self.flagged,
            "rows": self.rows,
            "kinds": dict(sorted(self.kinds.items())),
            "distance_max": self.distance_max,
            "distance_threshold": self.distance_threshold,
            "price_ratio_max": self.price_ratio_max,
            "price_ratio_min": self.price_ratio_min,
            "horizon_max": self.horizon_max,
            "bins": self.bins,
        }


@dataclass(frozen=True)
class Profiles:
    """What a request is compared with: the bundle's per-series and per-category history, the series'
    categories, the planned prices, the target dates, the robust distance and the reference bins."""

    series: pl.DataFrame
    category: pl.DataFrame
    categories: pl.DataFrame  # keys, category
    plan: pl.DataFrame  # keys, period_date, plan_price
    dates: tuple[date, ...]
    distance: InputDistance
    bins: dict[str, Bins]


def _checked_rows(profiles: Profiles, changed: pl.DataFrame, future: pl.DataFrame) -> pl.DataFrame:
    """The changed plan rows with what they are compared with, and their model input rows."""
    series = profiles.series.select(*KEYS, "price_min", "price_max", "promo_share")
    category = profiles.category.select(
        "category", pl.col("price_min").alias("category_min"), pl.col("price_max").alias("category_max"),
        "cut_without_promo_share",
    )  # fmt: skip
    horizon = pl.DataFrame({"period_date": profiles.dates, HORIZON: range(1, len(profiles.dates) + 1)})
    wanted = dict.fromkeys([*profiles.distance.features, *profiles.bins])
    inputs = future.select(
        *KEYS, "period_date", *(pl.col(f).alias(INPUT + f) for f in wanted if f in future.columns)
    )
    return (
        changed.join(series, on=KEYS, how="left")
        .join(profiles.plan, on=[*KEYS, "period_date"], how="left")
        .join(profiles.categories, on=KEYS, how="left")
        .join(category, on="category", how="left")
        .join(horizon.with_columns(pl.col(HORIZON).cast(pl.Int32)), on="period_date", how="left")
        .join(inputs, on=[*KEYS, "period_date"], how="left")
        .sort(*KEYS, "period_date")
    )


def _bins(profiles: Profiles, rows: pl.DataFrame, future: pl.DataFrame) -> dict[str, list[int]]:
    """The request's model inputs counted in each input's reference bins: every future row of the
    series it changed (what the model scored for them), and the horizon of the changed rows."""
    scored = future.join(rows.select(KEYS).unique(), on=KEYS, how="semi")
    read = [n for n in profiles.bins if n != HORIZON and n in scored.columns]
    # one pass over every input (a null reads as NaN, which the counts leave out)
    columns = scored.select(pl.col(n).cast(pl.Float64).fill_nan(None) for n in read).to_numpy().T
    values = dict(zip(read, columns, strict=True))
    if HORIZON in profiles.bins:
        values[HORIZON] = rows[HORIZON].cast(pl.Float64).to_numpy()
    return {
        name: bins.counts(np.ascontiguousarray(values[name], dtype=np.float64)).tolist()
        for name, bins in profiles.bins.items()
        if name in values
    }


def score_request(
    profiles: Profiles, changed: pl.DataFrame, future: pl.DataFrame
) -> tuple[dict[tuple[str, str], list[str]], Scores]:
    """Warnings per series (one per kind, with the periods it concerns) and the request's scores."""
    rows = _checked_rows(profiles, changed, future)
    inputs = rows.select(pl.col(INPUT + f).alias(f) for f in profiles.distance.features)
    # a distance over no input (nothing varied in training) scores every row 0
    distances = profiles.distance.distances(inputs) if inputs.width else np.zeros(rows.height)
    scores = Scores(rows=rows.height, distance_threshold=profiles.distance.threshold)
    found: dict[tuple[str, str, str], tuple[str, list[date]]] = {}
    for r, d in zip(rows.iter_rows(named=True), distances, strict=True):
        kinds = _row_kinds(r)
        if d > profiles.distance.threshold:
            kinds.append(("input_distance", f"inputs far from every training row (robust distance {d:.1f}, "
                          f"99.9% of training rows under {profiles.distance.threshold:.1f})"))  # fmt: skip
        for kind, text in kinds:
            scores.kinds[kind] = scores.kinds.get(kind, 0) + 1
            found.setdefault((r["product_id"], r["store_id"], kind), (text, []))[1].append(r["period_date"])
    warnings: dict[tuple[str, str], list[str]] = {}
    for (product, store, _), (text, days) in found.items():
        when = str(days[0]) if len(days) == 1 else f"{days[0]} to {days[-1]} ({len(days)} periods)"
        warnings.setdefault((product, store), []).append(f"{when}: {text}: {EXTRAPOLATES}")
    if rows.height:
        scores.distance_max = round(float(distances.max()), 4)
        ratio_max = [_ratio(p, m) for p, m in rows.select("price", "price_max").iter_rows()]
        ratio_min = [_ratio(p, m) for p, m in rows.select("price", "price_min").iter_rows()]
        scores.price_ratio_max = max((r for r in ratio_max if r is not None), default=None)
        scores.price_ratio_min = min((r for r in ratio_min if r is not None), default=None)
        scores.horizon_max = rows[HORIZON].max()
        scores.bins = _bins(profiles, rows, future)
    return warnings, scores
