"""Forecasts of a few series under a price and promotion plan: the future feature rows of their peer
groups rebuilt by the features layer's own code (features/rebuild.py), forecast by the batch's own
`make_forecasts`. The API's what-if (serving/scenario.py) and the registered model's `predict`
(modeling/requests.py) both forecast through here, so with an unchanged plan both give the batch's
forecast."""

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.features.rebuild import FeatureInputs, rebuild_future
from platform_assets.modeling.combination import Combination, Local
from platform_assets.modeling.forecasting import make_forecasts


def forecast_with_plans(
    model: Combination,
    inputs: FeatureInputs,
    history: pl.DataFrame,
    changed: pl.DataFrame,
    keys: list[tuple[str, str]],
    local: Local | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the future feature rows of `keys`, rebuilt with their peer groups under the inputs' plans and
    the `changed` plan rows (keys, period_date, price, on_promo) replacing or adding to them, the
    forecasts of `keys`: make_forecasts' columns). `history`: the newest actuals (keys, period_date, y)
    of at least `keys`; `local`: the statistical forecasts made already (they read no plan), else
    refitted."""
    groups = {(inputs.category(product), store) for product, store in keys}
    future = rebuild_future(inputs, changed, groups, keys)
    wanted = pl.DataFrame(keys, schema=KEYS, orient="row")
    series = inputs.series.join(wanted, on=KEYS, how="semi")
    history = history.join(wanted, on=KEYS, how="semi")
    return future, make_forecasts(model, future, series, history, local, recent_window=inputs.cfg.windows[1])
