"""`make demo`'s quiet console: one line per step, training progress, the checks that did not pass; the
noise (prints, stderr, subprocesses, every Dagster event) in the log file only. Run in a fresh
interpreter: the console takes the process's file descriptors 1 and 2."""

import subprocess
import sys
from pathlib import Path

from platform_assets.modeling.train_config import TrainConfig
from platform_assets.runner.report import next_steps

JOB = """
import logging, subprocess, sys
from pathlib import Path
import dagster as dg
from platform_assets.modeling.forecaster import PROGRESS
from platform_assets.runner.console import console_logger, quiet_console
from platform_assets.runner.report import check_lines

@dg.asset
def noisy():
    print("NOISE stdout")
    print("NOISE stderr", file=sys.stderr)
    subprocess.run(["echo", "NOISE subprocess"], check=True)
    PROGRESS.info("fit 1/1: round 50/100")
    PROGRESS.info("fit 1/1: 100 rounds on 10 rows in 0.1 s", extra={"done": True})

@dg.asset_check(asset=noisy, description="always warns")
def actuals_freshness():
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description="stale")

log = Path(sys.argv[1])
with quiet_console(log, verbose=sys.argv[2] == "1") as console:
    job = dg.define_asset_job("j").resolve(
        asset_graph=dg.Definitions(assets=[noisy], asset_checks=[actuals_freshness]).resolve_asset_graph()
    ).with_logger_defs({"c": console_logger(console, log)})
    result = job.execute_in_process(run_config={"loggers": {"c": {}}})
    for line in check_lines(console.checks):
        console.line(line)
print("after the console")
"""


def run(tmp_path: Path, verbose: str) -> tuple[list[str], str]:
    log = tmp_path / f"logs-{verbose}" / "demo.log"
    done = subprocess.run(
        [sys.executable, "-c", JOB, str(log), verbose], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.splitlines(), log.read_text()


def test_the_console_shows_steps_progress_and_checks_and_the_file_has_the_rest(tmp_path):
    lines, log = run(tmp_path, "0")
    assert [line.split()[:2] for line in lines[:3]] == [
        ["..", "trained_model:"],
        ["ok", "noisy"],
        ["ok", "noisy_actuals_freshness"],
    ]
    assert lines[0].endswith(
        "fit 1/1: 100 rounds on 10 rows in 0.1 s"
    )  # rounds are shown in place on a tty only
    assert lines[3:] == [
        "checks: 0 of 1 passed",
        "  WARN  actuals_freshness on noisy: stale",
        "        expected for the demo: its history ends in the past (SHELFCAST_SYNTH_START +",
        "        SYNTH_DAYS), and so do its forecasts' dates; on a live feed it means the feed stopped",
        "after the console",  # stdout is back after the run
    ]
    for noise in ("NOISE stdout", "NOISE stderr", "NOISE subprocess", "STEP_SUCCESS"):
        assert noise in log and noise not in "\n".join(lines)


def test_verbose_prints_every_log_line(tmp_path):
    lines, log = run(tmp_path, "1")
    text = "\n".join(lines)
    assert "NOISE stdout" in text and "NOISE subprocess" in text and "STEP_SUCCESS" in text
    assert "STEP_SUCCESS" in log


def test_a_successful_demo_fits_in_60_lines(tmp_path):
    """The demo prints: 2 header lines, one per step of full_refresh, one per LightGBM fit (backtest
    origins + final), 2 after the run, the summary, the failed checks (2-3 lines each) and the next
    steps. Measured on the tiny graph: 44 lines with 2 warning checks."""
    from platform_assets.config.settings import load_settings
    from platform_assets.definitions import build_defs

    defs = build_defs(load_settings({"SHELFCAST_HOME": str(tmp_path)}))
    steps = len(defs.resolve_job_def("full_refresh").nodes)
    fits = TrainConfig().n_origins + 1
    summary, failed_checks = 10, 3 * 3
    lines = 2 + steps + fits + 2 + summary + 1 + failed_checks + len(next_steps(tmp_path, "duckdb", "x")) + 1
    assert lines < 60, (steps, lines)


def test_a_stale_files_feed_is_not_blamed_on_the_synthetic_settings():
    """A landing zone's history ending in the past gets its own note: it has no SHELFCAST_SYNTH_START."""
    import dagster as dg

    from platform_assets.runner.report import check_lines

    stale = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("fct_product_sales"),
        check_name="actuals_freshness",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        description="newest actual is 338 days old (> 3)",
    )
    files, synthetic = check_lines([stale], "files"), check_lines([stale], "synthetic")
    assert files[1] == "  WARN  actuals_freshness on fct_product_sales: newest actual is 338 days old (> 3)"
    assert "SYNTH" not in "\n".join(files) and "your data's newest actual" in files[2]
    assert "SHELFCAST_SYNTH_START" in synthetic[2] and files[1:2] == synthetic[1:2]


def test_a_failed_dbt_test_says_how_many_rows_fail_and_where_to_look():
    """A dbt test check has no description: the summary printed `: None` for the excluded observations."""
    import dagster as dg

    from platform_assets.runner.report import check_lines

    excluded = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("excluded_observations"),
        check_name="expression_is_true_excluded_observations_exclusion_reason_is_null",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"dagster_dbt/failed_row_count": dg.IntMetadataValue(1)},
    )
    lines = check_lines([excluded], "files")
    assert lines[1].endswith("on excluded_observations: 1 failing row(s) (a dbt test: its SQL names them)")
    assert "None" not in "\n".join(lines) and lines[-1].strip() == "select * from marts.excluded_observations"


def test_a_failed_step_shows_its_innermost_cause_not_dagsters_wrapper():
    """Once retries are spent Dagster reports `Exceeded max_retries of 2`, the user's error as its cause."""
    from dagster._utils.error import SerializableErrorInfo

    from platform_assets.runner.console import failure_message

    cause = SerializableErrorInfo("FileNotFoundError: no products.csv in /x\n", [], "FileNotFoundError")
    wrapped = SerializableErrorInfo("Error occurred while executing op raw_products:\n", [], "E", cause)
    spent = SerializableErrorInfo(
        "Exceeded max_retries of 2\n", [], "DagsterMaxRetriesExceededError", wrapped
    )
    assert failure_message(spent) == "FileNotFoundError: no products.csv in /x"
    assert failure_message(SerializableErrorInfo("", [], "E")) == failure_message(None) == "failed"


def test_the_summary_names_the_gates_verdict_on_this_runs_challenger():
    from platform_assets.modeling.registry import GATE_HEADING
    from platform_assets.runner.report import gate_verdict

    kept = (
        f"Trained by Dagster run x on 18720 rows.\n\n{GATE_HEADING}\n\n"
        "**Not promoted**: challenger WAPE 0.1538 does not beat champion 0.1231 on the same windows.\n\n"
        "| metric | challenger | champion |\n"
    )
    assert gate_verdict(kept) == (
        "Not promoted: challenger WAPE 0.1538 does not beat champion 0.1231 on the same windows."
    )
    assert gate_verdict("Trained by Dagster run x.") == gate_verdict(None) == "no promotion decision recorded"


def test_a_full_disk_is_named_as_the_cause(tmp_path, monkeypatch):
    """A run that stops (the Dagster instance's own database cannot write on a full disk) is reported
    in one line: the disk and its free space when that is low, else the error's first line."""
    from platform_assets.cli import demo

    err = OSError("disk I/O error\nmore detail")
    assert demo.stopped(err, tmp_path) == "OSError: disk I/O error"
    monkeypatch.setattr(demo, "LOW_DISK_BYTES", 2**62)  # more than any disk: "nearly full"
    line = demo.stopped(err, tmp_path)
    assert line.startswith(f"the disk holding {tmp_path} has ") and "free space and run make demo" in line


def test_a_step_failed_by_its_blocking_check_says_why(tmp_path):
    """The promotion gate refusing a user's first model fails `champion_model` through its blocking
    check (Tourism monthly: seasonal naive wins): the console line gives the check's reason, not
    Dagster's `DagsterAssetCheckFailedError: 1 blocking asset check failed with ERROR severity:`."""
    import io

    import dagster as dg

    from platform_assets.runner.console import Console, console_logger

    @dg.asset(check_specs=[dg.AssetCheckSpec("champion_is_vetted", asset="champion_model", blocking=True)])
    def champion_model():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(passed=False, description="no model has passed the promotion gate: why")

    console = Console(io.StringIO())
    job = (
        dg.define_asset_job("j")
        .resolve(asset_graph=dg.Definitions(assets=[champion_model]).resolve_asset_graph())
        .with_logger_defs({"c": console_logger(console, tmp_path / "demo.log")})
    )
    result = job.execute_in_process(run_config={"loggers": {"c": {}}}, raise_on_error=False)
    assert not result.success
    assert console.out.getvalue().splitlines() == [
        f"  FAIL  {'champion_model':<46} champion_is_vetted: no model has passed the promotion gate: why"
    ]


def test_a_standalone_blocking_check_that_fails_says_why(tmp_path):
    """`rejected_row_rate` is its own step (an @asset_check on raw_observations): an ERROR batch printed
    `FAIL raw_observations_rejected_row_rate dagster._core.errors.DagsterAssetCheckFailedError: ...`."""
    import io

    import dagster as dg

    from platform_assets.runner.console import Console, console_logger

    @dg.asset
    def raw_observations() -> None:
        pass

    @dg.asset_check(asset=raw_observations, blocking=True)
    def rejected_row_rate() -> dg.AssetCheckResult:
        return dg.AssetCheckResult(passed=False, description="100.0% of this run's rows rejected")

    console = Console(io.StringIO())
    graph = dg.Definitions(assets=[raw_observations], asset_checks=[rejected_row_rate]).resolve_asset_graph()
    job = (
        dg.define_asset_job("j")
        .resolve(asset_graph=graph)
        .with_logger_defs({"c": console_logger(console, tmp_path / "demo.log")})
    )
    assert not job.execute_in_process(run_config={"loggers": {"c": {}}}, raise_on_error=False).success
    step = "raw_observations_rejected_row_rate"
    assert f"  FAIL  {step:<46} rejected_row_rate: 100.0% of this run's rows rejected" in (
        console.out.getvalue().splitlines()
    )


def test_the_summary_says_how_many_series_get_no_forecast_and_why():
    """M4 weekly: 4 series, 3 of which end years before the data's last week: the summary says 1 of 4."""
    from platform_assets.runner.report import active_text

    assert active_text(7, 7) == "active series: 7"
    assert active_text(1, 4) == (
        "active series: 1 of 4; the other 3 have no actual in the last SHELFCAST_ACTIVE_WINDOW periods of "
        "the data: no forecast"
    )
