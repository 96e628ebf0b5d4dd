"""What users see of a real small graph (the shared `served_graph`): the `forecasts` and
`trained_model` metadata, the forecast and model-quality reports (on disk and in MLflow), and the
`shelfcast status | forecast | export | report` commands, which answer what the API serves."""

import os
import re
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import dagster as dg
import duckdb
import matplotlib.image
import polars as pl
import pytest
from mlflow import MlflowClient

from platform_assets.cli.shelfcast import main
from platform_assets.modeling.metrics import wape
from platform_assets.serving.bundle import current_generation
from platform_assets.serving.layout import serving_root
from platform_assets.serving.loaded import load_bundle
from tests.support.graph import ServedGraph, materialization_metadata

PRODUCT, STORE = "P0001", "S01"


def _query(graph: ServedGraph, sql: str, params: list | None = None) -> pl.DataFrame:
    with duckdb.connect(str(graph.home / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql, params or []).pl()


@pytest.fixture()
def home(served_graph: ServedGraph, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in [v for v in os.environ if v.startswith("SHELFCAST_") or v == "DAGSTER_HOME"]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("SHELFCAST_HOME", str(served_graph.home))
    return served_graph.home


def test_forecasts_metadata_and_report_show_every_series(served_graph: ServedGraph):
    [meta] = materialization_metadata(served_graph.result, "forecasts")
    latest = _query(
        served_graph, "select * from marts.forecasts_latest order by product_id, store_id, horizon"
    )
    assert meta["date_range"] == f"{latest['target_date'].min()} .. {latest['target_date'].max()} (7 periods)"
    preview = meta["preview"].splitlines()
    band = "p2_5 | p10 | p50 | p90 | p97_5"
    assert preview[0] == f"| product_id | store_id | category | method | target_date | {band} | p50 total |"
    assert len(preview) == 2 + 10
    assert meta["top_series"].startswith("![top_series.png](data:image/png;base64,")
    assert "| model |" in meta["method_mix"]
    report = Path(meta["forecast_report_file"])
    assert report.parent == served_graph.home / "reports" / "forecasts" / served_graph.result.run_id
    run_id = latest["mlflow_run_id"][0]
    assert meta["forecast_report"].startswith("http://127.0.0.1:5000/#/experiments/")
    assert meta["forecast_report"].endswith(
        f"/runs/{run_id}/artifactPath/monitoring/forecasts/{report.parent.name}/forecast_report.html"
    )
    logged = MlflowClient(f"sqlite:///{served_graph.home / 'mlflow.db'}").list_artifacts(
        run_id, f"monitoring/forecasts/{report.parent.name}"
    )
    assert {Path(a.path).name for a in logged} == {"forecast_report.html", "top_series.png"}

    page = report.read_text()
    assert page.count("<section ") == latest.select("product_id", "store_id").n_unique()
    section = re.search(rf'<section [^>]*data-series="{PRODUCT} @ {STORE}".*?</section>', page, re.S).group(0)
    one = latest.filter(pl.col("product_id") == PRODUCT, pl.col("store_id") == STORE)
    for p50 in one["p50"]:
        assert f'<td class="num">{p50:.3f}</td>' in section
    backtest = _query(
        served_graph,
        "select * from ml.backtest_predictions where model_version = ? and product_id = ? and store_id = ?",
        [one["model_version"][0], PRODUCT, STORE],
    )
    assert f"WAPE {wape(backtest['y'], backtest['p50']):.3f}" in section


def test_trained_model_metadata_is_readable_and_links(served_graph: ServedGraph):
    [meta] = materialization_metadata(served_graph.result, "trained_model")
    quality = meta["quality"].splitlines()
    assert quality[0] == "| method | WAPE | MASE | sMAPE | RMSE | coverage 80% | coverage 95% |"
    assert [line.split(" | ")[0] for line in quality[2:6]] == [
        "| model",
        "| naive",
        "| seasonal naive",
        "| recent median",
    ]
    assert all(re.fullmatch(r"\d+\.\d{3}", cell.strip()) for cell in quality[2].split("|")[2:6])
    backtest = _query(served_graph, "select y from ml.backtest_predictions")
    zero_share = (backtest["y"] == 0).mean()
    assert (
        zero_share > 0.05 and f"{zero_share:.0%} of the backtest periods sold nothing" in meta["sMAPE_note"]
    )
    categories = _query(served_graph, "select distinct category from marts.dim_series")
    assert len(meta["by_category"].splitlines()) == 2 + categories.height
    assert len(meta["by_store"].splitlines()) == 2 + 2
    assert len(meta["worst_series"].splitlines()) == 2 + 10
    by_segment = meta["coverage_by_segment"].splitlines()
    assert by_segment[0] == "| segment | coverage 80% | coverage 95% |" and by_segment[-1].startswith(
        "| all |"
    )
    shown = ("quality", "by_category", "by_store", "worst_series", "coverage_by_segment")
    assert all(len(meta[k]) < 1000 for k in shown)  # shown in place
    assert meta["mlflow_run"].endswith(f"/runs/{meta['mlflow_run_id']}")
    assert meta["model_version_page"].endswith(
        f"/#/models/shelfcast-forecaster/versions/{meta['model_version']}"
    )
    page = Path(meta["model_quality_file"]).read_text()
    assert "The 10 worst series" in page and page.count("<svg ") == 10


def test_forecast_prints_and_plots_what_the_api_serves(
    home: Path, capsys: pytest.CaptureFixture, tmp_path: Path
):
    bundle = load_bundle(serving_root(home), current_generation(serving_root(home)))
    served = bundle.forecasts.filter(pl.col("product_id") == PRODUCT, pl.col("store_id") == STORE)
    assert main(["forecast", PRODUCT, STORE]) == 0
    out = capsys.readouterr().out
    for p50 in served["p50"]:
        assert f"{p50:.2f}" in out
    assert f"model v{bundle.model_version}" in out

    assert main(["forecast", PRODUCT, "--plot", str(tmp_path / "all.png")]) == 0
    assert matplotlib.image.imread(tmp_path / "all.png").shape[:2] == (2 * 220, 900)  # both stores
    assert main(["forecast", PRODUCT, STORE, "--plot", str(tmp_path / "one.png")]) == 0
    assert matplotlib.image.imread(BytesIO((tmp_path / "one.png").read_bytes())).shape[:2] == (300, 800)

    capsys.readouterr()
    assert main(["forecast", "P9999"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "P9999" in err and "Traceback" not in err


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_writes_every_served_forecast(
    home: Path, capsys: pytest.CaptureFixture, tmp_path: Path, fmt: str
):
    path = tmp_path / f"out.{fmt}"
    assert main(["export", "--format", fmt, "--output", str(path)]) == 0
    read = pl.read_csv(path, try_parse_dates=True) if fmt == "csv" else pl.read_parquet(path)
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        latest = con.sql("select product_id, store_id, horizon, p50 from marts.forecasts_latest").pl()
    joined = read.join(latest, on=["product_id", "store_id", "horizon"], how="full", coalesce=True)
    assert read.height == latest.height == joined.height
    assert (joined["p50"] - joined["p50_right"]).abs().max() < 1e-9
    assert f"wrote {latest.height} rows" in capsys.readouterr().out


def test_report_lists_the_newest_reports(home: Path, capsys: pytest.CaptureFixture):
    assert main(["report"]) == 0
    out = capsys.readouterr().out
    for name in ("forecasts/forecast_report.html", "forecasts/top_series.png", "model/model_quality.html"):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert Path(line.split()[-1]).is_file()


def test_status_through_the_console_script(home: Path, tmp_path: Path):
    """The installed `shelfcast` entry point in its own process, against a Dagster instance whose
    newest check evaluations are: one failing, one failing and then passing."""
    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text("")
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        for key, check, passed in (
            ("forecasts", "prediction_drift", False),
            ("fct_product_sales", "actuals_freshness", False),
            ("fct_product_sales", "actuals_freshness", True),
        ):
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=dg.AssetKey(key),
                    check_name=check,
                    passed=passed,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"{check} said {passed}",
                )
            )
    env = {
        "SHELFCAST_HOME": str(home),
        "DAGSTER_HOME": str(dagster_home),
        "PATH": str(Path(sys.executable).parent),
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "shelfcast"), "status"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    manifest_generation = current_generation(serving_root(home))
    assert "champion: v1 (MLflow run " in done.stdout
    assert f"serving bundle {manifest_generation}" in done.stdout
    assert "checks: 1 failing" in done.stdout
    assert "forecasts / prediction_drift (WARN): prediction_drift said False" in done.stdout
    assert "actuals_freshness" not in done.stdout
