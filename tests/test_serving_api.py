"""The HTTP API over a bundle from a real graph run (FastAPI's TestClient): lookups, what-if, keys,
errors, metrics and the request log, and its load into the warehouse."""

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from fastapi.testclient import TestClient

from platform_assets.config.api import ApiConfig
from platform_assets.config.sections import ServingSettings
from platform_assets.serving.api.app import create_app
from platform_assets.serving.keys import SqliteKeyStore
from platform_assets.serving.layout import keys_path, requests_path
from platform_assets.serving.requestlog import SqliteRequestStore
from tests.support.graph import ServedGraph, shelfcast_graph

PROBLEM = "application/problem+json"


def make_client(home: Path, **serving) -> TestClient:
    settings = ServingSettings(**{"serve_reload_seconds": 0.2, "serve_rate_limit": 0, **serving})
    return TestClient(create_app(ApiConfig(home=home.resolve(), serving=settings)))


@pytest.fixture(scope="module")
def keys(served_graph: ServedGraph) -> dict[str, str]:
    store = SqliteKeyStore(keys_path(served_graph.home))
    return {scope: store.create(f"test-{scope}", scope)[1] for scope in ("read", "what-if", "admin")}


@pytest.fixture(scope="module")
def api(served_graph: ServedGraph, keys) -> Iterator[TestClient]:
    with make_client(served_graph.home) as client:
        yield client


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def warehouse(served_graph: ServedGraph, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(served_graph.home / "warehouse.duckdb"), read_only=True) as con:
        return con.sql(sql).pl()


def stored(served_graph: ServedGraph) -> pl.DataFrame:
    return warehouse(
        served_graph,
        "select product_id, store_id, target_date, horizon, p2_5, p10, p50, p90, p97_5"
        " from marts.forecasts_latest order by product_id, store_id, horizon",
    )


def test_lookup_of_one_series_is_the_stored_forecast(api, keys, served_graph):
    expected = stored(served_graph).filter(pl.col("product_id") == "P0001", pl.col("store_id") == "S01")
    response = api.get(
        "/v1/forecasts", params={"product_id": "P0001", "store_id": "S01"}, headers=auth(keys["read"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["model_version"] == "1" and body["next_cursor"] is None and body["count"] == 7
    got = pl.DataFrame(body["forecasts"]).select(expected.columns)
    assert got.with_columns(pl.col("target_date").str.to_date(), pl.col("horizon").cast(pl.Int32)).equals(
        expected
    )
    both = api.get("/v1/forecasts", params={"product_id": "P0001"}, headers={"X-API-Key": keys["read"]})
    assert {r["store_id"] for r in both.json()["forecasts"]} == {"S01", "S02"}


def test_pages_of_a_category_cover_it_once_in_json_and_csv(api, keys, served_graph):
    category = warehouse(served_graph, "select category from marts.dim_series where is_active limit 1").item()
    expected = warehouse(
        served_graph,
        "select f.product_id, f.store_id, f.horizon from marts.forecasts_latest f join marts.dim_series s"
        f" using (product_id, store_id) where s.category = '{category}' order by all",
    )
    rows, cursor, pages = [], None, 0
    while True:
        params = {"category": category, "limit": 5, **({"cursor": cursor} if cursor else {})}
        body = api.get("/v1/forecasts", params=params, headers=auth(keys["read"])).json()
        rows += body["forecasts"]
        pages, cursor = pages + 1, body["next_cursor"]
        if cursor is None:
            break
    assert pages == -(-expected.height // 5)
    assert pl.DataFrame(rows).select(expected.columns).cast(expected.schema).equals(expected)
    csv = api.get(
        "/v1/forecasts",
        params={"category": category, "store_id": "S02", "from": "2000-01-01"},
        headers={**auth(keys["read"]), "Accept": "text/csv"},
    )
    assert csv.headers["content-type"].startswith("text/csv")
    table = pl.read_csv(csv.content)
    assert table["store_id"].unique().to_list() == ["S02"] and table["model_version"].unique().to_list() == [
        1
    ]
    assert table.height == expected.filter(pl.col("store_id") == "S02").height


def test_keys_scopes_and_revocation(api, keys, served_graph):
    missing = api.get("/v1/forecasts", params={"product_id": "P0001"})
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"] == PROBLEM and "X-API-Key" in missing.json()["detail"]
    wrong = keys["read"][:-3] + "xyz"
    assert api.get("/v1/forecasts", params={"product_id": "P0001"}, headers=auth(wrong)).status_code == 401
    body = {"scenarios": [{"product_id": "P0001", "store_id": "S01"}]}
    forbidden = api.post("/v1/what-if", json=body, headers=auth(keys["read"]))
    assert forbidden.status_code == 403 and "what-if" in forbidden.json()["detail"]
    assert api.post("/v1/what-if", json=body, headers=auth(keys["admin"])).status_code == 200
    store = SqliteKeyStore(keys_path(served_graph.home))
    key, text = store.create("soon-revoked", "read")
    assert api.get("/v1/models/champion", headers=auth(text)).status_code == 200
    store.revoke(key.key_id)
    time.sleep(0.3)  # the key ring re-reads the records every serve_reload_seconds
    assert api.get("/v1/models/champion", headers=auth(text)).status_code == 401


def test_rate_limit_answers_429_with_retry_after(served_graph, keys):
    with make_client(served_graph.home, serve_rate_limit=0.5, serve_rate_burst=2) as client:
        statuses = [client.get("/v1/models/champion", headers=auth(keys["read"])) for _ in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    assert statuses[-1].headers["content-type"] == PROBLEM


def test_rate_limits_are_per_process_so_replicas_multiply_them(served_graph, keys):
    """What README ("Rate limits") says: each API process (a replica, a worker) keeps its own buckets."""
    limits = {"serve_rate_limit": 0.01, "serve_rate_burst": 2}
    with make_client(served_graph.home, **limits) as one, make_client(served_graph.home, **limits) as two:
        replicas = [one, two] * 3
        statuses = [c.get("/v1/models/champion", headers=auth(keys["read"])).status_code for c in replicas]
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_failed_key_checks_from_a_client_get_429_before_any_hash(served_graph, keys):
    store = SqliteKeyStore(keys_path(served_graph.home))
    fresh = store.create("checked-only-once-blocked", "read")[1]
    guesses = [keys["read"][:-2] + "zz", "shk_000000000000_guess", keys["admin"][:-2] + "zz"]
    limits = {"serve_auth_failure_rate": 0.01, "serve_auth_failure_burst": 3}
    with make_client(served_graph.home, **limits) as client:
        assert client.get("/v1/models/champion", headers=auth(keys["read"])).status_code == 200
        wrong = [client.get("/v1/models/champion", headers=auth(g)) for g in [*guesses, guesses[0]]]
        # The client is over its failures: a right key this process never checked is refused before its
        # (slow) hash; a key it already verified, and another client, still pass.
        blocked_right_key = client.get("/v1/models/champion", headers=auth(fresh))
        verified = client.get("/v1/models/champion", headers=auth(keys["read"]))
        client_b = TestClient(client.app, client=("192.0.2.7", 50000))
        other = client_b.get("/v1/models/champion", headers=auth(fresh))
    assert [r.status_code for r in wrong] == [401, 401, 401, 429]
    assert blocked_right_key.status_code == 429 and int(blocked_right_key.headers["retry-after"]) >= 1
    assert blocked_right_key.headers["content-type"] == PROBLEM
    assert "failed API key checks" in blocked_right_key.json()["detail"]
    assert (verified.status_code, other.status_code) == (200, 200)
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    log = SqliteRequestStore(requests_path(served_graph.home)).read(day, day.replace(year=day.year + 1))
    ids = [r.headers["x-request-id"] for r in [*wrong, blocked_right_key]]
    assert log.filter(pl.col("request_id").is_in(ids))["status"].sort().to_list() == [401, 401, 401, 429, 429]
    text = log.select(pl.concat_str(pl.all().cast(pl.String), ignore_nulls=True)).to_series()
    assert not any(text.str.contains(secret, literal=True).any() for secret in [*guesses, fresh])


def scenario(**change) -> dict:
    return {"scenarios": [{"product_id": "P0001", "store_id": "S01", "changes": [change]}]}


BAD = [
    ({"scenarios": [{"product_id": "NOPE", "store_id": "S01"}]}, 404, "NOPE"),
    ({"scenarios": [{"product_id": "P0001", "store_id": "S99"}]}, 404, "S99"),
    ({"scenarios": [{"product_id": "P0001"}]}, 422, "give store_id"),
    (scenario(target_date="2031-01-01", price=2.0), 422, "not a forecast period"),
    (scenario(price=-1.5), 422, "greater than 0"),
    (scenario(price=0.001), 422, "price grid"),
    (scenario(price_change_pct=-100), 422, "greater than -100"),
    (scenario(price=1.0, colour="red"), 422, "colour"),
    (scenario(price=1.0, price_change_pct=-5), 422, "not both"),
    ({"scenarios": []}, 422, "scenarios"),
    ({"scenario": [{"product_id": "P0001"}]}, 422, "scenario"),
    ({"scenarios": [{"product_id": "P0001", "store_id": "S01"}] * 2}, 422, "twice"),
]


@pytest.mark.parametrize(("payload", "status", "mentions"), BAD)
def test_each_bad_what_if_gets_a_clear_problem(api, keys, payload, status, mentions):
    response = api.post("/v1/what-if", json=payload, headers=auth(keys["what-if"]))
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert mentions in problem["detail"] and problem["status"] == status and problem["request_id"]


@pytest.mark.parametrize(
    ("params", "status", "mentions"),
    [
        ({"product_id": "NOPE"}, 404, "NOPE"),
        ({"category": "toys"}, 404, "categories"),
        ({"product_id": "P0001", "prodct": "x"}, 422, "prodct"),
        ({"product_id": "P0001", "from": "2031-01-01"}, 422, "horizon"),
        ({"product_id": "P0001", "from": "2025-06-30", "to": "2025-06-29"}, 422, "after"),
        ({"category": "grocery", "cursor": "garbage"}, 422, "cursor"),
        ({"limit": 0}, 422, "limit"),
    ],
)
def test_each_bad_lookup_gets_a_clear_problem(api, keys, params, status, mentions):
    response = api.get("/v1/forecasts", params=params, headers=auth(keys["read"]))
    assert (response.status_code, response.headers["content-type"]) == (status, PROBLEM)
    assert mentions in response.json()["detail"]


def test_what_if_with_no_change_is_exactly_the_stored_forecast(api, keys, served_graph):
    expected = stored(served_graph)
    series = expected.select("product_id", "store_id").unique(maintain_order=True).rows()
    first_day = expected["target_date"].min().isoformat()
    unchanged = [{"product_id": p, "store_id": s} for p, s in series]
    unchanged[0]["changes"] = [{"target_date": first_day}]  # a change that sets nothing
    response = api.post("/v1/what-if", json={"scenarios": unchanged}, headers=auth(keys["what-if"]))
    assert response.status_code == 200
    sides = [(side, band) for side in ("baseline", "scenario") for band in ("p10", "p50", "p90")]
    rows = [
        (s["product_id"], s["store_id"], p["horizon"], *(p[side][band] for side, band in sides))
        for s in response.json()["series"]
        for p in s["periods"]
    ]
    got = pl.DataFrame(
        rows,
        orient="row",
        schema=["product_id", "store_id", "horizon", "b10", "b50", "b90", "p10", "p50", "p90"],
    )
    assert got.height == expected.height
    assert got.select("p10", "p50", "p90").equals(
        got.select("b10", "b50", "b90").rename(lambda c: "p" + c[1:])
    )
    assert got["p50"].to_list() == expected["p50"].to_list()  # bit for bit, the batch's numbers
    assert all(p["difference"]["p50"] == 0 for s in response.json()["series"] for p in s["periods"])


def test_promotional_price_cuts_lift_demand(api, keys, served_graph):
    """The synthetic feed's promotions cut the price and lift demand: the model learnt it."""
    series = stored(served_graph).filter(pl.col("store_id") == "S01")["product_id"].unique().sort().to_list()
    lifts = {}
    for change in ({"price_change_pct": -25, "on_promo": True}, {"on_promo": True}):
        lifts[str(change)] = []
        for product in series:
            body = {"scenarios": [{"product_id": product, "store_id": "S01", "changes": [change]}]}
            [result] = api.post("/v1/what-if", json=body, headers=auth(keys["what-if"])).json()["series"]
            lifts[str(change)].append(sum(p["difference"]["p50"] for p in result["periods"]))
    for change, lift in lifts.items():
        assert sum(lift) > 0, change
        assert sum(x > 0 for x in lift) >= 0.75 * len(lift), (change, lift)


def test_outliers_warn_and_are_counted(api, keys):
    body = scenario(price=9999.0)
    [result] = api.post("/v1/what-if", json=body, headers=auth(keys["what-if"])).json()["series"]
    highest = [w for w in result["warnings"] if "x this series' highest seen" in w]
    assert highest and highest[0].endswith("the model extrapolates") and "(7 periods)" in highest[0]
    assert any("inputs far from every training row" in w for w in result["warnings"])
    assert all(p["scenario"]["price"] == 9999.0 for p in result["periods"])
    [cut] = api.post("/v1/what-if", json=scenario(price=0.01), headers=auth(keys["what-if"])).json()["series"]
    assert any("a price cut without a promotion" in w for w in cut["warnings"]) and any(
        "below this series' lowest seen" in w for w in cut["warnings"]
    )
    metrics = api.get("/metrics").text
    assert 'shelfcast_whatif_outliers_total{kind="price_above_history"} 7.0' in metrics
    assert 'shelfcast_whatif_outliers_total{kind="price_cut_without_promo"} 7.0' in metrics
    assert 'shelfcast_http_requests_total{method="POST",route="/v1/what-if",status="200"}' in metrics
    assert "shelfcast_http_request_duration_seconds_bucket" in metrics and "shelfcast_bundle_info{" in metrics


def test_champion_probes_and_docs(api, keys, served_graph):
    champion = api.get("/v1/models/champion", headers=auth(keys["read"])).json()
    assert champion["version"] == "1" and champion["what_if"]["available"] is True
    assert {"wape", "mase"} <= set(champion["metrics"]) and champion["trained_at"] and champion["run_id"]
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json()["generation"] == champion["generation"]
    assert "/v1/what-if" in api.get("/openapi.json").json()["paths"]
    assert api.get("/docs").status_code == 200
    unknown = api.get("/v2/nothing")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM


def test_not_ready_without_a_bundle(tmp_path):
    with make_client(tmp_path) as client:
        ready = client.get("/readyz")
    assert ready.status_code == 503 and "serving_bundle" in ready.json()["detail"]


def test_request_log_holds_every_request_and_loads_into_the_warehouse(served_graph, keys):
    with make_client(served_graph.home) as client:
        mistaken = {"product_id": "P0002", "api_key": keys["read"]}  # a key where it does not belong
        sent = [
            client.get("/v1/forecasts", params=mistaken, headers=auth(keys["read"])),
            client.get("/v1/forecasts", params={"product_id": "P0002"}),
            client.post("/v1/what-if", json=scenario(price=-1), headers=auth(keys["what-if"])),
            client.post("/v1/what-if", json=scenario(on_promo=True), headers=auth(keys["what-if"])),
        ]
    ids = [r.headers["x-request-id"] for r in sent]  # the app stopped: its log is written out
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    log = SqliteRequestStore(requests_path(served_graph.home)).read(day, day.replace(year=day.year + 1))
    mine = log.filter(pl.col("request_id").is_in(ids)).sort("received_at")
    assert mine["status"].to_list() == [422, 401, 422, 200]
    assert mine["route"].to_list() == ["/v1/forecasts", "/v1/forecasts", "/v1/what-if", "/v1/what-if"]
    assert mine["key_id"].to_list()[1] is None and mine["key_id"].to_list()[0] == keys["read"].split("_")[1]
    assert mine["model_version"].to_list() == [None, None, None, "1"]
    assert '"on_promo":true' in mine["payload"][3] and "[redacted]" in mine["params"][0]
    assert (
        not log.select(pl.concat_str(pl.all().cast(pl.String), ignore_nulls=True).str.contains(keys["read"]))
        .to_series()
        .any()
    )
    today = day.date().isoformat()
    with shelfcast_graph(served_graph.home, served_graph.instance, **served_graph.env) as g:
        for _ in range(2):  # idempotent: a re-run replaces the day
            assert g.run("served_requests_job", partition_key=today).success
            loaded = g.warehouse.query(
                "select count(*) as n, count(distinct request_id) as ids from monitoring.served_requests"
                " where received_day = ?",
                [day.date()],
            )
            assert loaded.row(0) == (log.filter(pl.col("received_at") >= day).height,) * 2
