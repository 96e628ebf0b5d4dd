"""GET /v1/monitoring: the last hour's request windows, merged over every replica, as JSON a dashboard
reads (final ones, and the open window's provisional result)."""

from datetime import UTC, datetime, timedelta

import polars as pl
from fastapi import APIRouter, Query, Request

from platform_assets.serving.api.auth import ReadKey
from platform_assets.serving.api.services import services
from platform_assets.serving.windowstore import recent_windows

router = APIRouter(tags=["monitoring"])


def windows_json(rows: pl.DataFrame) -> list[dict]:
    """One object per window: its bounds, whether final, and each statistic (by label when it has
    labels: route and status, or model input)."""
    out = []
    for (start,), window in rows.group_by("window_start", maintain_order=True):
        statistics: dict = {}
        for name, label, value in window.select("statistic", "label", "value").iter_rows():
            if label:
                statistics.setdefault(name, {})[label] = value
            else:
                statistics[name] = value
        first = window.row(0, named=True)
        out.append(
            {
                "start": start.isoformat(),
                "end": first["window_end"].isoformat(),
                "final": first["final"],
                "replicas": first["replicas"],
                "updated_at": first["updated_at"].isoformat(),
                "statistics": statistics,
            }
        )
    return out


@router.get("/v1/monitoring", summary="Request windows: traffic, latency, errors, outliers, input drift")
def monitoring(
    request: Request,
    _key: ReadKey,
    minutes: int = Query(60, ge=1, le=24 * 60, description="how far back"),
    provisional: bool = Query(True, description="include the open window's provisional result"),
) -> dict:
    serving = services(request).config.serving
    since = datetime.now(UTC) - timedelta(minutes=minutes)
    config = services(request).config
    rows = recent_windows(config.home, config.pg_dsn, since)
    if not provisional:
        rows = rows.filter(pl.col("final"))
    return {
        "window_seconds": serving.serve_window_seconds,
        "lateness_seconds": serving.serve_window_lateness_seconds,
        "windows": windows_json(rows),
    }
