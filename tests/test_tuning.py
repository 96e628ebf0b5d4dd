"""The Optuna search: its window stays before the backtest, defaults are trial 0, and every trial is a
nested MLflow run under the training run (real sqlite-backed MLflow)."""

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from mlflow import MlflowClient

from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.metrics import wape
from platform_assets.modeling.plan import history_of
from platform_assets.modeling.series_state import series_state
from platform_assets.modeling.tracking import log_training, training_run
from platform_assets.modeling.train_config import DEFAULT_PARAMS, TrainConfig
from platform_assets.modeling.training import base_forecaster, train
from platform_assets.modeling.tuning import SEARCH_SPACE, search, tuning_sample
from tests.support.frames import forecasting_frames_for, make_data, training_history

H = 7
TRIALS = 4


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return training_history(H)


@pytest.fixture(scope="module")
def tuned(history):
    return train(history, TrainConfig(horizon=H, tune_trials=TRIALS, params={"num_iterations": 120}))


def test_search_runs_before_the_backtest_and_starts_from_the_defaults(tuned):
    found = tuned.search
    assert found is not None and len(found.trials) == TRIALS
    first_backtest_origin = tuned.backtest["origin"].min()
    assert date.fromisoformat(found.tuning_origin) == first_backtest_origin - timedelta(days=H)
    assert found.trials[0].params == {**{k: DEFAULT_PARAMS[k] for k in SEARCH_SPACE}, "num_iterations": 120}
    assert len({tuple(sorted(t.params.items())) for t in found.trials}) == TRIALS  # the sampler moved
    assert found.best.wape == min(t.wape for t in found.trials) <= found.trials[0].wape
    for name, (_, low, high, _) in SEARCH_SPACE.items():
        assert all(low <= t.params[name] <= high for t in found.trials)
    # The final model and the backtest used the winner's parameters.
    assert tuned.params["num_iterations"] == found.best.params["num_iterations"]
    assert tuned.params["num_leaves"] == found.best.params["num_leaves"]


def test_trial_score_is_the_wape_of_a_refit_on_the_tuning_window(history):
    """Recompute trial 0 by hand (no origin features, so rows need only their horizon): the same fit
    rows and window give the same WAPE."""
    cfg = TrainConfig(horizon=H, origin_features=False)
    rows = history_of(history, cfg)
    base, rounds = base_forecaster(rows, cfg)
    usable = rows.filter(base.eligible() & pl.col("y").is_not_null())
    origin = rows["period_date"].max() - timedelta(days=4 * H)

    def at_origin(window: pl.DataFrame, origin_pn: int) -> pl.DataFrame:
        return window.with_columns((pl.col("_pn") - origin_pn).cast(pl.Int32).alias("horizon"))

    defaults = {**base.params, "num_iterations": rounds}
    found = search(usable, base, defaults, origin, at_origin, "D", H, 1, cfg.seed)
    sample = tuning_sample(usable, cfg.seed)
    fit_rows = sample.filter(pl.col("period_date") <= origin)
    window = sample.filter(
        pl.col("period_date").is_between(origin + timedelta(days=1), origin + timedelta(days=H))
    )
    expected = wape(window["y"], base.fit(fit_rows, rounds).point(window))
    assert found.trials[0].wape == pytest.approx(expected)
    assert found.n_fit_rows == fit_rows.height


def test_tuning_sample_bounds_the_series_and_keeps_whole_series(history):
    sample = tuning_sample(history, seed=1, max_series=5)
    keys = sample.select("product_id", "store_id").unique()
    assert keys.height == 5
    whole = history.join(keys, on=["product_id", "store_id"], how="semi")
    assert sample.height == whole.height
    assert tuning_sample(history, seed=1, max_series=5).equals(sample)


def test_trials_are_nested_runs_under_the_training_run(tuned, tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    tags = {"dagster_run_id": "tune", "dagster_asset": "trained_model"}
    cfg = FeatureConfig(horizon=H)
    data = make_data(horizon=H)
    state = series_state(tuned.combination, forecasting_frames_for(data, cfg), {"y": 1, "price": None}, cfg)
    with training_run(
        uri, tags=tags, run_name="train-tune", artifact_location=str(tmp_path / "artifacts")
    ) as run:
        log_training(
            run, tuned, features=tuned.backtest, data_digest="d", n_rows=1, description="tuned", state=state
        )
    run_id = run.run_id
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    parent = client.get_run(run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'")
    assert len(children) == TRIALS
    winners = [c for c in children if c.data.tags["shelfcast.winner"] == "true"]
    assert len(winners) == 1 and winners[0].data.tags["shelfcast.trial"] == str(tuned.search.best.number)
    assert winners[0].data.metrics["tuning_wape"] == pytest.approx(tuned.search.best.wape)
    assert parent.data.metrics["tuning_best_wape"] == pytest.approx(tuned.search.best.wape)
    recorded = client.download_artifacts(run_id, "tuning/search.json", str(tmp_path))
    assert "num_leaves" in Path(recorded).read_text()
