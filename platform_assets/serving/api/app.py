"""The FastAPI application: routes, problem+json errors, the request recorder, and the services'
lifetime (started with the app, stopped after the last response)."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from platform_assets.config.api import ApiConfig, api_config
from platform_assets.serving.api import forecasts, monitoring, ops, problems, whatif
from platform_assets.serving.api.fastpath import SeriesFastPath
from platform_assets.serving.api.middleware import RequestRecorder
from platform_assets.serving.api.services import Services

DESCRIPTION = """Forecasts and what-if scenarios from the current shelfcast serving bundle.

Send an API key as `Authorization: Bearer KEY` or `X-API-Key: KEY` (`shelfcast keys create`).
Scopes: `read` (forecasts, champion) < `what-if` < `admin`. Errors are application/problem+json."""


def create_app(config: ApiConfig) -> FastAPI:
    shared = Services.build(config)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        shared.start()
        try:
            yield
        finally:
            shared.stop()

    app = FastAPI(title="shelfcast", description=DESCRIPTION, version="1", lifespan=lifespan)
    app.state.services = shared
    problems.install(app)
    for module in (forecasts, whatif, monitoring, ops):
        app.include_router(module.router)
    lookup = next(route for route in forecasts.router.routes if route.path == forecasts.PATH)
    app.add_middleware(SeriesFastPath, services=shared, route=lookup)  # inside the recorder
    app.add_middleware(RequestRecorder, services=shared)
    return app


def app_from_environment() -> FastAPI:
    """The app for `SHELFCAST_HOME` and the `SHELFCAST_SERVE_*` variables (uvicorn's factory)."""
    return create_app(api_config())
