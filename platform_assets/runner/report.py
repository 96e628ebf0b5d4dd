"""What a finished run made, in a few lines for a person: the demo's summary and its peak memory."""

import resource
from pathlib import Path

import dagster as dg

from platform_assets.config.resources import MLflowResource
from platform_assets.modeling.names import CHALLENGER, CHAMPION, MODEL_NAME
from platform_assets.monitoring.quality_tables import coverage_text
from platform_assets.storage.warehouse import Warehouse


def summarize(warehouse: Warehouse, mlflow: MLflowResource) -> str:
    """What the run made: the newest forecasts, the champion and its backtest against the baselines."""
    from mlflow import MlflowClient

    latest = warehouse.query(
        """select count(*) as rows, count(distinct (product_id, store_id)) as series,
                  min(target_date) as first_day, max(target_date) as last_day,
                  max(model_version) as model_version,
                  count(*) filter (where not (p10 <= p50 and p50 <= p90)) as disordered
           from marts.forecasts_latest"""
    ).row(0, named=True)
    active, total = warehouse.query(
        "select count(*) filter (where is_active), count(*) from marts.dim_series"
    ).row(0)
    uri = mlflow.tracking_uri  # the registry too: MLflow's process-wide one may name another store
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    challenger = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
    metrics = client.get_run(champion.run_id).data.metrics
    cols = ("wape", "mase", "smape", "rmse")
    rows = [
        f"  {label:<16}" + "".join(f"{metrics.get(f'{prefix}{c}', float('nan')):>10.3f}" for c in cols)
        for label, prefix in (
            (CHAMPION, ""),
            ("naive", "naive_"),
            ("seasonal naive", "seasonal_naive_"),
            ("recent median", "recent_median_"),
        )
    ]
    return "\n".join(
        [
            f"forecasts_latest: {latest['rows']} rows for {latest['series']} series "
            f"({active_text(active, total)}), {latest['first_day']} .. {latest['last_day']}, "
            f"p10<=p50<=p90 violations: {latest['disordered']}",
            f"champion: {MODEL_NAME} v{champion.version} (run {champion.run_id}), "
            f"interval coverage {coverage_text(metrics)}",
            f"this run's challenger v{challenger.version}: {gate_verdict(challenger.description)}",
            "backtest            " + "".join(f"{c:>10}" for c in cols),
            *rows,
            "  (lower is better; sMAPE scores any forecast above 0 in a period without sales as 200 %, so on",
            "  intermittent series it favours forecasting zeros: judge by WAPE and MASE)",
        ]
    )


def active_text(active: int, total: int) -> str:
    """How many series get forecasts, of how many: series of another era (a product that stopped
    selling years before the data's end) get none, and the user should see that and why."""
    if active == total:
        return f"active series: {active}"
    return (
        f"active series: {active} of {total}; the other {total - active} have no actual in the last "
        "SHELFCAST_ACTIVE_WINDOW periods of the data: no forecast"
    )


def gate_verdict(description: str | None) -> str:
    """The promotion gate's verdict from a version's description (registry.record_promotion): a rerun
    that keeps the old champion says why, rather than silently showing the same champion."""
    from platform_assets.modeling.registry import GATE_HEADING  # mlflow and plotting: only when summarizing

    section = (description or "").partition(GATE_HEADING)[2].strip()
    return section.splitlines()[0].replace("**", "") if section else "no promotion decision recorded"


# Why a check may not pass on a first run, and whether that is expected, per feed (None: any other).
CHECK_NOTES = {
    ("actuals_freshness", "synthetic"): "expected for the demo: its history ends in the past "
    "(SHELFCAST_SYNTH_START +\nSYNTH_DAYS), and so do its forecasts' dates; on a live feed it means the "
    "feed stopped",
    (
        "actuals_freshness",
        None,
    ): "your data's newest actual is older than that: the forecasts start after it, "
    "not after\ntoday; expected for a historical extract, on a live feed it means the feed stopped",
    ("expression_is_true_excluded_observations_exclusion_reason_is_null", None): "observations kept "
    "out as implausible or outside the catalog, each with its reason:\nselect * from "
    "marts.excluded_observations",
}


def check_reason(check: dg.AssetCheckEvaluation) -> str:
    """The check's description; a dbt test has none (it printed "None"), so its failing row count."""
    if check.description:
        return check.description
    failing = check.metadata.get("dagster_dbt/failed_row_count")
    if failing is not None:
        return f"{failing.value} failing row(s) (a dbt test: its SQL names them)"
    return "failed"


def check_lines(checks: list[dg.AssetCheckEvaluation], feed: str = "synthetic") -> list[str]:
    """One line per check that did not pass (the newest evaluation of each), with a note where one helps:
    the feed's (a files feed has no SHELFCAST_SYNTH_START to blame), else any feed's."""
    newest = {(c.asset_key, c.check_name): c for c in checks}
    failed = [c for c in newest.values() if not c.passed]
    lines = [f"checks: {len(newest) - len(failed)} of {len(newest)} passed"]
    for check in failed:
        severity = check.severity.value if check.severity is not None else "ERROR"
        lines.append(
            f"  {severity:<5} {check.check_name} on {check.asset_key.to_user_string()}: {check_reason(check)}"
        )
        note = CHECK_NOTES.get((check.check_name, feed)) or CHECK_NOTES.get((check.check_name, None))
        lines.extend(f"        {line}" for line in (note or "").splitlines())
    return lines


def next_steps(home: Path, warehouse_kind: str, tracking_uri: str) -> list[str]:
    """The commands to look at what was made, ready to paste."""
    columns = (
        "product_id, store_id, target_date, round(p10, 1) as p10, round(p50, 1) as p50, round(p90, 1) as p90"
    )
    sql = f"select {columns} from marts.forecasts_latest order by 1, 2, 3 limit 10"
    if warehouse_kind == "postgres":
        query = f'psql "$SHELFCAST_PG_DSN" -c "{sql}"'
    else:
        path = home / "warehouse.duckdb"
        code = f"import duckdb; duckdb.connect('{path}', read_only=True).sql('{sql}').show()"
        query = f'.venv/bin/python -c "{code}"'
    # Only a file store is spelled out: a database URI may carry a password (MLflow reads it from the env).
    store = tracking_uri if tracking_uri.startswith("sqlite:") else "<your MLflow database URI>"
    mlflow_ui = f"MLFLOW_BACKEND_STORE_URI={store} .venv/bin/mlflow ui"
    return [
        "next:",
        "  make dev     the Dagster UI on http://127.0.0.1:3000: the asset graph, this run, its checks",
        f"  {query}",
        f"  {mlflow_ui}   runs, plots, registry on :5000",
        "  make serve   the HTTP API on http://127.0.0.1:8000 (docs at /docs)",
    ]


def peak_memory() -> str:
    """The peak RSS of this process, where every in-process step ran (dbt runs in subprocesses). Read
    from VmHWM, which starts afresh at exec: ru_maxrss would also count the parent's memory at fork."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
    kib = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"peak RSS of this process: {kib / 1024:.0f} MiB"
