"""The MLflow model registry: load a version by alias, move `champion`, read a run's metrics, write the
promotion gate's decision on a version, attach reports to a run. A training run's logging and
registration: tracking.py; the registered model itself: pyfunc.py, packaging.py.

MLflow's URIs are process-global, so each public function points MLflow at the URI it is given.
"""

import tempfile
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from platform_assets.modeling.combination import Combination
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.names import CHAMPION, MODEL_NAME

GATE_HEADING = "## Promotion gate"


def client_for(tracking_uri: str) -> MlflowClient:
    """A client of `tracking_uri`, with MLflow's process-wide URIs pointed at it too."""
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


PROVISIONAL_TAG = "shelfcast.provisional"


def record_promotion(
    tracking_uri: str, version: str, gate: str, promoted: bool, provisional: bool = False
) -> None:
    """The gate's decision and evidence in the version's description (replacing an earlier gate's
    section: the gate may run again on the same challenger) and as tags to filter by."""
    client = client_for(tracking_uri)
    current = client.get_model_version(MODEL_NAME, version).description or ""
    kept = current.split(GATE_HEADING)[0].rstrip()
    text = f"{kept}\n\n{GATE_HEADING}\n\n{gate}" if kept else f"{GATE_HEADING}\n\n{gate}"
    client.update_model_version(MODEL_NAME, version, description=text)
    client.set_model_version_tag(MODEL_NAME, version, "shelfcast.promoted", str(promoted).lower())
    client.set_model_version_tag(MODEL_NAME, version, PROVISIONAL_TAG, str(provisional).lower())


def is_provisional(tracking_uri: str, version: str) -> bool:
    """Whether `version` was promoted provisionally (a first model short of seasonal naive)."""
    tags = client_for(tracking_uri).get_model_version(MODEL_NAME, version).tags
    return tags.get(PROVISIONAL_TAG) == "true"


class ModelUnloadable(RuntimeError):
    """A registered version whose pickled classes this code no longer has (saved before a module moved)."""


def load_combination(tracking_uri: str, alias: str) -> tuple[Combination, int, str] | None:
    """(Combination, version, run_id) behind `alias`, or None when the alias is not set. A version
    registered before the statistical models forecasts as LightGBM alone."""
    client = client_for(tracking_uri)
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
    return dict(client_for(tracking_uri).get_run(run_id).data.metrics)


def set_champion(tracking_uri: str, version: int | str) -> None:
    client_for(tracking_uri).set_registered_model_alias(MODEL_NAME, CHAMPION, str(version))


def alias_version(tracking_uri: str, alias: str) -> tuple[str, str] | None:
    """(version, run_id) behind `alias` without loading the model, or None when it is not set."""
    try:
        version = client_for(tracking_uri).get_model_version_by_alias(MODEL_NAME, alias)
    except MlflowException:
        return None
    return str(version.version), version.run_id


def log_report(tracking_uri: str, run_id: str, files: dict[str, bytes], artifact_path: str) -> None:
    """Attach monitoring reports to the run of the model they concern (the run may be finished)."""
    client = client_for(tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in files.items():
            path = Path(tmp) / name
            path.write_bytes(content)
            client.log_artifact(run_id, str(path), artifact_path)
