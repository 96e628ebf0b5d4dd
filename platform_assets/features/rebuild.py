"""The future feature rows of whole peer groups, rebuilt from a bundle's inputs with a price and
promotion plan: the features layer's own `build_features_since`, so a what-if is scored on rows built
by the same code as `inference_features`, and with an unchanged plan equals them (`check_rebuild`
checks this for every series when a serving bundle or a registered model is made).

Only whole peer groups (category x store) are rebuilt: the features comparing a series with its peers
(`price_rel_category`, `category_promo_others`) read every series of its group on the same day, so a
price change moves the peers' features too; no other feature reads another series."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS, ORDER
from platform_assets.features.build import build_features_since
from platform_assets.features.chunks import Chunk
from platform_assets.features.config import FeatureConfig


@dataclass(frozen=True)
class FeatureInputs:
    """What `build_features_since` reads for the periods from `first_future` on (`modeling/rows.py`
    reads them from the warehouse)."""

    sales: pl.DataFrame
    carry: pl.DataFrame
    plans: pl.DataFrame
    products: pl.DataFrame
    series: pl.DataFrame
    events: pl.DataFrame
    factors: dict[str, int | None]
    cfg: FeatureConfig
    first_future: date

    @property
    def price_step(self) -> float | None:
        """The grid prices sit on (a cent when the feed's prices are whole cents): a scenario's prices
        are rounded to it so the window sums stay exact."""
        factor = self.factors.get("price")
        return None if factor is None else 1 / factor

    def on_grid(self, price: float) -> float:
        """`price` on the feed's price grid; ValueError when a positive price would become 0 there."""
        factor = self.factors.get("price")
        placed = price if factor is None else round(price * factor) / factor
        if placed <= 0:
            raise ValueError(f"price {price} is 0 on the feed's price grid (steps of {1 / (factor or 1)})")
        return placed

    def category(self, product_id: str) -> str | None:
        """The product's category as the features read it (None: not in the catalog or no category)."""
        found = self.products.filter(pl.col("product_id") == product_id)["category"]
        return found[0] if found.len() else None


def rebuild_future(
    inputs: FeatureInputs,
    plans: pl.DataFrame | None = None,
    groups: Iterable[tuple[str | None, str]] | None = None,
) -> pl.DataFrame:
    """The future rows (is_future) of the peer groups `groups` ((category, store_id) pairs; None: all)
    with `plans` (None: the bundle's), sorted by series and period."""
    plans = inputs.plans if plans is None else plans
    sales, series, carry = inputs.sales, inputs.series, inputs.carry
    if groups is not None:
        pairs = sorted(set(groups), key=lambda g: (g[0] is None, g[0] or "", g[1]))
        frames = [_group_rows(inputs, plans, category, store) for category, store in pairs]
        sales, series, plans = (pl.concat([f[i] for f in frames]) for i in range(3))
        carry = carry.join(series.select(KEYS), on=KEYS, how="semi")
    rows = build_features_since(
        sales,
        inputs.products,
        plans,
        series,
        carry,
        inputs.first_future,
        inputs.factors,
        inputs.cfg,
        inputs.events,
    )
    return rows.filter(pl.col("is_future"))


def _group_rows(
    inputs: FeatureInputs, plans: pl.DataFrame, category: str | None, store: str
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    chunk = Chunk((category,), (store,))
    return tuple(chunk.select(frame, inputs.products) for frame in (inputs.sales, inputs.series, plans))


FRAMES = ("sales", "carry", "plans", "products", "series", "events")


def feature_inputs(frames: dict[str, pl.DataFrame], factors: dict, cfg: FeatureConfig) -> FeatureInputs:
    """The inputs among `frames` (FRAMES, and `inference`: the future rows whose first period they
    rebuild from)."""
    return FeatureInputs(
        **{name: frames[name] for name in FRAMES},
        factors=factors,
        cfg=cfg,
        first_future=frames["inference"]["period_date"].min(),
    )


@dataclass(frozen=True)
class Check:
    """Whether rebuilding every future row from the inputs gives `inference_features` to the bit."""

    exact: bool
    reason: str


def check_rebuild(inputs: FeatureInputs, inference: pl.DataFrame) -> Check:
    """Rebuild the future rows of the series in `inference` (every series of `inputs`, or fewer: the
    inputs may hold the peers of the series that matter) and compare them with `inference`."""
    if any(f is None for f in inputs.factors.values()):
        return Check(False, f"prices or the target are not on an exact grid (factors {inputs.factors})")
    rebuilt = rebuild_future(inputs).join(inference.select(KEYS).unique(), on=KEYS, how="semi").sort(ORDER)
    expected = inference.sort(ORDER)
    if rebuilt.height != expected.height or set(rebuilt.columns) != set(expected.columns):
        return Check(False, f"rebuilt {rebuilt.shape} future rows, inference_features has {expected.shape}")
    differing = [c for c in expected.columns if not rebuilt[c].cast(expected.schema[c]).equals(expected[c])]
    if differing:
        return Check(False, f"rebuilt future rows differ from inference_features in {differing}")
    return Check(True, "rebuilt future rows equal inference_features")
