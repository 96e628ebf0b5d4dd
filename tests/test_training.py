"""Training, backtest, intervals and forecasts on the small generator of tests/support/frames.py."""

import pickle
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from platform_assets.core.levels import DEFAULT, band_columns, bounds, tails
from platform_assets.features.config import FeatureConfig
from platform_assets.modeling.backtest import backtest_columns
from platform_assets.modeling.combination import Combination
from platform_assets.modeling.forecasting import make_forecasts
from platform_assets.modeling.intervals import MIN_RESIDUALS
from platform_assets.modeling.metrics import coverage
from platform_assets.modeling.segments import classify, window_of
from platform_assets.modeling.selection import MIN_SERIES, apply, choose, combine_backtest
from platform_assets.modeling.statmodels import CANDIDATES, candidate_forecasts
from platform_assets.modeling.train_config import TrainConfig
from platform_assets.modeling.training import train
from tests.support.frames import features_for, forecast_rows, make_data

H = 7
KEYS = ["product_id", "store_id"]


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    return make_data(horizon=H)


@pytest.fixture(scope="module")
def frame(data) -> pl.DataFrame:
    return features_for(data, FeatureConfig(horizon=H))


@pytest.fixture(scope="module")
def history(frame) -> pl.DataFrame:
    return frame.filter(~pl.col("is_future"))


@pytest.fixture(scope="module")
def result(history):
    return train(history, TrainConfig(horizon=H))


def test_backtest_windows_and_baselines(result, history):
    bt = result.backtest
    last = history["period_date"].max()
    assert bt.columns == backtest_columns(DEFAULT)
    assert bt["origin"].unique().sort().to_list() == [last - timedelta(days=H * i) for i in (3, 2, 1)]
    assert (bt["period_date"] - bt["origin"]).dt.total_days().to_list() == bt["horizon"].to_list()
    assert bt["horizon"].min() == 1 and bt["horizon"].max() == H
    y = history.select(*KEYS, "period_date", pl.col("y").alias("y_src"))
    naive = bt.join(y, left_on=[*KEYS, "origin"], right_on=[*KEYS, "period_date"], how="left")
    assert (naive["naive"] == naive["y_src"]).all()
    source = pl.col("origin") + pl.duration(days=-7 + (pl.col("horizon") - 1) % 7 + 1)
    seasonal = bt.with_columns(source.alias("src")).join(
        y, left_on=[*KEYS, "src"], right_on=[*KEYS, "period_date"], how="left"
    )
    assert (seasonal["seasonal_naive"] == seasonal["y_src"].fill_null(seasonal["naive"])).all()
    key, origin = ("p02", "s1"), bt["origin"].min()
    seen = history.filter(
        (pl.col("product_id") == key[0]) & (pl.col("store_id") == key[1]) & (pl.col("period_date") <= origin)
    )["y"].to_numpy()
    scale = bt.filter(
        (pl.col("product_id") == key[0]) & (pl.col("origin") == origin) & (pl.col("store_id") == key[1])
    )
    assert scale["mase_scale"][0] == pytest.approx(np.abs(seen[7:] - seen[:-7]).mean())
    # recent_median: the median of the medium window's (28 days) actuals up to the origin, by hand.
    window = history.filter(
        (pl.col("product_id") == key[0])
        & (pl.col("store_id") == key[1])
        & pl.col("period_date").is_between(origin - timedelta(days=27), origin)
    )["y"]
    assert scale["recent_median"][0] == pytest.approx(window.median())
    assert window.len() == 28


def test_model_beats_every_baseline(result):
    m = result.metrics
    assert all(np.isfinite(v) for v in m.values())
    assert m["wape"] < m["seasonal_naive_wape"] and m["wape"] < m["naive_wape"]
    assert m["wape"] < m["recent_median_wape"]
    assert m["mase"] < m["seasonal_naive_mase"] and m["rmse"] < m["seasonal_naive_rmse"]
    assert result.n_train_rows > 0 and result.importance["gain"].sum() > 0


def test_last_origin_intervals_come_from_earlier_origins_only(result, history):
    """Each level's band at the newest origin, rebuilt by hand from the earlier origins' scaled residuals:
    pooled per step, or the segment's own quantiles (MIN_RESIDUALS or more) in the pooled step profile."""
    on = [*KEYS, "period_date", "origin"]
    bt = result.backtest.join(history.select(*KEYS, "period_date", "scale"), on=[*KEYS, "period_date"]).join(
        result.components.select(*on, "segment"), on=on
    )
    ordered = bt.select(band_columns((80, 95))).to_numpy()
    assert (ordered[:, 0] >= 0).all() and (np.diff(ordered, axis=1) >= 0).all()
    last = bt["origin"].max()
    residual = ((pl.col("y") - pl.col("p50")) / pl.col("scale")).alias("r")
    earlier = bt.filter(pl.col("origin") < last).with_columns(residual)
    newest = bt.filter(pl.col("origin") == last)
    for level, (inner_lo, inner_hi) in ((80, ("p50", "p50")), (95, ("p10", "p90"))):  # never inside the inner
        (q_lo, q_hi), (lower, upper) = tails(level), bounds(level)
        quantiles = [pl.col("r").quantile(q, "linear").alias(n) for q, n in ((q_lo, "lo"), (q_hi, "hi"))]
        everywhere = earlier.select(quantiles).row(0, named=True)
        pooled = earlier.group_by("horizon").agg(quantiles)
        own = earlier.group_by("segment").agg(
            pl.len().alias("n"), *[q.name.suffix("_own") for q in quantiles]
        )
        check = (
            newest.join(pooled, on="horizon")
            .join(own.filter(pl.col("n") >= MIN_RESIDUALS), on="segment", how="left")
            .with_columns(
                pl.coalesce(pl.col(f"{s}_own") * pl.col(s) / everywhere[s], s).alias(s) for s in ("lo", "hi")
            )
        )
        lo, hi = check["p50"] + check["lo"] * check["scale"], check["p50"] + check["hi"] * check["scale"]
        assert np.allclose(check[lower], np.clip(np.minimum(lo, check[inner_lo]), 0, None))
        assert np.allclose(check[upper], np.maximum(hi, check[inner_hi]))
        assert result.metrics[f"coverage_{level}"] == pytest.approx(
            coverage(check["y"], check[lower], check[upper])
        )
    assert own.filter(pl.col("n") >= MIN_RESIDUALS).height > 0  # some segment has a band of its own
    assert 0.6 < result.metrics["coverage_80"] < result.metrics["coverage_95"] < 1
    assert {f"coverage_80_{s}" for s in newest["segment"].unique()} <= set(result.metrics)


def test_each_origin_only_learns_from_its_past(result, history):
    """Scrambling every target after the oldest origin leaves that origin's forecasts and baselines
    unchanged (its window's features were computed from older data: see test_features)."""
    oldest = result.backtest["origin"].min()
    noise = pl.Series(np.random.default_rng(3).uniform(0, 50, history.height))
    scrambled = history.with_columns(
        pl.when(pl.col("period_date") > oldest).then(noise).otherwise("y").alias("y")
    )
    again = train(scrambled, TrainConfig(horizon=H))
    first = pl.col("origin") == oldest
    same = ["p50", "naive", "seasonal_naive", "mase_scale"]
    assert result.backtest.filter(first).select(same).equals(again.backtest.filter(first).select(same))
    assert not result.backtest.filter(~first)["p50"].equals(again.backtest.filter(~first)["p50"])


def test_training_is_deterministic(history):
    cfg = TrainConfig(horizon=H, n_origins=2, params={"num_iterations": 20})
    a, b = train(history, cfg), train(history, cfg)
    assert a.model.model_str == b.model.model_str and a.backtest.equals(b.backtest)


def test_forecaster_predicts_after_pickling_and_tolerates_unseen_categories(result, frame):
    future = forecast_rows(result.model, frame)
    direct = result.model.predict(future)
    restored = pickle.loads(pickle.dumps(result.model)).predict(future)
    assert direct.equals(restored)
    eligible = future.filter(result.model.eligible())
    assert direct.drop_nulls().height == eligible.height > 0
    unseen = future.with_columns(pl.lit("never-seen").alias("category"), pl.lit("b99").alias("brand"))
    assert unseen.height == result.model.predict(unseen).drop_nulls().height + (
        future.height - eligible.height
    )


def test_forecaster_refuses_rows_without_its_features(result, frame):
    """A renamed feature must not reach the booster as an all-null column; catalog attributes come and
    go with the catalog."""
    rows = forecast_rows(result.model, frame)
    with pytest.raises(ValueError, match=r"model reads: \['roll_mean_7'\]"):
        result.model.predict(rows.rename({"roll_mean_7": "rolling_mean_7"}))
    with pytest.raises(ValueError, match=r"model reads: \['origin_last'"):
        result.model.predict(frame.filter("is_future"))  # origin features not read
    assert "attr_weight_kg" in result.model.feature_names
    changed = rows.drop("attr_weight_kg").with_columns(pl.lit(1.0).alias("attr_new"))
    unknown = rows.with_columns(pl.lit(None, pl.Float64).alias("attr_weight_kg"))
    assert result.model.predict(changed).equals(result.model.predict(unknown))


def test_forecasts_cover_every_active_series_exactly_once(result, frame, data):
    past = frame.filter(~pl.col("is_future"))
    fc = make_forecasts(result.model, frame.filter("is_future"), data["series"], history=past)
    assert fc.equals(make_forecasts(result.model, frame, data["series"]))
    # The origin features need only the newest 28 days of actuals (what the forecasts asset reads).
    recent = past.filter(pl.col("period_date") >= past["period_date"].max() - timedelta(days=28))
    assert fc.equals(make_forecasts(result.model, frame.filter("is_future"), data["series"], history=recent))
    with pytest.raises(ValueError, match="origin features"):
        make_forecasts(result.model, frame.filter("is_future"), data["series"])
    active = data["series"].filter("is_active").select(KEYS).sort(KEYS)
    assert fc.select(KEYS).unique().sort(KEYS).equals(active)
    per_series = fc.group_by(KEYS).agg(pl.col("horizon").sort(), pl.col("target_date").sort())
    last = data["sales"]["period_date"].max()
    assert all(h.to_list() == list(range(1, H + 1)) for h in per_series["horizon"])
    assert all(
        d.to_list() == [last + timedelta(days=h) for h in range(1, H + 1)] for d in per_series["target_date"]
    )
    assert ((fc["p10"] >= 0) & (fc["p10"] <= fc["p50"]) & (fc["p50"] <= fc["p90"])).all()
    assert fc.null_count().sum_horizontal().item() == 0
    methods = dict(
        fc.group_by(KEYS).agg(pl.col("method").first()).select(pl.concat_str(KEYS), "method").iter_rows()
    )
    assert methods.pop("p_news0") == "fallback" and methods.pop("p11s1") == "fallback"
    assert set(methods.values()) == {"model"}
    assert "p01s0" not in methods  # discontinued: not active


def test_fallback_values(result, frame, data):
    fc = make_forecasts(result.model, frame, data["series"])
    short = data["sales"].filter((pl.col("product_id") == "p11") & (pl.col("store_id") == "s1"))
    assert short.height == 3
    got = fc.filter((pl.col("product_id") == "p11") & (pl.col("store_id") == "s1"))
    assert got["p50"].to_list() == pytest.approx([short["units_sold"].median()] * H)
    # The 95% band of the fallback: the quantiles of the same recent actuals.
    wide = [short["units_sold"].quantile(q, "linear") for q in (0.025, 0.975)]
    assert got.select("p2_5", "p97_5").unique().rows() == [pytest.approx(tuple(wide))]
    new = fc.filter(pl.col("product_id") == "p_new").sort("horizon")
    peers = fc.filter(pl.col("product_id").is_in(["p00", "p03", "p06", "p09"]))  # cat0, every store
    expected = peers.group_by("horizon").agg(pl.col("p50").median()).sort("horizon")["p50"]
    assert new["p50"].to_list() == pytest.approx(expected.to_list())


def test_price_target(data):
    frame = features_for(data, FeatureConfig(target="price", horizon=H)).filter(~pl.col("is_future"))
    res = train(frame, TrainConfig(horizon=H, target="price", n_origins=2, params={"num_iterations": 100}))
    assert "price" not in res.model.feature_names
    assert res.metrics["wape"] < 0.1 and res.metrics["coverage_80"] > 0.5


def test_short_history_keeps_the_newest_origins_or_is_refused(history):
    res = train(history, TrainConfig(horizon=H, n_origins=40, params={"num_iterations": 5}))
    last = history["period_date"].max()
    used = res.backtest["origin"].unique().sort()
    assert 2 <= res.params["n_origins_used"] == used.len() < 40
    assert used.to_list() == [last - timedelta(days=H * i) for i in range(used.len(), 0, -1)]
    first_days = history.filter(pl.col("period_date") < history["period_date"].min() + timedelta(days=12))
    with pytest.raises(ValueError, match="history too short.*set a shorter SHELFCAST_HORIZON"):
        train(first_days, TrainConfig(horizon=H, params={"num_iterations": 5}))


@pytest.mark.parametrize(("freq", "periods"), [("W", 104), ("M", 60)])
def test_weekly_and_monthly_train_and_forecast(freq, periods):
    data = make_data(n_products=6, n_stores=2, periods=periods, horizon=4, freq=freq)
    frame = features_for(data, FeatureConfig(horizon=4, freq=freq))
    params = {"num_iterations": 50, "min_data_in_leaf": 5}
    res = train(frame.filter(~pl.col("is_future")), TrainConfig(horizon=4, freq=freq, params=params))
    assert res.params["n_origins_used"] == 3 and res.metrics["wape"] < res.metrics["seasonal_naive_wape"]
    fc = make_forecasts(res.model, frame, data["series"])
    active = data["series"].filter("is_active").height
    assert fc.height == 4 * active and set(fc["method"]) == {"model", "fallback"}


def test_segment_rule_reads_interval_and_size_variation():
    """Syntetos-Boylan on hand-made windows: ADI = periods / periods with demand, CV^2 of the sizes."""
    n = 12
    series = {
        "smooth": [5.0, 6.0] * (n // 2),
        "erratic": [1.0, 20.0, 2.0, 30.0] * (n // 4),
        "intermittent": [4.0, 0.0, 0.0] * (n // 3),
        "lumpy": [1.0, 0.0, 0.0, 30.0, 0.0, 0.0] * (n // 6),
        "sparse": [0.0] * (n - 2) + [3.0, 3.0],
    }
    recent = pl.DataFrame(
        {
            "product_id": [name for name, ys in series.items() for _ in ys],
            "store_id": "s0",
            "_pn": [p for ys in series.values() for p in range(len(ys))],
            "y": [v for ys in series.values() for v in ys],
        }
    )
    got = {r["product_id"]: r for r in classify(recent).iter_rows(named=True)}
    assert {k: r["segment"] for k, r in got.items()} == {k: k for k in series}
    assert got["intermittent"]["adi"] == pytest.approx(3.0) and got["intermittent"]["cv2"] == 0.0
    assert got["intermittent"]["zero_share"] == pytest.approx(2 / 3)
    assert got["lumpy"]["cv2"] == pytest.approx((14.5 / 15.5) ** 2)
    # The window starts at the series' first actual and keeps a missing period missing (null y).
    late = pl.DataFrame(
        {"product_id": "p", "store_id": "s", "_pn": [1, 2, 3, 4], "y": [None, 2.0, None, 3.0]}
    )
    assert window_of(late, origin_pn=4, window=4)["y"].to_list() == [2.0, None, 3.0]
    assert window_of(late, origin_pn=3, window=2)["y"].to_list() == [2.0, None]
    # A missing period is not a zero sale: a smooth series with every other period missing stays
    # smooth (read as zeros, its ADI would be 2: intermittent).
    gappy = recent.filter(pl.col("product_id") == "smooth").with_columns(
        pl.when(pl.col("_pn") % 2 == 1).then(pl.col("y")).alias("y")
    )
    gappy = pl.concat([gappy, gappy.with_columns(pl.col("_pn") + n, pl.lit(None, pl.Float64).alias("y"))])
    seen = classify(gappy).row(0, named=True)
    assert seen["segment"] == "smooth" and seen["adi"] == 1.0 and seen["periods"] == n // 2
    assert seen["zero_share"] == 0.0


def test_candidates_are_timed_per_method_and_parallel_fits_change_nothing():
    """Each segment's candidates are fitted (smooth: ETS, Theta; intermittent: Croston, TSB, ADIDA,
    IMAPA), each timed apart; ETS and Theta in two processes forecast what one process does."""
    rng = np.random.default_rng(7)
    n, days = 6, 56
    ys = {"smooth": rng.poisson(20.0, (n, days)), "intermittent": rng.poisson(0.3, (n, days))}
    history = pl.DataFrame(
        {
            "product_id": [f"{kind}{i}" for kind, a in ys.items() for i in range(n) for _ in range(days)],
            "store_id": "s0",
            "_pn": list(range(days)) * (2 * n),
            "y": np.concatenate([a.ravel() for a in ys.values()]).astype(float),
        }
    )
    segments, alone, seconds = candidate_forecasts(history, days - 1, H, "D", 7, n_jobs=1)
    _, pooled, _ = candidate_forecasts(history, days - 1, H, "D", 7, n_jobs=2)
    assert set(seconds) == set(CANDIDATES) and all(s > 0 for s in seconds.values())
    assert pooled.equals(alone) and alone.height == segments.filter(pl.col("segment") != "sparse").height * H
    smooth = alone.filter(pl.col("product_id").str.starts_with("smooth"))
    assert smooth["ets"].null_count() == 0 and smooth["croston"].null_count() == smooth.height


def test_combination_chooses_on_earlier_origins_only():
    """ETS beats LightGBM on the first two origins and loses on the third. The third origin's forecast,
    chosen on the first two, is ETS's; the final choice, over all three, keeps LightGBM: a candidate
    worse than LightGBM on any origin it is judged on never replaces it. Peeking at the scored origin
    would have given LightGBM there."""
    o1, o2, o3 = date(2024, 1, 7), date(2024, 1, 14), date(2024, 1, 21)
    lgbm, ets = {o1: 14.0, o2: 14.0, o3: 10.0}, {o1: 10.0, o2: 10.0, o3: 12.0}
    points = _points((o1, o2, o3), lgbm, ets)
    combined, final = combine_backtest(points)
    assert final == {}
    assert combined.filter(pl.col("origin") < o3)["method"].unique().to_list() == ["lgbm"]
    third = combined.filter(pl.col("origin") == o3)
    assert set(third["method"]) == {"ets"} and set(third["p50"]) == {12.0}
    # Winning on every origin, by far, gives the candidate alone; a series it did not fit keeps LightGBM.
    _, chosen = combine_backtest(_points((o1, o2, o3), lgbm | {o3: 14.0}, ets | {o3: 10.0}))
    assert chosen == {"smooth": "ets"}
    unfitted = points.filter(pl.col("origin") == o3).with_columns(pl.lit(None, pl.Float64).alias("ets"))
    assert set(apply(unfitted, chosen)["p50"]) == {10.0}


def test_a_candidate_needs_a_margin_and_enters_shrunk():
    """Within the 3% margin LightGBM stays; ETS erring the other way from LightGBM enters as a blend,
    the share that errs least; one origin or too few series are no evidence."""
    days = (date(2024, 1, 7), date(2024, 1, 14))
    assert choose(_points(days, dict.fromkeys(days, 10.3), dict.fromkeys(days, 10.295))) == {}
    # y = 10: LightGBM 12, ETS 4: ETS alone errs 6, half and half 2, a quarter of ETS 0.
    assert choose(_points(days, dict.fromkeys(days, 12.0), dict.fromkeys(days, 4.0))) == {
        "smooth": "light_ets"
    }
    assert choose(_points(days, dict.fromkeys(days, 12.0), dict.fromkeys(days, 8.0))) == {
        "smooth": "blend_ets"
    }
    assert choose(_points(days[:1], dict.fromkeys(days, 12.0), dict.fromkeys(days, 10.0))) == {}  # 1 origin
    # A segment of MIN_SERIES - 1 series in a catalog with more: too few.
    few = _points(days, dict.fromkeys(days, 12.0), dict.fromkeys(days, 10.0), n=MIN_SERIES - 1)
    other = few.filter(pl.col("product_id") == "p0").with_columns(
        product_id=pl.lit("q"), segment=pl.lit("erratic")
    )
    assert choose(pl.concat([few, other])) == {}


def test_a_small_catalog_counts_all_its_series_as_enough():
    """A catalog of fewer than MIN_SERIES series, all in one segment, where ETS beats LightGBM by far on
    every origin gets ETS; the margin, the origins and 'never worse on any origin' still hold: the
    4-series noise case, a candidate winning two origins and losing the third, keeps LightGBM."""
    days = (date(2024, 1, 7), date(2024, 1, 14), date(2024, 1, 21))
    clear = _points(days, dict.fromkeys(days, 14.0), dict.fromkeys(days, 10.0), n=4)
    assert choose(clear) == {"smooth": "ets"}
    assert choose(_points(days[:1], dict.fromkeys(days, 14.0), dict.fromkeys(days, 10.0), n=1)) == {}
    lost_third = _points(days, dict.fromkeys(days, 14.0), {days[0]: 10.0, days[1]: 10.0, days[2]: 14.5}, n=4)
    assert choose(lost_third) == {}
    near = _points(days, dict.fromkeys(days, 10.3), dict.fromkeys(days, 10.295), n=4)
    assert choose(near) == {}
    # Split over segments, no segment holds the whole small catalog: no choice.
    split = clear.with_columns(
        pl.when(pl.col("product_id") == "p0").then(pl.lit("erratic")).otherwise("segment").alias("segment")
    )
    assert choose(split) == {}


def _points(origins, lgbm: dict, ets: dict, n: int = MIN_SERIES) -> pl.DataFrame:
    """Backtest components of `n` smooth series with y = 10 at each origin."""
    return pl.DataFrame(
        {
            "product_id": [f"p{i}" for i in range(n)] * len(origins),
            "store_id": "s0",
            "origin": [o for o in origins for _ in range(n)],
            "segment": "smooth",
            "y": 10.0,
            "lgbm": [lgbm[o] for o in origins for _ in range(n)],
            **{c: pl.Series([None] * n * len(origins), dtype=pl.Float64) for c in CANDIDATES},
        }
    ).with_columns(pl.Series("ets", [ets[o] for o in origins for _ in range(n)]))


def test_forecasts_with_statistical_choices_keep_the_contract(result, frame, data):
    """Every segment forced onto a statistical method: the models are refitted on the history passed,
    and the output keeps one ordered band per active series and step."""
    past = frame.filter(~pl.col("is_future"))
    forced = Combination(
        result.model,
        {"smooth": "ets", "erratic": "blend_theta", "intermittent": "croston", "lumpy": "blend_tsb"},
        result.combination.offsets,
    )
    fc = make_forecasts(forced, frame.filter("is_future"), data["series"], history=past)
    alone = make_forecasts(result.model, frame.filter("is_future"), data["series"], history=past)
    assert fc.select(*KEYS, "horizon").equals(alone.select(*KEYS, "horizon"))
    assert ((fc["p10"] >= 0) & (fc["p10"] <= fc["p50"]) & (fc["p50"] <= fc["p90"])).all()
    assert fc.null_count().sum_horizontal().item() == 0 and fc["method"].equals(alone["method"])
    changed = (
        fc.filter(pl.col("method") == "model")["p50"] != alone.filter(pl.col("method") == "model")["p50"]
    )
    assert changed.any()
    # Without history the local models cannot be refitted: refused by the origin features already.
    with pytest.raises(ValueError, match="origin features"):
        make_forecasts(forced, frame.filter("is_future"), data["series"])
