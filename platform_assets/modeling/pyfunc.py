"""The registered model as MLflow users call it: `predict` on series ids and a horizon, or target dates
with planned prices and promotions (modeling/requests.py), answered from the series' inputs the model
carries as its `series_state` artifact (modeling/series_state.py).

Engineered feature rows are not its input: whoever has them (the promotion gate, the API's what-if)
scores them with the `Combination` itself (`unwrap_python_model().combination`)."""

from pathlib import Path

import mlflow
import pandas as pd
import polars as pl
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, infer_signature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.types.schema import AnyType, ColSpec, Schema

from platform_assets.core.keys import KEYS
from platform_assets.modeling.combination import Combination
from platform_assets.modeling.names import MODEL_NAME
from platform_assets.modeling.requests import BadRequest, answer, parse_request
from platform_assets.modeling.series_state import SeriesState, read_state

STATE_ARTIFACT = "series_state"
# The public input (requests.INPUT) in MLflow's types: only product_id is required. `horizon` is
# any number: pandas makes an integer column with a missing value (a row by target_date) floats, which
# MLflow's `long` refuses, as its `double` refuses integers; requests.py checks it is whole.
INPUT_SCHEMA = Schema(
    [
        ColSpec("string", "product_id"),
        ColSpec("string", "store_id", required=False),
        ColSpec(AnyType(), "horizon", required=False),
        ColSpec("datetime", "target_date", required=False),
        ColSpec("double", "price", required=False),
        ColSpec("boolean", "on_promo", required=False),
    ]
)


def _registered_version(run_id: str | None) -> str | None:
    """The registered version logged by `run_id`, when a tracking server is set to ask (else None:
    a model loaded from a folder has no registry)."""
    from mlflow.tracking._tracking_service.utils import is_tracking_uri_set

    if run_id is None or not is_tracking_uri_set():
        return None
    try:
        found = mlflow.MlflowClient().search_model_versions(f"name = '{MODEL_NAME}' and run_id = '{run_id}'")
    except MlflowException:
        return None
    return max((v.version for v in found), key=int, default=None)


class ForecasterModel(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper of the combination. Input: a row per series (product_id, optional store_id,
    optional horizon) or per series and target_date (with an optional planned price / on_promo).
    Output: per series and target date, the forecast's columns (make_forecasts: horizon, the band,
    method) and model_version / mlflow_run_id. The model carries the part of shelfcast its classes
    live in (packaging.MODEL_CODE), so it loads without shelfcast installed."""

    def __init__(self, combination: Combination, state: SeriesState | None = None, run_id: str | None = None):
        self.combination = combination
        self.forecaster = combination.forecaster  # the LightGBM component, for whoever needs it alone
        self.run_id = run_id
        self.state = state  # not pickled: the `series_state` artifact, read by load_context
        self.model_version: str | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "state": None, "model_version": None}

    def load_context(self, context) -> None:
        folder = context.artifacts.get(STATE_ARTIFACT)
        self.state = read_state(Path(folder)) if folder else None
        self.model_version = _registered_version(self.run_id)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        return self.forecast(pl.from_pandas(model_input)).to_pandas()

    def forecast(self, request: pl.DataFrame) -> pl.DataFrame:
        """`predict` in polars."""
        if self.state is None:
            raise MlflowException(
                f"{MODEL_NAME} was registered without its series' inputs: run the `retrain` job",
                error_code=INVALID_PARAMETER_VALUE,
            )
        try:
            parsed = parse_request(request, self.state)
        except BadRequest as exc:
            raise MlflowException(str(exc), error_code=INVALID_PARAMETER_VALUE) from None
        return answer(self.combination, self.state, parsed).with_columns(
            pl.lit(self.model_version, pl.String).alias("model_version"),
            pl.lit(self.run_id, pl.String).alias("mlflow_run_id"),
        )


def example_and_signature(wrapped: ForecasterModel) -> tuple[pd.DataFrame, ModelSignature]:
    """The input example (the first series the model forecasts, the whole horizon) and the signature:
    the public input schema, and the output inferred from the example's answer."""
    first = wrapped.state.baseline.filter(pl.col("method") == "model").select(KEYS).head(1)
    if first.is_empty():
        first = wrapped.state.baseline.select(KEYS).head(1)
    example = first.with_columns(pl.lit(wrapped.combination.horizon, pl.Int64).alias("horizon"))
    output = wrapped.forecast(example).with_columns(pl.lit("1").alias("model_version")).to_pandas()
    return example.to_pandas(), ModelSignature(inputs=INPUT_SCHEMA, outputs=infer_signature(output).inputs)
