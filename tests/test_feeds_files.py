"""The landing-zone feed on real files in a temporary directory: what lands, what is refused and why."""

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from platform_assets.core.periods import infer_freq, month_windows
from platform_assets.core.schemas import RAW_OBSERVATIONS, RAW_PRODUCTS, RAW_SUPPLIERS, REJECTED_ROWS
from platform_assets.feeds import FilesFeed, SynthConfig, make_feed
from platform_assets.feeds.files import manifest
from platform_assets.feeds.files.reading import usable_dates

FIXTURE = Path(__file__).parent / "fixtures" / "landing"
HEADER = "date,product_id,store_id,price,units_sold,on_promo"
PRODUCTS = """product_id,name,category,brand,supplier_id,Pack_Size,color,weight_kg
A1,Oat Milk,grocery,Nordvik,S1,6,,1.0
B2,Dish Soap,household,Tidy,S2,1,green,0.5
A1,Oat Milk again,grocery,Nordvik,S1,6,,1
,Nameless,grocery,Nordvik,S1,1,,1
"""
EVERYTHING = (date(2000, 1, 1), date(2100, 1, 1))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def landing(tmp_path: Path, observations: dict[str, str], products: str = PRODUCTS) -> Path:
    root = tmp_path / "landing"
    write(root / "products.csv", products)
    for name, text in observations.items():
        write(root / "observations" / name, text)
    return root


def feed_for(root: Path, tmp_path: Path, freq: str | None = None) -> FilesFeed:
    return FilesFeed(root, quarantine_dir=tmp_path / "quarantine", freq=freq)


def daily_rows(product: str, first: date, days: int, units: int = 3) -> list[str]:
    return [f"{first + timedelta(days=i)},{product},S1,2.50,{units + i % 3},false" for i in range(days)]


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("2025-02-30,A1,S1,2.5,3,false", "unparseable date"),
        ("01/02/2025,A1,S1,2.5,3,false", "unparseable date"),
        (",A1,S1,2.5,3,false", "missing date"),
        ("1899-12-31,A1,S1,2.5,3,false", "date out of range"),
        ("2025-01-02,,S1,2.5,3,false", "missing product_id"),
        ("2025-01-02,ZZ,S1,2.5,3,false", "unknown product"),
        ("2025-01-02,A1,S1,-2.5,3,false", "negative price"),
        ("2025-01-02,A1,S1,2.5,-3,false", "negative units_sold"),
        ("2025-01-02,A1,S1,two,3,false", "non-numeric price"),
        ("2025-01-02,A1,S1,nan,3,false", "non-numeric price"),
        ("2025-01-02,A1,S1,2.5,3 units,false", "non-numeric units_sold"),
        ("2025-01-02,A1,S1,,,true", "missing both price and units_sold"),
        ("2025-01-02,A1,S1,2.5,3,maybe", "bad on_promo value"),
        ("2025-01-01,A1,S1,2.5,3,false", "duplicate"),
        ("2025-01-01,A1,S1,2.5,4,false", "conflicting duplicate (date, product_id, store_id)"),
    ],
)
def test_each_rejection_reason(tmp_path, row, reason):
    good = ["2025-01-01,A1,S1,2.5,3,false", "2025-01-03,A1,S1,2.5,3,FALSE"]
    root = landing(tmp_path, {"jan.csv": "\n".join([HEADER, *good, row]) + "\n"})
    result = feed_for(root, tmp_path, freq="D").observations(*EVERYTHING)
    assert result.rejected.select("file", "line", "reason").to_dicts() == [
        {"file": "observations/jan.csv", "line": 3, "reason": reason}
    ]
    record = json.loads(result.rejected["record"][0])
    assert list(record) == HEADER.split(",") and record["product_id"] == (row.split(",")[1] or None)
    assert result.accepted["source_line"].to_list() == [1, 2]
    assert (result.rows_in, result.accepted.height) == (3, 2)


def test_year_first_dates_in_any_common_spelling_are_read(tmp_path):
    """2025/01/03, 2025.01.04, 20250105 and a timestamp are the dates they say; 2025/01-06 mixes
    separators and 06/01/2025 could be June or January: those two are rejected, not guessed."""
    spelled = [
        "2025-01-02",
        "2025/01/03",
        "2025.1.4",
        "20250105",
        "2025-01-06T00:00:00",
        "2025/01-06",
        "06/01/2025",
    ]
    rows = [f"{day},A1,S1,2.5,3,false" for day in spelled]
    root = landing(tmp_path, {"jan.csv": "\n".join([HEADER, *rows]) + "\n"})
    result = feed_for(root, tmp_path, freq="D").observations(*EVERYTHING)
    assert result.accepted["date"].to_list() == [date(2025, 1, d) for d in range(2, 7)]
    assert result.rejected["reason"].to_list() == ["unparseable date", "unparseable date"]


def test_several_faults_are_all_named(tmp_path):
    root = landing(tmp_path, {"jan.csv": f"{HEADER}\n2025-01-02,ZZ,S1,-1,x,maybe\n"})
    [reason] = feed_for(root, tmp_path, "D").observations(*EVERYTHING).rejected["reason"]
    assert reason == "negative price; non-numeric units_sold; bad on_promo value; unknown product"


def test_csv_parquet_jsonl_land_alike_with_plans_kept(tmp_path):
    root = landing(
        tmp_path,
        {
            "2025-01.csv": "\n".join([HEADER, *daily_rows("A1", date(2025, 1, 1), 31)]) + "\n",
            # Plans: price and promotion calendar after the last actual, no units.
            "2025-03-plan.jsonl": '{"date": "2025-03-01", "product_id": "A1", "store_id": "S1", '
            '"price": 1.99, "on_promo": true}\n\n'
            '{"date": "2025-03-02", "product_id": "A1", "store_id": "S1", "price": 2.5, "on_promo": "no"}\n',
        },
    )
    pl.DataFrame(
        {
            "date": [date(2025, 2, 1) + timedelta(days=i) for i in range(28)],
            "product_id": ["A1"] * 28,
            "store_id": ["S1"] * 28,
            "price": [2.5] * 28,
            "units_sold": [4] * 28,
            "on_promo": [False] * 28,
        }
    ).write_parquet(root / "observations" / "2025-02.parquet")
    feed = feed_for(root, tmp_path)
    assert feed.freq == "D" and feed.span() == (date(2025, 1, 1), date(2025, 3, 2))
    result = feed.observations(*EVERYTHING)
    assert dict(result.accepted.schema) == RAW_OBSERVATIONS
    assert result.rejected.height == 0 and result.rows_in == 31 + 28 + 2
    by_file = result.accepted.group_by("source_file").agg(pl.len(), pl.col("store_id").unique())
    assert dict(zip(by_file["source_file"], by_file["len"], strict=True)) == {
        "observations/2025-01.csv": 31,
        "observations/2025-02.parquet": 28,
        "observations/2025-03-plan.jsonl": 2,
    }
    assert by_file["store_id"].explode().unique().to_list() == ["S1"]
    plans = result.accepted.filter(pl.col("units_sold").is_null())
    assert plans.select("date", "price", "on_promo", "source_line").rows() == [
        (date(2025, 3, 1), 1.99, True, 1),
        (date(2025, 3, 2), 2.5, False, 3),  # physical line 3: the blank line is not a record
    ]
    assert result.accepted.equals(result.accepted.sort("date", "product_id", "store_id"))


def test_a_zone_without_stores_lands_in_the_default_store_and_a_storeless_file_beside_stores_is_refused(
    tmp_path,
):
    rows = [f"2025-01-{d:02d},A1,2.5,3,false" for d in range(1, 11)]
    alone = landing(
        tmp_path / "a", {"jan.csv": "\n".join(["date,product_id,price,units_sold,on_promo", *rows])}
    )
    result = feed_for(alone, tmp_path / "a", "D").observations(*EVERYTHING)
    assert result.rejected.height == 0 and result.accepted["store_id"].unique().to_list() == ["all"]
    beside = landing(
        tmp_path / "b",
        {
            "jan.csv": "\n".join(["date,product_id,price,units_sold,on_promo", *rows]),
            "feb.csv": "\n".join([HEADER, *daily_rows("A1", date(2025, 2, 1), 10)]),
        },
    )
    result = feed_for(beside, tmp_path / "b", "D").observations(*EVERYTHING)
    assert result.rows_in == 20 and result.accepted["store_id"].unique().to_list() == ["S1"]
    assert set(result.rejected["reason"]) == {"missing store_id (other rows name stores)"}


def test_windows_never_lose_or_double_count_rows(tmp_path):
    bad_dates = ["2025-13-01,A1,S1,2.5,1,false", "soon,B2,S1,2.5,1,false"]
    rows = [HEADER, *daily_rows("A1", date(2025, 1, 20), 40), *bad_dates, "2025-02-10,ZZ,S1,1,1,false", ""]
    root = landing(
        tmp_path,
        {"a.csv": "\n".join(rows), "b.csv": "\n".join([HEADER, *daily_rows("B2", date(2025, 3, 5), 30)])},
    )
    feed = feed_for(root, tmp_path)
    first, last = feed.span()
    assert (first, last) == (date(2025, 1, 20), date(2025, 4, 3))
    parts = [feed.observations(lo, hi) for _, lo, hi in month_windows(first, last + timedelta(days=1))]
    whole = feed.observations(first, last + timedelta(days=1))
    data_lines = sum(
        len([ln for ln in p.read_text().splitlines()[1:] if ln.strip()])
        for p in (root / "observations").iterdir()
    )
    assert sum(p.rows_in for p in parts) == whole.rows_in == data_lines == 40 + 3 + 30
    assert all(p.rows_in == p.accepted.height + p.rejected.height for p in parts)
    assert (
        pl.concat([p.accepted for p in parts]).sort("date", "product_id", "store_id").equals(whole.accepted)
    )
    assert pl.concat([p.rejected for p in parts]).sort("file", "line").equals(whole.rejected)
    # Rows without a usable date are rejected once, in the window holding the first day of the span.
    assert parts[0].rejected["reason"].to_list() == ["unparseable date", "unparseable date"]
    assert parts[1].rejected["reason"].to_list() == ["unknown product"]


def test_unreadable_files_are_set_aside_with_a_report(tmp_path):
    good = "\n".join([HEADER, *daily_rows("A1", date(2025, 1, 1), 10)])
    root = landing(tmp_path, {"good.csv": good, "no_date.csv": "day,product_id,price\n2025-01-01,A1,2\n"})
    (root / "observations" / "broken.parquet").write_bytes(b"PAR1 this is not parquet \x00\x01")
    (root / "observations" / "garbage.jsonl").write_bytes(b'{"date": "2025-01-01", \x00\xff\n{not json}\n')
    (root / "observations" / "notes.txt").write_text("ignored: not a data file")
    feed = feed_for(root, tmp_path)
    assert feed.span() == (date(2025, 1, 1), date(2025, 1, 10))  # reading the span moves nothing
    assert len(list((root / "observations").iterdir())) == 5
    result = feed.observations(*EVERYTHING)
    assert result.accepted.height == result.rows_in == 10  # the good file still lands
    quarantine = tmp_path / "quarantine"
    moved = {Path(u.path).name: u for u in result.unreadable}
    assert set(moved) == {"no_date.csv", "broken.parquet", "garbage.jsonl"}
    assert "missing required column(s) date" in moved["no_date.csv"].error
    assert moved["broken.parquet"].error.startswith("cannot parse as PARQUET")
    assert moved["garbage.jsonl"].error.startswith("cannot parse as JSONL")
    for name, unreadable in moved.items():
        assert unreadable.moved_to == str(quarantine / name) and Path(unreadable.moved_to).is_file()
        report = (quarantine / f"{name}.report.txt").read_text()
        assert unreadable.error in report and str(root / "observations" / name) in report
    assert sorted(p.name for p in (root / "observations").iterdir()) == ["good.csv", "notes.txt"]
    assert feed.observations(*EVERYTHING).unreadable == ()  # reported once, by the call that moved them
    # A second bad file of the same name does not overwrite the first one in the quarantine.
    write(root / "observations" / "no_date.csv", "x\n1\n")
    [again] = feed.observations(*EVERYTHING).unreadable
    assert again.moved_to == str(quarantine / "no_date.1.csv")


def test_products_and_suppliers(tmp_path):
    root = landing(tmp_path, {"a.csv": f"{HEADER}\n2025-01-01,B2,S1,1,1,false\n"})
    pl.DataFrame(
        {"supplier_id": ["S1", "S1", None], "name": ["One", "Dup", "x"], "country": ["DE"] * 3}
    ).write_parquet(root / "suppliers.parquet")
    feed = feed_for(root, tmp_path, "D")
    products = feed.products()
    assert dict(products.accepted.schema) == RAW_PRODUCTS and dict(products.rejected.schema) == REJECTED_ROWS
    assert products.accepted.select("product_id", "name", "source_line").rows() == [
        ("A1", "Oat Milk", 1),
        ("B2", "Dish Soap", 2),
    ]
    assert [json.loads(a) for a in products.accepted["attributes"]] == [
        {"pack_size": 6, "color": None, "weight_kg": 1.0},  # numbers stay numbers, for the features
        {"pack_size": 1, "color": "green", "weight_kg": 0.5},
    ]
    assert products.rejected.select("line", "reason").rows() == [
        (3, "duplicate product_id"),
        (4, "missing product_id"),
    ]
    assert products.rows_in == 4
    suppliers = feed.suppliers()
    assert dict(suppliers.accepted.schema) == RAW_SUPPLIERS
    assert suppliers.accepted.select("supplier_id", "name", "country").rows() == [("S1", "One", "DE")]
    assert suppliers.rejected["reason"].to_list() == ["duplicate supplier_id", "missing supplier_id"]
    (root / "suppliers.parquet").unlink()
    assert feed.suppliers().rows_in == 0  # suppliers are optional
    (root / "products.csv").unlink()
    with pytest.raises(FileNotFoundError, match="products.csv or products.parquet"):
        feed.products()


def test_unreadable_products_file_is_quarantined(tmp_path):
    root = landing(
        tmp_path, {"a.csv": f"{HEADER}\n2025-01-01,A1,S1,1,1,false\n"}, products="sku,name\nA1,x\n"
    )
    feed = feed_for(root, tmp_path, "D")
    obs = feed.observations(*EVERYTHING)
    assert obs.rejected["reason"].to_list() == ["unknown product"] and obs.unreadable == ()
    products = feed.products()
    assert products.rows_in == 0 and products.unreadable[0].error.startswith(
        "missing required column(s) product_id"
    )


@pytest.mark.parametrize(("step", "freq"), [(1, "D"), (7, "W"), (31, "M")])
def test_frequency_is_inferred_from_the_dates(tmp_path, step, freq):
    days = [date(2024, 1, 1) + timedelta(days=step * i) for i in range(12)]
    if freq == "M":
        days = [date(2024, m, 1) for m in range(1, 13)]
    lines = [f"{d},A1,S1,2.5,1,false" for d in days] + [f"{d},B2,S2,2.5,1,false" for d in days[::2]]
    root = landing(tmp_path, {"x.csv": "\n".join([HEADER, *lines])})
    assert feed_for(root, tmp_path).freq == freq
    assert feed_for(root, tmp_path, freq="W").freq == "W"  # configuration wins


@pytest.mark.parametrize(
    ("days", "freq"),
    [
        ([date(2024, 1, 4) + timedelta(weeks=i) for i in range(12)], "W-THU"),
        (
            pl.date_range(date(2023, 1, 1), date(2023, 12, 1), "1mo", eager=True).dt.month_end().to_list(),
            "ME",
        ),
    ],
)
def test_the_users_week_anchor_and_month_ends_are_inferred(tmp_path, days, freq):
    lines = [f"{d},A1,S1,2.5,1,false" for d in days] + [f"{d},B2,S2,2.5,1,false" for d in days[1::2]]
    assert feed_for(landing(tmp_path, {"x.csv": "\n".join([HEADER, *lines])}), tmp_path).freq == freq


def test_landing_manifest_reads_each_file_once_per_fingerprint(tmp_path, monkeypatch):
    """The partitions' start is read while the definitions load: a file's dates are read when it is new
    or changed, and unusable files count for nothing."""
    reads = []
    monkeypatch.setattr(manifest, "usable_dates", lambda path: reads.append(path.name) or usable_dates(path))
    root = landing(
        tmp_path,
        {
            "1987.csv": "\n".join([HEADER, "1987-06-30,A1,S1,1,1,false", "1987-05-02,A1,S1,1,1,false"]),
            "1988.jsonl": '{"date": "1988-01-01", "product_id": "A1", "units_sold": 1}\n',
            "typo.csv": "\n".join([HEADER, "1899-01-01,A1,S1,1,1,false"]),  # out of range: unusable
            "no-date.csv": "day,product_id\n1980-01-01,A1\n",
        },
    )
    path = tmp_path / "home" / manifest.MANIFEST_NAME
    assert manifest.landing_start(root, path) == date(1987, 5, 2)
    assert sorted(reads) == ["1987.csv", "1988.jsonl", "no-date.csv", "typo.csv"]
    spans = json.loads(path.read_text())
    assert spans[str(root / "observations" / "1987.csv")] | {"fingerprint": None} == {
        "fingerprint": None,
        "first": "1987-05-02",
        "last": "1987-06-30",
    }
    assert spans[str(root / "observations" / "no-date.csv")]["error"] == "missing required column(s) date"

    reads.clear()
    assert manifest.landing_start(root, path) == date(1987, 5, 2) and reads == []  # nothing changed
    write(root / "observations" / "1988.jsonl", '{"date": "1985-02-03", "product_id": "A1", "price": 2}\n')
    (root / "observations" / "1987.csv").unlink()
    assert manifest.landing_start(root, path) == date(1985, 2, 3) and reads == ["1988.jsonl"]
    assert len(json.loads(path.read_text())) == 3  # the deleted file left the manifest


def test_frequency_that_fits_no_grid_is_refused():
    odd = pl.DataFrame({"product_id": ["A1"] * 4, "store_id": ["all"] * 4})
    odd = odd.with_columns(pl.Series("date", [date(2025, 1, 1) + timedelta(days=15 * i) for i in range(4)]))
    with pytest.raises(ValueError, match="median 15 days apart"):
        infer_freq(odd)
    with pytest.raises(ValueError, match="no series has two dates"):
        infer_freq(odd.head(1))


def test_example_landing_fixture(tmp_path):
    size = sum(p.stat().st_size for p in FIXTURE.rglob("*") if p.is_file())
    assert size < 200_000
    root = tmp_path / "landing"
    shutil.copytree(FIXTURE, root)
    feed = make_feed(
        "files", landing_dir=str(root), freq=None, synth=SynthConfig(), quarantine_dir=str(tmp_path / "q")
    )
    first, last = feed.span()
    assert (feed.freq, first, last) == ("D", date(2025, 1, 2), date(2025, 9, 14))
    result = feed.observations(first, last + timedelta(days=1))
    assert result.rejected.select("file", "line", "reason").rows() == [
        ("observations/2025-02.csv", 100, "unparseable date"),
        ("observations/2025-03.csv", 200, "negative price"),
        ("observations/2025-06.csv", 50, "unknown product"),
    ]
    assert result.unreadable == () and result.rows_in == result.accepted.height + 3
    plans = result.accepted.filter(pl.col("units_sold").is_null())
    assert plans["date"].min() == date(2025, 9, 1) and plans["price"].null_count() == 0
    assert set(plans["source_file"]) == {"observations/2025-09-plan.jsonl"}
    assert feed.products().accepted.height == 8 and feed.suppliers().accepted.height == 4
    assert "observations/2025-04.parquet" in set(result.accepted["source_file"])


def test_span_says_why_nothing_is_usable(tmp_path):
    root = landing(tmp_path, {"only.csv": "day,product_id,price\n2025-01-01,A1,2\n"})
    with pytest.raises(ValueError, match=r"only.csv is unreadable: missing required column\(s\) date"):
        feed_for(root, tmp_path).span()
    assert (root / "observations" / "only.csv").is_file()  # span() never moves a file
