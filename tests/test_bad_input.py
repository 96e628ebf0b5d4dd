"""Bad landing input, each kind built from tests/fixtures/landing (a copy with one change): every row is
accounted for (rows in = accepted + rejected), every file is read, quarantined or listed as ignored with
a reason, and a month whose data was lost is missing in the marts, never zero sales.

Most kinds are judged on the files feed alone (fast); one graph run lands several of them at once and
checks the marts, the features, the run's verdict, and that an ERROR batch leaves the raw rows as they were.
"""

import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from platform_assets.core.periods import month_windows
from platform_assets.defs.ingest import batch_of
from platform_assets.feeds import FeedResult, FilesFeed
from platform_assets.monitoring import quality
from tests.support.graph import materialization_metadata, shelfcast_graph

FIXTURE = Path(__file__).parent / "fixtures" / "landing"
EVERYTHING = (date(2000, 1, 1), date(2100, 1, 1))
OBS = "observations"


def _edit(name: str, change: Callable[[str], str]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / OBS / name
        path.write_text(change(path.read_text()))

    return apply


def _header(name: str, old: str, new: str) -> Callable[[Path], None]:
    return _edit(name, lambda text: text.replace(old, new, 1))


def _latin1(root: Path) -> None:
    path = root / OBS / "2025-03.csv"
    path.write_bytes(path.read_bytes() + "2025-03-31,P0001,S01,2.5,3,false,Caf\xe9\n".encode("latin-1"))


def _corrupt_parquet(root: Path) -> None:
    (root / OBS / "2025-04.parquet").write_bytes(b"PAR1 not really parquet \x00\x01")


def _gzip(root: Path) -> None:
    path = root / OBS / "2025-06.csv"
    (root / OBS / "2025-06.csv.gz").write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()


def _txt(root: Path) -> None:
    (root / OBS / "2025-06.csv").rename(root / OBS / "2025-06.txt")


def _subfolder(root: Path) -> None:
    (root / OBS / "old").mkdir()
    (root / OBS / "2025-06.csv").rename(root / OBS / "old" / "2025-06.csv")


def _symlink_out(root: Path) -> None:
    outside = root.parent / "secret.csv"
    outside.write_text(
        "date,product_id,store_id,price,units_sold,on_promo\n2025-06-01,TOPSECRET,S01,1,1,false\n"
    )
    (root / OBS / "2025-06-extra.csv").symlink_to(outside)


def _bad_jsonl_line(root: Path) -> None:
    path = root / OBS / "2025-09-plan.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:4], '{"date": "2025-09-03", "product_id": ', *lines[4:]]) + "\n")


def _truncated_last_line(root: Path) -> None:
    path = root / OBS / "2025-08.csv"
    *rows, last = path.read_text().splitlines()
    path.write_text("\n".join([*rows, ",".join(last.split(",")[:3]) + ",159."]))  # no end of line


def _negated_prices(root: Path) -> None:
    path = root / OBS / "2025-03.csv"
    header, *rows = path.read_text().splitlines()
    negated = [r.replace(",S01,", ",S01,-", 1) if i % 2 else r for i, r in enumerate(rows)]
    path.write_text("\n".join([header, *negated]) + "\n")


def _blank_stores(root: Path) -> None:
    path = root / OBS / "2025-07.csv"
    header, *rows = path.read_text().splitlines()
    blanked = [
        ",".join([*r.split(",")[:2], "", *r.split(",")[3:]]) if i < 8 else r for i, r in enumerate(rows)
    ]
    path.write_text("\n".join([header, *blanked]) + "\n")


def _fields(name: str, field: int, change: Callable[[str], str], offset: int) -> Callable[[Path], None]:
    """Change one field of every 20th data row of `name`, from row `offset` on."""

    def apply(root: Path) -> None:
        path = root / OBS / name
        header, *rows = path.read_text().splitlines()
        for i in range(offset, len(rows), 20):
            parts = rows[i].split(",")
            parts[field] = change(parts[field])
            rows[i] = ",".join(parts)
        path.write_text("\n".join([header, *rows]) + "\n")

    return apply


_blank_units = _fields("2025-08.csv", 4, lambda _: "", 3)  # accepted without a target, amid actuals


def _short_lines(root: Path) -> None:
    """Every 20th line of July (from the 6th) cut to its first 4 fields, each still ending its line."""
    path = root / OBS / "2025-07.csv"
    header, *rows = path.read_text().splitlines()
    cut = [",".join(r.split(",")[:4]) if i % 20 == 5 else r for i, r in enumerate(rows)]
    path.write_text("\n".join([header, *cut]) + "\n")


def _unbalanced_quote(root: Path) -> None:
    path = root / OBS / "2025-01.csv"
    header, *rows = path.read_text().splitlines()
    rows[9] = rows[9].replace(",P", ',"P', 1)  # line 11 of the file: data line 10
    path.write_text("\n".join([header, *rows]) + "\n")


def _cr_line_ends(root: Path) -> None:
    path = root / OBS / "2025-05.csv"
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))


# kind -> (the change, the file it concerns, what happens to it, the reason's words)
KINDS = {
    "missing product_id column": (
        _header("2025-03.csv", "product_id", "sku"),
        "2025-03.csv",
        "quarantined",
        "missing required column(s) product_id",
    ),
    "latin-1 bytes": (_latin1, "2025-03.csv", "quarantined", "cannot parse as CSV"),
    "UTF-16 (Excel's Unicode text)": (
        lambda root: (root / OBS / "2025-03.csv").write_bytes(
            (root / OBS / "2025-03.csv").read_text().encode("utf-16")
        ),
        "2025-03.csv",
        "quarantined",
        "the file is UTF-16 text, not UTF-8: save it as CSV UTF-8",
    ),
    "semicolon delimiter": (
        _edit("2025-03.csv", lambda t: t.replace(",", ";")),
        "2025-03.csv",
        "quarantined",
        "missing required column",
    ),
    "corrupt parquet": (_corrupt_parquet, "2025-04.parquet", "quarantined", "cannot parse as PARQUET"),
    "Date and date header": (
        _header("2025-03.csv", "on_promo", "Date"), "2025-03.csv", "quarantined", "duplicate column(s) date"
    ),
    "units_sold renamed units": (
        _header("2025-05.csv", "units_sold", "units"), "2025-05.csv", "quarantined", "no units_sold column"
    ),
    ".csv.gz": (_gzip, "2025-06.csv.gz", "ignored", "unsupported file type '.csv.gz'"),
    ".txt": (_txt, "2025-06.txt", "ignored", "unsupported file type '.txt'"),
    "subfolder": (_subfolder, "old", "ignored", "a folder"),
    "symlink out of the landing dir": (
        _symlink_out, "2025-06-extra.csv", "ignored", "outside the landing directory"
    ),
    "bad JSONL line": (_bad_jsonl_line, "2025-09-plan.jsonl", "rejected", "invalid JSON"),
    "truncated last line": (_truncated_last_line, "2025-08.csv", "rejected", "truncated last line"),
    "blank store_id": (_blank_stores, "2025-07.csv", "rejected", "missing store_id"),
    "no store_id column in one file": (
        _header("2025-05.csv", "store_id", "shop"), "2025-05.csv", "rejected", "missing store_id"
    ),
    "negated prices on half a month": (_negated_prices, "2025-03.csv", "rejected", "negative price"),
    "lines with an extra field": (
        _fields("2025-07.csv", 5, lambda v: v + ",x", 0), "2025-07.csv", "rejected", "7 of 6 fields"
    ),
    "short lines mid-file": (
        _short_lines, "2025-07.csv", "rejected", "4 of 6 fields"
    ),
    "unbalanced quote": (_unbalanced_quote, "2025-01.csv", "rejected", "unbalanced quote"),
    "header-only file": (
        _edit("2025-07.csv", lambda t: t.splitlines()[0] + "\n"), "2025-07.csv", "ignored", "holds no rows"
    ),
    "units_sold N/A": (
        _fields("2025-08.csv", 4, lambda _: "N/A", 0), "2025-08.csv", "rejected", "non-numeric units_sold"
    ),
    "lower-case product_id": (
        _fields("2025-08.csv", 1, str.lower, 7), "2025-08.csv", "rejected", "unknown product"
    ),
}  # fmt: skip


def landing_with(tmp_path: Path, *kinds: str) -> Path:
    root = tmp_path / "landing"
    shutil.copytree(FIXTURE, root)
    for kind in kinds:
        KINDS[kind][0](root)
    return root


def read_all(root: Path, tmp_path: Path) -> FeedResult:
    return FilesFeed(root, quarantine_dir=tmp_path / "quarantine").observations(*EVERYTHING)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_has_one_clear_outcome(tmp_path, kind):
    _, name, outcome, words = KINDS[kind]
    result = read_all(landing_with(tmp_path, kind), tmp_path)
    quarantined = {Path(u.path).name: u.error for u in result.unreadable}
    ignored = {Path(i.path).name: i.reason for i in result.ignored}
    rejected = result.rejected.filter(pl.col("file") == f"{OBS}/{name}")
    assert result.rows_in == result.accepted.height + result.rejected.height
    assert "TOPSECRET" not in str(result.rejected["record"].to_list())  # nothing read through a symlink out
    if outcome == "quarantined":
        assert words in quarantined[name] and set(quarantined) == {name}
        assert (tmp_path / "quarantine" / f"{name}.report.txt").is_file()
        assert result.accepted.filter(pl.col("source_file") == f"{OBS}/{name}").height == 0
    elif outcome == "ignored":
        assert words in ignored[name] and not quarantined
    else:
        assert rejected.height >= 1 and rejected["reason"].str.contains(words).all(), rejected
        assert not quarantined
    # The fixture's README.md is not a landing file: listed, never silently skipped.
    assert "README.md" in ignored


# The run's verdict on each kind, the whole fixture history being one run (as make demo's).
VERDICTS = {
    **{kind: "WARN" for kind, (_, _, outcome, _) in KINDS.items() if outcome in ("quarantined", "ignored")},
    "bad JSONL line": "passed",  # 1 row of 169 in September
    "truncated last line": "passed",
    "blank store_id": "WARN",  # 8 of 383 rows in July: over 1% of the month
    "no store_id column in one file": "ERROR",  # May's 487 rows of 3,515
    "negated prices on half a month": "WARN",  # 2.6% of the run, named by March's share
    "lines with an extra field": "WARN",  # 20 of 382 rows in July (every 20th)
    "short lines mid-file": "WARN",
    "unbalanced quote": "passed",
    "units_sold N/A": "WARN",  # 19 of 364 rows in August
    "lower-case product_id": "WARN",
}


@pytest.mark.parametrize("kind", KINDS)
def test_the_runs_verdict_on_each_kind(tmp_path, kind):
    feed = FilesFeed(landing_with(tmp_path, kind), quarantine_dir=tmp_path / "quarantine")
    first, last = feed.span()
    windows = month_windows(first, last + timedelta(days=1))
    verdict = quality.ingest_batch(
        batch_of([(k, feed.observations(lo, hi)) for k, lo, hi in windows], "units_sold", None)
    )
    assert ("passed" if verdict.passed else verdict.severity) == VERDICTS[kind], verdict.description


def test_a_partition_share_names_the_file_and_reason_behind_it(tmp_path):
    """May's dates written DD/MM/YYYY: the rows have no usable date, so they are counted in the first
    partition (January); the verdict names the file and reason too, not only the wrong month."""

    def day_first(text: str) -> str:
        return re.sub(r"^(\d{4})-(\d{2})-(\d{2})", r"\3/\2/\1", text, flags=re.MULTILINE)

    root = landing_with(tmp_path)
    _edit("2025-05.csv", day_first)(root)
    feed = FilesFeed(root, quarantine_dir=tmp_path / "quarantine")
    first, last = feed.span()
    results = [(k, feed.observations(lo, hi)) for k, lo, hi in month_windows(first, last + timedelta(days=1))]
    verdict = quality.ingest_batch(batch_of(results, "units_sold", None))
    assert "partition 2025-01-01's rows" in verdict.description
    assert "(most: observations/2025-05.csv: unparseable date x487)" in verdict.description


def test_row_level_outcomes_name_the_line_and_keep_the_rest(tmp_path):
    result = read_all(
        landing_with(tmp_path, "bad JSONL line", "truncated last line", "blank store_id"), tmp_path
    )
    bad = result.rejected.filter(pl.col("reason").str.starts_with("invalid JSON"))
    assert bad.select("file", "line").rows() == [(f"{OBS}/2025-09-plan.jsonl", 5)]
    assert bad["record"].item() == '{"date": "2025-09-03", "product_id": '
    plans = result.accepted.filter(pl.col("source_file").str.ends_with(".jsonl"))
    assert plans.height == 168  # every good plan row still lands
    truncated = result.rejected.filter(pl.col("reason").str.starts_with("truncated"))
    assert truncated["record"].item().endswith(",159.") and "4 of 6 fields" in truncated["reason"].item()
    assert result.accepted.filter(pl.col("price") == 159.0).height == 0
    assert result.rejected.filter(pl.col("reason").str.contains("missing store_id")).height == 8
    assert "all" not in result.accepted["store_id"].to_list()  # no phantom series


def test_a_bad_csv_line_costs_that_line_not_the_file(tmp_path):
    """An extra field, a short line or a quote left open: that line rejected with its line number and
    text, the file's other rows land (before: the whole file was quarantined, or the short line was
    accepted with empty fields)."""
    fixture = read_all(landing_with(tmp_path / "a"), tmp_path / "a").accepted
    for kind, reason in [
        ("unbalanced quote", "unbalanced quote; 2 of 6 fields"),
        ("short lines mid-file", ""),
    ]:
        result = read_all(landing_with(tmp_path / kind, kind), tmp_path / kind)
        bad = result.rejected.filter(pl.col("reason").str.contains("of 6 fields"))
        assert not result.unreadable and result.rows_in == result.accepted.height + result.rejected.height
        assert result.accepted.height == fixture.height - bad.height
        if reason:
            assert bad.select("file", "line", "reason").rows() == [(f"{OBS}/2025-01.csv", 10, reason)]
            assert bad["record"].item().startswith("2025-") and ',"P' in bad["record"].item()
    short = bad  # the short lines: 4 of 6 fields, their keys still placed
    assert short.height == len(range(5, 382, 20)) and (short["reason"] == "4 of 6 fields").all()
    assert short["product_id"].is_not_null().all() and short["date"].is_not_null().all()


def test_a_rejected_row_keeps_the_keys_that_parse(tmp_path):
    """The series and date of a refused row, so the warehouse marks that series-period missing."""
    root = landing_with(tmp_path, "lower-case product_id", "blank store_id", "units_sold N/A")
    rejected = read_all(root, tmp_path).rejected
    lower = rejected.filter(pl.col("record").str.contains('"product_id":"p0'))
    assert lower.height > 0 and lower["product_id"].str.starts_with("P0").all()  # the catalog's id
    assert lower["store_id"].is_in(["S01", "S02"]).all() and lower["date"].is_not_null().all()
    storeless = rejected.filter(pl.col("reason").str.contains("missing store_id"))
    assert storeless["store_id"].is_null().all() and storeless["product_id"].is_not_null().all()
    undated = rejected.filter(pl.col("reason") == "unparseable date")  # the fixture's 2025-02-30
    assert undated.height == 1 and undated["date"].is_null().all()


def test_lines_ended_by_a_lone_cr_are_read_as_lines(tmp_path):
    """An old Mac export (CR only): read row by row, not as one header of thousands of columns and no
    row at all (which lost the month without a word)."""
    fixed = read_all(landing_with(tmp_path / "a"), tmp_path / "a")
    root = landing_with(tmp_path / "b")
    _cr_line_ends(root)
    cr = read_all(root, tmp_path / "b")
    assert not cr.unreadable and cr.rows_in == fixed.rows_in
    assert cr.accepted.drop("source_file", "source_line").equals(
        fixed.accepted.drop("source_file", "source_line")
    )


def test_rows_without_a_target_in_one_month_warn_by_name(tmp_path):
    """A twentieth of June's rows without units_sold: 0.6% of the run, but 5% of June (their product-days
    would read as observed without sales), so the verdict names the month."""
    root = landing_with(tmp_path)
    path = root / OBS / "2025-06.csv"
    header, *rows = path.read_text().splitlines()
    blanked = [
        ",".join([*r.split(",")[:4], "", r.split(",")[5]]) if i % 20 == 0 else r for i, r in enumerate(rows)
    ]
    path.write_text("\n".join([header, *blanked]) + "\n")
    feed = FilesFeed(root, quarantine_dir=tmp_path / "quarantine")
    first, last = feed.span()
    results = [(k, feed.observations(lo, hi)) for k, lo, hi in month_windows(first, last + timedelta(days=1))]
    verdict = quality.ingest_batch(batch_of(results, "units_sold", None))
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert "of partition 2025-06-01's rows rejected or without a target" in verdict.description


def test_refused_symlinks_are_named_in_the_error(tmp_path):
    """observations/ or products.csv linked from outside the landing dir: the one-line error says it was
    refused, not that the data has no date or that the catalog is missing."""
    root = landing_with(tmp_path)
    shutil.move(root / OBS, tmp_path / "elsewhere")
    (root / OBS).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(
        ValueError, match=r"\(observations/ is a symlink to outside the landing directory: refused\)"
    ):
        FilesFeed(root, quarantine_dir=tmp_path / "q").span()
    shutil.move(root / "products.csv", tmp_path / "products.csv")
    (root / "products.csv").symlink_to(tmp_path / "products.csv")
    with pytest.raises(
        FileNotFoundError, match=r"\(products.csv is a symlink to outside the landing directory"
    ):
        FilesFeed(root, quarantine_dir=tmp_path / "q").products()


READER = """
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.test_bad_input import read_all
print([u.error for u in read_all(Path(sys.argv[1]), Path(sys.argv[2])).unreadable])
"""


def test_a_file_the_process_may_not_read_is_quarantined_saying_so(tmp_path):
    """chmod 000: as root the read succeeds anyway, so root's override is dropped with capsh."""
    root = landing_with(tmp_path)
    (root / OBS / "2025-05.csv").chmod(0)
    (tmp_path / "reader.py").write_text(READER)
    args = [sys.executable, str(tmp_path / "reader.py"), str(root), str(tmp_path), str(FIXTURE.parents[2])]
    if os.geteuid() == 0:
        if shutil.which("capsh") is None:
            pytest.skip("running as root without capsh: root reads a chmod 000 file")
        args = ["capsh", "--drop=cap_dac_override,cap_dac_read_search", "--", "-c", shlex.join(args)]
    done = subprocess.run(args, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['cannot read the file: Permission denied (check its permissions)']"


def test_events_csv_is_read_not_listed_as_ignored(tmp_path):
    """The optional events.csv is part of the contract: it was listed as 'not part of the landing
    contract' while the feed read it."""
    root = landing_with(tmp_path)
    (root / "events.csv").write_text("date,event\n2025-05-01,May Day\n")
    (root / "notes.csv").write_text("anything\n")
    feed = FilesFeed(root, quarantine_dir=tmp_path / "q")
    assert feed.events().accepted.height == 1
    ignored = {i.path: i.reason for i in read_all(root, tmp_path).ignored}
    assert "events.csv" not in ignored and "events.*" in ignored["notes.csv"]


def test_a_plan_file_without_units_is_still_a_plan(tmp_path):
    result = read_all(landing_with(tmp_path, "units_sold renamed units"), tmp_path)
    assert {Path(u.path).name for u in result.unreadable} == {"2025-05.csv"}
    assert result.accepted.filter(pl.col("source_file").str.ends_with(".jsonl")).height == 168


@pytest.fixture(scope="module")
def bad_graph(tmp_path_factory):
    """One graph run over a landing zone with a month quarantined (units renamed), an ignored file,
    a bad JSONL line, blank stores, and rows of August refused one by one (units 'N/A', lower-case
    product ids) or without their units."""
    tmp = tmp_path_factory.mktemp("bad")
    root = landing_with(tmp, "units_sold renamed units", ".csv.gz", "bad JSONL line", "blank store_id")
    for kind in ("units_sold N/A", "lower-case product_id"):
        KINDS[kind][0](root)
    _blank_units(root)
    with shelfcast_graph(tmp / "home", FEED="files", LANDING_DIR=str(root), HORIZON="7") as g:
        yield g, g.run_history(raise_on_error=False), root


def test_a_lost_month_is_missing_not_zero(bad_graph):
    g, result, _ = bad_graph
    assert result.success
    # May's file was quarantined (no units_sold column), June's ignored (.csv.gz): both months missing.
    lost = g.warehouse.query(
        """select count(*) as n, count(*) filter (where is_missing) as missing,
               count(units_sold) as with_units
           from marts.fct_product_sales where period_date between '2025-05-01' and '2025-06-30'"""
    ).row(0, named=True)
    assert lost["n"] > 0 and lost["missing"] == lost["n"] and lost["with_units"] == 0
    others = g.warehouse.query(
        """select count(*) filter (where f.is_missing and r.product_id is null),
               count(*) filter (where f.units_sold = 0)
           from marts.fct_product_sales as f
           left join intermediate.int_refused_periods as r
             on f.product_id = r.product_id and f.store_id = r.store_id and f.period_date = r.period_date
           where f.period_date >= '2025-07-01' or f.period_date < '2025-05-01'"""
    ).row(0)
    assert others[0] == 0 and others[1] > 0  # missing only where a row was refused; true zeros stay 0
    trained = g.warehouse.query(
        """select count(*) from features.training_features
           where period_date between '2025-05-01' and '2025-05-31' and y is not null"""
    ).item()
    assert trained == 0  # excluded from the training targets (and so from the backtest)
    stores = g.warehouse.query("select distinct store_id from marts.fct_product_sales order by 1")
    assert stores["store_id"].to_list() == ["S01", "S02"]


def test_a_row_refused_alone_is_missing_not_zero(bad_graph):
    """A row rejected on its own (units 'N/A', a lower-case product id) or landed without its units
    amid actuals: its series-day is missing (units null, no training target), although its store
    reported other products that day; before, it read as a day of 0 sales and was trained on."""
    g, _, root = bad_graph
    august = pl.read_csv(root / OBS / "2025-08.csv", infer_schema=False)
    hit = august.filter(
        (pl.col("units_sold") == "N/A")
        | pl.col("units_sold").is_null()
        | pl.col("product_id").str.starts_with("p")
    ).select(
        pl.col("product_id").str.to_uppercase(), "store_id", pl.col("date").str.to_date().alias("period_date")
    )
    assert hit.height == 19 * 3 - 1  # 364 rows: every 20th from rows 0, 3 and 7
    sales = g.warehouse.query(
        "select product_id, store_id, period_date, is_missing, units_sold from marts.fct_product_sales"
    )
    rows = hit.join(sales, on=["product_id", "store_id", "period_date"], how="left")
    assert rows["is_missing"].all() and rows["units_sold"].is_null().all(), rows
    features = g.warehouse.query(
        "select product_id, store_id, period_date, y from features.training_features"
    )
    trained = hit.join(features, on=["product_id", "store_id", "period_date"])
    assert trained["y"].is_null().all()  # no training target (and so no backtest score)


def test_the_run_reports_every_file_and_its_verdict(bad_graph):
    g, result, root = bad_graph
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "rejected_row_rate"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "files quarantined" in check.description and "2025-05.csv" in check.description
    [meta, *_] = materialization_metadata(result, "raw_observations")
    assert meta["landed"] and any("2025-06.csv.gz" in f for f in meta["ignored_files"])
    batch = g.warehouse.query("select * from raw.ingest_batches").row(0, named=True)
    assert batch["rows_in"] == batch["accepted"] + batch["rejected"] and batch["landed"]
    raw = g.warehouse.query("select count(*) from raw.observations").item()
    rejected = g.warehouse.query(
        "select count(*) from raw.rejected_rows where source = 'observations'"
    ).item()
    assert raw + rejected == batch["rows_in"]


def test_an_error_batch_leaves_the_previous_raw_rows(bad_graph):
    g, _, root = bad_graph
    before = g.warehouse.query("select count(*), sum(price) from raw.observations").row(0)
    for path in (root / OBS).iterdir():
        if path.suffix in (".csv", ".parquet"):
            path.write_bytes(b"\x00\xff garbage")
    ingest = [dg.AssetKey(k) for k in ("raw_products", "raw_suppliers", "raw_observations")]
    result = g.run_history(raise_on_error=False, asset_selection=ingest)
    [check] = [e for e in result.get_asset_check_evaluations() if e.check_name == "rejected_row_rate"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert g.warehouse.query("select count(*), sum(price) from raw.observations").row(0) == before
    landed = g.warehouse.query(
        "select landed from raw.ingest_batches order by ingested_at desc limit 1"
    ).item()
    assert landed is False


def test_a_landing_dir_pointing_at_observations_says_so(tmp_path):
    """SHELFCAST_LANDING_DIR set to the observations folder itself (or files dropped beside products.csv):
    the one-line error says where the data files are and what the variable should name."""
    root = landing_with(tmp_path)
    obs = root / "observations"
    with pytest.raises(ValueError) as pointed:
        FilesFeed(obs, quarantine_dir=tmp_path / "q").span()
    n = len([p for p in obs.iterdir() if p.suffix in (".csv", ".parquet", ".jsonl")])
    assert str(pointed.value) == (
        f"no observation under {obs / 'observations'} has a usable date (no folder observations/ in {obs}, "
        f"but {n} data files directly in it: SHELFCAST_LANDING_DIR names the folder holding products.csv "
        "and observations/)"
    )
    for path in obs.iterdir():  # the same files beside products.csv: products.csv is not counted
        path.rename(root / path.name)
    obs.rmdir()
    with pytest.raises(ValueError, match=rf"but {n} data files directly in it"):
        FilesFeed(root, quarantine_dir=tmp_path / "q").span()
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"has a usable date \(no folder .*empty/observations\)$"):
        FilesFeed(empty, quarantine_dir=tmp_path / "q").span()
