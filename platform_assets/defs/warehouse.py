"""Warehouse layer: the dbt project as Dagster assets, its tests as asset checks."""

import json
import sys
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.config.settings import Settings
from platform_assets.core.periods import period_grid
from platform_assets.defs.orchestration import RANGE_END_TAG, RANGE_START_TAG, full_refresh
from platform_assets.defs.retries import SERVER_RETRY
from platform_assets.storage.dbt_project import (
    dbt_project,
    invocation_target,
    prune_invocation_targets,
    reuse_run_parse,
)
from platform_assets.storage.warehouse import WAREHOUSE_POOL, Warehouse

# dbt models that read what the ML layer writes (tagged in their yml): built in a second dbt step, after
# `forecasts`.
READS_FORECASTS = "reads_forecasts"
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")
# Models that follow their parents by declarative automation (the sensor below evaluates them).
EAGER = ("forecasts_latest",)


class ShelfcastDbtTranslator(DagsterDbtTranslator):
    """dbt models join the `warehouse` group; serving models sit with the forecasts in `ml`, accuracy
    with the other monitoring assets."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        # Models are keyed by name alone (`fct_product_sales`), the way users refer to them.
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return dg.AssetKey(dbt_resource_props["name"])

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        # Whenever `forecasts` writes a generation outside a job that also builds this view (a click
        # on `forecasts` in the UI), the view is built and its tests run on the new rows.
        return dg.AutomationCondition.eager() if dbt_resource_props["name"] in EAGER else None

    def get_asset_check_spec(
        self, asset_spec: dg.AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> dg.AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return dg.AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=test_description(manifest["nodes"][unique_id]),
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            automation_condition=spec.automation_condition,
            partitions_def=spec.partitions_def,
        )

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str:
        if dbt_resource_props["fqn"][1:2] == ["monitoring"]:  # models/monitoring/
            return "monitoring"
        return "ml" if READS_FORECASTS in dbt_resource_props.get("tags", []) else "warehouse"


def test_description(test: Mapping[str, Any]) -> str:
    """What a dbt test checks, in words, for a test the yml gives no description (the UI would say
    "No description provided")."""
    meta = test.get("test_metadata") or {}
    arguments = {
        k: v
        for k, v in (meta.get("kwargs") or {}).items()
        if k not in ("model", "column_name") and v is not None
    }
    column = f" of `{test['column_name']}`" if test.get("column_name") else ""
    detail = f" ({', '.join(f'{k}: {v}' for k, v in sorted(arguments.items()))})" if arguments else ""
    severity = str(test.get("config", {}).get("severity", "error")).lower()
    return f"dbt test `{meta.get('name', test['name'])}`{column}{detail}; fails with {severity}"


def refresh_window(run: dg.DagsterRun) -> tuple[str, str] | None:
    """The first and last monthly ingest partitions a run re-ingested, or None when the run rebuilds
    everything (job `full_refresh`, or a run without partitions)."""
    if run.job_name == full_refresh.name:
        return None
    tags = run.tags
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        first, last = tags[RANGE_START_TAG], tags[RANGE_END_TAG]
    elif "dagster/partition" in tags:
        first = last = tags["dagster/partition"]
    else:
        return None
    return date.fromisoformat(first).isoformat(), date.fromisoformat(last).isoformat()


def grid_vars(freq: str) -> dict[str, str | int]:
    """A frequency as the vars of dbt_project/macros/periods.sql: the base, the weekday weeks are labelled
    by, and whether labels are the periods' first or last days."""
    grid = period_grid(freq)
    return {
        "freq": grid.base,
        "week_anchor": grid.anchor,
        "period_label": "end" if grid.label_end else "start",
    }


def dbt_vars(config: ShelfcastConfig, window: tuple[str, str] | None = None) -> str:
    """The period grid, horizon and plausibility bounds dbt needs, resolved from configuration or the
    feed itself, and the months the incremental models rebuild (`window`; absent: all of them)."""
    values = {
        **grid_vars(config.resolved_freq()),
        "target": config.forecasting.target,
        "horizon": config.forecasting.horizon,
        "active_window_periods": config.forecasting.active_window,
        "outlier_quantile": config.ingest.outlier_quantile,
        "outlier_factor": config.ingest.outlier_factor,
        "max_plausible_value": config.ingest.max_plausible_value,
    }
    if window is not None:
        values["refresh_from"], values["refresh_until"] = window
    return json.dumps(values)


def dbt_build_args(context: dg.AssetExecutionContext, config: ShelfcastConfig) -> list[str]:
    """`dbt build` for this run: incremental over the run's partitions, or `--full-refresh` (incremental
    models rebuilt from scratch) when the run is not partitioned or is `full_refresh`."""
    window = refresh_window(context.run)
    full = [] if window is not None else ["--full-refresh"]
    return ["build", *full, "--vars", dbt_vars(config, window)]


_translator = ShelfcastDbtTranslator()


def _dbt_step(name: str, doc: str, **selection: str) -> dg.AssetsDefinition:
    """One `dbt build` step over the models `selection` picks (dbt's `select` / `exclude`).

    `warehouse` is required, not called: setting it up exports the connection variables dbt's profile
    reads. A later step of a run reuses the parse of an earlier one. Old invocations' target folders are
    pruned after each step, so the project stays bounded."""

    def step(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, config: ShelfcastConfig, warehouse: Warehouse
    ) -> Iterator:
        targets = dbt_project.project_dir / dbt_project.target_path
        target = invocation_target(targets, name, context.run.run_id)
        reuse_run_parse(target)
        invocation = dbt.cli(dbt_build_args(context, config), context=context, target_path=target)
        try:
            yield from invocation.stream()
        finally:
            prune_invocation_targets(targets)

    step.__doc__ = doc  # the op's description in the UI
    return dbt_assets(
        manifest=dbt_project.manifest_path,
        project=dbt_project,
        dagster_dbt_translator=_translator,
        pool=WAREHOUSE_POOL,
        retry_policy=SERVER_RETRY,
        name=name,
        **selection,
    )(step)


warehouse_models = _dbt_step(
    "warehouse_models",
    "staging -> intermediate -> marts, built and tested in one `dbt build`.",
    exclude=f"tag:{READS_FORECASTS}",
)
serving_models = _dbt_step(
    "serving_models",
    "Models over the forecasts table: the newest generation users query, and past forecasts scored "
    "against the actuals that arrived since.",
    select=f"tag:{READS_FORECASTS}",
)


def build_warehouse_defs(settings: Settings) -> dg.Definitions:
    # The dbt next to this interpreter (`dagster dev` started from any shell finds the same one), on
    # the profile target named like the warehouse.
    dbt = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE, target=settings.warehouse)
    # Running from the start (Dagster's default automation sensor starts stopped): under `dagster dev`
    # or a deployed daemon, forecasts_latest never lags behind forecasts.
    automation = dg.AutomationConditionSensorDefinition(
        "forecasts_latest_automation",
        target=dg.AssetSelection.assets(*EAGER),
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Builds and tests forecasts_latest whenever forecasts writes a generation outside a job "
        "that builds it too",
    )
    return dg.Definitions(
        assets=[warehouse_models, serving_models], resources={"dbt": dbt}, sensors=[automation]
    )
