"""What a finished run made, in a few lines for a person: the demo's summary and its peak memory."""

import resource
from pathlib import Path

from platform_assets.config.resources import MLflowResource
from platform_assets.modeling.names import CHAMPION, MODEL_NAME
from platform_assets.storage.warehouse import Warehouse


def summarize(warehouse: Warehouse, mlflow: MLflowResource) -> str:
    from mlflow import MlflowClient

    latest = warehouse.query(
        """select count(*) as rows, count(distinct (product_id, store_id)) as series,
                  min(target_date) as first_day, max(target_date) as last_day,
                  max(model_version) as model_version,
                  count(*) filter (where not (p10 <= p50 and p50 <= p90)) as disordered
           from marts.forecasts_latest"""
    ).row(0, named=True)
    active = warehouse.query("select count(*) as n from marts.dim_series where is_active").item()
    client = MlflowClient(tracking_uri=mlflow.tracking_uri)
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION)
    metrics = client.get_run(champion.run_id).data.metrics
    cols = ("wape", "mase", "smape", "rmse", "coverage_p10_p90")
    rows = [
        f"  {label:<16}" + "".join(f"{metrics.get(f'{prefix}{c}', float('nan')):>10.3f}" for c in cols[:4])
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
            f"(active series: {active}), {latest['first_day']} .. {latest['last_day']}, "
            f"p10<=p50<=p90 violations: {latest['disordered']}",
            f"champion: {MODEL_NAME} v{champion.version} (run {champion.run_id}), "
            f"interval coverage p10-p90 {metrics.get('coverage_p10_p90', float('nan')):.3f}",
            "backtest            " + "".join(f"{c:>10}" for c in cols[:4]),
            *rows,
        ]
    )


def peak_memory() -> str:
    """The peak RSS of this process, where every in-process step ran (dbt runs in subprocesses). Read
    from VmHWM, which starts afresh at exec: ru_maxrss would also count the parent's memory at fork."""
    status = Path("/proc/self/status")
    lines = status.read_text().splitlines() if status.exists() else []
    hwm = [int(line.split()[1]) for line in lines if line.startswith("VmHWM:")]
    kib = hwm[0] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"peak RSS of this process: {kib / 1024:.0f} MiB"
