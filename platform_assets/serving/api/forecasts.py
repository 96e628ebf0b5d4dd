"""GET /v1/forecasts: the stored forecasts, JSON (default) or CSV (`Accept: text/csv`)."""

from datetime import date
from typing import Annotated

import polars as pl
from fastapi import APIRouter, Query, Request, Response

from platform_assets.serving.api.auth import ReadKey
from platform_assets.serving.api.models import ForecastsResponse
from platform_assets.serving.api.services import bundle_for
from platform_assets.serving.errors import InvalidRequest
from platform_assets.serving.lookup import Query as Lookup
from platform_assets.serving.lookup import forecasts_body, select_forecasts, whole_series

router = APIRouter(tags=["forecasts"])
PATH, JSON = "/v1/forecasts", "application/json"
PARAMETERS = {"product_id", "store_id", "category", "from", "to", "limit", "cursor"}
MAX_LIMIT = 10_000


def _unknown_parameters(request: Request) -> None:
    unknown = sorted(set(request.query_params) - PARAMETERS)
    if unknown:
        raise InvalidRequest(f"unknown parameter(s) {unknown}: expected {sorted(PARAMETERS)}")


@router.get(
    PATH,
    response_model=ForecastsResponse,
    responses={200: {"content": {"text/csv": {}}}},
    summary="p10/p50/p90 (and each configured level's quantiles) per target date, by product (and store), "
    "or by category / store in pages",
)
async def get_forecasts(  # async: a lookup is a slice of the bundle, cheaper than a thread hop
    request: Request,
    _key: ReadKey,
    product_id: str | None = None,
    store_id: str | None = None,
    category: str | None = None,
    date_from: Annotated[
        date | None, Query(alias="from", description="first target date (inclusive)")
    ] = None,
    date_to: Annotated[date | None, Query(alias="to", description="last target date (inclusive)")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="rows per page")] = 1000,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> Response:
    _unknown_parameters(request)
    bundle = bundle_for(request)
    lookup = Lookup(product_id, store_id, category, date_from, date_to, limit, cursor)
    page, next_cursor = select_forecasts(bundle, lookup)
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    if "text/csv" in request.headers.get("accept", ""):
        served = page.with_columns(
            pl.lit(bundle.model_version).alias("model_version"), pl.lit(bundle.generation).alias("generation")
        )
        return Response(served.write_csv(), media_type="text/csv", headers=headers)
    body = forecasts_body(bundle, page, next_cursor)
    if next_cursor is None and whole_series(lookup):  # sent again by api/fastpath.py
        bundle.answers.keep(lookup.product_id, lookup.store_id, body)
    return Response(body, media_type=JSON, headers=headers)
