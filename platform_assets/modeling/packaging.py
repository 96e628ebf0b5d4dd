"""How the champion is packaged for MLflow: the pyfunc wrapper (pyfunc.py) with the series' inputs as
an artifact (series_state.py), its signature and input example, the part of this package its
classes need (`code_paths`) and pinned requirements, so it loads where shelfcast is not installed."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version as installed
from pathlib import Path

import mlflow
import pandas as pd
import polars as pl

from platform_assets.modeling.combination import Combination
from platform_assets.modeling.names import MODEL_NAME
from platform_assets.modeling.pyfunc import STATE_ARTIFACT, ForecasterModel, example_and_signature
from platform_assets.modeling.series_state import SeriesState, write_state

# What a registered model carries of this package (MLflow's `code_paths`): the classes it pickles and
# what they import, so it loads where shelfcast is not installed. Nothing here imports Dagster.
MODEL_CODE = ("core", "features", "modeling")
PACKAGE = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("lightgbm", "statsforecast", "holidays")


@contextmanager
def _model_code() -> Iterator[str]:
    """A copy of the package holding only MODEL_CODE (no caches), for MLflow's `code_paths`."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / PACKAGE.name
        root.mkdir()
        shutil.copy(PACKAGE / "__init__.py", root / "__init__.py")
        for sub in MODEL_CODE:
            shutil.copytree(PACKAGE / sub, root / sub, ignore=shutil.ignore_patterns("__pycache__"))
        yield str(root)


def log_model(combination: Combination, state: SeriesState) -> int:
    """Log the pyfunc model, its series' inputs, signature and code under the active run and register
    it; the version it registered."""
    wrapped = ForecasterModel(combination, state, mlflow.active_run().info.run_id)
    example, signature = example_and_signature(wrapped)
    with _model_code() as code, tempfile.TemporaryDirectory() as tmp:
        write_state(state, Path(tmp) / STATE_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=wrapped,
            artifacts={STATE_ARTIFACT: str(Path(tmp) / STATE_ARTIFACT)},
            input_example=example,
            signature=signature,
            registered_model_name=MODEL_NAME,
            code_paths=[code],
            pip_requirements=[
                f"mlflow=={mlflow.__version__}",
                *(f"{name}=={installed(name)}" for name in REQUIREMENTS),
                f"polars=={pl.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )
    return int(info.registered_model_version)
