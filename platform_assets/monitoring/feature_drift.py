"""Feature drift of the warehouse's training features: every model feature and the target, the newest
window against the champion's newest training window, read straight from the warehouse (only the two
windows' rows and the monitored columns)."""

from dataclasses import dataclass

import polars as pl

from platform_assets.features.config import FeatureConfig
from platform_assets.monitoring.drift import DriftConfig, dataset_drift, feature_drift
from platform_assets.monitoring.drift_report import drift_report_html, drift_summary_png
from platform_assets.monitoring.publish import Champion
from platform_assets.monitoring.windows import monitored_columns, split_windows, window_bounds
from platform_assets.storage.warehouse import Warehouse, ident

FEATURES = "features.training_features"
WINDOW_KEYS = ("reference_start", "reference_end", "current_start", "current_end")


@dataclass(frozen=True)
class FeatureDrift:
    """One evaluation: the windows compared, their rows, the per-column scores and the verdict."""

    bounds: dict
    reference: pl.DataFrame
    current: pl.DataFrame
    scores: pl.DataFrame
    summary: dict  # dataset_drift's counts and verdict
    drift_share: float
    champion_version: str | None

    @property
    def drifted(self) -> list[str]:
        """The drifted columns, strongest first."""
        return self.scores.filter(pl.col("drifted")).sort("score", descending=True)["feature"].to_list()

    @property
    def target_drift(self) -> bool:
        """The target is watched on its own too: a demand shift matters even when few features move."""
        return "y" in self.drifted

    @property
    def title(self) -> str:
        b = self.bounds
        return (
            f"Drift: {b['current_start']}..{b['current_end']} against "
            f"{b['reference_start']}..{b['reference_end']} (champion v{self.champion_version})"
        )


def _windows(warehouse: Warehouse, columns: list[str], bounds: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = warehouse.query(
        f"select period_date, {', '.join(ident(c) for c in columns)} from {FEATURES}"
        " where period_date between ? and ? or period_date between ? and ?"
        " order by product_id, store_id, period_date",
        [bounds[k] for k in WINDOW_KEYS],
    )
    return split_windows(rows, bounds)


def evaluate_feature_drift(
    warehouse: Warehouse, cfg: FeatureConfig, drift_window: int, drift_share: float, champion: Champion
) -> FeatureDrift:
    """Score every monitored column on the newest `drift_window` periods (at least two horizons)
    against as many periods ending at the champion's newest training period."""
    periods = warehouse.query(f"select distinct period_date from {FEATURES} where y is not null")[
        "period_date"
    ]
    bounds = window_bounds(periods, max(drift_window, 2 * cfg.horizon), champion.trained_until, cfg.season)
    columns = monitored_columns(warehouse.query(f"select * from {FEATURES} limit 0"), cfg)
    reference, current = _windows(warehouse, columns, bounds)
    drift_cfg = DriftConfig(drift_share=drift_share)
    scores = feature_drift(reference, current, columns, drift_cfg)
    summary = dataset_drift(scores, drift_cfg)
    return FeatureDrift(bounds, reference, current, scores, summary, drift_share, champion.version)


def drift_report_files(drift: FeatureDrift) -> dict[str, bytes]:
    """The drift report: the HTML page with every column's distributions, and the summary chart."""
    return {
        "drift_report.html": drift_report_html(
            drift.reference, drift.current, drift.scores, drift.title
        ).encode(),
        "drift_summary.png": drift_summary_png(drift.scores),
    }
