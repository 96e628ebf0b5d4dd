"""What the synthetic feed generates: one hashable value, so generated frames are cached per configuration."""

from dataclasses import dataclass
from datetime import date, timedelta

from platform_assets.feeds.synthetic.drift import DRIFT_KINDS


@dataclass(frozen=True)
class SynthConfig:
    """What to generate; hashable, so the generated frames are cached per configuration."""

    products: int = 100
    stores: int = 3
    days: int = 730
    start: date = date(2024, 11, 1)
    seed: int = 42
    horizon: int = 14  # plan rows (prices, promotions, no units) after the last actual day
    drift_from: date | None = None
    drift_kind: str = "demand"

    def __post_init__(self) -> None:
        if self.drift_kind not in DRIFT_KINDS:
            raise ValueError(f"drift_kind={self.drift_kind!r}: expected one of {', '.join(DRIFT_KINDS)}")
        if min(self.products, self.stores, self.days) < 1 or self.horizon < 0:
            raise ValueError(f"products, stores and days must be >= 1 and horizon >= 0: {self}")

    @property
    def last_actual(self) -> date:
        return self.start + timedelta(days=self.days - 1)
