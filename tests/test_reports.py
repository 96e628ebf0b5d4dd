"""Monitoring reports: the HTML page is well-formed, escaped and ordered; PNGs decode at the expected size."""

import base64
from html.parser import HTMLParser
from io import BytesIO

import matplotlib.image
import numpy as np
import polars as pl
import pytest

from platform_assets.monitoring.accuracy_report import accuracy_by_horizon_png
from platform_assets.monitoring.drift import feature_drift
from platform_assets.monitoring.drift_report import drift_report_html, drift_summary_png
from platform_assets.monitoring.rendering import markdown_image, markdown_table

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RED = np.array([0xD6, 0x27, 0x28]) / 255  # tab:red, the drifted colour
SCRIPT = "<script>alert(1)</script>"


class _Page(HTMLParser):
    """Collects what a reader sees: tags, images, summary-table rows and all text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.images: list[dict] = []
        self.rows: list[list[str]] = []
        self.text: list[str] = []
        self._in_body_row = self._in_tbody = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.images.append(dict(attrs))
        elif tag == "tbody":
            self._in_tbody = True
        elif tag == "tr" and self._in_tbody:
            self.rows.append([])
        elif tag == "td" and self._in_tbody:
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_tbody = False

    def handle_data(self, data):
        self.text.append(data)
        if self._in_tbody and self.rows and self.rows[-1]:
            self.rows[-1][-1] += data


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _frames(n: int, seed: int = 3) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Stable columns first, so 'drifted first' in the report is a real reordering of the scores."""
    rng = np.random.default_rng(seed)

    def frame(shift: float, mix: list[float]) -> pl.DataFrame:
        return pl.DataFrame(
            {
                "price": rng.normal(10.0, 2.0, n),
                "store": rng.choice(["s1", "s2", "s3 $x^$"], n),  # '$' must not trigger mathtext
                "sku": rng.choice([f"sku-{i:03d}" for i in range(60)], n),  # > 20 categories
                "promo": rng.integers(0, 2, n),  # few-unique numeric: plotted as categories
                "discount": pl.Series([None] * n, dtype=pl.Float64),
                SCRIPT: rng.normal(0.0, 1.0, n),
                "demand": rng.normal(5.0 + shift, 1.0, n),
                "channel": rng.choice(["web", "shop", "app"], n, p=mix),
            }
        )

    return frame(0.0, [0.5, 0.4, 0.1]), frame(1.5, [0.2, 0.3, 0.5])


@pytest.fixture(scope="module")
def drift() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    reference, current = _frames(3000)
    return reference, current, feature_drift(reference, current, n_threads=1)


def _decode(data: bytes) -> np.ndarray:
    assert data.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(BytesIO(data))


def _has_red(image: np.ndarray) -> bool:
    return bool(np.any(np.all(np.abs(image[..., :3] - RED) < 0.02, axis=-1)))


def test_report_has_one_image_per_plottable_feature(drift):
    reference, current, scores = drift
    page = _parse(drift_report_html(reference, current, scores, "Weekly drift"))
    plotted = set(scores["feature"]) - {"discount"}
    assert {img["alt"] for img in page.images} == {f"{f} distribution" for f in plotted}
    assert len(page.images) == len(plotted)
    for img in page.images:
        prefix = "data:image/png;base64,"
        assert img["src"].startswith(prefix)
        assert base64.b64decode(img["src"][len(prefix) :]).startswith(PNG_SIGNATURE)


def test_report_is_self_contained_and_escaped(drift):
    reference, current, scores = drift
    raw = drift_report_html(reference, current, scores, "Drift <b>&</b> co")
    page = _parse(raw)
    assert "script" not in page.tags and "b" not in page.tags and "link" not in page.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in raw
    assert "Drift &lt;b&gt;&amp;&lt;/b&gt; co" in raw
    assert "http://" not in raw and "https://" not in raw
    assert {row[0] for row in page.rows} == set(scores["feature"])


def test_report_header_counts_and_drifted_first(drift):
    reference, current, scores = drift
    page = _parse(drift_report_html(reference, current, scores, "t"))
    drifted = set(scores.filter(pl.col("drifted"))["feature"])
    assert {"demand", "channel"} <= drifted and "price" not in drifted  # the data really drifts
    assert scores["feature"][0] not in drifted  # so ordering drifted first is a real reordering
    verdicts = [row[5] for row in page.rows]
    assert verdicts == sorted(verdicts, key=["yes", "no", "n/a"].index)
    assert {row[0] for row in page.rows if row[5] == "yes"} == drifted
    decided = scores.filter(pl.col("drifted").is_not_null()).height
    assert f"{len(drifted)} of {decided} features drifted" in "".join(page.text)


def test_p_value_features_sort_by_strength_not_raw_score():
    """Small samples use KS / chi2 p-values: the smallest p-value is the strongest drift, listed first."""
    rng = np.random.default_rng(11)
    n = 400
    reference = pl.DataFrame({"mild": rng.normal(0, 1, n), "strong": rng.normal(0, 1, n)})
    current = pl.DataFrame({"mild": rng.normal(0.4, 1, n), "strong": rng.normal(2.0, 1, n)})
    scores = feature_drift(reference, current, n_threads=1)
    assert set(scores["method"]) == {"ks"} and scores["drifted"].all()
    page = _parse(drift_report_html(reference, current, scores, "t"))
    assert [row[0] for row in page.rows] == ["strong", "mild"]


def test_all_null_and_missing_columns_get_a_note_instead_of_a_plot(drift):
    reference, current, scores = drift
    page = _parse(drift_report_html(reference, current.drop("price"), scores, "t"))
    text = "".join(page.text)
    assert "no non-null values in reference and current" in text
    assert "column missing from current" in text
    alts = {img["alt"] for img in page.images}
    assert "discount distribution" not in alts and "price distribution" not in alts
    assert len(page.images) == scores.height - 2


def test_sampling_is_seeded(drift):
    reference, current, scores = drift
    first = drift_report_html(reference, current, scores, "t", max_rows=500)
    assert first == drift_report_html(reference, current, scores, "t", max_rows=500)
    assert first != drift_report_html(reference, current, scores, "t")
    with pytest.raises(ValueError, match="max_rows"):
        drift_report_html(reference, current, scores, "t", max_rows=0)


def test_summary_png_size_and_drift_colour(drift):
    _, _, scores = drift
    image = _decode(drift_summary_png(scores))
    assert image.shape[1] == 700
    assert _has_red(image)
    calm = _decode(drift_summary_png(scores.with_columns(pl.lit(False).alias("drifted"))))
    assert not _has_red(calm)
    fewer = _decode(drift_summary_png(scores.head(2)))
    assert fewer.shape[1] == 700 and fewer.shape[0] < image.shape[0]
    empty = _decode(drift_summary_png(scores.clear()))
    assert empty.shape[1] == 700


@pytest.mark.parametrize("extra", [[], ["backtest_wape"], ["backtest_wape", "mase"]])
def test_accuracy_png_with_optional_columns(extra):
    accuracy = pl.DataFrame(
        {
            "horizon": [3, 1, 2, 4],  # unsorted on purpose
            "wape": [0.3, 0.2, None, 0.35],  # a horizon without actuals yet
            "coverage": [0.7, 0.82, 0.78, 0.6],
            "backtest_wape": [0.22, 0.15, 0.18, 0.25],
            "mase": [1.1, 0.8, 0.9, 1.3],
        }
    ).select(["horizon", "wape", "coverage", *extra])
    image = _decode(accuracy_by_horizon_png(accuracy))
    assert image.shape[:2] == (340, 900)


def test_accuracy_png_requires_its_columns():
    with pytest.raises(ValueError, match="coverage"):
        accuracy_by_horizon_png(pl.DataFrame({"horizon": [1], "wape": [0.2]}))


def test_markdown_table_and_image():
    table = pl.DataFrame({"horizon": [1, 2], "wape": [0.25, 1 / 3], "note": ["a", None]})
    assert markdown_table(table) == (
        "| horizon | wape | note |\n|---|---|---|\n| 1 | 0.250 | a |\n| 2 | 0.333 | \u2014 |\n"
    )
    png = accuracy_by_horizon_png(table.select("horizon", "wape", pl.col("wape").alias("coverage")))
    image = markdown_image("accuracy.png", png)
    assert image.startswith("![accuracy.png](data:image/png;base64,")
    assert (
        base64.b64decode(image.removeprefix("![accuracy.png](data:image/png;base64,").removesuffix(")"))
        == png
    )
