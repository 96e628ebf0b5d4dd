"""Where monitoring results go: scores into `monitoring.drift_scores` (their history can be queried
and plotted), reports under $SHELFCAST_HOME/reports and into the champion's MLflow run, next to the
model they concern."""

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import polars as pl

from platform_assets.modeling.names import CHAMPION
from platform_assets.modeling.registry import alias_version, log_report
from platform_assets.storage.warehouse import Warehouse


class Champion(NamedTuple):
    """The champion's version, the newest period it was trained on and its MLflow run (all None without
    one). Looked up once per step: each MLflow registry call builds a client (~0.7 s on SQLite)."""

    version: str | None
    trained_until: object
    run_id: str | None


def champion_of(warehouse: Warehouse, tracking_uri: str) -> Champion:
    """The champion the monitoring concerns; its training end is the newest period of its backtest."""
    champion = alias_version(tracking_uri, CHAMPION)
    if champion is None:
        return Champion(None, None, None)
    if not warehouse.table_exists("ml", "backtest_predictions"):
        return Champion(None, None, champion[1])  # reports still go to its run
    trained_until = warehouse.query(
        "select max(period_date) from ml.backtest_predictions where model_version = ?", [champion[0]]
    ).item()
    return Champion(champion[0], trained_until, champion[1])


def persist_scores(
    warehouse: Warehouse, scores: pl.DataFrame, scope: str, evaluation_id: str, extra: dict
) -> None:
    """One row per monitored column per evaluation in `monitoring.drift_scores`; re-runs replace."""
    stamped = scores.with_columns(
        pl.lit(scope).alias("scope"),
        pl.lit(evaluation_id).alias("evaluation_id"),
        pl.lit(datetime.now(UTC).replace(tzinfo=None), pl.Datetime("us")).alias("evaluated_at"),
        *(pl.lit(v).alias(k) for k, v in extra.items()),
    )
    warehouse.replace_slice(
        "monitoring", "drift_scores", stamped, {"evaluation_id": evaluation_id, "scope": scope}
    )


@dataclass(frozen=True)
class Report:
    folder: Path
    files: dict[str, bytes]
    artifact_uri: str | None  # runs:/<run>/<path> of the copy in MLflow; None without a champion run


def publish_report(
    reports_dir: Path,
    tracking_uri: str,
    kind: str,
    evaluation_id: str,
    files: dict[str, bytes],
    champion: Champion,
) -> Report:
    """Write a report under <reports_dir>/<kind>/<evaluation>/ and log it to the champion's MLflow
    run, where a reader of the model finds it."""
    folder = reports_dir / kind / evaluation_id
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    if champion.run_id is None:
        return Report(folder, files, None)
    artifact_path = f"monitoring/{kind}/{evaluation_id}"
    log_report(tracking_uri, champion.run_id, files, artifact_path)
    return Report(folder, files, f"runs:/{champion.run_id}/{artifact_path}")
