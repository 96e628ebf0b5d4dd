"""Metadata the Dagster UI shows for a presentation (monitoring/presentation.py): its markdown tables and
pictures, links to the MLflow run, model version and published reports, and the reports' local paths.

MLflow is imported inside the function: loading the code location stays fast."""

from typing import TYPE_CHECKING

import dagster as dg

from platform_assets.config.resources import MLflowResource, ShelfcastConfig

if TYPE_CHECKING:  # presentation.py imports matplotlib
    from platform_assets.monitoring.presentation import Presentation


def publish_presentation(
    config: ShelfcastConfig,
    mlflow: MLflowResource,
    kind: str,
    evaluation_id: str,
    shown: "Presentation",
    version: int | str,
    run_id: str,
) -> dict[str, dg.MetadataValue]:
    """Write the presentation's files under $SHELFCAST_HOME/reports/<kind>/<evaluation_id>, log them to
    the model's run, and return the metadata: the markdown first, then the links."""
    from platform_assets.monitoring.links import artifact_url, experiment_of, model_version_url, run_url
    from platform_assets.monitoring.publish import Champion, publish_report

    report = publish_report(
        config.reports_dir,
        mlflow.tracking_uri,
        kind,
        evaluation_id,
        shown.files,
        Champion(str(version), None, run_id),
    )
    ui = config.monitoring.mlflow_ui_url
    experiment = experiment_of(mlflow.tracking_uri, run_id)
    meta: dict[str, dg.MetadataValue] = {k: dg.MetadataValue.md(v) for k, v in shown.markdown.items()}
    meta |= {k: dg.MetadataValue.text(v) for k, v in shown.text.items()}
    meta["mlflow_run"] = dg.MetadataValue.url(run_url(ui, experiment, run_id))
    meta["model_version_page"] = dg.MetadataValue.url(model_version_url(ui, version))
    artifacts = (report.artifact_uri or "").removeprefix(f"runs:/{run_id}/")
    for name in sorted(n for n in shown.files if n.endswith(".html")):
        stem = name.removesuffix(".html")
        meta[stem] = dg.MetadataValue.url(artifact_url(ui, experiment, run_id, f"{artifacts}/{name}"))
        meta[f"{stem}_file"] = dg.MetadataValue.path(str(report.folder / name))
    return meta
