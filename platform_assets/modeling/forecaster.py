"""The fitted global model as a plain picklable object: what MLflow stores and forecasting loads.

The model predicts z = y / scale (see features/columns.py), so one booster serves series of every size; the
bands of every interval level are the point forecast plus conformal offsets (intervals.py), also in scale
units, per horizon step.
"""

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

# OpenMP threads spin while they wait for each other by default; on a busy 2-core machine that made
# 2-thread training 7-15x slower than 1 thread (measured). Passive waiting must be chosen before the
# OpenMP runtime loads with LightGBM; an explicit OMP_WAIT_POLICY from the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import lightgbm as lgb  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from platform_assets.core.keys import KEYS
from platform_assets.core.periods import numbered
from platform_assets.features.attributes import is_attribute
from platform_assets.features.origin import attach, origin_stats  # noqa: E402
from platform_assets.modeling.intervals import Band, as_band, with_intervals  # noqa: E402


def output(band: Band) -> list[str]:
    """What a forecast frame holds: keys, period_date and the band's quantile columns, lowest first."""
    return [*KEYS, "period_date", *band.columns()]


# Below this, a scaled forecast (target / series scale) is float residue of the trees' sums: zero.
SCALED_ZERO = 1e-9


# Below this many rows thread start-up and synchronisation cost more than a second thread saves
# (5k rows: 1.7 s with 1 thread, 3.3 s with 2). Results are identical either way (deterministic mode).
SINGLE_THREAD_ROWS = 100_000
# Training progress for whoever listens (the demo prints it): each labelled fit reports every
# PROGRESS_ROUNDS boosting rounds and when it is done (`done` set on that record).
PROGRESS = logging.getLogger("shelfcast.training")
PROGRESS_ROUNDS = 50


def _progress(label: str) -> Callable[[lgb.callback.CallbackEnv], None]:
    """A LightGBM callback logging `label: round i/n` every PROGRESS_ROUNDS rounds."""

    def report(env: lgb.callback.CallbackEnv) -> None:
        done = env.iteration + 1
        if done % PROGRESS_ROUNDS == 0 and done < env.end_iteration:
            PROGRESS.info(f"{label}: round {done}/{env.end_iteration}")

    return report


def _threads(params: dict, rows: int) -> int:
    return 1 if rows < SINGLE_THREAD_ROWS else int(params.get("num_threads", 2))


@dataclass
class Forecaster:
    model_str: str
    feature_names: list[str]
    categorical_names: list[str]
    category_levels: dict[str, list[str]]  # training levels: unseen values map to missing, not to an error
    offsets: Band  # conformal offsets of LightGBM alone (a (q10, q90) list per step in older pickles)
    target: str
    horizon: int
    freq: str
    min_history: int
    params: dict = field(default_factory=dict)
    # Rows weighted by `scale`: the loss on y / scale then equals the loss in target units, so a series
    # counts by its volume, as WAPE counts it, instead of every series counting alike.
    weight_by_scale: bool = False
    # (short, mid) windows of the origin features (features/origin.py) the model reads; None: none.
    origin_windows: tuple[int, int] | None = None
    _booster: lgb.Booster | None = field(default=None, repr=False, compare=False)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_booster"] = None  # rebuilt from model_str: the string is the portable form
        return state

    @property
    def booster(self) -> lgb.Booster:
        if self._booster is None:
            self._booster = lgb.Booster(model_str=self.model_str)
        return self._booster

    def eligible(self) -> pl.Expr:
        """Rows the model may answer: a defined scale and enough observed history behind it."""
        return pl.col("scale").is_not_null() & (pl.col("n_obs") >= self.min_history)

    def with_origin_features(self, rows: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
        """`rows` (with `horizon`) plus the origin features this model reads, from `history`'s actuals
        (keys, period_date, y); unchanged for a model that reads none."""
        if self.origin_windows is None:
            return rows
        rows_n, history_n = (f if "_pn" in f.columns else numbered(f, self.freq) for f in (rows, history))
        out = attach(rows_n, origin_stats(history_n, *self.origin_windows))
        return out if "_pn" in rows.columns else out.drop("_pn")

    def check_columns(self, columns: list[str]) -> None:
        """Refuse rows that lack a feature the model reads, instead of feeding it an all-null column (a
        renamed feature). Columns the model does not read are ignored: an incumbent champion must still
        score rows that a newer feature code added columns to. Catalog attributes (`attr_*`) come and go
        with the catalog: a missing one reads as missing values, as for a product without it."""
        present = set(columns)
        missing = [n for n in self.feature_names if n not in present and not is_attribute(n)]
        if missing:
            raise ValueError(
                f"rows lack features the model reads: {missing} (a model trained before a feature was "
                "renamed needs retraining; origin features come from `with_origin_features`)"
            )

    def matrix(self, rows: pl.DataFrame) -> np.ndarray:
        """Feature matrix in training column order; categoricals become their training level codes."""
        self.check_columns(rows.columns)
        exprs = []
        for name in self.feature_names:
            col = pl.col(name) if name in rows.columns else pl.lit(None)  # an attribute (check_columns)
            if name in self.category_levels:
                levels = self.category_levels[name]
                col = col.cast(pl.String).replace_strict(levels, list(range(len(levels))), default=None)
            exprs.append(col.cast(pl.Float32).alias(name))
        return rows.select(exprs).to_numpy().astype(np.float32, copy=False)

    def training_data(self, rows: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(matrix, label y / scale, weight) for rows with y and scale non-null."""
        z = (rows["y"] / rows["scale"]).clip(lower_bound=0).to_numpy()
        weight = rows["scale"].to_numpy() if self.weight_by_scale else None
        return self.matrix(rows), z, weight

    def fit(self, rows: pl.DataFrame, num_boost_round: int) -> "Forecaster":
        """A copy fitted on `rows` (y and scale non-null); self is left untouched."""
        return self.fit_arrays(*self.training_data(rows), num_boost_round)

    def fit_arrays(
        self,
        matrix: np.ndarray,
        z: np.ndarray,
        weight: np.ndarray | None,
        num_boost_round: int,
        label: str | None = None,
    ) -> "Forecaster":
        """`fit` on arrays from `training_data`: several fits can slice one matrix instead of each
        building its own from a filtered copy of the frame. A `label` reports progress (PROGRESS)."""
        began = time.monotonic()
        data = lgb.Dataset(
            matrix,
            label=z,
            weight=weight,
            feature_name=self.feature_names,
            categorical_feature=self.categorical_names,
            free_raw_data=True,
        )
        params = {**self.params, "num_threads": _threads(self.params, len(z))}
        callbacks = [] if label is None else [_progress(label)]
        booster = lgb.train(params, data, num_boost_round=num_boost_round, callbacks=callbacks)
        if label is not None:
            seconds = time.monotonic() - began
            PROGRESS.info(
                f"{label}: {num_boost_round} rounds on {len(z):,} rows in {seconds:.1f} s",
                extra={"done": True},
            )
        return replace(self, model_str=booster.model_to_string(), _booster=booster)

    def point(self, rows: pl.DataFrame) -> np.ndarray:
        """Non-negative point forecasts in target units for rows that are all eligible."""
        z = self.booster.predict(self.matrix(rows), num_threads=_threads(self.params, rows.height))
        # A median of no sales comes out of the trees' sums as ~1e-16, not 0: sMAPE counts such a row as
        # a full miss (2), which made Ta Feng's backtest sMAPE 1.80 instead of 1.02 for the same WAPE.
        z = np.where(z < SCALED_ZERO, 0.0, z)
        return z * rows["scale"].to_numpy()

    def p50(self, rows: pl.DataFrame) -> pl.Series:
        """`p50` per row: the point forecast, null where the row is not eligible (what `predict`'s band
        is built around; a combination reads only this)."""
        ok = rows.select(self.eligible().fill_null(False)).to_series().to_numpy()
        p50 = np.full(rows.height, np.nan)
        if ok.any():
            p50[ok] = self.point(rows.filter(pl.Series(ok)))
        return pl.Series("p50", p50).fill_nan(None)

    def predict(self, rows: pl.DataFrame) -> pl.DataFrame:
        """keys, period_date and the band's quantile columns per row; null where the row is not eligible.

        Without a `horizon` column, the horizon is the rank of period_date within `rows`, which is
        right when `rows` is one forecast window (the H future periods).
        """
        if "horizon" not in rows.columns:
            rows = rows.with_columns(pl.col("period_date").rank("dense").cast(pl.Int32).alias("horizon"))
        scored = rows.with_columns(self.p50(rows))
        band = as_band(self.offsets)
        return with_intervals(scored, band).select(output(band))
