"""The promotion gate: the challenger becomes `champion` only if it beats seasonal naive on its own
backtest and, when there is a champion, beats the champion scored on the same windows. Both are
combinations (LightGBM and the statistical models each segment chose): the challenger's `wape` is its
combination's backtest, the champion's combination is scored on the challenger's windows."""

import math
from dataclasses import dataclass

import polars as pl

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, levels_in
from platform_assets.modeling.combination import Combination
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.metrics import METHODS, backtest_metrics
from platform_assets.modeling.names import CHALLENGER, CHAMPION
from platform_assets.modeling.registry import (
    ModelUnloadable,
    alias_version,
    is_provisional,
    load_combination,
    record_promotion,
    run_metrics,
    set_champion,
)
from platform_assets.modeling.rows import evaluation_rows
from platform_assets.storage.warehouse import Warehouse

# The metrics a decision records as its evidence.
EVIDENCE = (
    "wape",
    "mase",
    "smape",
    "rmse",
    "coverage_80",
    "naive_wape",
    "seasonal_naive_wape",
    "recent_median_wape",
)


def evaluate_on_backtest(
    model: Combination | Forecaster,
    features: pl.DataFrame,
    windows: pl.DataFrame,
    components: pl.DataFrame | None = None,
) -> dict[str, float]:
    """Score `model` on exactly the rows of another model's backtest (same y, baselines, MASE scale).

    A combination applies its own choice per segment to the statistical forecasts of the backtest's
    `components` (the same local models, fitted on the same history up to each origin), so two
    combinations are compared on the same windows; without components it is LightGBM alone.
    The incumbent was usually trained on data covering these windows (its choices learned on them
    too), so its score is optimistic: the gate is biased towards keeping the champion, the safe
    direction. Rows the incumbent cannot answer (too little history under its own rule) are given
    the naive forecast, so both models are scored on the same rows.
    """
    combination = model if isinstance(model, Combination) else Combination(model)
    model = combination.forecaster
    baselines = [c for c in METHODS.values() if c != "p50" and c in windows.columns]
    rows = windows.select(*KEYS, "period_date", "origin", "horizon", "y", *baselines, "mase_scale")
    joined = rows.join(features.drop("y", "horizon", strict=False), on=[*KEYS, "period_date"], how="left")
    actuals = features.filter(~pl.col("is_future")).select(*KEYS, "period_date", "y")
    joined = model.with_origin_features(joined, actuals)  # read at each row's own origin
    if components is None or not combination.choices:
        predicted = model.predict(joined)
    else:
        predicted = combination.predict_with(joined, components)
    predicted = predicted.drop(*KEYS, "period_date")  # row for row with `joined`
    scored = pl.concat([joined.select(rows.columns), predicted], how="horizontal").with_columns(
        pl.col(c).fill_null(pl.col("naive")) for c in band_columns(levels_in(predicted.columns))
    )
    return backtest_metrics(scored)


# A first model (no champion yet) that does not beat seasonal naive but comes within this factor of its
# WAPE is promoted provisionally, flagged, rather than leaving the user with no forecast at all: on
# Tourism monthly seasonal naive edges out every model over three origins (challenger 0.189 vs 0.177;
# AutoETS 0.161 vs 0.160). A broken fit, several times worse, is still refused; and a provisional
# champion is replaced only by a version that beats seasonal naive and it.
PROVISIONAL_FACTOR = 1.2


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    evidence: dict
    provisional: bool = False  # promoted without beating seasonal naive (PROVISIONAL_FACTOR)


def _evidence(metrics: dict[str, float] | None) -> dict | None:
    """The EVIDENCE metrics, None where not finite (JSON has no NaN)."""
    if metrics is None:
        return None
    return {
        k: (float(metrics[k]) if math.isfinite(metrics.get(k, math.nan)) else None)
        for k in EVIDENCE
        if k in metrics
    }


def decide_promotion(challenger: dict[str, float], champion: dict[str, float] | None) -> Decision:
    """Promote iff the challenger beats seasonal naive on WAPE over its backtest and, when there is a
    champion, beats the champion's WAPE on the same windows; a first model within PROVISIONAL_FACTOR
    of seasonal naive is promoted provisionally (flagged) rather than none.

    The recent median is recorded next to it, not required: on small or very sparse data it can beat
    every model (Ta Feng at default settings, a 24-series test set), and refusing every version there
    would leave users with no forecast at all rather than a flagged one."""
    evidence = {CHALLENGER: _evidence(challenger), CHAMPION: _evidence(champion)}
    wape, baseline = challenger.get("wape", math.nan), challenger.get("seasonal_naive_wape", math.nan)
    median = challenger.get("recent_median_wape", math.nan)
    if math.isfinite(wape) and math.isfinite(median):
        evidence["beats_recent_median"] = wape < median
    if not (math.isfinite(wape) and math.isfinite(baseline)):
        return Decision(
            False, "challenger WAPE or its seasonal-naive WAPE is missing or not finite", evidence
        )
    if wape >= baseline:
        short = f"challenger WAPE {wape:.4f} does not beat seasonal naive {baseline:.4f}"
        if champion is None and wape <= PROVISIONAL_FACTOR * baseline:
            return Decision(
                True,
                f"no champion; {short} but is within {PROVISIONAL_FACTOR - 1:.0%} of it: promoted "
                "provisionally so there are forecasts (seasonal naive was better on the backtest; a later "
                "version replaces it only by beating seasonal naive)",
                evidence,
                provisional=True,
            )
        return Decision(False, short, evidence)
    bar = f"seasonal naive {baseline:.4f}"
    if evidence.get("beats_recent_median") is False:
        bar += f" (but not the recent median {median:.4f})"
    if champion is None:
        return Decision(True, f"no champion; challenger WAPE {wape:.4f} beats {bar}", evidence)
    incumbent = champion.get("wape", math.nan)
    if not math.isfinite(incumbent):
        return Decision(False, "the champion could not be scored on the challenger's windows", evidence)
    if wape >= incumbent:
        return Decision(
            False,
            f"challenger WAPE {wape:.4f} does not beat champion {incumbent:.4f} on the same windows",
            evidence,
        )
    return Decision(True, f"challenger WAPE {wape:.4f} beats champion {incumbent:.4f} and {bar}", evidence)


def gate_markdown(decision: Decision) -> str:
    """The decision as a reader of the registered version sees it: the verdict, the reason and the
    evidence, challenger and champion side by side on the challenger's backtest windows."""
    verdict = "**Not promoted**"
    if decision.promote:
        verdict = (
            "**Promoted provisionally** to champion" if decision.provisional else "**Promoted** to champion"
        )
    sides = [CHALLENGER, CHAMPION]
    metrics = [k for k in EVIDENCE if any(k in (decision.evidence.get(s) or {}) for s in sides)]

    def cell(side: str, metric: str) -> str:
        value = (decision.evidence.get(side) or {}).get(metric)
        return "-" if value is None else f"{value:.4f}"

    rows = [f"| {m} | {cell(CHALLENGER, m)} | {cell(CHAMPION, m)} |" for m in metrics]
    table = ["| metric | challenger | champion |", "|---|---|---|", *rows]
    return "\n".join([f"{verdict}: {decision.reason}.", "", *table])


@dataclass(frozen=True)
class Promotion:
    challenger_version: str
    decision: Decision
    champion_version: str | None  # after the decision; None when no version has passed the gate yet
    champion_provisional: bool = False  # the champion (this decision's or an earlier one) is provisional


def promote(warehouse: Warehouse, tracking_uri: str, version: str, run_id: str) -> Promotion:
    """Decide on the challenger (registered `version`, logged in `run_id`) and move the champion
    alias if it passed. The current champion is scored on the challenger's backtest windows, read
    from the warehouse."""
    try:
        incumbent = load_combination(tracking_uri, CHAMPION)
    except ModelUnloadable:  # a champion nothing can run any more is no bar to clear
        incumbent = None
    champion_metrics = None
    if incumbent is not None and str(incumbent[1]) != version:
        features, windows, components = evaluation_rows(warehouse, incumbent[0].forecaster, version)
        champion_metrics = evaluate_on_backtest(incumbent[0], features, windows, components)
    decision = decide_promotion(run_metrics(tracking_uri, run_id), champion_metrics)
    record_promotion(tracking_uri, version, gate_markdown(decision), decision.promote, decision.provisional)
    if decision.promote:
        set_champion(tracking_uri, version)
    champion = alias_version(tracking_uri, CHAMPION)
    if champion is None:
        return Promotion(version, decision, None)
    return Promotion(version, decision, champion[0], is_provisional(tracking_uri, champion[0]))
