"""The landing-zone sensor: each new file once, one run per batch, unreadable files never block."""

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from platform_assets.defs.landing import (
    FILES_TAG,
    RANGE_END_TAG,
    RANGE_START_TAG,
    UNREADABLE_TAG,
    clamp_months,
    scan_landing,
)
from platform_assets.defs.orchestration import current_month_key
from platform_assets.feeds.files.layout import landing_files
from tests.support.graph import Graph, shelfcast_graph

LANDING = Path(__file__).parent / "fixtures" / "landing"
HEADER = "date,product_id,store_id,price,units_sold,on_promo\n"


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    shutil.copytree(LANDING, landing)
    return landing


def _shifted(landing: Path, source: str, month: str) -> Path:
    """A new observations file: a fixture month's good rows moved to `month` (same number of days)."""
    rows = pl.read_csv(landing / "observations" / f"{source}.csv", infer_schema=False)
    rows = rows.filter(pl.col("product_id") != "P0099").with_columns(
        pl.col("date").str.replace(source, month)
    )
    path = landing / "observations" / f"{month}.csv"
    rows.write_csv(path)
    return path


def _corrupt(landing: Path) -> Path:
    path = landing / "observations" / "2025-10-broken.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    return path


def _scan(root: Path, cursor: dict[str, str]):
    return scan_landing(root, landing_files(root), cursor)


def test_new_file_is_detected_once_and_again_when_changed(tmp_path):
    root = tmp_path / "landing"
    (root / "observations").mkdir(parents=True)
    path = root / "observations" / "a.csv"
    path.write_text(HEADER + "2025-03-04,P1,S1,1.0,2,false\n")

    first = _scan(root, {})
    assert list(first.observations) == ["observations/a.csv"] and first.months == ("2025-03-01",) * 2
    again = _scan(root, first.cursor)
    assert not again.observations and again.months is None and again.run_key is None
    assert again.cursor == first.cursor

    # Same size, new mtime: still a change (a file rewritten in place is ingested again).
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = _scan(root, again.cursor)
    assert list(touched.observations) == ["observations/a.csv"] and touched.run_key != first.run_key

    path.write_text(HEADER + "2025-03-04,P1,S1,1.0,2,false\n2025-04-01,P1,S1,1.0,3,false\n")
    grown = _scan(root, touched.cursor)
    assert grown.months == ("2025-03-01", "2025-04-01")


def test_months_come_from_the_date_column_of_every_format(tmp_path):
    root = tmp_path / "landing"
    folder = root / "observations"
    folder.mkdir(parents=True)
    # Header case and spaces as the feed accepts them; unusable dates do not stretch the range.
    (folder / "a.csv").write_text(
        " Date ,Product_ID,units_sold\n2025-05-02,P1,1\n2025-13-01,P1,1\n,P1,1\n2205-01-01,P1,1\n"
    )
    pl.DataFrame({"date": [datetime(2025, 2, 27, 10)], "product_id": ["P1"]}).write_parquet(
        folder / "b.parquet"
    )
    (folder / "c.jsonl").write_text('{"date": "2025-07-31", "product_id": "P1"}\n\n')
    (folder / "notes.txt").write_text("not a landing format")

    batch = _scan(root, {})
    assert sorted(batch.observations) == [
        "observations/a.csv",
        "observations/b.parquet",
        "observations/c.jsonl",
    ]
    assert batch.months == ("2025-02-01", "2025-07-01") and not batch.unreadable
    assert clamp_months(batch.months, "2025-03-01", "2026-11-01") == ("2025-03-01", "2025-07-01")
    assert clamp_months(batch.months, "2025-08-01", "2026-11-01") is None


def test_unreadable_files_are_seen_once_and_do_not_block_a_readable_one(tmp_path):
    root = tmp_path / "landing"
    folder = root / "observations"
    folder.mkdir(parents=True)
    (folder / "good.csv").write_text(HEADER + "2025-06-10,P1,S1,1.0,2,false\n")
    (folder / "broken.parquet").write_bytes(b"PAR1 this is not parquet")
    (folder / "garbage.csv").write_bytes(bytes(range(256)) * 4)
    (folder / "nodate.csv").write_text("day,product_id\n2025-06-10,P1\n")
    (folder / "baddates.jsonl").write_text('{"date": "soon", "product_id": "P1"}\n')

    batch = _scan(root, {})
    assert list(batch.observations) == ["observations/good.csv"] and batch.months == ("2025-06-01",) * 2
    assert set(batch.unreadable) == {
        f"observations/{n}" for n in ("broken.parquet", "garbage.csv", "nodate.csv", "baddates.jsonl")
    }
    assert "missing required column(s) date" in batch.unreadable["observations/nodate.csv"]
    assert set(batch.cursor) == {*batch.observations, *batch.unreadable}
    assert not _scan(root, batch.cursor).unreadable  # recorded as seen: not reported again

    # The run key depends on the readable files only: once the run has set the broken files aside,
    # a re-evaluation from the same old cursor yields the same key, so Dagster does not run it twice.
    for name in batch.unreadable:
        (root / name).unlink()
    after = _scan(root, {})
    assert after.run_key == batch.run_key and set(after.cursor) == {"observations/good.csv"}


def _evaluate(graph: Graph, cursor: str | None) -> dg.SensorResult:
    """One tick with the code location's resources (the daemon adds them; a test context must be told)."""
    sensor = graph.defs.resolve_sensor_def("landing_zone_sensor")
    context = dg.build_sensor_context(
        instance=graph.instance, cursor=cursor, definitions=graph.defs, resources=graph.defs.resources
    )
    return sensor(context)


def test_sensor_requests_one_run_per_batch(tmp_path):
    landing = _landing(tmp_path)
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        assert (
            g.defs.resolve_sensor_def("landing_zone_sensor").default_status == dg.DefaultSensorStatus.STOPPED
        )

        first = _evaluate(g, None)
        [run] = first.run_requests
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("2025-01-01", "2025-09-01")
        assert run.job_name in (None, "daily_refresh") and run.run_key.startswith("landing-")
        assert len(json.loads(first.cursor)) == 11  # 9 observation files, products, suppliers

        second = _evaluate(g, first.cursor)
        assert not second.run_requests and "no new or changed file" in second.skip_reason.skip_message

        _shifted(landing, "2025-08", "2025-10")
        third = _evaluate(g, second.cursor)
        [run] = third.run_requests
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("2025-10-01", "2025-10-01")
        assert run.tags[FILES_TAG] == "observations/2025-10.csv"
        assert _evaluate(g, second.cursor).run_requests[0].run_key == run.run_key  # Dagster dedupes

        _corrupt(landing)
        _shifted(landing, "2025-07", "2025-12")
        fourth = _evaluate(g, third.cursor)
        [run] = fourth.run_requests
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("2025-12-01", "2025-12-01")
        assert run.tags[UNREADABLE_TAG] == "observations/2025-10-broken.parquet"

        (landing / "observations" / "2025-11-garbage.csv").write_bytes(bytes(range(256)) * 4)
        fifth = _evaluate(g, fourth.cursor)
        assert not fifth.run_requests and "only unreadable new files" in fifth.skip_reason.skip_message
        assert "2025-11-garbage.csv" in fifth.skip_reason.skip_message

        # The catalog alone: refresh with the current month, as the daily schedule does.
        with (landing / "products.csv").open("a") as f:
            f.write("P0009,New Thing,grocery,Sunmill,SUP01,1,2025-12-01\n")
        [run] = _evaluate(g, fifth.cursor).run_requests
        month = current_month_key(datetime.now(UTC).date())
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == (month, month)

        shutil.rmtree(landing)
        assert "does not exist" in _evaluate(g, fifth.cursor).skip_reason.skip_message


def test_sensor_skips_when_the_feed_is_not_files(tmp_path):
    with shelfcast_graph(tmp_path / "home") as g:
        result = _evaluate(g, None)
        assert not result.run_requests and "not 'files'" in result.skip_reason.skip_message


def test_requested_run_lands_the_new_file_and_sets_the_broken_one_aside(tmp_path):
    landing = _landing(tmp_path)
    (landing / "observations" / "2025-09-plan.jsonl").unlink()  # September arrives as actuals below
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        assert g.run_history().success
        cursor = _evaluate(g, None).cursor  # what the sensor saw when the history was landed

        new = _shifted(landing, "2025-06", "2025-09")  # June and September both have 30 days
        broken = _corrupt(landing)
        [run] = _evaluate(g, cursor).run_requests
        assert (run.tags[RANGE_START_TAG], run.tags[RANGE_END_TAG]) == ("2025-09-01", "2025-09-01")

        result = g.defs.resolve_job_def("daily_refresh").execute_in_process(
            instance=g.instance, tags=run.tags, raise_on_error=False
        )
        assert result.success
        landed = g.warehouse.query(
            "select count(*) from raw.observations"
            " where source_file = 'observations/2025-09.csv' and ingest_partition = '2025-09-01'"
        ).item()
        assert landed == pl.read_csv(new).height > 0
        assert (g.config.quarantine_dir / broken.name).exists() and not broken.exists()
        assert (g.config.quarantine_dir / f"{broken.name}.report.txt").exists()
