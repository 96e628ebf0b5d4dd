"""Seeded series samples (sampling.py) and the row cap they give every fit (plan.py, training.py)."""

import polars as pl
import pytest

from platform_assets.core.keys import KEYS
from platform_assets.modeling.rows import training_rows
from platform_assets.modeling.sampling import sample_series
from platform_assets.modeling.train_config import TrainConfig
from platform_assets.modeling.training import train
from platform_assets.storage.duckdb_warehouse import DuckDBWarehouse
from tests.support.frames import training_history

H = 7


@pytest.fixture(scope="module")
def history() -> pl.DataFrame:
    return training_history(H)


def test_sample_fits_the_budget_and_keeps_whole_series(history):
    counts = history.group_by(KEYS).len()
    budget = history.height // 3
    series = sample_series(history, seed=7, max_rows=budget)
    kept = history.join(series, on=KEYS, how="semi", maintain_order="left")
    assert 0 < kept.height <= budget
    # whole series: each kept series has every one of its rows, in the original order
    assert (
        kept.group_by(KEYS)
        .len()
        .join(counts, on=KEYS, suffix="_all")
        .filter(pl.col("len") != pl.col("len_all"))
        .is_empty()
    )
    assert kept.equals(history.join(kept.select(KEYS).unique(), on=KEYS, how="semi", maintain_order="left"))
    # the budget is spent: the next series in the seeded order would not have fit
    assert budget - kept.height < counts["len"].max()


def test_sample_is_seeded_and_independent_of_row_order(history):
    budget = history.height // 3
    a = sample_series(history, seed=7, max_rows=budget)
    shuffled = history.sample(fraction=1.0, shuffle=True, seed=1)
    assert a.equals(sample_series(shuffled, seed=7, max_rows=budget))
    assert not a.equals(sample_series(history, seed=8, max_rows=budget))
    assert sample_series(history, seed=7, max_rows=history.height).equals(
        history.select(KEYS).unique().sort(KEYS)
    )
    assert sample_series(history, seed=7, max_rows=1).height == 1  # never an empty fit


@pytest.fixture(scope="module")
def capped_result(history):
    return train(history, TrainConfig(horizon=H, max_fit_rows=history.height // 2))


def test_capped_fit_scores_every_series(capped_result, history):
    full = train(history, TrainConfig(horizon=H, max_fit_rows=None))
    assert capped_result.n_train_rows <= history.height // 2 < full.n_train_rows
    assert capped_result.params["fit_series"] < full.params["fit_series"]
    assert capped_result.params["eligible_rows"] == full.n_train_rows
    # the backtest still scores every series, on the same rows as the uncapped model
    rows = [*KEYS, "origin", "period_date", "y", "naive", "seasonal_naive"]
    assert capped_result.backtest.select(rows).equals(full.backtest.select(rows))
    assert not capped_result.backtest["p50"].equals(full.backtest["p50"])
    m = capped_result.metrics
    assert m["wape"] < m["seasonal_naive_wape"] and m["wape"] < m["naive_wape"]


def test_training_reads_only_the_planned_rows_and_trains_the_same_model(history, tmp_path):
    """trained_model's read (the narrow columns of every row, all columns of the planned rows only)
    gives the model a whole-table read gives: same booster, same backtest."""
    cfg = TrainConfig(horizon=H, max_fit_rows=history.height // 2, params={"num_iterations": 40})
    warehouse = DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))
    odd = history.with_columns(pl.col("product_id") + ":x|")  # ids holding the key's separators
    warehouse.replace_table("features", "training_features", odd)
    narrow, rows, plan = training_rows(warehouse, cfg)
    assert narrow.height == odd.height and rows.height < odd.height
    whole = train(odd.sort([*KEYS, "period_date"]), cfg)
    planned = train(rows, cfg, narrow=narrow, plan=plan)
    assert planned.model.model_str == whole.model.model_str
    assert planned.backtest.equals(whole.backtest)
