"""The synthetic feed: the default Feed, generated from a SynthConfig (see the package docstring)."""

from datetime import date, timedelta

import numpy as np

from platform_assets.core.periods import check_freq
from platform_assets.core.schemas import RAW_EVENTS, REJECTED_ROWS, empty
from platform_assets.feeds.base import FeedResult
from platform_assets.feeds.synthetic.config import SynthConfig
from platform_assets.feeds.synthetic.history import observations, skeleton


class SyntheticFeed:
    """The default feed: its skeleton (catalog, prices, demand means, which rows exist) generated once
    per configuration and process; units are drawn only for the days a slice asks for."""

    name = "synthetic"

    def __init__(self, config: SynthConfig, freq: str | None = None) -> None:
        self.config = config
        self.freq = check_freq(freq) or "D"

    def products(self) -> FeedResult:
        df = skeleton(self.config).catalog["products"]
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def suppliers(self) -> FeedResult:
        df = skeleton(self.config).catalog["suppliers"]
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def events(self) -> FeedResult:
        return FeedResult.empty(RAW_EVENTS)

    def observations(self, start: date, end: date) -> FeedResult:
        df = observations(self.config, start, end)
        return FeedResult(df, empty(REJECTED_ROWS), df.height)

    def span(self) -> tuple[date, date]:
        days = np.flatnonzero(skeleton(self.config).present.any(axis=(0, 1)))
        return tuple(self.config.start + timedelta(days=int(d)) for d in (days[0], days[-1]))
