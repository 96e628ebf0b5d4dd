"""What state a shelfcast home is in, for `shelfcast status`: the champion in the registry, the
forecasts being served (the current serving bundle, as the API serves them), the failing checks as
the Dagster instance last recorded them, and where the newest reports are."""

import json
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from platform_assets.monitoring.quality_tables import coverage_text
from platform_assets.serving.bundle import MANIFEST, current_generation

# Check evaluations read back from the instance: far more than a graph has checks, few enough to be quick.
_CHECK_EVENTS = 5000


@dataclass(frozen=True)
class FailingCheck:
    asset: str
    check: str
    severity: str
    description: str


def bundle_manifest(serving_root: Path) -> dict | None:
    """The manifest of the bundle `current` names (what the API serves), None without one."""
    generation = current_generation(serving_root)
    if generation is None:
        return None
    return json.loads((serving_root / generation / MANIFEST).read_text())


def open_instance(dagster_home: Path) -> dg.DagsterInstance | None:
    """The instance of $DAGSTER_HOME, else the one under `dagster_home`; None if there is neither."""
    from dagster._core.errors import DagsterHomeNotSetError

    try:
        return dg.DagsterInstance.get()
    except DagsterHomeNotSetError:
        pass
    if not (dagster_home / "dagster.yaml").exists():
        return None
    return dg.DagsterInstance.from_config(str(dagster_home))


def failing_checks(instance: dg.DagsterInstance) -> list[FailingCheck]:
    """Checks whose newest evaluation failed, by asset and check name."""
    from dagster._core.events import DagsterEventType

    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION), limit=_CHECK_EVENTS
    )
    newest: dict[tuple[str, str], object] = {}
    for record in records:  # newest first
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        newest.setdefault((evaluation.asset_key.to_user_string(), evaluation.check_name), evaluation)
    return [
        FailingCheck(asset, check, e.severity.value, e.description or "")
        for (asset, check), e in sorted(newest.items())
        if not e.passed
    ]


def newest_reports(reports_dir: Path) -> dict[str, Path]:
    """Per report kind (forecasts, model, drift, accuracy), the newest folder's files, by name."""
    found: dict[str, Path] = {}
    if not reports_dir.is_dir():
        return found
    for kind in sorted(p for p in reports_dir.iterdir() if p.is_dir()):
        folders = [p for p in kind.iterdir() if p.is_dir()]
        if not folders:
            continue
        newest = max(folders, key=lambda p: (p.stat().st_mtime, p.name))
        for file in sorted(newest.iterdir()):
            found[f"{kind.name}/{file.name}"] = file
    return found


def status_lines(
    manifest: dict | None, champion: tuple[str, str] | None, failing: list[FailingCheck] | None
) -> list[str]:
    """A few lines for a person: champion, served generation, failing checks, and what to do next."""
    lines = []
    if champion is None:
        lines.append("champion: none registered yet (materialize trained_model and champion_model)")
    else:
        lines.append(f"champion: v{champion[0]} (MLflow run {champion[1]})")
    if manifest is None:
        lines.append("serving: no bundle yet (materialize serving_bundle; `make demo` does)")
    else:
        served = manifest["champion"]
        metrics = served.get("metrics", {})
        metric = {k: metrics.get(k, float("nan")) for k in ("wape", "mase")}
        dates = manifest["features"]["target_dates"]
        lines += [
            f"newest generation: {manifest['forecast_generation_id']}"
            f" made {manifest['forecasts_generated_at']} by v{served['version']}:"
            f" {manifest['series']['forecast']} series, {dates[0]} .. {dates[-1]}",
            f"  backtest WAPE {metric['wape']:.3f}, MASE {metric['mase']:.3f}, interval coverage "
            f"{coverage_text(metrics)}; serving bundle {manifest['generation']}",
        ]
        if champion is not None and champion[0] != str(served["version"]):
            lines.append(
                f"  the champion is v{champion[0]}: materialize forecasts and serving_bundle to serve it"
            )
    if failing is None:
        lines.append("checks: no Dagster instance found (set DAGSTER_HOME)")
    elif not failing:
        lines.append("checks: none failing")
    else:
        lines.append(f"checks: {len(failing)} failing")
        lines += [f"  {f.asset} / {f.check} ({f.severity}): {f.description}" for f in failing]
    return lines
