"""Request and response bodies: what /docs shows. Unknown fields are refused (422), so a misspelt
field never silently leaves a scenario unchanged."""

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChangeIn(Strict):
    target_date: date | None = Field(
        None, description="the forecast period changed; omitted: every period of the horizon"
    )
    price: float | None = Field(
        None, gt=0, description="the planned price (rounded to the feed's price grid)"
    )
    price_change_pct: float | None = Field(
        None, gt=-100, description="or: a change of the planned price in percent, e.g. -10 for a 10% cut"
    )
    on_promo: bool | None = Field(None, description="whether the series is on promotion")


class ScenarioIn(Strict):
    product_id: str = Field(min_length=1)
    store_id: str | None = Field(None, description="needed when the product sells in several stores")
    changes: list[ChangeIn] = Field(
        default_factory=list, max_length=1000, description="applied in order; none: the stored forecast"
    )


class WhatIfRequest(Strict):
    scenarios: list[ScenarioIn] = Field(
        min_length=1, description="one joint plan: every change applies at once (peers see each other's)"
    )


class Band(BaseModel):
    """The 80% band and median; every other configured level adds its two quantiles beside them
    (`SHELFCAST_LEVELS`, default 80,95: p2_5 and p97_5), named as in `marts.forecasts`."""

    model_config = ConfigDict(extra="allow")
    p10: float
    p50: float
    p90: float


class Plan(Band):
    price: float | None
    on_promo: bool | None


class WhatIfPeriod(BaseModel):
    target_date: date
    horizon: int
    baseline: Plan
    scenario: Plan
    difference: Band


class WhatIfSeries(BaseModel):
    product_id: str
    store_id: str
    method: str = Field(description="`model`, or `fallback` (the scenario cannot move it)")
    periods: list[WhatIfPeriod]
    warnings: list[str]


class WhatIfResponse(BaseModel):
    generation: str
    model_version: str
    series: list[WhatIfSeries]


class ForecastRow(Band):
    product_id: str
    store_id: str
    category: str | None
    target_date: date
    horizon: int
    method: str


class ForecastsResponse(BaseModel):
    generation: str
    model_version: str
    count: int
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")
    forecasts: list[ForecastRow]
