"""A small Optuna search over LightGBM's hyperparameters, on a window the backtest never scores.

Each trial fits on rows up to the tuning origin (H periods before the oldest backtest origin) and is
scored by WAPE on the H periods after it, so the backtest that gates promotion stays out of sample.
Trial 0 is the defaults: the winner is never worse than them on the tuning window. Trials fit on a
seeded sample of series so a search costs a bounded number of rows whatever the catalog size.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import period_number
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.metrics import wape

# name -> (kind, low, high, log scale). Rounds and learning rate move together: the search may trade
# a faster rate for fewer rounds, which is also the cheaper fit.
SEARCH_SPACE: dict[str, tuple[str, float, float, bool]] = {
    "num_leaves": ("int", 15, 127, True),
    "min_data_in_leaf": ("int", 20, 400, True),
    "learning_rate": ("float", 0.02, 0.2, True),
    "num_iterations": ("int", 100, 600, True),
    "feature_fraction": ("float", 0.5, 1.0, False),
    "lambda_l2": ("float", 1e-3, 10.0, True),
}
MAX_TUNING_SERIES = 2_000


@dataclass(frozen=True)
class Trial:
    number: int
    params: dict
    wape: float
    seconds: float


@dataclass(frozen=True)
class SearchResult:
    space: dict
    trials: list[Trial]
    best: Trial
    tuning_origin: str
    n_series: int
    n_fit_rows: int


def _suggest(trial, space: dict) -> dict:
    out = {}
    for name, (kind, low, high, log) in space.items():
        suggest = trial.suggest_int if kind == "int" else trial.suggest_float
        out[name] = suggest(name, low, high, log=log)
    return out


def tuning_sample(usable: pl.DataFrame, seed: int, max_series: int = MAX_TUNING_SERIES) -> pl.DataFrame:
    """Every row of at most `max_series` series, drawn with `seed` from the sorted series list."""
    series = usable.select(KEYS).unique().sort(KEYS)
    if series.height > max_series:
        series = series.sample(max_series, seed=seed).sort(KEYS)
    return usable.join(series, on=KEYS, how="semi", maintain_order="left")


def search(
    usable: pl.DataFrame,
    base: Forecaster,
    defaults: dict,
    origin: date,
    at_origin: Callable[[pl.DataFrame, int], pl.DataFrame],
    freq: str,
    horizon: int,
    n_trials: int,
    seed: int,
) -> SearchResult:
    """Minimise WAPE on (origin, origin + horizon] over `n_trials` trials (the first = `defaults`).

    `usable` holds the training rows (eligible, with actuals, a `_pn` period number); `at_origin`
    turns rows after an origin into forecasts made at it (horizon, origin features); `base` is the
    untrained forecaster whose params each trial overrides.
    """
    import optuna

    optuna.logging.set_verbosity(logging.WARNING)
    origin_pn = pl.select(period_number(pl.lit(origin), freq)).item()
    sample = tuning_sample(usable, seed)
    fit_rows = sample.filter(pl.col("_pn") <= origin_pn)
    window = at_origin(sample.filter(pl.col("_pn").is_between(origin_pn + 1, origin_pn + horizon)), origin_pn)
    if fit_rows.is_empty() or window.is_empty():
        raise ValueError("no rows before or after the tuning origin: history too short to tune")
    y = window["y"].to_numpy()
    trials: list[Trial] = []

    def objective(trial) -> float:
        params = _suggest(trial, SEARCH_SPACE)
        started = time.perf_counter()
        rounds = int(params.pop("num_iterations"))
        model = replace(base, params={**base.params, **params}, _booster=None)
        score = wape(y, model.fit(fit_rows, rounds).point(window))
        trials.append(
            Trial(trial.number, {**params, "num_iterations": rounds}, score, time.perf_counter() - started)
        )
        return score if np.isfinite(score) else float("inf")

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({k: defaults[k] for k in SEARCH_SPACE})
    study.optimize(objective, n_trials=n_trials)
    best = min(trials, key=lambda t: (t.wape, t.number))
    return SearchResult(
        space={k: list(v) for k, v in SEARCH_SPACE.items()},
        trials=trials,
        best=best,
        tuning_origin=origin.isoformat(),
        n_series=sample.select(KEYS).n_unique(),
        n_fit_rows=fit_rows.height,
    )
