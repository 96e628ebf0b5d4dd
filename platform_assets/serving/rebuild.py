"""The future feature rows of whole peer groups, rebuilt from a bundle's inputs with a price and
promotion plan: the features layer's own `build_features_since`, so a what-if is scored on rows built
by the same code as `inference_features`, and with an unchanged plan equals them (snapshot.py checks
this for every series when the bundle is made).

Only whole peer groups (category x store) are rebuilt: the features comparing a series with its peers
(`price_rel_category`, `category_promo_others`) read every series of its group on the same day, so a
price change moves the peers' features too; no other feature reads another series."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.features.build import build_features_since
from platform_assets.features.chunks import Chunk
from platform_assets.features.config import FeatureConfig


@dataclass(frozen=True)
class FeatureInputs:
    """What `build_features_since` reads for the periods from `first_future` on (sources.py)."""

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
