"""Addresses people click: pages of the MLflow UI for a run, a model version and a run's artifact.

The UI's address is a setting (`SHELFCAST_MLFLOW_UI_URL`); the run's experiment is looked up, since the
UI's artifact pages are addressed by it."""

from urllib.parse import quote

from mlflow import MlflowClient

from platform_assets.modeling.names import MODEL_NAME


def experiment_of(tracking_uri: str, run_id: str) -> str:
    return MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.experiment_id


def run_url(ui_url: str, experiment_id: str, run_id: str) -> str:
    return f"{ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def artifact_url(ui_url: str, experiment_id: str, run_id: str, path: str) -> str:
    """The MLflow UI's artifact view of `path` (it renders HTML and PNG files in place)."""
    return f"{run_url(ui_url, experiment_id, run_id)}/artifactPath/{quote(path)}"


def model_version_url(ui_url: str, version: int | str) -> str:
    return f"{ui_url.rstrip('/')}/#/models/{quote(MODEL_NAME)}/versions/{version}"
