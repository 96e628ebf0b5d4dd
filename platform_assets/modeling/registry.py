"""MLflow: log a training run, register it as `challenger`, load versions by alias, move `champion`.

Runs are found by their tags (e.g. Dagster run id + asset key), never passed around: a retried step
finds its finished run and reuses it instead of leaving an orphan run and an extra model version.
MLflow's URIs are process-global, so each public function points MLflow at the URI it is given.
"""

import math
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version as installed
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import polars as pl
import polars.selectors as cs
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature

from platform_assets.core.keys import KEYS
from platform_assets.modeling.combination import Combination, split_input
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.names import CHALLENGER, CHAMPION, EXPERIMENT, MODEL_NAME
from platform_assets.modeling.training import TrainingResult
from platform_assets.modeling.tuning import SearchResult

PLOTTED_SERIES = 4
# Tells the MLflow UI this experiment trains models (its classic runs / metrics / models view), not a
# GenAI application (traces and evaluations), which it would otherwise guess from an empty experiment.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}
# What a registered model carries of this package (MLflow's `code_paths`): the classes it pickles and
# what they import, so it loads where shelfcast is not installed. Nothing here imports Dagster.
MODEL_CODE = ("core", "features", "modeling")
PACKAGE = Path(__file__).resolve().parent.parent
GATE_HEADING = "## Promotion gate"


class ForecasterModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of the combination: rows (pandas) in, p10/p50/p90 per forecast row out. Rows
    flagged `is_future` are forecast (with their features); the others are the actuals (keys,
    period_date, y) the statistical models are refitted on. The model carries the part of shelfcast
    its classes live in (MODEL_CODE), so it loads without shelfcast installed."""

    def __init__(self, combination: Combination):
        self.combination = combination
        self.forecaster = combination.forecaster  # the LightGBM component, for whoever needs it alone

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        rows = pl.from_pandas(model_input).with_columns(pl.col("period_date").cast(pl.Date))
        future, actuals = split_input(rows)
        return self.combination.predict(future, actuals).to_pandas()


def _client(tracking_uri: str) -> MlflowClient:
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


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


def _importance_figure(importance: pl.DataFrame, top: int = 20) -> Figure:
    head = importance.head(top).reverse()
    fig = Figure(figsize=(7, 0.3 * head.height + 1.2))
    ax = fig.subplots()
    ax.barh(head["feature"].to_list(), head["gain"].to_list())
    ax.set_xlabel("total gain")
    ax.set_title("Feature importance (final model)")
    fig.tight_layout()
    return fig


def _backtest_figure(backtest: pl.DataFrame) -> Figure:
    """Actuals against p50 and the p10-p90 band for the highest-volume series, every origin."""
    top = backtest.group_by(KEYS).agg(pl.col("y").sum()).sort(["y", *KEYS], descending=[True, False, False])
    fig = Figure(figsize=(9, 2.4 * min(PLOTTED_SERIES, max(top.height, 1))))
    axes = np.atleast_1d(fig.subplots(max(min(PLOTTED_SERIES, top.height), 1), 1))
    for ax, (product, store) in zip(axes, top.select(KEYS).head(PLOTTED_SERIES).iter_rows(), strict=False):
        one = backtest.filter((pl.col("product_id") == product) & (pl.col("store_id") == store)).sort(
            "period_date"
        )
        for (_,), part in one.group_by("origin", maintain_order=True):
            dates = part["period_date"].to_list()
            ax.fill_between(dates, part["p10"].to_list(), part["p90"].to_list(), color="tab:blue", alpha=0.2)
            ax.plot(dates, part["p50"].to_list(), color="tab:blue")
        ax.plot(one["period_date"].to_list(), one["y"].to_list(), "k.", markersize=3)
        ax.set_title(f"{product} @ {store}: actual (dots), p50 and p10-p90 per backtest origin", fontsize=9)
    fig.tight_layout()
    return fig


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


@contextmanager
def _model_code() -> Iterator[str]:
    """A copy of the package holding only MODEL_CODE (no caches), for MLflow's `code_paths`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / PACKAGE.name
        root.mkdir()
        shutil.copy(PACKAGE / "__init__.py", root / "__init__.py")
        for sub in MODEL_CODE:
            shutil.copytree(PACKAGE / sub, root / sub, ignore=shutil.ignore_patterns("__pycache__"))
        yield str(root)


def _log_model(result: TrainingResult) -> int:
    """Log the pyfunc model with its signature and code under the active run; the version it registered."""
    example_pd = signature = None
    wrapped = ForecasterModel(result.combination or Combination(result.model))
    if result.example is not None:
        # Numeric inputs declared double: an integer column could not carry a missing value at inference.
        example_pd = result.example.with_columns(cs.numeric().cast(pl.Float64)).to_pandas()
        signature = infer_signature(example_pd, wrapped.predict(None, example_pd))
    with _model_code() as code:
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapped,
            input_example=example_pd,
            signature=signature,
            registered_model_name=MODEL_NAME,
            code_paths=[code],
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                f"lightgbm=={installed('lightgbm')}",
                f"statsforecast=={installed('statsforecast')}",
                f"polars=={pl.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )
    return int(info.registered_model_version)


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
    client = _client(tracking_uri)
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
    table: str = "features.training_features",
) -> None:
    """Log params, metrics, the training dataset, plots and the pyfunc model to the active `run`;
    register a version described by `description` and alias it `challenger`. A reused run is left."""
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
    mlflow.log_figure(_importance_figure(result.importance), "plots/feature_importance.png")
    mlflow.log_figure(_backtest_figure(result.backtest), "plots/forecast_vs_actual.png")
    run.version = _log_model(result)
    client = MlflowClient()
    client.update_model_version(MODEL_NAME, str(run.version), description=description)
    for key, value in client.get_run(run.run_id).data.tags.items():
        if key.startswith("dagster"):  # the way back to the Dagster run, on the version too
            client.set_model_version_tag(MODEL_NAME, str(run.version), key, value)
    client.set_registered_model_alias(MODEL_NAME, CHALLENGER, str(run.version))


def record_promotion(tracking_uri: str, version: str, gate: str, promoted: bool) -> None:
    """The gate's decision and evidence in the version's description (replacing an earlier gate's
    section: the gate may run again on the same challenger) and as a tag to filter by."""
    client = _client(tracking_uri)
    current = client.get_model_version(MODEL_NAME, version).description or ""
    kept = current.split(GATE_HEADING)[0].rstrip()
    text = f"{kept}\n\n{GATE_HEADING}\n\n{gate}" if kept else f"{GATE_HEADING}\n\n{gate}"
    client.update_model_version(MODEL_NAME, version, description=text)
    client.set_model_version_tag(MODEL_NAME, version, "shelfcast.promoted", str(promoted).lower())


class ModelUnloadable(RuntimeError):
    """A registered version whose pickled classes this code no longer has (saved before a module moved)."""


def load_combination(tracking_uri: str, alias: str) -> tuple[Combination, int, str] | None:
    """(Combination, version, run_id) behind `alias`, or None when the alias is not set. A version
    registered before the statistical models forecasts as LightGBM alone."""
    client = _client(tracking_uri)
    try:
        version = client.get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None
    try:
        pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}/{version.version}")
    except (ModuleNotFoundError, AttributeError) as exc:
        raise ModelUnloadable(
            f"{MODEL_NAME} v{version.version} ({alias}) was saved by a shelfcast this code cannot load "
            f"({exc}); run the `retrain` job to register a model of this version"
        ) from exc
    wrapped = pyfunc.unwrap_python_model()
    combination = getattr(wrapped, "combination", None) or Combination(wrapped.forecaster)
    return combination, int(version.version), version.run_id


def load_forecaster(tracking_uri: str, alias: str) -> tuple[Forecaster, int, str] | None:
    """(the LightGBM component, version, run_id) behind `alias`, or None when the alias is not set."""
    loaded = load_combination(tracking_uri, alias)
    return None if loaded is None else (loaded[0].forecaster, *loaded[1:])


def run_metrics(tracking_uri: str, run_id: str) -> dict[str, float]:
    return dict(_client(tracking_uri).get_run(run_id).data.metrics)


def set_champion(tracking_uri: str, version: int | str) -> None:
    _client(tracking_uri).set_registered_model_alias(MODEL_NAME, CHAMPION, str(version))


def alias_version(tracking_uri: str, alias: str) -> tuple[str, str] | None:
    """(version, run_id) behind `alias` without loading the model, or None when it is not set."""
    try:
        version = _client(tracking_uri).get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None
    return str(version.version), version.run_id


def log_report(tracking_uri: str, run_id: str, files: dict[str, bytes], artifact_path: str) -> None:
    """Attach monitoring reports to the run of the model they concern (the run may be finished)."""
    client = _client(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / name
            path.write_bytes(content)
            client.log_artifact(run_id, str(path), artifact_path)
