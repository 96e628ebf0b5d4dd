"""`shelfcast status | forecast | export | report`: what the platform made, from a terminal.

Forecasts come from the current serving bundle through the API's own lookup (serving/lookup.py), so
the CLI and `GET /v1/forecasts` answer the same rows; a wrong id is one line naming what exists."""

import argparse
import sys
import webbrowser
from pathlib import Path

import polars as pl

from platform_assets.config.resources import ShelfcastConfig
from platform_assets.config.settings import load_settings
from platform_assets.serving.errors import InvalidRequest, UnknownSeries
from platform_assets.serving.layout import serving_root

EXPORT_FORMATS = ("csv", "parquet")
_ALL_ROWS = 10**9


def _config() -> ShelfcastConfig:
    return ShelfcastConfig(home=str(load_settings().home))


def _bundle(home: Path):
    """The bundle the API serves now; None (after saying why) without one."""
    from platform_assets.serving.bundle import current_generation
    from platform_assets.serving.loaded import load_bundle

    root = serving_root(home)
    generation = current_generation(root)
    if generation is None:
        print(
            f"no serving bundle under {root}: materialize serving_bundle (`make demo` does)", file=sys.stderr
        )
        return None
    return load_bundle(root, generation)


def _status(_: argparse.Namespace) -> int:
    from platform_assets.modeling.names import CHAMPION
    from platform_assets.modeling.registry import alias_version
    from platform_assets.runner.status import bundle_manifest, failing_checks, open_instance, status_lines

    settings, config = load_settings(), _config()
    instance = open_instance(config.home_path / "dagster_home")
    failing = None if instance is None else failing_checks(instance)
    champion = alias_version(settings.mlflow_tracking_uri, CHAMPION)
    print("\n".join(status_lines(bundle_manifest(serving_root(config.home_path)), champion, failing)))
    return 1 if failing else 0


def _forecast(args: argparse.Namespace) -> int:
    from platform_assets.serving.lookup import Query, select_forecasts

    bundle = _bundle(_config().home_path)
    if bundle is None:
        return 1
    try:
        rows, _ = select_forecasts(
            bundle, Query(product_id=args.product, store_id=args.store, limit=_ALL_ROWS)
        )
    except (UnknownSeries, InvalidRequest) as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    if args.plot:
        _plot(rows, bundle.history, Path(args.plot))
        print(f"wrote {args.plot} ({rows.select('product_id', 'store_id').n_unique()} series)")
        return 0
    with pl.Config(
        tbl_rows=-1, tbl_cols=-1, tbl_hide_dataframe_shape=True, float_precision=2, tbl_width_chars=160
    ):
        print(rows)
    print(f"model v{bundle.model_version}, serving bundle {bundle.generation}")
    return 0


def _plot(rows: pl.DataFrame, history: pl.DataFrame, path: Path) -> None:
    from platform_assets.monitoring.forecast_plots import series_png, top_series_png

    series = rows.select("product_id", "store_id").unique()
    if series.height == 1:
        product, store = series.row(0)
        past = history.filter((pl.col("product_id") == product) & (pl.col("store_id") == store))
        content = series_png(past, rows, f"{product} @ {store}")
    else:
        content = top_series_png(rows, history.join(series, on=["product_id", "store_id"]), n=series.height)
    path.write_bytes(content)


def _export(args: argparse.Namespace) -> int:
    bundle = _bundle(_config().home_path)
    if bundle is None:
        return 1
    from platform_assets.serving.lookup import served_columns

    rows = bundle.forecasts.select(served_columns(tuple(bundle.forecasts.columns))).with_columns(
        pl.lit(bundle.model_version).alias("model_version"), pl.lit(bundle.generation).alias("generation")
    )
    path = Path(args.output or f"shelfcast-forecasts-{bundle.generation}.{args.format}")
    if args.format == "csv":
        rows.write_csv(path)
    else:
        rows.write_parquet(path)
    print(f"wrote {rows.height} rows ({rows.select('product_id', 'store_id').n_unique()} series) to {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from platform_assets.runner.status import newest_reports

    reports_dir = _config().reports_dir
    found = newest_reports(reports_dir)
    if not found:
        print(f"no reports under {reports_dir} yet: `make demo` makes them", file=sys.stderr)
        return 1
    for name, path in found.items():
        print(f"{name:<34} {path}")
    if args.open:
        for path in (p for p in found.values() if p.suffix == ".html"):
            webbrowser.open(path.as_uri())
    return 0


def add_commands(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser("status", help="champion, newest forecasts, failing checks (exit 1 if any)")
    status.set_defaults(run=_status)
    forecast = commands.add_parser("forecast", help="one product's forecasts (all its stores, or one)")
    forecast.add_argument("product")
    forecast.add_argument("store", nargs="?")
    forecast.add_argument("--plot", metavar="OUT.png", help="draw history, the bands and p50 instead")
    forecast.set_defaults(run=_forecast)
    export = commands.add_parser("export", help="every served forecast to a file")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv")
    export.add_argument("--output", help="default shelfcast-forecasts-<bundle>.<format> here")
    export.set_defaults(run=_export)
    report = commands.add_parser("report", help="the newest reports' paths (forecasts, model, drift, ...)")
    report.add_argument("--open", action="store_true", help="open the HTML reports in a browser")
    report.set_defaults(run=_report)
