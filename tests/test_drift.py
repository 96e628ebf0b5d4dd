"""Drift statistics: hand-computed values, agreement with scipy, and the verdicts on seeded data."""

import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from scipy import stats

from platform_assets.monitoring.drift import (
    SCORES_SCHEMA,
    DriftConfig,
    dataset_drift,
    feature_drift,
    psi,
    psi_from_counts,
)

CATS = ["a", "b", "c", "d", "e", "f"]


def _frame(
    rng: np.random.Generator, n: int, shift: float = 0.0, mix: list[float] | None = None
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "price": rng.normal(10.0 + shift * 2.0, 2.0, size=n),  # std 2: shift is in std units
            "category": rng.choice(CATS, size=n, p=mix),
        }
    )


def _row(scores: pl.DataFrame, feature: str) -> dict:
    return scores.filter(pl.col("feature") == feature).row(0, named=True)


def test_identical_distributions_do_not_drift():
    rng = np.random.default_rng(7)
    scores = feature_drift(_frame(rng, 20_000), _frame(rng, 20_000))
    assert scores.schema == pl.Schema(SCORES_SCHEMA)
    assert scores["method"].to_list() == ["wasserstein", "jensenshannon"]
    assert scores["drifted"].to_list() == [False, False]
    price, category = _row(scores, "price"), _row(scores, "category")
    assert price["wasserstein_norm"] < 0.03 and price["psi"] < 0.01 and price["ks_pvalue"] > 0.01
    assert category["js_distance"] < 0.03 and category["chi2_pvalue"] > 0.01
    assert price["js_distance"] is None and category["psi"] is None
    assert dataset_drift(scores)["dataset_drift"] is False


@pytest.mark.parametrize(
    ("n", "numeric", "categorical"), [(20_000, "wasserstein", "jensenshannon"), (500, "ks", "chi2")]
)
def test_shifted_mean_and_category_mix_drift(n, numeric, categorical):
    rng = np.random.default_rng(11)
    reference = _frame(rng, n)
    current = _frame(rng, n, shift=0.5, mix=[0.35, 0.25, 0.1, 0.1, 0.1, 0.1])
    scores = feature_drift(reference, current)
    price, category = _row(scores, "price"), _row(scores, "category")
    assert (price["method"], category["method"]) == (numeric, categorical)
    assert price["drifted"] is True and category["drifted"] is True
    assert price["wasserstein_norm"] == pytest.approx(0.5, abs=0.1)
    assert price["score"] == price[{"wasserstein": "wasserstein_norm", "ks": "ks_pvalue"}[numeric]]
    assert category["score"] == category[{"jensenshannon": "js_distance", "chi2": "chi2_pvalue"}[categorical]]
    assert dataset_drift(scores) == {
        "n_features": 2,
        "n_drifted": 2,
        "share_drifted": 1.0,
        "dataset_drift": True,
        "n_undecided": 0,
    }


def test_psi_by_hand():
    # shares 0.5/0.5 -> 0.25/0.75: (0.25-0.5)ln(0.5) + (0.75-0.5)ln(1.5) = 0.25 ln 3
    assert psi_from_counts([50, 50], [25, 75]) == pytest.approx(0.25 * math.log(3))
    # reference 1..4 split at its median 2.5; current puts 1 of 4 below it
    assert psi([1, 2, 3, 4], [1, 3, 4, 4], bins=2) == pytest.approx(0.25 * math.log(3))
    # 10 reference-quantile bins on 1..10 hold one value each; current fills only the first two, the
    # eight empty bins get epsilon = 1e-4 and the shares are renormalised
    full, empty = 0.5 / 1.0008, 1e-4 / 1.0008
    expected = 2 * (full - 0.1) * math.log(full / 0.1) + 8 * (empty - 0.1) * math.log(empty / 0.1)
    assert psi(np.arange(1, 11), [1] * 5 + [2] * 5) == pytest.approx(expected)
    assert psi(np.arange(1, 11), np.arange(1, 11)) == pytest.approx(0.0)
    # bins are right-closed: with reference 1, 2, 3 the median edge is 2 and 2 falls in the lower bin
    lower = (0.75 - 2 / 3) * math.log(0.75 / (2 / 3)) + (0.25 - 1 / 3) * math.log(0.25 / (1 / 3))
    assert psi([1, 2, 3], [2, 2, 2, 3], bins=2) == pytest.approx(lower)


def test_normed_wasserstein_by_hand():
    reference = pl.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]})
    shifted = feature_drift(reference, reference.select(pl.col("x") + 1.0))
    # every unit moves by 1, over the reference's population std sqrt(35/12)
    assert _row(shifted, "x")["wasserstein_norm"] == pytest.approx(1 / math.sqrt(35 / 12))
    # constant reference: the std is floored at 1e-3 instead of dividing by zero
    constant = feature_drift(pl.DataFrame({"x": [5.0] * 6}), reference.select(pl.col("x") + 5.0))
    assert _row(constant, "x")["wasserstein_norm"] == pytest.approx((0 + 1 + 2 + 3 + 4 + 5) / 6 / 1e-3)


@pytest.mark.parametrize("n", [300, 30_000])  # scipy's exact and asymptotic KS regimes
def test_numeric_stats_match_scipy_with_ties(n):
    rng = np.random.default_rng(3)
    ref = rng.poisson(4.0, size=n).astype(float)  # many ties, more than 5 distinct values
    cur = rng.poisson(4.4, size=n * 2 // 3).astype(float)
    row = _row(feature_drift(pl.DataFrame({"x": ref}), pl.DataFrame({"x": cur})), "x")
    ks = stats.ks_2samp(ref, cur)
    assert row["kind"] == "numeric"
    assert row["ks_stat"] == pytest.approx(ks.statistic, abs=1e-12)
    assert row["ks_pvalue"] == pytest.approx(ks.pvalue, rel=1e-9, abs=1e-300)
    assert row["wasserstein_norm"] == pytest.approx(stats.wasserstein_distance(ref, cur) / np.std(ref))


def test_categorical_stats_match_scipy_and_new_category_drifts():
    reference = pl.DataFrame({"c": ["a"] * 60 + ["b"] * 40})
    current = pl.DataFrame({"c": ["a"] * 55 + ["b"] * 45})
    row = _row(feature_drift(reference, current), "c")
    assert row["method"] == "chi2"
    assert row["chi2_pvalue"] == pytest.approx(stats.chisquare([55, 45], [60, 40]).pvalue)
    # JS distance, natural log as Evidently: sqrt of the mean KL divergence to the mixture
    m = np.array([0.575, 0.425])
    js = math.sqrt((stats.entropy([0.6, 0.4], m) + stats.entropy([0.55, 0.45], m)) / 2)
    assert row["js_distance"] == pytest.approx(js)
    assert row["drifted"] is False  # chi2 = 25/60 + 25/40, p ~ 0.31: within noise

    brand_new = _row(feature_drift(reference, pl.DataFrame({"c": ["a"] * 60 + ["z"] * 40})), "c")
    assert brand_new["drifted"] is True and brand_new["chi2_pvalue"] < 1e-6

    # one category in both frames: nothing can move (scipy alone would give a nan p-value)
    single = _row(feature_drift(pl.DataFrame({"c": ["a"] * 10}), pl.DataFrame({"c": ["a"] * 30})), "c")
    assert (single["chi2_pvalue"], single["js_distance"], single["drifted"]) == (1.0, 0.0, False)


def test_dtypes_nulls_and_low_cardinality():
    rng = np.random.default_rng(5)
    n = 2_000
    reference = pl.DataFrame(
        {
            "on_promo": rng.random(n) < 0.2,
            "store": pl.Series(rng.choice(["s1", "s2"], size=n)).cast(pl.Categorical),
            "pack_size": rng.choice([1, 2, 6], size=n),
            "price": rng.normal(5, 1, size=n),
            "empty": pl.Series([None] * n, dtype=pl.Float64),
            "day": [date(2024, 1, 1)] * n,
        }
    )
    price = reference["price"].to_numpy().copy()
    price[: n // 4] = np.nan
    current = reference.with_columns(
        on_promo=rng.random(n) < 0.6,
        price=pl.Series(price).fill_nan(None).scatter([0], [None]),
    )
    scores = feature_drift(reference, current)
    assert scores["feature"].to_list() == ["on_promo", "store", "pack_size", "price", "empty"]  # no Date
    promo, pack, p, empty = (_row(scores, f) for f in ("on_promo", "pack_size", "price", "empty"))
    assert promo["kind"] == "categorical" and promo["drifted"] is True
    assert pack["kind"] == "categorical" and "3 distinct" in pack["note"] and pack["drifted"] is False
    assert p["n_current"] == n - n // 4 and p["null_share_current"] == pytest.approx(0.25)
    assert p["drifted"] is False  # the remaining values are the same draws
    assert empty["drifted"] is None and empty["score"] is None and "reference and current" in empty["note"]
    assert dataset_drift(scores)["n_undecided"] == 1

    with pytest.raises(KeyError, match="missing"):
        feature_drift(reference, current.drop("price"), columns=["price"])
    with pytest.raises(TypeError, match="unsupported"):
        feature_drift(reference, current, columns=["day"])


def test_method_override_and_config_validation():
    rng = np.random.default_rng(2)
    frames = _frame(rng, 5_000), _frame(rng, 5_000, shift=0.5)
    scores = feature_drift(*frames, cfg=DriftConfig(numeric_method="psi"))
    price = _row(scores, "price")
    assert (price["method"], price["threshold"], price["score"]) == ("psi", 0.1, price["psi"])
    assert price["drifted"] is True
    # a distance equal to its threshold counts as drift (score >= threshold, Evidently's convention)
    at_threshold = DriftConfig(numeric_method="psi", psi_threshold=price["psi"])
    assert _row(feature_drift(*frames, cfg=at_threshold), "price")["drifted"] is True
    with pytest.raises(ValueError, match="numeric_method"):
        DriftConfig(numeric_method="kl")
    with pytest.raises(ValueError, match="drift_share"):
        DriftConfig(drift_share=0.0)


def test_dataset_drift_share_rule():
    def scores(verdicts: list[bool | None]) -> pl.DataFrame:
        return pl.DataFrame({"drifted": verdicts}, schema={"drifted": pl.Boolean})

    assert dataset_drift(scores([True, False]))["dataset_drift"] is True  # 0.5 >= 0.5
    assert dataset_drift(scores([True, False, False]))["dataset_drift"] is False
    assert dataset_drift(scores([True, False, False]), DriftConfig(drift_share=0.3))["dataset_drift"] is True
    undecided = dataset_drift(scores([True, None, None, False]))
    assert (undecided["n_features"], undecided["share_drifted"], undecided["n_undecided"]) == (2, 0.5, 2)
    assert dataset_drift(scores([None]))["dataset_drift"] is None


def test_deterministic_and_thread_independent():
    def run(n_threads: int) -> pl.DataFrame:
        rng = np.random.default_rng(42)
        reference = _frame(rng, 3_000).with_columns(price2=pl.col("price") * 3)
        current = _frame(rng, 3_000, shift=0.1, mix=[0.2] * 5 + [0.0]).with_columns(
            price2=pl.col("price") ** 2
        )
        return feature_drift(reference, current, n_threads=n_threads)

    first = run(2)
    assert first["feature"].to_list() == ["price", "category", "price2"]
    assert_frame_equal(first, run(2))
    assert_frame_equal(first, run(1))
