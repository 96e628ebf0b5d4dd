"""Plausibility bounds: implausible dates are rejected with a reason at ingest (rows in = accepted +
rejected), any catalog attribute name makes a safe feature name, dbt's target folder stays bounded.
Value outliers are judged in dbt: tests/test_dbt_project.py and tests/test_pipeline_feeds.py."""

import os
import shutil
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from platform_assets.core.periods import month_windows
from platform_assets.features.attributes import attribute_names, numeric_attributes
from platform_assets.feeds import DateBounds, FilesFeed
from platform_assets.feeds.plausibility import bound_dates, dated_block
from platform_assets.monitoring import quality
from platform_assets.storage.dbt_project import (
    INVOCATION_DIR,
    PARTIAL_PARSE,
    invocation_target,
    prune_invocation_targets,
    reuse_run_parse,
)
from platform_assets.storage.warehouse import ident
from tests.support.graph import shelfcast_graph

FIXTURE = Path(__file__).parent / "fixtures" / "landing"
BOUNDS = DateBounds(date(1900, 1, 1), 366, 14, "units_sold")


def fixture_with(tmp_path: Path, extra: list[str], name: str = "extra.csv") -> Path:
    """The example landing zone plus one observation file of `extra` rows."""
    root = tmp_path / "landing"
    shutil.copytree(FIXTURE, root)
    header = "date,product_id,store_id,price,units_sold,on_promo"
    (root / "observations" / name).write_text("\n".join([header, *extra]) + "\n")
    return root


def landed(feed: FilesFeed) -> tuple[list, pl.DataFrame, pl.DataFrame]:
    """Every monthly window of the feed's span, with all accepted and all rejected rows."""
    first, last = feed.span()
    parts = [feed.observations(lo, hi) for _, lo, hi in month_windows(first, last + timedelta(days=1))]
    return parts, pl.concat([p.accepted for p in parts]), pl.concat([p.rejected for p in parts])


def test_implausible_dates_are_rejected_with_a_reason_and_never_stretch_the_span(tmp_path):
    extra = [
        "2090-03-01,P0001,S01,12.50,7,false",  # a typo for 2025: a valid date, decades past the data
        "1971-06-01,P0002,S01,1.90,4,false",  # decades before the data
        "2025-09-20,P0001,S01,13.00,,false",  # a plan past the 14-day horizon after the last actual
        "2025-09-14,P0007,S01,3.00,,false",  # a plan on the horizon's last day: kept
    ]
    root = fixture_with(tmp_path, extra)
    feed = FilesFeed(root, quarantine_dir=tmp_path / "q", bounds=BOUNDS)
    assert feed.span() == (date(2025, 1, 2), date(2025, 9, 14))
    parts, accepted, rejected = landed(feed)

    plain = FilesFeed(FIXTURE, quarantine_dir=tmp_path / "q2").observations(
        date(2000, 1, 1), date(2100, 1, 1)
    )
    assert sum(p.rows_in for p in parts) == accepted.height + rejected.height == plain.rows_in + len(extra)
    ours = rejected.filter(pl.col("file") == "observations/extra.csv").sort("line")
    assert ours["line"].to_list() == [1, 2, 3]
    gap = (
        "date cut off from its series and the rest of the data (2025-01-02 .. 2025-09-20) by a gap of "
        "more than 366 days (SHELFCAST_MAX_DATE_GAP_DAYS)"
    )
    assert ours["reason"].to_list() == [
        gap,
        gap,
        "plan dated beyond the horizon (14 periods) after the last actual (2025-08-31)",
    ]
    # Rejected without a usable date, they are counted once, in the window of the span's first day.
    assert parts[0].rejected.filter(pl.col("file") == "observations/extra.csv").height == 3
    assert accepted.filter(pl.col("date") == date(2025, 9, 14), pl.col("product_id") == "P0007").height == 1


def test_without_bounds_the_typo_stretches_the_span(tmp_path):
    """What the bounds prevent: the same 2090 row accepted, the span (and the partitions) to 2090."""
    root = fixture_with(tmp_path, ["2090-03-01,P0001,S01,12.50,7,false"])
    assert FilesFeed(root, quarantine_dir=tmp_path / "q").span()[1] == date(2090, 3, 1)


def test_date_min_is_configurable(tmp_path):
    root = fixture_with(tmp_path, [])
    bounds = DateBounds(date(2025, 3, 1), 366, 14, "units_sold")
    feed = FilesFeed(root, quarantine_dir=tmp_path / "q", bounds=bounds)
    assert feed.span()[0] == date(2025, 3, 1)
    _, accepted, rejected = landed(feed)
    early = rejected.filter(pl.col("reason").str.contains("SHELFCAST_DATE_MIN"))
    assert early.height > 700 and set(early["reason"]) == {"date before 2025-03-01 (SHELFCAST_DATE_MIN)"}
    assert accepted["date"].min() == date(2025, 3, 1)


@pytest.mark.parametrize(
    ("days", "block"),
    [
        # the median row sits in the 2025 block; 2090 and 1971 are cut off
        ([date(2025, 1, d) for d in range(1, 20)] + [date(2090, 1, 1), date(1971, 1, 1)], (1, 19)),
        # a gap shorter than the limit keeps both sides (a store closed for months)
        ([date(2025, 1, 1), date(2025, 1, 2), date(2025, 10, 1), date(2025, 10, 2)], None),
    ],
)
def test_dated_block_follows_the_bulk_of_the_rows(days, block):
    lo, hi = dated_block(pl.Series(days, dtype=pl.Date), 366)
    if block is None:
        assert (lo, hi) == (min(days), max(days))
    else:
        assert (lo, hi) == (date(2025, 1, block[0]), date(2025, 1, block[1]))


def test_history_of_other_eras_and_sparse_series_is_kept():
    """A gap rejects a row only when it cuts the row off from its own series too: a series that ended in
    1990 beside many that start in 2000, and a product that sold once a year before selling every
    month, keep all their rows; a lone typo in a series is still rejected."""
    days = [date(1985 + i // 12, 1 + i % 12, 1) for i in range(72)]  # 1985-1990, monthly
    later = [date(2000 + i // 12, 1 + i % 12, 1) for i in range(120)]  # 2000-2009, three series
    rows = pl.DataFrame(
        {
            "product_id": ["OLD"] * 72 + [p for p in ("A", "B", "C") for _ in later] + ["RARE"] * 14 + ["A"],
            "store_id": "S1",
            "_window": days + later * 3 + [date(2000, 3, 1), *later[24:37], date(1971, 5, 1)],
        }
    ).with_columns(pl.lit(None, pl.String).alias("_reason"))
    bounded = bound_dates(rows, BOUNDS)
    assert bounded.height == rows.height and bounded["product_id"].to_list() == rows["product_id"].to_list()
    rejected = bounded.filter(pl.col("_reason").is_not_null())
    assert rejected.select("product_id", "_window").rows() == [("A", None)]
    assert rejected["_reason"].item().startswith("date cut off from its series and the rest of the data")


def test_any_attribute_name_becomes_a_safe_stable_feature_name():
    products = pl.DataFrame(
        {
            "product_id": ["A", "B"],
            "attributes": [
                '{"weight (kg)": 1.5, "weight-kg": 2, "Größe": 3, "%": 4, "pack_size": 6, "note": "x"}',
                '{"weight (kg)": 0.5, "weight-kg": 1, "Größe": 1, "%": 2, "pack_size": 1}',
            ],
        }
    )
    attrs = numeric_attributes(products)
    # weight (kg) and weight-kg clean to one name: the second in key order gets _2
    assert attrs.columns == [
        "product_id", "attr_attribute", "attr_Gr_e", "attr_pack_size", "attr_weight_kg", "attr_weight_kg_2"
    ]  # fmt: skip
    assert all(ident(c) == f'"{c}"' for c in attrs.columns)
    assert attrs["attr_weight_kg"].to_list() == [1.5, 0.5] and attrs["attr_weight_kg_2"].to_list() == [2, 1]
    assert attribute_names(["weight (kg)", "weight-kg"]) == attribute_names(["weight-kg", "weight (kg)"])


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    target = tmp_path / "target"
    folders = [target / f"warehouse_models-abc{i:04d}-{i:07x}" for i in range(7)]
    for i, folder in enumerate(folders):
        folder.mkdir(parents=True)
        os.utime(folder, ns=(i * 10**9, i * 10**9))
    (target / "manifest.json").write_text("{}")
    (target / "compiled").mkdir()  # dbt's own folders are not invocations: kept
    removed = prune_invocation_targets(target, keep=3)
    assert sorted(removed) == folders[:4]
    assert sorted(p.name for p in target.iterdir()) == sorted(
        ["compiled", "manifest.json", *(f.name for f in folders[4:])]
    )
    assert prune_invocation_targets(target, keep=3) == []


def test_a_later_dbt_step_of_a_run_reuses_its_parse(tmp_path):
    target = tmp_path / "target"
    ours = target / "warehouse_models-1234567-aaaaaaa"
    theirs = target / "warehouse_models-7654321-bbbbbbb"  # another run's, newer: other vars, other profile
    for i, (folder, content) in enumerate([(ours, b"ours"), (theirs, b"theirs")]):
        folder.mkdir(parents=True)
        (folder / PARTIAL_PARSE).write_bytes(content)
        os.utime(folder / PARTIAL_PARSE, ns=(i * 10**9, i * 10**9))
    (target / PARTIAL_PARSE).write_bytes(b"prepared")  # what dagster-dbt would copy instead
    later = invocation_target(target, "serving_models", "1234567f-e3c1")
    assert INVOCATION_DIR.match(later.name) and later.name.startswith("serving_models-1234567-")
    assert reuse_run_parse(later) == ours / PARTIAL_PARSE
    assert (later / PARTIAL_PARSE).read_bytes() == b"ours"
    first = invocation_target(target, "warehouse_models", "0000000a-b")
    assert reuse_run_parse(first) is None  # a run's first step: nothing of its own to reuse


def test_unused_share_is_judged_per_partition():
    counts = pl.DataFrame(
        {
            "ingest_partition": ["2025-01-01", "2025-02-01", "2025-03-01"],
            "rows": [400, 390, 420],
            "rejected": [1, 0, 200],
            "excluded": [0, 5, 10],
        }
    )
    verdict = quality.unused_by_partition(counts, 0.01, 0.10)
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert verdict.description == (
        "partition 2025-03-01: 50.0% of rows rejected or excluded (> 10%); 2 partition(s) above 1%"
    )
    assert [p["ingest_partition"] for p in verdict.metadata["partitions_above_warn"]] == [
        "2025-03-01",
        "2025-02-01",
    ]
    assert quality.unused_by_partition(counts.head(1), 0.01, 0.10).passed


def test_half_negated_prices_of_one_month_flag_that_partition(tmp_path):
    """Ingest and dbt only: a month whose prices were half negated is named by the per-partition check,
    though over the whole history the rejected share stays a warning."""
    landing = tmp_path / "landing"
    shutil.copytree(FIXTURE, landing)
    march = landing / "observations" / "2025-03.csv"
    header, *rows = march.read_text().splitlines()
    fields = [r.split(",") for r in rows]
    negated = [
        ",".join([*f[:3], f"-{f[3]}", *f[4:]]) if i % 2 and f[3] else ",".join(f)
        for i, f in enumerate(fields)
    ]
    march.write_text("\n".join([header, *negated]) + "\n")
    with shelfcast_graph(tmp_path / "home", FEED="files", LANDING_DIR=str(landing)) as g:
        selection = dg.AssetSelection.groups("ingest", "warehouse").resolve(g.defs.resolve_asset_graph())
        result = g.run_history(asset_selection=list(selection))
        assert result.success
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        assert checks["rejected_row_rate"].severity.value == "WARN"
        flagged = checks["unused_rows_by_partition"]
        assert not flagged.passed and flagged.severity.value == "ERROR"
        assert flagged.description.startswith("partition 2025-03-01: 50.")
        reasons = g.warehouse.query(
            "select reason, count(*) as n from raw.rejected_rows"
            " where ingest_partition = '2025-03-01' group by reason"
        )
        assert reasons["n"].sum() == len(rows) // 2 and "negative price" in reasons["reason"].to_list()
