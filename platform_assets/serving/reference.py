"""What live monitoring compares served what-if inputs with, fitted once per bundle from the rows the
champion was trained on most recently: a robust multivariate distance on the model's numeric inputs,
and each input's reference bins.

The distance is Mahalanobis on robust statistics: each input centred on its median, scaled by its
MAD (a wide quantile range, then the standard deviation, when the MAD is 0) and passed through asinh,
which is linear near the centre and logarithmic in the tails, so the heavy tails of demand lags do not
swamp the covariance (on the test graph, without it the training rows' 99.9% distance was 335 and a
4x price went unseen); a small ridge keeps discrete or collinear inputs invertible. Its threshold is
the REFERENCE_QUANTILE of the training rows' own distances: about 1 training row in 1,000 is beyond.

The bins are the reference's deciles (ties collapse bins, so a point mass is one bin), with each
bin's reference share and mean: the window statistics (monitoring/request_windows.py) count served
inputs into these fixed bins, which merge exactly across replicas. Deterministic: a fixed stride
sample, no random state."""

from dataclasses import dataclass

import numpy as np
import polars as pl

from platform_assets.monitoring.windows import NOT_MONITORED

REFERENCE_QUANTILE = 0.999
RIDGE = 1e-3
MAX_ROWS = 20_000
DECILES = 10
HORIZON = "horizon"  # a pseudo input: the requested period's step, uniform in the reference
MAD_TO_SD, RANGE_TO_SD = 1.4826, 3.29  # a normal's sd from its MAD, from its 5%..95% range
BINS_SCHEMA = {"feature": pl.String, "bin": pl.Int32, "upper": pl.Float64, "share": pl.Float64,
               "mean": pl.Float64}  # fmt: skip


@dataclass(frozen=True)
class InputDistance:
    features: tuple[str, ...]
    location: np.ndarray
    scale: np.ndarray
    precision: np.ndarray
    threshold: float

    def as_json(self) -> dict:
        return {
            "features": list(self.features),
            "location": self.location.tolist(),
            "scale": self.scale.tolist(),
            "precision": self.precision.tolist(),
            "threshold": self.threshold,
            "quantile": REFERENCE_QUANTILE,
        }

    @classmethod
    def from_json(cls, data: dict) -> "InputDistance":
        arrays = (np.asarray(data[k], dtype=np.float64) for k in ("location", "scale", "precision"))
        return cls(tuple(data["features"]), *arrays, float(data["threshold"]))

    def distances(self, rows: pl.DataFrame) -> np.ndarray:
        """The distance of each row (a missing input counts as its median; 0 with no varying input)."""
        if rows.is_empty() or not self.features:
            return np.zeros(rows.height)
        z = _scores(_matrix(rows, self.features), self.location, self.scale)
        return np.sqrt(np.einsum("ij,jk,ik->i", z, self.precision, z))


def monitored_inputs(features: list[str]) -> list[str]:
    """The numeric model inputs that can leave the reference (calendar columns move with the date)."""
    return [f for f in features if f not in NOT_MONITORED]


def _matrix(rows: pl.DataFrame, features: tuple[str, ...] | list[str]) -> np.ndarray:
    frame = rows.select(pl.col(f).cast(pl.Float64).fill_nan(None) for f in features)
    return frame.to_numpy().astype(np.float64)


def _scores(x: np.ndarray, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Robust standard scores through asinh; a missing input scores 0 (its median)."""
    return np.arcsinh(np.where(np.isnan(x), 0.0, (x - location) / scale))


def _sample(reference: pl.DataFrame) -> pl.DataFrame:
    stride = max(1, -(-reference.height // MAX_ROWS))
    return reference.gather_every(stride)


def _scale(values: np.ndarray) -> float:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return 0.0
    median = np.median(present)
    q05, q95 = np.quantile(present, [0.05, 0.95])
    for candidate in (MAD_TO_SD * np.median(np.abs(present - median)), (q95 - q05) / RANGE_TO_SD):
        if candidate > 0:
            return float(candidate)
    return float(np.std(present))


def fit_distance(reference: pl.DataFrame, features: list[str]) -> InputDistance:
    """The robust distance over `features` (constant ones dropped) fitted on `reference`. With no input
    that varies (every series sold nothing, say) there is nothing to be far from: a distance over no
    input, 0 for every request, so the bundle is still served."""
    x = _matrix(_sample(reference), features)
    scales = np.array([_scale(x[:, j]) for j in range(x.shape[1])])
    keep = scales > 0
    if not keep.any() or x.shape[0] < 2:
        return InputDistance((), np.zeros(0), np.zeros(0), np.zeros((0, 0)), 0.0)
    x, scales = x[:, keep], scales[keep]
    location = np.nanmedian(x, axis=0)
    z = _scores(x, location, scales)
    covariance = np.atleast_2d(np.cov(z, rowvar=False)) + RIDGE * np.eye(z.shape[1])
    precision = np.linalg.inv(covariance)
    own = np.sqrt(np.einsum("ij,jk,ik->i", z, precision, z))
    names = tuple(f for f, k in zip(features, keep, strict=True) if k)
    threshold = float(np.quantile(own, REFERENCE_QUANTILE))
    return InputDistance(names, location, scales, precision, threshold)


def reference_bins(reference: pl.DataFrame, features: list[str], horizon: int) -> pl.DataFrame:
    """Per input: its decile bins (upper edge, the last open), the reference's share and mean in each;
    and the horizon's bins (each step its own, uniform)."""
    rows = []
    for name in features:
        values = reference[name].cast(pl.Float64).fill_nan(None).drop_nulls().to_numpy()
        if values.size == 0:
            continue
        edges = np.unique(np.quantile(values, np.arange(1, DECILES) / DECILES))
        index = np.searchsorted(edges, values, side="left")
        counts = np.bincount(index, minlength=edges.size + 1)
        sums = np.bincount(index, weights=values, minlength=edges.size + 1)
        uppers = [*edges.tolist(), float("inf")]
        for b, (upper, count, total) in enumerate(zip(uppers, counts, sums, strict=True)):
            mean = total / count if count else (upper if b < edges.size else float(edges[-1]))
            rows.append((name, b, upper, count / values.size, float(mean)))
    for step in range(horizon):
        upper = step + 1.5 if step < horizon - 1 else float("inf")
        rows.append((HORIZON, step, upper, 1 / horizon, float(step + 1)))
    return pl.DataFrame(rows, schema=BINS_SCHEMA, orient="row")


@dataclass(frozen=True)
class Bins:
    """One input's reference bins, ready for counting served values."""

    edges: np.ndarray  # interior upper edges (value <= edge: that bin)
    share: np.ndarray
    mean: np.ndarray

    def counts(self, values: np.ndarray) -> np.ndarray:
        values = values[~np.isnan(values)]
        return np.bincount(np.searchsorted(self.edges, values, side="left"), minlength=self.share.size)


def load_bins(frame: pl.DataFrame) -> dict[str, Bins]:
    out = {}
    for (name,), rows in frame.sort("feature", "bin").group_by("feature", maintain_order=True):
        upper = rows["upper"].to_numpy()
        out[name] = Bins(upper[:-1], rows["share"].to_numpy(), rows["mean"].to_numpy())
    return out
