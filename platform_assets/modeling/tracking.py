"""MLflow tracking of a training: the run the whole training happens in, and what it logs (params,
metrics, the training dataset, plots, the tuning trials, the packaged model registered as
`challenger`).

Runs are found by their tags (e.g. Dagster run id + asset key), never passed around: a retried step
finds its finished run and reuses it instead of leaving an orphan run and an extra model version.
"""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import mlflow
import polars as pl
from mlflow import MlflowClient

from platform_assets.modeling.combination import Combination
from platform_assets.modeling.names import CHALLENGER, EXPERIMENT, MODEL_NAME
from platform_assets.modeling.packaging import log_model
from platform_assets.modeling.registry import client_for
from platform_assets.modeling.run_plots import backtest_figure, importance_figure
from platform_assets.modeling.series_state import SeriesState
from platform_assets.modeling.training import TrainingResult
from platform_assets.modeling.tuning import SearchResult

# Tells the MLflow UI this experiment trains models (its classic runs / metrics / models view), not a
# GenAI application (traces and evaluations), which it would otherwise guess from an empty experiment.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def _experiment_id(client: MlflowClient, artifact_location: str | None) -> str:
    found = client.get_experiment_by_name(EXPERIMENT)
    if found is None:
        return client.create_experiment(EXPERIMENT, artifact_location=artifact_location, tags=EXPERIMENT_KIND)
    for key, value in EXPERIMENT_KIND.items():  # an experiment made before the tag existed
        if found.tags.get(key) != value:
            client.set_experiment_tag(found.experiment_id, key, value)
    return found.experiment_id


def _runs_with_tags(client: MlflowClient, experiment_id: str, tags: dict[str, str], status: str) -> list[str]:
    if not tags:
        return []
    clauses = [f"tags.`{k}` = '{v}'" for k, v in sorted(tags.items())] + [f"attributes.status = '{status}'"]
    runs = client.search_runs([experiment_id], " and ".join(clauses), order_by=["start_time DESC"])
    return [r.info.run_id for r in runs]


def _finite(metrics: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}


def _log_search(found: SearchResult) -> None:
    """The search space and every trial under the active (training) run: one nested run per trial,
    the winner tagged, so the MLflow UI's parent/child view shows how the parameters were chosen."""
    mlflow.log_dict(
        {
            "space": found.space,
            "tuning_origin": found.tuning_origin,
            "series": found.n_series,
            "fit_rows": found.n_fit_rows,
            "best": {"trial": found.best.number, "wape": found.best.wape, "params": found.best.params},
        },
        "tuning/search.json",
    )
    mlflow.log_metric("tuning_best_wape", found.best.wape)
    mlflow.log_metric("tuning_defaults_wape", found.trials[0].wape)
    experiment_id = mlflow.active_run().info.experiment_id  # else the children land in the default one
    for trial in found.trials:
        with mlflow.start_run(run_name=f"trial-{trial.number:02d}", nested=True, experiment_id=experiment_id):
            mlflow.log_params({k: str(v) for k, v in trial.params.items()})
            mlflow.log_metrics({"tuning_wape": trial.wape, "fit_seconds": trial.seconds})
            mlflow.set_tags(
                {"shelfcast.trial": str(trial.number), "shelfcast.winner": str(trial is found.best).lower()}
            )


def _finished_version(
    client: MlflowClient, experiment_id: str, tags: dict[str, str]
) -> tuple[str, int] | None:
    """(run id, version) of a FINISHED run with these tags that registered a version, else None."""
    for existing in _runs_with_tags(client, experiment_id, tags, "FINISHED"):
        versions = client.search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{existing}'")
        if versions:
            return existing, max(int(v.version) for v in versions)
    return None


@dataclass
class TrainingRun:
    """The MLflow run a training is logged to. `version`: the registered version, once logged, or at
    once when a finished run of the same step is reused (`reused`: nothing is logged again)."""

    run_id: str
    version: int | None = None
    reused: bool = False


@contextmanager
def training_run(
    tracking_uri: str,
    *,
    tags: dict[str, str],
    run_name: str,
    description: str = "",
    links: dict[str, str] | None = None,
    artifact_location: str | None = None,
) -> Iterator[TrainingRun]:
    """The run the whole training happens in, so its duration is the training's.

    A FINISHED run with the same tags that registered a version is reused (find-or-reuse: a retried
    step leaves no orphan run or extra version); a RUNNING one can only be a killed earlier attempt of
    the same step, so it is marked FAILED. A failure inside marks the new run FAILED. `links`: tags
    that point elsewhere (the Dagster run's page), set on the run and its version but not searched by.
    """
    client = client_for(tracking_uri)
    experiment_id = _experiment_id(client, artifact_location)
    found = _finished_version(client, experiment_id, tags)
    if found is not None:
        client.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(found[1]))
        yield TrainingRun(found[0], found[1], reused=True)
        return
    for stale in _runs_with_tags(client, experiment_id, tags, "RUNNING"):  # a killed attempt of this step
        client.set_terminated(stale, "FAILED")
    with mlflow.start_run(
        experiment_id=experiment_id,
        run_name=run_name,
        tags={**tags, **(links or {})},
        description=description or None,
    ) as run:
        yield TrainingRun(run.info.run_id)


def _dataset(features: pl.DataFrame, digest: str, table: str):
    """The training rows as an MLflow dataset: schema, row count and our content digest (the one the
    feature build logs), its source the warehouse table."""
    from mlflow.data.code_dataset_source import CodeDatasetSource

    source = CodeDatasetSource({"warehouse_table": table})
    return mlflow.data.from_polars(features, source=source, targets="y", name=table, digest=digest)


def training_description(metrics: dict[str, float], rows: int, digest: str, dagster_run: str) -> str:
    """What the registered version's description says until the gate adds its decision."""
    backtest = ", ".join(
        f"{label} {metrics[key]:.4f}"
        for label, key in (("WAPE", "wape"), ("seasonal naive WAPE", "seasonal_naive_wape"))
        if key in metrics
    )
    return (
        f"Trained by Dagster run {dagster_run} on {rows} feature rows (digest `{digest}`). "
        f"Rolling-origin backtest: {backtest}. The promotion gate (`champion_model`) adds its decision."
    )


def log_training(
    run: TrainingRun,
    result: TrainingResult,
    *,
    features: pl.DataFrame,
    data_digest: str,
    n_rows: int,
    description: str,
    state: SeriesState,
    table: str = "features.training_features",
) -> None:
    """Log params, metrics, the training dataset, plots and the pyfunc model with the series' `state`
    to the active `run`; register a version described by `description` and alias it `challenger`. A
    reused run is left."""
    if run.reused:
        return
    mlflow.log_params({k: str(v) for k, v in result.params.items()})
    mlflow.log_params(
        {"feature_set_digest": data_digest, "feature_set_rows": n_rows, "training_rows": result.n_train_rows}
    )
    mlflow.log_input(_dataset(features, data_digest.split("+")[-1], table), context="training")
    mlflow.log_metrics(_finite(result.metrics))
    if result.combination is not None:
        mlflow.log_dict({"choices": result.combination.choices}, "combination/choices.json")
    if result.search is not None:
        _log_search(result.search)
    mlflow.log_figure(importance_figure(result.importance), "plots/feature_importance.png")
    mlflow.log_figure(backtest_figure(result.backtest), "plots/forecast_vs_actual.png")
    run.version = log_model(result.combination or Combination(result.model), state)
    client = MlflowClient()
    client.update_model_version(MODEL_NAME, str(run.version), description=description)
    for key, value in client.get_run(run.run_id).data.tags.items():
        if key.startswith("dagster"):  # the way back to the Dagster run, on the version too
            client.set_model_version_tag(MODEL_NAME, str(run.version), key, value)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(run.version))
