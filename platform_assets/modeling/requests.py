"""The registered model's public input and output: series ids and a horizon, or target dates carrying
planned prices and promotions, in; one row per series and target date with its band out.

A row names a series (`product_id`, `store_id`: "all" when not given, as for a feed without stores)
and either `horizon` (periods ahead, 1..H; missing: H) or a `target_date` that may carry a planned
`price` and / or `on_promo` (missing: the stored plan). Planned values of one request are one joint
plan, as in the API's what-if: the future feature rows of the series' peer groups are rebuilt with
them (modeling/replan.py). Without any plan the stored future rows are forecast as they are. A series
the batch forecast by the fallback keeps the batch's band: the fallback reads no plan."""

from dataclasses import dataclass

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.schemas import DEFAULT_STORE
from platform_assets.modeling.combination import Combination
from platform_assets.modeling.forecasting import make_forecasts
from platform_assets.modeling.replan import forecast_with_plans
from platform_assets.modeling.series_state import SeriesState

# The input columns and their types; only product_id is required.
INPUT = {
    "product_id": pl.String,
    "store_id": pl.String,
    "horizon": pl.Int64,
    "target_date": pl.Date,
    "price": pl.Float64,
    "on_promo": pl.Boolean,
}
PLAN = ["price", "on_promo"]


class BadRequest(ValueError):
    """An input the model cannot answer, with one line saying why."""


@dataclass(frozen=True)
class Request:
    keys: list[tuple[str, str]]  # the series, in the order they were first named
    wanted: pl.DataFrame  # keys, target_date: the rows to answer
    changed: pl.DataFrame  # keys, period_date, price, on_promo: the plan rows the request rewrites


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    unknown = [c for c in frame.columns if c not in INPUT]
    if unknown or "product_id" not in frame.columns:
        raise BadRequest(f"input columns {frame.columns}: expected product_id and any of {list(INPUT)[1:]}")
    if frame.is_empty():
        raise BadRequest("the input has no rows: name at least one product_id")
    missing = {name: pl.lit(None, kind) for name, kind in INPUT.items() if name not in frame.columns}
    frame = frame.with_columns(**missing)
    if frame.schema["horizon"].is_float() and (frame["horizon"].drop_nulls() % 1 != 0).any():
        raise BadRequest("horizon must be a whole number of periods")
    dates = pl.col("target_date")
    if frame.schema["target_date"] == pl.String:
        dates = dates.str.to_date(strict=False)
    try:
        typed = frame.select(
            *(pl.col(n).cast(k) for n, k in INPUT.items() if n != "target_date"), dates.cast(pl.Date)
        )
    except pl.exceptions.PolarsError as exc:
        raise BadRequest(
            f"input columns must be { ({n: str(k) for n, k in INPUT.items()}) }: {exc}"
        ) from None
    if typed["product_id"].null_count():
        raise BadRequest("every row needs a product_id")
    return typed.with_columns(pl.col("store_id").fill_null(DEFAULT_STORE)).select(list(INPUT))


def _known(state: SeriesState, typed: pl.DataFrame) -> list[tuple[str, str]]:
    """The requested series in order, refusing one the model does not forecast, with why."""
    requested = typed.select(KEYS).unique(maintain_order=True)
    known = state.baseline.select(KEYS).unique()
    unknown = requested.join(known, on=KEYS, how="anti", maintain_order="left")
    if unknown.height:
        product, store = unknown.row(0)
        stores = sorted(known.filter(pl.col("product_id") == product)["store_id"].to_list())
        where = f"it is forecast in stores {stores}" if stores else "the product has no active series"
        raise BadRequest(
            f"unknown series product_id={product!r} store_id={store!r}: {where} (the model forecasts "
            f"the {known.height} series active when it was trained)"
        )
    return list(requested.iter_rows())


def _wanted(state: SeriesState, typed: pl.DataFrame) -> pl.DataFrame:
    """keys and target_date of every row to answer: a row's target_date, or horizon steps 1..h."""
    dates = state.dates
    bad_date = typed.filter(pl.col("target_date").is_not_null() & ~pl.col("target_date").is_in(dates))
    if bad_date.height:
        raise BadRequest(
            f"target_date {bad_date['target_date'][0]} is not forecast: the model forecasts {len(dates)} "
            f"periods, {dates[0]} to {dates[-1]}"
        )
    both = typed.filter(pl.col("target_date").is_not_null() & pl.col("horizon").is_not_null())
    if both.height:
        raise BadRequest("give a row horizon or target_date, not both")
    last = len(dates)
    steps = typed.filter(pl.col("target_date").is_null()).with_columns(pl.col("horizon").fill_null(last))
    bad_step = steps.filter((pl.col("horizon") < 1) | (pl.col("horizon") > last))
    if bad_step.height:
        raise BadRequest(f"horizon {bad_step['horizon'][0]}: the model forecasts 1 to {last} periods ahead")
    grid = pl.DataFrame({"target_date": dates, "_step": range(1, last + 1)})
    ahead = (
        steps.drop("target_date")
        .join(grid, how="cross")
        .filter(pl.col("_step") <= pl.col("horizon"))
        .select(*KEYS, "target_date")
    )
    on_date = typed.filter(pl.col("target_date").is_not_null()).select(*KEYS, "target_date")
    return pl.concat([ahead, on_date]).unique(maintain_order=True)


def _changed(state: SeriesState, typed: pl.DataFrame) -> pl.DataFrame:
    """The plan rows the request rewrites: its price on the feed's grid, else the stored plan's."""
    planned = typed.filter(pl.any_horizontal(pl.col(PLAN).is_not_null()))
    if planned.is_empty():
        return planned.select(*KEYS, pl.col("target_date").alias("period_date"), *PLAN)
    if planned["target_date"].null_count():
        raise BadRequest("a planned price or on_promo needs the target_date it applies to")
    if not state.check.exact:
        raise BadRequest(f"this model cannot score plans: {state.check.reason}; ask by horizon")
    if planned["price"].is_not_null().any() and state.inputs.cfg.target == "price":
        raise BadRequest("this model forecasts prices (SHELFCAST_TARGET=price): plan promotions only")
    if planned.select(*KEYS, "target_date").is_duplicated().any():
        raise BadRequest("a series and target_date is planned twice: one row each")
    prices = planned["price"].drop_nulls()
    if (prices <= 0).any():
        raise BadRequest(f"price {prices.filter(prices <= 0)[0]} must be positive")
    try:
        on_grid = [None if p is None else state.inputs.on_grid(p) for p in planned["price"]]
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    stored = state.inputs.plans.select(*KEYS, "period_date", *PLAN)
    return (
        planned.with_columns(pl.Series("price", on_grid, pl.Float64))
        .rename({"target_date": "period_date"})
        .join(stored, on=[*KEYS, "period_date"], how="left", suffix="_stored")
        .select(*KEYS, "period_date", *(pl.coalesce(c, f"{c}_stored").alias(c) for c in PLAN))
    )


def parse_request(frame: pl.DataFrame, state: SeriesState) -> Request:
    typed = _typed(frame)
    return Request(_known(state, typed), _wanted(state, typed), _changed(state, typed))


def answer(model: Combination, state: SeriesState, request: Request) -> pl.DataFrame:
    """make_forecasts' columns for the requested rows, in the request's order of series."""
    wanted = pl.DataFrame(request.keys, schema=KEYS, orient="row")
    if request.changed.is_empty():
        series = state.inputs.series.join(wanted, on=KEYS, how="semi")
        rows = state.inference.join(wanted, on=KEYS, how="semi")
        window = state.inputs.cfg.windows[1]
        forecasts = make_forecasts(model, rows, series, state.history, state.local, recent_window=window)
    else:
        _, forecasts = forecast_with_plans(
            model, state.inputs, state.history, request.changed, request.keys, state.local
        )
    fallback = state.baseline.filter(pl.col("method") != "model").join(wanted, on=KEYS, how="semi")
    forecasts = pl.concat([forecasts.join(fallback, on=KEYS, how="anti"), fallback])
    order = wanted.with_row_index("_order")
    return (
        forecasts.join(request.wanted, on=[*KEYS, "target_date"], how="semi")
        .join(order, on=KEYS)
        .sort("_order", "horizon")
        .drop("_order")
    )
