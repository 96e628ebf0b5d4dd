"""The robust input distance a serving bundle carries (serving/reference.py)."""

import json

import numpy as np
import polars as pl

from platform_assets.serving.reference import InputDistance, fit_distance


def test_a_far_row_is_far_and_a_typical_one_is_not():
    rng = np.random.default_rng(3)
    reference = pl.DataFrame({"a": rng.normal(10, 2, 500), "b": rng.normal(0, 1, 500), "flat": [1.0] * 500})
    distance = fit_distance(reference, ["a", "b", "flat"])
    assert distance.features == ("a", "b")  # a constant input is dropped
    typical, far = distance.distances(pl.DataFrame({"a": [10.0, 60.0], "b": [0.0, 0.0]}))
    assert typical < distance.threshold < far


def test_a_reference_where_nothing_varies_gives_a_distance_of_zero_not_an_error():
    # every series sold nothing: the bundle must still be served (it failed serving_bundle before)
    reference = pl.DataFrame({"lag_1": [0.0] * 50, "price": [2.5] * 50})
    distance = fit_distance(reference, ["lag_1", "price"])
    again = InputDistance.from_json(json.loads(json.dumps(distance.as_json())))
    rows = pl.DataFrame({"lag_1": [0.0, 900.0], "price": [2.5, 99.0]})
    for fitted in (distance, again):
        assert fitted.features == () and fitted.distances(rows).tolist() == [0.0, 0.0]
        assert not (fitted.distances(rows) > fitted.threshold).any()
