"""The typed settings, one section per concern. Every field is filled from `SHELFCAST_<FIELD>` when that
variable is set (config/resources.py); its description is what the UI and the README table show."""

from datetime import date

import dagster as dg
from pydantic import Field

from platform_assets.core.levels import parse_levels
from platform_assets.feeds import DateBounds, SynthConfig
from platform_assets.modeling.sampling import MAX_FIT_ROWS


class IngestSettings(dg.Config):
    """Where the data comes from and on which period grid."""

    feed: str = Field(
        "synthetic", description="`synthetic`, `files` (your landing zone) or `tafeng` (real grocery data)"
    )
    landing_dir: str | None = Field(
        None, description="the landing zone for `SHELFCAST_FEED=files` (default `$SHELFCAST_HOME/landing`)"
    )
    freq: str | None = Field(
        None,
        description="the period grid, in pandas terms: `D`; `W` (weeks from Monday, named by the Monday) or "
        "`W-MON` .. `W-SUN` (weeks ending that day, named by it); `M` (months named by their first day) or "
        "`ME` (by their last day). Unset: inferred from the observation dates (weeks anchored on their most "
        "common weekday, `ME` when most dates are month ends); `raw_observations` shows the grid it read and "
        "warns when under 90% of weekly dates share a weekday (the anchor is then a guess: set this)",
    )
    synth_products: int = Field(100, description="synthetic feed: products")
    synth_stores: int = Field(3, description="synthetic feed: stores")
    synth_days: int = Field(730, description="synthetic feed: days of history")
    synth_start: str = Field("2024-11-01", description="synthetic feed: first day")
    synth_seed: int = Field(42, description="synthetic feed: seed (same seed, same rows)")
    synth_drift_from: str | None = Field(None, description="synthetic feed: from this date the data drifts")
    synth_drift_kind: str = Field("demand", description="what drifts: `demand`, `price` or `both`")
    tafeng_max_products: int | None = Field(
        None, description="tafeng feed: keep the N products with most lines (for quick runs; default all)"
    )
    date_min: str = Field(
        "1900-01-01",
        description="files feed: observation rows dated before this day are rejected (the row contract "
        "refuses dates outside 1900-2099 whatever this says)",
    )
    max_date_gap_days: int = Field(
        366,
        description="files feed: the data's dates run around their median, and each series' too; a row "
        "separated from both by a gap of more days (a typo like 2090 for 2025) is rejected, and so is "
        "a plan row (no target) dated more than the horizon after the last actual",
    )
    outlier_quantile: float = Field(
        0.9, description="a series' plausible values scale with this quantile of its own history"
    )
    outlier_factor: float = Field(
        50.0,
        description="an observation whose units_sold exceed this factor x max(the quantile, 1), or whose "
        "price is this factor above or below the series' quantiles, is excluded as an outlier (listed in "
        "`marts.excluded_observations`, not trained on)",
    )
    max_plausible_value: float = Field(
        1e9, description="units_sold or price above this are excluded whatever the series' history"
    )

    def date_bounds(self, horizon: int, target: str) -> DateBounds:
        """What makes an observation's date implausible (feeds/plausibility.py)."""
        return DateBounds(date.fromisoformat(self.date_min), self.max_date_gap_days, horizon, target)

    def synth_config(self, horizon: int) -> SynthConfig:
        """The generator's settings; it writes price plans for the `horizon` periods after the history."""
        return SynthConfig(
            products=self.synth_products,
            stores=self.synth_stores,
            days=self.synth_days,
            start=date.fromisoformat(self.synth_start),
            seed=self.synth_seed,
            horizon=horizon,
            drift_from=date.fromisoformat(self.synth_drift_from) if self.synth_drift_from else None,
            drift_kind=self.synth_drift_kind,
        )


class ForecastSettings(dg.Config):
    """What to forecast and how models are fitted."""

    target: str = Field("units_sold", description="what to forecast: `units_sold` (demand) or `price`")
    horizon: int = Field(14, description="periods to forecast")
    active_window: int = Field(
        28,
        description="a series is active (gets forecasts) if it sold within this many periods of the last one",
    )
    tune_trials: int = Field(
        0,
        description="Optuna trials before each training, on a sample of at most 2,000 series and the window "
        "just "
        "before the backtest (nested MLflow runs under the training run, search space and winner recorded); "
        "0 keeps the built-in defaults",
    )
    holidays: str | None = Field(
        None,
        description="public holidays as features: an ISO country code, optionally with a region (`US`, "
        "`US-CA`, `DE-BY`; the `holidays` package's codes): holidays in each period and days to the next / "
        "since the last one. Unset: no holiday features. Events of your own go in the landing zone's "
        "`events.csv`",
    )
    stat_models: bool = Field(
        True,
        description="fit statistical candidates per demand segment (ETS, Theta; Croston, TSB, ADIDA, "
        "IMAPA for intermittent series) beside LightGBM; a segment takes one (alone or blended with "
        "LightGBM) only where it beat LightGBM by 3% over at least 2 earlier backtest origins and 20 "
        "series (a catalog of fewer: all of them, in that one segment), and on each of those origins. "
        "On by default: it never made a dataset worse (Ta Feng and "
        "synthetic: no segment earns a candidate, the forecast is LightGBM's; Tourism monthly: 3% lower "
        "WAPE) and costs 16-40 s of a training on the loaded 2-core machine (at most 1,000 ETS/Theta "
        "series per origin), and refits at forecast time only the models a segment chose "
        "(BENCHMARKS.md, accuracy). `false`: LightGBM alone, without importing statsforecast",
    )
    levels: str = Field(
        "80,95",
        description="central prediction-interval levels in percent, comma-separated; each level L adds "
        "the quantile columns p{(100-L)/2} and p{100-(100-L)/2} with `.` written `_` (95: p2_5 / p97_5). "
        "80 (p10 / p90) is always included. Calibrated per demand segment on the backtest",
    )
    backtest_origins: int = Field(
        3,
        description="rolling backtest origins (H periods apart, refitting LightGBM at each): the gate's and "
        "the reported metrics' windows, and the evidence the statistical candidates are chosen on (a "
        "candidate needs 2 earlier origins, so with N origins the last N - 2 are scored with the choice)",
    )
    max_fit_rows: int = Field(
        MAX_FIT_ROWS,
        description="rows one LightGBM fit may use: above it, every fit (backtest origins and final) takes a "
        "seeded sample of whole series within the budget, while the backtest still scores every series; "
        "`0`: no cap",
    )

    def interval_levels(self) -> tuple[float, ...]:
        """`levels` parsed (core/levels.py); config/check.py reports an unusable value first."""
        return parse_levels(self.levels)


class MonitoringSettings(dg.Config):
    """Thresholds of the quality, drift and decay checks, how often they may start a retrain, and where
    people look at the results."""

    rejected_rate_warn: float = Field(
        0.01,
        description="share of this run's observation rows rejected (or accepted without a target although "
        "dated within the history) above which the `rejected_row_rate` check warns",
    )
    rejected_rate_error: float = Field(
        0.10,
        description="... above which it fails with ERROR: nothing of the run's batch lands (the previous raw "
        "rows stay) and, being blocking, the check stops the run before the warehouse",
    )
    quarantined_share_error: float = Field(
        0.5,
        description="any quarantined observation file makes `rejected_row_rate` warn; above this share of "
        "the files the run used it fails with ERROR (nothing of the batch lands)",
    )
    freshness_max_age_days: int = Field(
        3, description="the `actuals_freshness` check warns when the newest actual is older than this"
    )
    drift_window: int = Field(
        28,
        description="periods in the newest window, compared with as many periods ending where the champion's "
        "training data ends (at least 2 x horizon; a window shorter than a season, e.g. 28 weeks, is "
        "compared with the same weeks a season back when the history reaches; a history shorter than two "
        "windows is not judged: `dataset_drift` passes saying so); also the rolling window of "
        "`accuracy_decay`",
    )
    drift_share: float = Field(
        0.5,
        description="dataset drift when at least this share of monitored columns drift (per-column "
        "thresholds "
        "0.1 / p 0.05)",
    )
    decay_factor: float = Field(
        1.3,
        description="`accuracy_decay` fails when the champion's live WAPE exceeds this factor x its "
        "backtest WAPE",
    )
    retrain_cooldown_hours: float = Field(
        24.0,
        description="the retrain sensor starts at most one `retrain` per cool-down, however long a check "
        "keeps "
        "failing",
    )
    mlflow_ui_url: str = Field(
        "http://127.0.0.1:5000",
        description="the MLflow UI (`mlflow ui`'s default address): the Dagster UI links runs, model "
        "versions and reports there",
    )


class ServingSettings(dg.Config):
    """The serving bundle and the HTTP API (`shelfcast serve`)."""

    serve_host: str = Field("127.0.0.1", description="`shelfcast serve`: the address the API listens on")
    serve_port: int = Field(8000, description="`shelfcast serve`: the API's port")
    serve_workers: int = Field(
        1,
        description="`shelfcast serve`: API processes on this host (uvicorn workers, one core each); "
        "each keeps its own rate-limit buckets, so a key may get up to this many times "
        "`SHELFCAST_SERVE_RATE_LIMIT`",
    )
    serve_bundles_kept: int = Field(
        3,
        description="serving bundles kept under `$SHELFCAST_HOME/serving` (the current one is never pruned)",
    )
    serve_reload_seconds: float = Field(
        2.0, description="how often the API looks for a new current bundle (swapped in without a restart)"
    )
    serve_rate_limit: float = Field(
        50.0, description="requests per second one API key may make on average (`0`: no limit); then 429"
    )
    serve_rate_burst: int = Field(100, description="requests one API key may make at once above that rate")
    serve_auth_failure_rate: float = Field(
        0.2,
        description="failed API key checks (wrong or unknown keys) one client address may make per second "
        "on average (`0`: no limit); then 429 before the key is hashed",
    )
    serve_auth_failure_burst: int = Field(
        10, description="failed API key checks one client address may make at once above that rate"
    )
    serve_whatif_max_series: int = Field(50, description="series one `POST /v1/what-if` may change")
    serve_key_pepper: str | None = Field(
        None,
        description="a secret mixed into every API key's hash (keep it in a secret store: on Kubernetes "
        "the Secret `shelfcast-api`); keys created under one pepper fail under another",
    )
    serve_window_seconds: float = Field(
        15.0, description="live monitoring: the event-time tumbling window over served requests, in seconds"
    )
    serve_window_lateness_seconds: float = Field(
        6.0,
        description="a request answered this long after its window's end still counts in it (later: counted "
        "as `late_dropped`); a window's result is final after its end plus this",
    )
    serve_window_refresh_seconds: float = Field(
        1.0, description="how often each API process writes its window partials (the open window's result)"
    )
    serve_window_psi: float = Field(
        1.0,
        description="a what-if model input drifts in a window when its PSI against the reference reaches "
        "this (high: a window of a few dozen what-ifs has PSI noise of a few tenths)",
    )
    serve_window_min_rows: int = Field(
        300,
        description="what-if input rows a window needs before its drift is judged (a request adds its "
        "series' whole horizon: rows of one series move together, so few requests are a small sample)",
    )
    serve_alert_windows: int = Field(
        3,
        description="the `request_drift` check and sensor alert when this many newest request windows in a "
        "row drifted, or all had an error-rate spike",
    )
    serve_alert_error_rate: float = Field(
        0.05, description="a request window's share of 5xx answers that is an error-rate spike"
    )
    serve_replica: str = Field(
        "",
        description="this API server's name among replicas (a pod name): its processes store their window "
        "partials under it and their pid, and take over those of its stopped processes after a restart; "
        "empty: `<hostname>:<serve_port>`",
    )
    dagster_ui_url: str = Field(
        "http://127.0.0.1:3000",
        description="where the Dagster UI answers: MLflow runs and registered versions link back to the "
        "Dagster run that trained them",
    )


SECTIONS: dict[str, type[dg.Config]] = {
    "ingest": IngestSettings,
    "forecasting": ForecastSettings,
    "monitoring": MonitoringSettings,
    "serving": ServingSettings,
}
