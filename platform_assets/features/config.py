"""The settings of a features build: target, horizon and period, and the lags and windows they imply."""

from dataclasses import dataclass

import holidays

from platform_assets.core.periods import SEASON, base_freq, period_grid

TARGETS = ("units_sold", "price")


@dataclass(frozen=True)
class FeatureConfig:
    target: str = "units_sold"
    horizon: int = 14
    freq: str = "D"
    holidays: str | None = None  # public holidays of this country[-region] (features/calendar.py)

    def __post_init__(self) -> None:
        parse_holidays(self.holidays)
        if self.target not in TARGETS:
            raise ValueError(f"target {self.target!r}: expected one of {TARGETS}")
        period_grid(self.freq)  # a frequency with no period grid fails here, naming those there are
        if self.horizon < 1:
            raise ValueError("horizon must be >= 1")

    @property
    def season(self) -> int:
        return SEASON[base_freq(self.freq)]

    @property
    def lags(self) -> list[int]:
        """Direct lags H..H+k: the most recent values a forecast made H periods ago could see."""
        k = {"D": 7, "W": 4, "M": 3}[base_freq(self.freq)]
        return list(range(self.horizon, self.horizon + k))

    @property
    def seasonal_lags(self) -> list[int]:
        """The first two whole seasons back that are not already plain lags."""
        first = -(-(self.lags[-1] + 1) // self.season)
        return [self.season * m for m in (first, first + 1)]

    @property
    def windows(self) -> tuple[int, int, int]:
        """Short, medium and long rolling windows; the medium one also defines `scale`."""
        return {"D": (7, 28, 91), "W": (4, 13, 52), "M": (3, 6, 12)}[base_freq(self.freq)]

    @property
    def lookback(self) -> int:
        """How many periods before t the features of t read (beyond the running state carried in, see
        features/incremental.py): the longest lag, a window over values shifted by the horizon, the
        price trail, the anchor price."""
        short, mid, long = self.windows
        return max(*self.lags, *self.seasonal_lags, self.horizon + long - 1, mid, self.horizon)


def parse_holidays(spec: str | None) -> tuple[str, str | None] | None:
    """(country, region) of `US` / `US-CA` (ISO 3166 codes, as the `holidays` package names them),
    None for no holidays; a code the package does not know fails with one line naming it."""
    if spec is None or not spec.strip():
        return None
    country, _, region = spec.strip().upper().partition("-")
    try:
        holidays.country_holidays(country, subdiv=region or None, years=[])
    except NotImplementedError as err:
        raise ValueError(f"SHELFCAST_HOLIDAYS={spec!r}: {err} (expected e.g. US, US-CA, DE-BY, GB)") from None
    return country, region or None
