"""The champion as plain JSON in the bundle, so the API scores with the very model that made the batch
forecasts without reaching MLflow (nor unpickling anything): the booster travels as LightGBM's own
model string, every other field (the combination's choices and band included) as it is."""

from dataclasses import fields

from platform_assets.modeling.combination import Combination
from platform_assets.modeling.forecaster import Forecaster
from platform_assets.modeling.intervals import Band, as_band

# Fields whose tuples JSON turns into lists.
_TUPLES = {"origin_windows"}


def forecaster_to_json(model: Forecaster) -> dict:
    values = {f.name: getattr(model, f.name) for f in fields(model) if not f.name.startswith("_")}
    return values | {"offsets": as_band(model.offsets).to_json()}


def forecaster_from_json(data: dict) -> Forecaster:
    values = dict(data)
    values["offsets"] = Band.from_json(values["offsets"])
    for name in _TUPLES:
        if values.get(name) is not None:
            values[name] = tuple(values[name])
    return Forecaster(**values)


def combination_to_json(model: Combination) -> dict:
    return {
        "forecaster": forecaster_to_json(model.forecaster),
        "choices": model.choices,
        "offsets": model.band.to_json(),
        "max_series": model.max_series,
    }


def combination_from_json(data: dict) -> Combination:
    return Combination(
        forecaster_from_json(data["forecaster"]),
        choices=dict(data["choices"]),
        offsets=Band.from_json(data["offsets"]),
        max_series=data["max_series"],
    )
