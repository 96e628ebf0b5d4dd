"""Dagster resources holding shelfcast's configuration: every `SHELFCAST_*` value lands here once."""

from datetime import date
from pathlib import Path

import dagster as dg

from platform_assets.feeds import Feed, SynthConfig, make_feed
from platform_assets.modeling.sampling import MAX_FIT_ROWS


class ShelfcastConfig(dg.ConfigurableResource):
    """What to forecast and from which feed; see the README's configuration table."""

    home: str = "data"
    feed: str = "synthetic"
    landing_dir: str | None = None
    freq: str | None = None
    target: str = "units_sold"
    horizon: int = 14
    active_window: int = 28
    synth_products: int = 100
    synth_stores: int = 3
    synth_days: int = 730
    synth_start: str = "2024-11-01"
    synth_seed: int = 42
    synth_drift_from: str | None = None
    synth_drift_kind: str = "demand"
    tafeng_max_products: int | None = None
    rejected_rate_warn: float = 0.01
    rejected_rate_error: float = 0.10
    freshness_max_age_days: int = 3
    drift_window: int = 28
    drift_share: float = 0.5
    decay_factor: float = 1.3
    retrain_cooldown_hours: float = 24.0
    tune_trials: int = 0  # Optuna trials before each training (tuning.py); 0 keeps DEFAULT_PARAMS
    max_fit_rows: int = MAX_FIT_ROWS  # rows per LightGBM fit (sampling.py); 0: no cap

    @property
    def home_path(self) -> Path:
        return Path(self.home).resolve()

    @property
    def landing_path(self) -> Path:
        """The files feed's landing zone: SHELFCAST_LANDING_DIR, else $SHELFCAST_HOME/landing."""
        return Path(self.landing_dir) if self.landing_dir else self.home_path / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.home_path / "quarantine"

    def synth_config(self) -> SynthConfig:
        return SynthConfig(
            products=self.synth_products,
            stores=self.synth_stores,
            days=self.synth_days,
            start=date.fromisoformat(self.synth_start),
            seed=self.synth_seed,
            horizon=self.horizon,
            drift_from=date.fromisoformat(self.synth_drift_from) if self.synth_drift_from else None,
            drift_kind=self.synth_drift_kind,
        )

    def resolved_freq(self) -> str:
        """The configured period, else the one the feed reports (inferred from its data)."""
        return self.freq or self.make_feed().freq

    def make_feed(self) -> Feed:
        return make_feed(
            self.feed,
            landing_dir=str(self.landing_path),
            freq=self.freq,
            synth=self.synth_config(),
            quarantine_dir=str(self.quarantine_dir),
            tafeng_max_products=self.tafeng_max_products,
        )


class MLflowResource(dg.ConfigurableResource):
    """Where runs and registered models live: sqlite + a local artifact root by default."""

    tracking_uri: str
    artifact_root: str
