"""Configuration: every SHELFCAST_* variable lands in its typed field, and the README documents each one."""

from pathlib import Path

import pytest

from platform_assets.config.resources import build_resources
from platform_assets.config.settings import load_settings
from platform_assets.config.variables import markdown_table, rows

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_lists_every_variable_as_the_code_defines_it():
    assert markdown_table() in README.read_text(), (
        "README's configuration table is stale: paste `python -m platform_assets.config.variables`"
    )


def test_variables_are_unique():
    names = [name for name, *_ in rows()]
    assert len(names) == len(set(names))


def _config(tmp_path: Path, **env: str):
    environ = {"SHELFCAST_HOME": str(tmp_path), **{f"SHELFCAST_{k}": v for k, v in env.items()}}
    resource = build_resources(load_settings(environ))["config"]
    with pytest.MonkeyPatch.context() as mp:  # EnvVar fields resolve from the process environment
        for key, value in environ.items():
            mp.setenv(key, value)
        return resource.process_config_and_initialize()


def test_each_variable_reaches_its_section(tmp_path: Path):
    config = _config(
        tmp_path, HORIZON="9", DRIFT_SHARE="0.25", SYNTH_SEED="7", FREQ="W", TAFENG_MAX_PRODUCTS="50"
    )
    assert config.forecasting.horizon == 9
    assert config.monitoring.drift_share == 0.25
    assert config.ingest.synth_seed == 7
    assert config.ingest.tafeng_max_products == 50
    assert config.resolved_freq() == "W"
    assert config.make_feed().config.horizon == 9  # the synthetic feed plans the forecast horizon


@pytest.mark.parametrize(
    ("value", "expected"), [("true", True), ("1", True), ("False", False), ("no", False)]
)
def test_flags_and_holidays_reach_their_fields(tmp_path: Path, value: str, expected: bool):
    config = _config(tmp_path, STAT_MODELS=value, HOLIDAYS="US-CA", BACKTEST_ORIGINS="5")
    assert config.forecasting.stat_models is expected and config.forecasting.holidays == "US-CA"
    assert config.forecasting.backtest_origins == 5


def test_a_flag_that_is_not_a_boolean_fails_in_one_line(tmp_path: Path):
    with pytest.raises(ValueError, match=r"^SHELFCAST_STAT_MODELS='maybe': expected true or false$"):
        _config(tmp_path, STAT_MODELS="maybe")


def test_defaults_without_environment(tmp_path: Path):
    config = _config(tmp_path)
    assert (config.forecasting.horizon, config.ingest.feed, config.monitoring.decay_factor) == (
        14,
        "synthetic",
        1.3,
    )
    assert config.landing_path == tmp_path.resolve() / "landing"


@pytest.mark.parametrize("engine", ["duckdb", "postgres"])
def test_assets_that_write_the_warehouse_show_its_engine(tmp_path: Path, engine: str):
    import dagster as dg

    from platform_assets.definitions import build_defs

    environ = {"SHELFCAST_HOME": str(tmp_path), "SHELFCAST_WAREHOUSE": engine}
    environ |= {"SHELFCAST_PG_DSN": "postgresql://u@127.0.0.1:5432/x"} if engine == "postgres" else {}
    defs = build_defs(load_settings(environ))
    other = {"duckdb", "postgres"} - {engine}
    for key in ("raw_observations", "fct_product_sales", "training_features", "forecasts", "drift_scores"):
        kinds = defs.resolve_assets_def(key).specs_by_key[dg.AssetKey(key)].kinds
        assert engine in kinds and not kinds & other, (key, kinds)


def test_configured_frequency_is_named_canonically(tmp_path: Path):
    assert _config(tmp_path, FREQ="w-thu").resolved_freq() == "W-THU"
    assert _config(tmp_path, FREQ="MS").resolved_freq() == "M"


def test_files_feed_partitions_start_at_the_landing_zones_first_month(tmp_path: Path):
    """Inferred while loading (no run has read the files yet), overridden by SHELFCAST_HISTORY_START,
    and a default while the landing zone has no usable date."""
    home, landing = tmp_path / "home", tmp_path / "landing"
    env = {"SHELFCAST_HOME": str(home), "SHELFCAST_FEED": "files", "SHELFCAST_LANDING_DIR": str(landing)}
    assert load_settings(env).history_start == "2015-01-01"  # no landing zone yet

    (landing / "observations").mkdir(parents=True)
    (landing / "observations" / "old.csv").write_text("date,product_id\n1986-03-15,A\n1986-04-15,A\n")
    (landing / "observations" / "new.csv").write_text("date,product_id\n1999-01-01,A\n")
    assert load_settings(env).history_start == "1986-03-01"
    assert (home / "landing_manifest.json").is_file()
    assert load_settings({**env, "SHELFCAST_HISTORY_START": "1990-01-01"}).history_start == "1990-01-01"
    # The default landing zone is $SHELFCAST_HOME/landing.
    (home / "landing").symlink_to(landing)
    assert load_settings({**env, "SHELFCAST_LANDING_DIR": ""}).history_start == "1986-03-01"


def test_forecasts_latest_follows_a_new_forecast_generation(tmp_path: Path):
    """A generation written outside a job that also builds forecasts_latest (a click on `forecasts` in
    the UI) has the view rebuilt and tested by the automation sensor, which starts running."""
    import dagster as dg

    from platform_assets.definitions import build_defs

    defs = build_defs(load_settings({"SHELFCAST_HOME": str(tmp_path)}))
    sensor = defs.resolve_sensor_def("forecasts_latest_automation")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == {dg.AssetKey("forecasts_latest")}
    latest = dg.AssetKey("forecasts_latest")
    with dg.DagsterInstance.ephemeral() as instance:
        for key in ("forecasts", "forecasts_latest"):  # a full run built both
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        first = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, asset_selection=dg.AssetSelection.assets(latest)
        )
        assert first.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization("forecasts"))
        second = dg.evaluate_automation_conditions(
            defs=defs,
            instance=instance,
            asset_selection=dg.AssetSelection.assets(latest),
            cursor=first.cursor,
        )
        assert second.total_requested == 1
        assert second.get_num_requested(latest) == 1


def test_every_check_says_what_it_checks(tmp_path: Path):
    """The UI shows a check's description; none may read "No description provided" (dbt tests get one
    from their test and arguments)."""
    from platform_assets.definitions import build_defs

    graph = build_defs(load_settings({"SHELFCAST_HOME": str(tmp_path)})).resolve_asset_graph()
    specs = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    assert len(specs) > 40 and not [key.name for key, spec in specs.items() if not spec.description]
    unique = specs[next(k for k in specs if k.name == "unique_dim_supplier_supplier_id")]
    assert unique.description == "dbt test `unique` of `supplier_id`; fails with error"


def test_unusable_values_are_named_one_line_each(tmp_path: Path):
    from platform_assets.config.check import setting_problems

    env = {"SHELFCAST_HOME": str(tmp_path)}
    assert setting_problems(env) == []
    assert setting_problems(env | {"SHELFCAST_FREQ": "w-sat", "SHELFCAST_HORIZON": "8"}) == []
    bad = {
        "SHELFCAST_FEED": "file",
        "SHELFCAST_FREQ": "W-SATURDAY",
        "SHELFCAST_HORIZON": "abc",
        "SHELFCAST_DRIFT_SHARE": "half",
        "SHELFCAST_STAT_MODELS": "maybe",
        "SHELFCAST_TAFENG_MAX_PRODUCTS": "1e3",
    }
    problems = setting_problems(env | bad)
    assert problems[:2] == [
        "SHELFCAST_FEED='file': expected one of ['files', 'synthetic', 'tafeng']",
        "SHELFCAST_FREQ='W-SATURDAY': expected D, W (weeks from Monday), W-MON .. W-SUN (weeks ending that "
        "day), M (months by their first day) or ME (by their last day)",
    ]
    assert sorted(problems[2:]) == [
        "SHELFCAST_DRIFT_SHARE='half': expected a number",
        "SHELFCAST_HORIZON='abc': expected an integer",
        "SHELFCAST_STAT_MODELS='maybe': expected true or false",
        "SHELFCAST_TAFENG_MAX_PRODUCTS='1e3': expected an integer",
    ]


def test_make_demo_stops_on_a_bad_value_in_one_line_before_dbt(tmp_path: Path):
    """`make settings` (first prerequisite of demo and dev): no traceback, exit 2, the variable named."""
    import os
    import subprocess
    import sys

    env = os.environ | {"SHELFCAST_HOME": str(tmp_path), "SHELFCAST_FREQ": "W-SATURDAY"}
    done = subprocess.run(
        [sys.executable, "-m", "platform_assets.cli.check_settings"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.splitlines() == [
        "shelfcast: SHELFCAST_FREQ='W-SATURDAY': expected D, W (weeks from Monday), W-MON .. W-SUN (weeks "
        "ending that day), M (months by their first day) or ME (by their last day)"
    ]
