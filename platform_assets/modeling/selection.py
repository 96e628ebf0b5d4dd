"""Which forecast each demand segment uses: LightGBM, a statistical candidate, or a blend of the two,
chosen on backtest windows, and applied so that the backtest of the choice stays honest.

At each origin the choice is learned on the origins before it only; the final choice, for forecasting,
is learned on every origin. LightGBM is the default and a candidate must earn its place on the
segment's rows (`choose`): evidence from at least `MIN_ORIGINS` origins and `MIN_SERIES` series (a
catalog smaller than that: all of its series), a WAPE at least `MARGIN` below LightGBM's over them, and
no origin where it did worse than LightGBM.
The candidate enters shrunk toward LightGBM: alone, half and half (`BLEND`) or a quarter of it
(`LIGHT`), whichever of those passes with the lowest error. So a segment where the statistical
models do not help, or help on one window only, keeps LightGBM, and on the windows the choice was
learned on it is never worse.
"""

import math

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.modeling.metrics import mase, smape, wape
from platform_assets.modeling.segments import SPARSE
from platform_assets.modeling.statmodels import CANDIDATES, SEGMENT_MODELS

LGBM = "lgbm"
# Prefixes of blends (MLflow-safe in metric names) -> the candidate's weight; the rest is LightGBM's.
BLEND, LIGHT = "blend_", "light_"
WEIGHTS = {BLEND: 0.5, LIGHT: 0.25}
# What a candidate must show on the earlier origins to replace LightGBM in a segment.
MIN_ORIGINS = 2
# A choice learned on a handful of series is noise: on 4 series x 60 months a blend that beat LightGBM
# on two origins lost on the third (WAPE 0.143 vs 0.139), below the seasonal-naive gate.
# A catalog of fewer series has no more to give: a segment holding all of it is enough (margin, origins
# and never-worse unchanged). Seeded Tourism monthly catalogs of 1-12 series, H = 12: honest backtest
# WAPE lower in 13 of 24 at 3 origins (4 slightly higher, mean -0.004), 16 of 24 at 5 (none higher).
MIN_SERIES = 20
MARGIN = 0.03  # its absolute error summed over the origins: at least 3% below LightGBM's


def candidate_of(method: str) -> str:
    """The statistical model a method reads (LightGBM for LightGBM)."""
    return next((method.removeprefix(p) for p in WEIGHTS if method.startswith(p)), method)


def methods_for(segment: str) -> list[str]:
    """LightGBM first (it wins ties), then the segment's candidates alone and blended with it."""
    models = SEGMENT_MODELS.get(segment, ())
    return [LGBM, *models, *[prefix + m for prefix in WEIGHTS for m in models]]


def method_expr(method: str) -> pl.Expr:
    """The p50 a method gives a row: a candidate where it was fitted, LightGBM where it was not."""
    lgbm = pl.col(LGBM)
    if method == LGBM:
        return lgbm
    candidate = pl.coalesce(candidate_of(method), LGBM)
    weight = next((w for p, w in WEIGHTS.items() if method.startswith(p)), 1.0)
    return candidate if weight == 1.0 else lgbm * (1 - weight) + candidate * weight


def choose(rows: pl.DataFrame) -> dict[str, str]:
    """segment -> the method that earned it on `rows` (origin, segment, y, lgbm, candidate columns;
    module doc); segments that keep LightGBM are absent."""
    choices = {}
    enough = min(MIN_SERIES, rows.select(KEYS).n_unique())  # a small catalog: every one of its series
    for (segment,), part in rows.group_by("segment", maintain_order=True):
        methods = methods_for(segment)
        errors = part.group_by("origin").agg(
            (pl.col("y") - method_expr(m)).abs().sum().alias(m) for m in methods
        )
        if errors.height < MIN_ORIGINS or part.select(KEYS).n_unique() < enough:
            continue
        base = errors[LGBM]
        passing = {
            m: errors[m].sum()
            for m in methods[1:]
            if errors[m].sum() <= (1 - MARGIN) * base.sum() and (errors[m] <= base).all()
        }
        if passing:
            choices[segment] = min(passing, key=lambda m: (passing[m], methods.index(m)))
    return choices


def apply(rows: pl.DataFrame, choices: dict[str, str]) -> pl.DataFrame:
    """`rows` with `method` (LightGBM where the segment has no choice) and p50 from that method."""
    chosen = pl.col("segment").replace_strict(choices, default=LGBM, return_dtype=pl.String)
    methods = sorted(set(choices.values()))
    p50 = pl.col(LGBM)
    for m in methods:
        p50 = pl.when(pl.col("method") == m).then(method_expr(m)).otherwise(p50)
    return rows.with_columns(chosen.alias("method")).with_columns(p50.alias("p50"))


def combine_backtest(points: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, str]]:
    """(every origin's rows with the p50 of the method chosen on the origins before it; the choice
    learned on every origin). `points`: origin, segment, y, lgbm and the candidate columns."""
    points = points.with_columns(pl.col("segment").fill_null(SPARSE))
    parts = []
    for origin in points["origin"].unique().sort():
        earlier = points.filter(pl.col("origin") < origin)
        parts.append(apply(points.filter(pl.col("origin") == origin), choose(earlier)))
    return pl.concat(parts), choose(points)


def _per_origin(rows: pl.DataFrame, pred: str) -> dict[str, float]:
    """WAPE, sMAPE and MASE of column `pred`, each averaged over the origins (as backtest_metrics)."""
    scores = [
        (wape(p["y"], p[pred]), smape(p["y"], p[pred]), mase(p["y"], p[pred], p["mase_scale"]))
        for _, p in rows.group_by("origin", maintain_order=True)
    ]
    return {name: sum(s[i] for s in scores) / len(scores) for i, name in enumerate(("wape", "smape", "mase"))}


def component_metrics(components: pl.DataFrame, choices: dict[str, str]) -> dict[str, float]:
    """What MLflow logs about the components: LightGBM alone on every row (`lgbm_*`); each candidate on
    the rows it was fitted to, next to LightGBM on the same rows (`ets_wape`, `ets_lgbm_wape`); the
    series per segment at the newest origin; the share of series each method wins (lowest absolute
    error over the backtest among LightGBM and the series' candidates) and is chosen for."""
    out = {f"lgbm_{k}": v for k, v in _per_origin(components, LGBM).items()}
    for name in CANDIDATES:
        fitted = components.filter(pl.col(name).is_not_null())
        if not fitted.is_empty():
            out |= {f"{name}_{k}": v for k, v in _per_origin(fitted, name).items()}
            out[f"{name}_lgbm_wape"] = _per_origin(fitted, LGBM)["wape"]
    newest = components.filter(pl.col("origin") == pl.col("origin").max()).unique(KEYS)
    out |= {f"segment_{s}_series": float(n) for s, n in newest.group_by("segment").len().iter_rows()}
    fitted_error = [  # a candidate fitted at some origins only counts as LightGBM at the others
        pl.when(pl.col(c).count() > 0).then((pl.col("y") - method_expr(c)).abs().sum()).alias(c)
        for c in CANDIDATES
    ]
    errors = components.group_by(KEYS).agg(
        (pl.col("y") - pl.col(LGBM)).abs().sum().alias(LGBM), *fitted_error
    )
    names = [LGBM, *CANDIDATES]
    best = errors.select(names).fill_null(math.inf).to_numpy().argmin(axis=1)  # ties: LightGBM
    wins = pl.Series("w", [names[i] for i in best], pl.String).value_counts(normalize=True, name="share")
    out |= {f"wins_{m}_share": float(s) for m, s in wins.iter_rows()}
    chosen = newest["segment"].replace_strict(choices, default=LGBM, return_dtype=pl.String)
    out |= {
        f"chosen_{m}_share": float(s)
        for m, s in chosen.value_counts(normalize=True, name="share").iter_rows()
    }
    return {k: v for k, v in out.items() if math.isfinite(v)}  # a subset with no volume has no WAPE
