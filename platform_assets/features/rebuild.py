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
from functools import cached_property

import polars as pl

from platform_assets.core.keys import KEYS, ORDER
from platform_assets.features.attributes import numeric_attributes
from platform_assets.features.build import build_features_since
from platform_assets.features.config import FeatureConfig
from platform_assets.features.incremental import lookback_start

Group = tuple[str | None, str]  # a peer group: (category, None for none or not in the catalog; store_id)


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
        return self.categories.get(product_id)

    @cached_property
    def categories(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for product, category in self.products.select("product_id", "category").iter_rows():
            out.setdefault(product, category)  # the first row, as a filter's first match
        return out

    @cached_property
    def attributes(self) -> pl.DataFrame:
        """The catalog's numeric attributes (they depend on the whole catalog, whatever is rebuilt)."""
        return numeric_attributes(self.products)

    @cached_property
    def groups(self) -> dict[Group, "GroupInputs"]:
        """Each peer group's rows of the inputs, sliced once: a rebuild of a few groups (a what-if, the
        registered model's plans) reads its slices instead of filtering every frame again."""
        start = lookback_start(self.first_future, self.cfg)
        sales = self.sales.filter(pl.col("period_date") >= start)
        parts = {
            name: _by_group(frame, self.products)
            for name, frame in (("sales", sales), ("series", self.series), ("plans", self.plans))
        }
        out = {}
        for group in sorted(parts["series"].keys() | parts["sales"].keys(), key=_group_order):
            series = parts["series"].get(group, self.series.clear())
            group_sales = parts["sales"].get(group, sales.clear())
            out[group] = GroupInputs(
                sales=group_sales,
                tails=_tails(group_sales),
                series=series,
                carry=self.carry.join(series.select(KEYS), on=KEYS, how="semi"),
                plans=parts["plans"].get(group, self.plans.clear()),
            )
        return out

    def group(self, group: Group) -> "GroupInputs":
        """A peer group's slices (empty ones for a group with no rows)."""
        found = self.groups.get(group)
        if found is None:
            frames = (self.sales, self.sales, self.series, self.carry, self.plans)
            return GroupInputs(*(f.clear() for f in frames))
        return found


@dataclass(frozen=True)
class GroupInputs:
    """One peer group's sales (from the lookback start on), their tails (`_tails`), series, carried-in
    state and plans."""

    sales: pl.DataFrame
    tails: pl.DataFrame
    series: pl.DataFrame
    carry: pl.DataFrame
    plans: pl.DataFrame


def _tails(sales: pl.DataFrame) -> pl.DataFrame:
    """Each series' sales from its last known price on (all of them when it has none): what its future
    rows' prices read (the last known price), so all a peer of a rebuilt series needs (`rebuild_future`)."""
    known = pl.col("price").is_not_null().cast(pl.Int32)
    return sales.sort([*KEYS, "period_date"]).filter(known.cum_sum().over(KEYS) == known.sum().over(KEYS))


def _group_order(group: Group) -> tuple:
    return (group[0] is None, group[0] or "", group[1])


def _by_group(frame: pl.DataFrame, products: pl.DataFrame) -> dict[Group, pl.DataFrame]:
    """`frame`'s rows per peer group, in their order (a product missing from the catalog: category
    None, as `features.chunks.Chunk` places it)."""
    categories = products.select("product_id", pl.col("category").alias("_group_category")).unique(
        "product_id", keep="first"
    )
    tagged = frame.join(categories, on="product_id", how="left", maintain_order="left")
    parts = tagged.partition_by("_group_category", "store_id", maintain_order=True, as_dict=True)
    return {(c, s): part.drop("_group_category") for (c, s), part in parts.items()}


def with_changes(plans: pl.DataFrame, changed: pl.DataFrame) -> pl.DataFrame:
    """`plans` with the `changed` rows (keys, period_date, price, on_promo) replaced or added."""
    kept = plans.join(changed, on=[*KEYS, "period_date"], how="anti")
    return pl.concat([kept, changed], how="diagonal_relaxed").select(plans.columns).sort(ORDER)


def rebuild_future(
    inputs: FeatureInputs,
    changed: pl.DataFrame | None = None,
    groups: Iterable[Group] | None = None,
    keys: list[tuple[str, str]] | None = None,
) -> pl.DataFrame:
    """The future rows (is_future) of the peer groups `groups` ((category, store_id) pairs; None: all)
    with the inputs' plans and the `changed` plan rows (keys, period_date, price, on_promo) replacing
    or adding to them, sorted by series and period.

    `keys` (series of `groups`): only their rows are wanted. Their peers then enter the build with the
    tails of their sales alone: the only features reading another series read its price and promotion
    on the same day (columns.PEERS), and a peer's future price is its plan's or its last known one, so
    the rows of `keys` are those of the whole groups' build (tests/test_serving_whatif_exact.py checks
    it against the batch's build), at a fraction of the rows."""
    wanted = None if keys is None else pl.DataFrame(keys, schema=KEYS, orient="row")
    if groups is None:
        sales, series, carry, plans = inputs.sales, inputs.series, inputs.carry, inputs.plans
    else:
        parts = [inputs.group(g) for g in sorted(set(groups), key=_group_order)]
        sales, series, carry, plans = (
            pl.concat([getattr(p, name) for p in parts]) for name in ("sales", "series", "carry", "plans")
        )
        if wanted is not None:
            tails = pl.concat([p.tails for p in parts])
            sales = pl.concat(
                [sales.join(wanted, on=KEYS, how="semi"), tails.join(wanted, on=KEYS, how="anti")]
            )
    if changed is not None and changed.height:
        plans = with_changes(plans, changed)
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
        attributes=inputs.attributes,
    )
    future = rows.filter(pl.col("is_future"))
    return future if wanted is None else future.join(wanted, on=KEYS, how="semi", maintain_order="left")


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
