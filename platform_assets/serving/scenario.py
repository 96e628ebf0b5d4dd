"""What-if scenarios: planned price and promotion changes for a few series, scored by the champion on
future feature rows rebuilt by the features layer's own code and forecast by the batch path's own
`make_forecasts` (eligibility, origin features, intervals, ordering): modeling/replan.py. A request
is one joint plan: every change in it applies at once, so series of one peer group see each other's
changes.

Baseline = the stored forecast. A series the batch forecast by the fallback (too little history) keeps
it: the fallback does not read prices or promotions, which a warning says."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, levels_in
from platform_assets.modeling.forecasting import make_forecasts
from platform_assets.modeling.replan import forecast_with_plans
from platform_assets.serving.errors import InvalidRequest, UnknownSeries, WhatIfUnavailable
from platform_assets.serving.loaded import LoadedBundle, plan_columns
from platform_assets.serving.outliers import Scores, score_request


@dataclass(frozen=True)
class Change:
    """A change of one target date (None: every date of the horizon); unset fields keep the plan."""

    target_date: date | None = None
    price: float | None = None
    price_change_pct: float | None = None
    on_promo: bool | None = None


@dataclass(frozen=True)
class SeriesPlan:
    product_id: str
    store_id: str | None = None
    changes: tuple[Change, ...] = ()


@dataclass
class Outcome:
    """Per requested series and target date: the plan and band of the baseline and of the scenario."""

    rows: pl.DataFrame
    warnings: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    scores: Scores = field(default_factory=Scores)


def resolve_series(bundle: LoadedBundle, plans: Iterable[SeriesPlan]) -> list[tuple[str, str]]:
    """Each plan's (product_id, store_id), refusing unknown, ambiguous and repeated series."""
    keys = []
    for plan in plans:
        stores = bundle.series_of(plan.product_id)
        if not stores:
            raise UnknownSeries(
                f"product {plan.product_id!r} has no forecast in bundle {bundle.generation}: check the id, "
                "or whether it sold recently (only active series are forecast)"
            )
        if plan.store_id is None and len(stores) > 1:
            raise InvalidRequest(f"product {plan.product_id!r} sells in stores {stores}: give store_id")
        store = plan.store_id or stores[0]
        if store not in stores:
            raise UnknownSeries(
                f"product {plan.product_id!r} has no forecast in store {store!r}: see {stores}"
            )
        if (plan.product_id, store) in keys:
            raise InvalidRequest(f"series ({plan.product_id}, {store}) is listed twice: merge its changes")
        keys.append((plan.product_id, store))
    return keys


def _on_grid(bundle: LoadedBundle, price: float) -> float:
    try:
        return bundle.inputs.on_grid(price)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None


def _check_change(bundle: LoadedBundle, change: Change) -> None:
    if change.target_date is not None and change.target_date not in bundle.dates:
        first, last = bundle.dates[0], bundle.dates[-1]
        raise InvalidRequest(
            f"target_date {change.target_date} is not a forecast period of this bundle: it forecasts "
            f"{len(bundle.dates)} periods, {first} to {last}"
        )
    if change.price is not None and change.price_change_pct is not None:
        raise InvalidRequest("give price or price_change_pct in one change, not both")
    moves_price = change.price is not None or change.price_change_pct is not None
    if moves_price and bundle.inputs.cfg.target == "price":
        raise InvalidRequest("this model forecasts prices (SHELFCAST_TARGET=price): plan promotions only")
    if change.price is not None and change.price <= 0:
        raise InvalidRequest(f"price {change.price} must be positive")
    if change.price_change_pct is not None and change.price_change_pct <= -100:
        raise InvalidRequest(f"price_change_pct {change.price_change_pct} must be above -100")


def changed_plan_rows(
    bundle: LoadedBundle, keys: list[tuple[str, str]], plans: list[SeriesPlan]
) -> pl.DataFrame:
    """The plan rows (keys, period_date, price, on_promo) the changes rewrite, applied in order. A
    field a change leaves unset keeps the bundle's plan (a null price: the last known one, as in the
    batch); a relative change applies to the price in effect, and prices land on the feed's grid."""
    wanted = pl.DataFrame(keys, schema=KEYS, orient="row")
    plan = {
        (p, s, d): (price, promo)
        for p, s, d, price, promo in bundle.inputs.plans.join(wanted, on=KEYS, how="semi")
        .select(*KEYS, "period_date", "price", "on_promo")
        .iter_rows()
    }
    effective = {
        (p, s, d): float(price) if price is not None else None
        for p, s, d, price in bundle.inference.join(wanted, on=KEYS, how="semi")
        .select(*KEYS, "period_date", "price")
        .iter_rows()
    }
    out: dict[tuple[str, str, date], list] = {}
    for (product, store), series_plan in zip(keys, plans, strict=True):
        for change in series_plan.changes:
            _check_change(bundle, change)
            for day in [change.target_date] if change.target_date else bundle.dates:
                key = (product, store, day)
                row = out.setdefault(key, list(plan.get(key, (None, None))))
                if change.price is not None:
                    row[0] = _on_grid(bundle, change.price)
                elif change.price_change_pct is not None:
                    current = row[0] if row[0] is not None else effective.get(key)
                    if current is None:
                        raise InvalidRequest(f"{key}: no known price to change by a percentage; give price")
                    row[0] = _on_grid(bundle, current * (1 + change.price_change_pct / 100))
                if change.on_promo is not None:
                    row[1] = change.on_promo
    rows = [(*key, price, promo) for key, (price, promo) in out.items()]
    schema = {
        **dict.fromkeys(KEYS, pl.String),
        "period_date": pl.Date,
        "price": pl.Float64,
        "on_promo": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def compare(
    bundle: LoadedBundle, keys: list[tuple[str, str]], future: pl.DataFrame, scored: pl.DataFrame
) -> pl.DataFrame:
    """Per requested series and date: baseline (the stored forecast) and scenario plans and bands. A
    series the batch forecast by the fallback keeps its stored band in the scenario."""
    factor = bundle.inputs.factors.get("price")
    wanted = pl.DataFrame(keys, schema=KEYS, orient="row")
    band = band_columns(levels_in(bundle.forecasts.columns))
    baseline = pl.concat([bundle.series_forecasts(*key) for key in keys]).select(
        *KEYS, "target_date", "horizon", "method", *[pl.col(c).alias(f"{c}_baseline") for c in band]
    )
    scenario = scored.select(*KEYS, "horizon", *band)
    rows = (
        baseline.join(scenario, on=[*KEYS, "horizon"], how="left")
        .with_columns(
            pl.when(pl.col("method") == "model").then(pl.col(c)).otherwise(pl.col(f"{c}_baseline")).alias(c)
            for c in band
        )
        .join(pl.concat([bundle.series_plans(*key) for key in keys]), on=[*KEYS, "target_date"], how="left")
        .join(plan_columns(future.join(wanted, on=KEYS, how="semi"), factor, ""),
              on=[*KEYS, "target_date"], how="left")
    )  # fmt: skip
    order = wanted.with_row_index("_order")  # the request's order
    return rows.join(order, on=KEYS).sort("_order", "horizon").drop("_order")


def _warnings(
    bundle: LoadedBundle, rows: pl.DataFrame, changed: pl.DataFrame, future: pl.DataFrame
) -> Outcome:
    """The outliers' warnings and scores (outliers.py), and a warning for a series whose forecast the
    scenario cannot move."""
    warnings, scores = score_request(bundle.outlier_profiles, changed, future)
    outcome = Outcome(rows, warnings, scores)
    for product, store in rows.filter(pl.col("method") != "model").select(KEYS).unique().iter_rows():
        outcome.warnings.setdefault((product, store), []).append(
            "forecast by the fallback (too little history for the model): price and promotion changes "
            "do not move it"
        )
    return outcome


def run_scenario(bundle: LoadedBundle, plans: list[SeriesPlan]) -> Outcome:
    """Baseline and scenario of every series in `plans`, all changes applied at once."""
    if not bundle.what_if["available"]:
        raise WhatIfUnavailable(
            f"bundle {bundle.generation} cannot rebuild its feature rows exactly "
            f"({bundle.what_if['reason']}); forecast lookups still work"
        )
    keys = resolve_series(bundle, plans)
    changed = changed_plan_rows(bundle, keys, plans)
    if changed.is_empty():
        future, scored = _unchanged(bundle, keys)
    else:
        future, scored = forecast_with_plans(
            bundle.model, bundle.inputs, bundle.history, changed, keys, bundle.local
        )
    return _warnings(bundle, compare(bundle, keys, future, scored), changed, future)


def _unchanged(bundle: LoadedBundle, keys: list[tuple[str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`forecast_with_plans` of a request that changes nothing: the bundle's future rows are what the
    rebuild gives (a what-if is available only when `check_rebuild` found them equal), forecast by the
    same `make_forecasts`, as the registered model answers a request without plans."""
    wanted = pl.DataFrame(keys, schema=KEYS, orient="row")
    future = bundle.inference.join(wanted, on=KEYS, how="semi")
    series = bundle.inputs.series.join(wanted, on=KEYS, how="semi")
    history = bundle.history.join(wanted, on=KEYS, how="semi")
    window = bundle.inputs.cfg.windows[1]
    return future, make_forecasts(bundle.model, future, series, history, bundle.local, recent_window=window)
