"""The champion, liveness, readiness and Prometheus metrics."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from platform_assets.serving.api.auth import ReadKey
from platform_assets.serving.api.problems import problem
from platform_assets.serving.api.services import bundle_for, services

router = APIRouter()


@router.get("/v1/models/champion", tags=["models"], summary="The model serving: version, run, evidence")
def champion(request: Request, _key: ReadKey) -> dict:
    bundle = bundle_for(request)
    features = bundle.manifest["features"]
    return {
        **bundle.manifest["champion"],
        "generation": bundle.generation,
        "bundle_created_at": bundle.manifest["created_at"],
        "forecasts_generated_at": bundle.manifest["forecasts_generated_at"],
        "target": features["target"],
        "freq": features["freq"],
        "horizon": features["horizon"],
        "target_dates": [features["target_dates"][0], features["target_dates"][-1]],
        "what_if": bundle.what_if,
    }


@router.get("/healthz", tags=["operations"], summary="The process answers")
def healthz() -> dict:
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"], summary="A bundle is loaded and served")
def readyz(request: Request) -> Response:
    store = services(request).store
    bundle = store.current
    if bundle is None:
        detail = store.last_error or f"no bundle under {store.root}: materialize `serving_bundle`"
        return problem(request, 503, "Not ready", detail)
    request.state.bundle = bundle
    return JSONResponse(
        {"status": "ready", "generation": bundle.generation, "model_version": bundle.model_version}
    )


@router.get("/metrics", tags=["operations"], summary="Prometheus metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(services(request).metrics.registry), media_type=CONTENT_TYPE_LATEST)
