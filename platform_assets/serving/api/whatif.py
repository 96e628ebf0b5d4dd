"""POST /v1/what-if: baseline (stored) and scenario forecasts of planned price / promotion changes."""

from fastapi import APIRouter, Request

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import band_columns, levels_in
from platform_assets.serving.api.auth import WhatIfKey
from platform_assets.serving.api.models import WhatIfRequest, WhatIfResponse
from platform_assets.serving.api.services import bundle_for, services
from platform_assets.serving.errors import InvalidRequest
from platform_assets.serving.scenario import Change, Outcome, SeriesPlan, run_scenario

router = APIRouter(tags=["what-if"])


def _plans(body: WhatIfRequest) -> list[SeriesPlan]:
    return [
        SeriesPlan(
            s.product_id,
            s.store_id,
            tuple(Change(c.target_date, c.price, c.price_change_pct, c.on_promo) for c in s.changes),
        )
        for s in body.scenarios
    ]


def _response(generation: str, model_version: str, outcome: Outcome) -> dict:
    series = []
    band = band_columns(levels_in(outcome.rows.columns))
    for (product, store), rows in outcome.rows.group_by(KEYS, maintain_order=True):
        periods = [
            {
                "target_date": r["target_date"],
                "horizon": r["horizon"],
                "baseline": {
                    "price": r["price_baseline"],
                    "on_promo": r["on_promo_baseline"],
                    **{c: r[f"{c}_baseline"] for c in band},
                },
                "scenario": {"price": r["price"], "on_promo": r["on_promo"], **{c: r[c] for c in band}},
                "difference": {c: r[c] - r[f"{c}_baseline"] for c in band},
            }
            for r in rows.iter_rows(named=True)
        ]
        method = "model" if (rows["method"] == "model").all() else "fallback"
        warnings = outcome.warnings.get((product, store), [])
        series.append(
            {
                "product_id": product,
                "store_id": store,
                "method": method,
                "periods": periods,
                "warnings": warnings,
            }
        )
    return {"generation": generation, "model_version": model_version, "series": series}


@router.post(
    "/v1/what-if",
    response_model=WhatIfResponse,
    summary="Score planned price / promotion changes with the champion, against the stored forecast",
)
def what_if(request: Request, body: WhatIfRequest, _key: WhatIfKey) -> dict:
    shared = services(request)
    most = shared.config.serving.serve_whatif_max_series
    if len(body.scenarios) > most:
        raise InvalidRequest(
            f"{len(body.scenarios)} series in one request, at most {most}: split the request"
        )
    bundle = bundle_for(request)
    outcome = run_scenario(bundle, _plans(body))
    shared.metrics.scored(outcome.scores)
    request.state.scores = outcome.scores
    return _response(bundle.generation, bundle.model_version, outcome)
