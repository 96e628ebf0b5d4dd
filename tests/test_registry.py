"""MLflow registry against a real sqlite-backed tracking server in a temp dir."""

import math
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import mlflow
import pandas as pd
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from platform_assets.core.keys import KEYS
from platform_assets.core.levels import DEFAULT
from platform_assets.features.config import FeatureConfig
from platform_assets.features.exact import exact_factors
from platform_assets.modeling.forecasting import columns, make_forecasts
from platform_assets.modeling.names import CHALLENGER, CHAMPION, EXPERIMENT, MODEL_NAME
from platform_assets.modeling.promotion import decide_promotion, evaluate_on_backtest
from platform_assets.modeling.pyfunc import ForecasterModel
from platform_assets.modeling.registry import (
    is_provisional,
    load_combination,
    load_forecaster,
    record_promotion,
    run_metrics,
    set_champion,
)
from platform_assets.modeling.requests import INPUT
from platform_assets.modeling.rows import evaluation_since
from platform_assets.modeling.series_state import series_state
from platform_assets.modeling.statmodels import CANDIDATES
from platform_assets.modeling.tracking import log_training, training_run
from platform_assets.modeling.train_config import TrainConfig
from platform_assets.modeling.training import train
from tests.support.frames import features_for, forecast_rows, forecasting_frames_for, make_data

H = 7
CFG = FeatureConfig(horizon=H)
COLUMNS = columns(DEFAULT)  # what make_forecasts returns at the default interval levels


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return features_for(make_data(horizon=H), CFG)


@pytest.fixture(scope="module")
def inputs() -> tuple[dict[str, pl.DataFrame], dict]:
    """What the training step reads for the model's series state (forecasting_frames), prices on a
    cent grid as a feed's are (else plans cannot be rebuilt exactly), and the build's factors."""
    data = make_data(horizon=H)
    data = {**data, **{k: data[k].with_columns(pl.col("price").round(2)) for k in ("sales", "plans")}}
    return forecasting_frames_for(data, CFG), exact_factors(data["sales"], CFG)


@pytest.fixture(scope="module")
def model(good, inputs) -> ForecasterModel:
    """The registered model's pyfunc, in this process."""
    return ForecasterModel(good.combination, series_state(good.combination, *inputs, CFG), "r")


@pytest.fixture(scope="module")
def good(frame):
    result = train(frame.filter(~pl.col("is_future")), TrainConfig(horizon=H, params={"num_iterations": 150}))
    # The registered model must carry statistical choices to test them: 24 series are too few for the
    # selection to make any (modeling/selection.MIN_SERIES), so they are set here.
    result.combination.choices = {"smooth": "light_ets", "erratic": "blend_theta", "intermittent": "croston"}
    return result


@pytest.fixture(scope="module")
def weak(frame):
    """A barely trained model: 2 trees at a tiny learning rate, close to a per-series level."""
    params = {"num_iterations": 2, "learning_rate": 0.01}
    return train(frame.filter(~pl.col("is_future")), TrainConfig(horizon=H, params=params))


def _log(result, uri: str, tmp, tag: str, inputs) -> tuple[str, int]:
    state = series_state(result.combination, inputs[0], inputs[1], CFG)
    with training_run(
        uri,
        tags={"dagster_run_id": tag, "dagster_asset": "trained_model"},
        links={"dagster_run_url": f"http://dagster.test/runs/{tag}"},
        run_name=f"train-{tag}",
        artifact_location=str(tmp / "artifacts"),
    ) as run:
        log_training(
            run,
            result,
            features=result.backtest,
            data_digest="narrow-1+digest-123",
            n_rows=1234,
            description=f"trained by {tag}",
            state=state,
        )
    return run.run_id, run.version


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{tmp}/mlflow.db", tmp


@pytest.fixture(scope="module")
def logged(store, good, inputs):
    uri, tmp = store
    return _log(good, uri, tmp, "run-a", inputs)


def test_run_has_params_metrics_plots_and_a_challenger_version(store, logged, good):
    uri, _ = store
    run_id, version = logged
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run = client.get_run(run_id)
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert (
        run.data.params["feature_set_digest"] == "narrow-1+digest-123"
        and run.data.params["feature_set_rows"] == "1234"
    )
    assert run.data.params["objective"] == "l1" and run.data.params["deterministic"] == "True"
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"  # not the GenAI view
    [dataset] = run.inputs.dataset_inputs
    assert (dataset.dataset.name, dataset.dataset.digest) == ("features.training_features", "digest-123")
    assert [t.value for t in dataset.tags if t.key == "mlflow.data.context"] == ["training"]
    assert run.data.metrics == pytest.approx(good.metrics)
    # The combination's metrics, LightGBM's, each fitted candidate's (next to LightGBM on its rows) and
    # what it cost, the segment counts, and the share of series each method wins and is chosen for.
    logged_names = set(run.data.metrics)
    fitted = {c for c in CANDIDATES if f"{c}_wape" in logged_names}
    assert fitted and {"wape", "lgbm_wape", "lgbm_smape", "lgbm_mase", "stat_fit_seconds"} <= logged_names
    assert {f"{c}_{k}" for c in fitted for k in ("smape", "mase", "lgbm_wape", "fit_seconds")} <= logged_names
    segments = {n for n in logged_names if n.startswith("segment_") and n.endswith("_series")}
    newest = good.components.filter(pl.col("origin") == pl.col("origin").max())
    assert sum(run.data.metrics[n] for n in segments) == newest.select(KEYS).n_unique()
    wins = [v for n, v in run.data.metrics.items() if n.startswith("wins_") and n.endswith("_share")]
    assert sum(wins) == pytest.approx(1.0) and run.data.metrics["chosen_lgbm_share"] == 1.0
    assert {"plots/feature_importance.png", "plots/forecast_vs_actual.png"} <= {
        a.path for a in client.list_artifacts(run_id, "plots")
    }
    assert version == 1
    challenger = client.get_model_version_by_alias(MODEL_NAME, CHALLENGER)
    assert (int(challenger.version), challenger.run_id) == (1, run_id)
    assert challenger.description == "trained by run-a"
    assert (
        challenger.tags["dagster_run_url"]
        == run.data.tags["dagster_run_url"]
        == "http://dagster.test/runs/run-a"
    )
    assert load_forecaster(uri, CHAMPION) is None


# Two series by horizon (the second one's default: all H periods), a third on one date with a plan.
REQUEST = pd.DataFrame(
    {
        "product_id": ["p02", "p03", "p05"],
        "store_id": ["s0", "s1", "s0"],
        "horizon": [3, None, None],
        "target_date": [None, None, "2024-08-30"],
        "price": [None, None, 1.5],
        "on_promo": [None, None, True],
    }
)


def test_model_loads_back_and_answers_series_ids_as_the_batch(store, logged, good, frame, inputs):
    uri, _ = store
    loaded = load_forecaster(uri, CHALLENGER)
    assert loaded is not None
    model, version, run_id = loaded
    assert (version, run_id) == (logged[1], logged[0])
    future = forecast_rows(model, frame)
    assert model.predict(future).equals(good.model.predict(future))  # engineered rows, internally
    pyfunc = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@challenger")
    assert pyfunc.metadata.signature.inputs.input_names() == list(INPUT)
    request = pd.DataFrame({"product_id": ["p02", "p03"], "store_id": ["s0", "s1"], "horizon": [3, 7]})
    served = pl.from_pandas(pyfunc.predict(request)).with_columns(pl.col("target_date").cast(pl.Date))
    frames = inputs[0]
    batch = make_forecasts(good.combination, frames["inference"], frames["series"], frames["history"])
    wanted = pl.DataFrame({"product_id": ["p02", "p03"], "store_id": ["s0", "s1"], "upto": [3, 7]})
    expected = batch.join(wanted, on=["product_id", "store_id"]).filter(pl.col("horizon") <= pl.col("upto"))
    assert served.select(COLUMNS).equals(expected.select(COLUMNS)) and served.height == 10
    assert served["model_version"].unique().to_list() == [str(version)]
    assert served["mlflow_run_id"].unique().to_list() == [run_id]
    restored = load_combination(uri, CHALLENGER)[0]
    assert restored.choices == good.combination.choices and restored.offsets == good.combination.offsets


def test_plans_move_the_forecast_and_bad_requests_say_why(model):
    day = model.state.dates[2]
    one = {"product_id": ["p02"], "store_id": ["s1"], "target_date": [day]}
    unplanned = model.forecast(pl.DataFrame(one))
    stored = model.state.inputs.plans.filter(
        (pl.col("product_id") == "p02") & (pl.col("store_id") == "s1") & (pl.col("period_date") == day)
    )
    same = model.forecast(pl.DataFrame({**one, "price": stored["price"], "on_promo": stored["on_promo"]}))
    assert same.equals(unplanned)  # the stored plan, rebuilt, is the stored rows
    cut = model.forecast(
        pl.DataFrame({**one, "price": [float(stored["price"][0]) * 0.5], "on_promo": [True]})
    )
    assert cut["p50"][0] != unplanned["p50"][0] and cut["horizon"].to_list() == [3]
    for request, message in [
        ({"product_id": ["nope"]}, "unknown series product_id='nope' store_id='all'"),
        ({"product_id": ["p02"]}, "forecast in stores ['s0', 's1']"),
        ({"product_id": ["p02"], "store_id": ["s0"], "horizon": [H + 1]}, f"1 to {H} periods"),
        ({"product_id": ["p02"], "store_id": ["s0"], "target_date": ["2020-01-01"]}, "is not forecast"),
        ({"product_id": ["p02"], "store_id": ["s0"], "price": [2.0]}, "needs the target_date"),
        ({"product": ["p02"]}, "expected product_id"),
        ({"product_id": ["p02"], "store_id": ["s0"], "horizon": [2.5]}, "whole number"),
    ]:
        with pytest.raises(MlflowException, match=re.escape(message)):
            model.forecast(pl.DataFrame(request))


# Run in a fresh interpreter: this repository off sys.path (the editable install's entry removed),
# a clean working directory, no PYTHONPATH; only the model's own copy of the code can be imported.
CLEAN_LOAD = """
import importlib.util, sys
sys.path = [p for p in sys.path if p.rstrip("/") != sys.argv[1]]
assert importlib.util.find_spec("platform_assets") is None, "shelfcast is still importable"
import mlflow, pandas as pd
mlflow.set_tracking_uri(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[3])
model.predict(pd.read_parquet(sys.argv[4])).to_parquet(sys.argv[5])
import platform_assets
print(platform_assets.__file__)
"""


def test_the_registered_model_loads_without_this_repository(store, logged, model, tmp_path):
    uri, _ = store
    repo = str(Path(__file__).resolve().parent.parent)
    REQUEST.to_parquet(tmp_path / "in.parquet")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    args = [
        uri,
        f"models:/{MODEL_NAME}@{CHALLENGER}",
        str(tmp_path / "in.parquet"),
        str(tmp_path / "out.parquet"),
    ]
    done = subprocess.run(
        [sys.executable, "-c", CLEAN_LOAD, repo, *args], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not done.stdout.strip().startswith(repo)  # the model's copy of the code was used
    served = pl.read_parquet(tmp_path / "out.parquet").with_columns(pl.col("target_date").cast(pl.Date))
    expected = model.forecast(pl.from_pandas(REQUEST))
    assert served.height == 3 + H + 1
    assert served.select(COLUMNS).equals(expected.select(COLUMNS))
    assert served["model_version"].unique().to_list() == [str(logged[1])]


def test_retried_step_reuses_its_finished_run(store, logged, good, inputs):
    uri, tmp = store
    assert _log(good, uri, tmp, "run-a", inputs) == logged
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert len(client.search_model_versions(f"name = '{MODEL_NAME}'")) == 1
    experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
    assert len(client.search_runs([experiment])) == 1


def test_promotion_gate_end_to_end(tmp_path, frame, good, weak, inputs):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    features = frame.filter(~pl.col("is_future"))

    # A killed earlier attempt of the same step left a RUNNING run behind: it is closed, not reused.
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    experiment = client.create_experiment(EXPERIMENT, artifact_location=str(tmp_path / "artifacts"))
    stale = client.create_run(experiment, tags={"dagster_run_id": "old", "dagster_asset": "trained_model"})
    weak_run, weak_version = _log(weak, uri, tmp_path, "old", inputs)
    assert weak_run != stale.info.run_id and client.get_run(stale.info.run_id).info.status == "FAILED"
    first = decide_promotion(run_metrics(uri, weak_run), None)
    # No champion yet, and even 2 trees beat seasonal naive here (not the recent median: flagged).
    assert first.promote and "not the recent median" in first.reason, first.reason
    assert first.evidence["beats_recent_median"] is False
    set_champion(uri, weak_version)

    good_run, good_version = _log(good, uri, tmp_path, "better", inputs)
    incumbent = load_forecaster(uri, CHAMPION)
    assert incumbent is not None and incumbent[1] == weak_version
    champion_metrics = evaluate_on_backtest(incumbent[0], features, good.backtest)
    better = decide_promotion(run_metrics(uri, good_run), champion_metrics)
    assert better.promote, better.reason
    assert better.evidence[CHAMPION]["wape"] > better.evidence[CHALLENGER]["wape"]
    set_champion(uri, good_version)

    # The same recipe again beats every baseline, but not the champion scored on its windows (which
    # the champion's final fit has seen).
    again_run, _ = _log(good, uri, tmp_path, "again", inputs)
    incumbent = load_forecaster(uri, CHAMPION)
    champion_metrics = evaluate_on_backtest(incumbent[0], features, good.backtest)
    again = decide_promotion(run_metrics(uri, again_run), champion_metrics)
    assert not again.promote
    assert "does not beat champion" in again.reason
    assert load_forecaster(uri, CHAMPION)[1] == good_version
    assert load_forecaster(uri, CHALLENGER)[1] == 3

    # A provisional promotion is a tag on its version, read back by the next runs' check.
    record_promotion(uri, str(good_version), "gate", True, provisional=True)
    assert is_provisional(uri, str(good_version)) and not is_provisional(uri, str(weak_version))


def test_evaluate_on_backtest_scores_the_same_rows(frame, good):
    features = frame.filter(~pl.col("is_future"))
    scored = evaluate_on_backtest(good.model, features, good.backtest)
    for key in ("naive_wape", "seasonal_naive_wape", "seasonal_naive_mase"):
        assert scored[key] == pytest.approx(good.metrics[key])
    # A model that may answer no row (too little history under its rule) is scored as naive.
    mute = replace(good.model, min_history=10**6)
    muted = evaluate_on_backtest(mute, features, good.backtest)
    assert muted["wape"] == pytest.approx(good.metrics["naive_wape"])
    # champion_model reads only the rows after evaluation_since: the score is the same
    since = evaluation_since(good.model, good.backtest, period_days=1)
    recent = features.filter(pl.col("period_date") > since)
    assert recent.height < features.height
    assert evaluate_on_backtest(good.model, recent, good.backtest) == scored
    # one period less and the oldest origin's origin features change
    short = features.filter(pl.col("period_date") > since + timedelta(days=2))
    assert evaluate_on_backtest(good.model, short, good.backtest) != scored


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "phrase"),
    [
        ({"wape": 0.5, "seasonal_naive_wape": 0.6}, None, True, "no champion"),
        # A first model a little worse than seasonal naive: provisionally, rather than no forecasts.
        ({"wape": 0.7, "seasonal_naive_wape": 0.6}, None, True, "promoted provisionally"),
        ({"wape": 0.8, "seasonal_naive_wape": 0.6}, None, False, "does not beat seasonal naive"),
        ({"wape": 0.7, "seasonal_naive_wape": 0.6}, {"wape": 0.8}, False, "does not beat seasonal naive"),
        ({"wape": 0.5, "seasonal_naive_wape": 0.6}, {"wape": 0.5}, False, "does not beat champion"),
        ({"wape": 0.4, "seasonal_naive_wape": 0.6}, {"wape": 0.5}, True, "beats champion"),
        ({"wape": math.nan, "seasonal_naive_wape": 0.6}, None, False, "not finite"),
        ({"wape": 0.5, "seasonal_naive_wape": 0.6}, {"wape": math.nan}, False, "could not be scored"),
        # The recent median is reported, not required.
        ({"wape": 0.5, "seasonal_naive_wape": 0.6, "recent_median_wape": 0.45}, None, True, "not the recent"),
        ({"wape": 0.4, "seasonal_naive_wape": 0.6, "recent_median_wape": 0.45}, None, True, "no champion"),
    ],
)
def test_decide_promotion_rules(challenger, champion, promote, phrase):
    decision = decide_promotion(challenger, champion)
    assert decision.promote is promote and phrase in decision.reason
    assert decision.provisional is ("provisionally" in phrase)
    assert decision.evidence[CHALLENGER]["seasonal_naive_wape"] == 0.6


def test_a_version_saved_by_code_that_moved_fails_with_what_to_do(tmp_path, monkeypatch):
    """A champion pickled by a module this code no longer has (an upgrade across a re-layout): one
    clear error naming the way out, not a ModuleNotFoundError."""
    import sys

    import mlflow

    from platform_assets.modeling.registry import ModelUnloadable

    module = tmp_path / "gone_layout.py"
    module.write_text(
        "import mlflow\n\nclass Old(mlflow.pyfunc.PythonModel):\n"
        "    def predict(self, context, model_input, params=None):\n        return model_input\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import gone_layout

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=gone_layout.Old(), registered_model_name=MODEL_NAME
        )
    set_champion(uri, info.registered_model_version)
    monkeypatch.delitem(sys.modules, "gone_layout")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    with pytest.raises(ModelUnloadable, match="run the `retrain` job"):
        load_forecaster(uri, CHAMPION)
