"""The lookup fast path (serving/api/fastpath.py) over a bundle from a real graph run: it sends what the
route answered, byte for byte, only for the requests the route would answer 200, and leaves every
refusal and every other shape of request to the route; each request is logged either way."""

from datetime import UTC, datetime

import polars as pl
import pytest

from platform_assets.serving.api.fastpath import SeriesFastPath
from platform_assets.serving.api.forecasts import PATH
from platform_assets.serving.keys import SqliteKeyStore
from platform_assets.serving.layout import keys_path, requests_path
from platform_assets.serving.requestlog import SqliteRequestStore
from tests.support.graph import ServedGraph
from tests.test_serving_api import PROBLEM, auth, make_client

SERIES = {"product_id": "P0001", "store_id": "S01"}


@pytest.fixture(scope="module")
def keys(served_graph: ServedGraph) -> dict[str, str]:
    return {"read": SqliteKeyStore(keys_path(served_graph.home)).create("test-fastpath", "read")[1]}


def scope(query: bytes, *headers: tuple[bytes, bytes], method: str = "GET", path: str = PATH) -> dict:
    return {"type": "http", "method": method, "path": path, "query_string": query, "headers": list(headers)}


def test_second_lookup_of_a_series_is_the_routes_answer_again(served_graph, keys):
    with make_client(served_graph.home) as client:
        first = client.get(PATH, params=SERIES, headers=auth(keys["read"]))
        kept = client.app.state.services.store.current.answers.get("P0001", "S01")
        again = client.get(PATH, params=SERIES, headers={"X-API-Key": keys["read"]})
    assert first.status_code == again.status_code == 200
    assert kept == first.content == again.content and first.json()["count"] == 7
    same = {k: v for k, v in first.headers.items() if k != "x-request-id"}
    assert same == {k: v for k, v in again.headers.items() if k != "x-request-id"}
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    log = SqliteRequestStore(requests_path(served_graph.home)).read(day)
    ids = [first.headers["x-request-id"], again.headers["x-request-id"]]
    rows = log.filter(pl.col("request_id").is_in(ids)).sort("received_at")
    columns = ["route", "status", "key_id", "generation", "params"]
    assert rows.height == 2 and rows.select(columns).n_unique() == 1
    assert rows["route"][0] == PATH and rows["key_id"][0] == keys["read"].split("_")[1]


def test_only_the_plain_request_with_a_verified_key_is_answered_here(served_graph, keys):
    with make_client(served_graph.home) as client:
        assert client.get(PATH, params=SERIES, headers=auth(keys["read"])).status_code == 200
        services = client.app.state.services
        fast = SeriesFastPath(client.app, services, route=object())
        bearer = (b"authorization", f"Bearer {keys['read']}".encode())
        plain = b"product_id=P0001&store_id=S01"
        answered = fast._answer(scope(plain, bearer))
        unverified = SqliteKeyStore(keys_path(served_graph.home)).create("never-checked", "read")[1]
        passed_on = {
            "another series": scope(b"product_id=P0001&store_id=S02", bearer),
            "a parameter more": scope(plain + b"&from=2000-01-01", bearer),
            "a parameter twice": scope(plain + b"&store_id=S01", bearer),
            "CSV": scope(plain, bearer, (b"accept", b"text/csv")),
            "POST": scope(plain, bearer, method="POST"),
            "no key": scope(plain),
            "a wrong key": scope(plain, (b"x-api-key", keys["read"][:-2].encode() + b"zz")),
            "a key not verified here yet": scope(plain, (b"x-api-key", unverified.encode())),
        }
        refused = [name for name, s in passed_on.items() if fast._answer(s) is not None]
    assert answered == services.store.current.answers.get("P0001", "S01") and answered is not None
    assert refused == []


def test_refusals_of_a_kept_series_still_come_from_the_route(served_graph, keys):
    with make_client(served_graph.home, serve_rate_limit=0.01, serve_rate_burst=2) as client:
        statuses = [client.get(PATH, params=SERIES, headers=auth(keys["read"])) for _ in range(3)]
        wrong = client.get(PATH, params=SERIES, headers=auth(keys["read"][:-2] + "zz"))
        missing = client.get(PATH, params=SERIES)
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert statuses[-1].headers["content-type"] == PROBLEM and int(statuses[-1].headers["retry-after"]) >= 1
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer" and wrong.headers["content-type"] == PROBLEM


def test_csv_and_filtered_lookups_of_a_kept_series_are_the_routes(served_graph, keys):
    with make_client(served_graph.home) as api:
        assert api.get(PATH, params=SERIES, headers=auth(keys["read"])).status_code == 200
        csv = api.get(PATH, params=SERIES, headers={**auth(keys["read"]), "Accept": "text/csv"})
        body = api.get(PATH, params={**SERIES, "limit": 2}, headers=auth(keys["read"])).json()
    assert csv.headers["content-type"].startswith("text/csv") and pl.read_csv(csv.content).height == 7
    assert body["count"] == 2 and body["next_cursor"]
