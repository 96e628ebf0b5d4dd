"""Feature drift between a reference frame and a current frame, with Evidently-style defaults.

Why these defaults: users already trust Evidently's DataDriftPreset verdicts, so ours should agree on
the same data. The conventions reproduced here (reasoned, not copied):
- Method choice by reference size (non-null rows): n <= 1000 -> KS p-value (numeric) / chi-squared
  p-value (categorical); n > 1000 -> Wasserstein distance normed by the reference std (numeric) /
  Jensen-Shannon distance (categorical). Large samples make every p-value tiny, so distances are used.
- A numeric feature with <= 5 distinct values (both frames together) is tested as categorical.
- Distances drift when score >= threshold; p-values drift when p < threshold.
- The dataset drifts when the share of drifted features >= ``drift_share`` (0.5).
- Zero proportions are replaced by ``epsilon`` (1e-4) before PSI and chi-squared so that an empty
  bin or a brand-new category gives a large, finite score instead of inf/nan. Jensen-Shannon takes the
  raw shares (it is finite without smoothing) in natural log, as Evidently computes it.
- The Wasserstein norm is ``max(std(reference), 1e-3)`` (population std), so a constant reference
  does not divide by zero.
Deviations from Evidently, on purpose: PSI uses 10 reference-quantile bins (equal reference mass per
bin, robust to skewed demand data); binary low-sample features use chi-squared rather than a z-test.
`make bench` compares the verdicts with Evidently's DataDriftPreset on the same frames (BENCHMARKS.md).

Speed: each numeric feature is sorted once; KS, Wasserstein and PSI are all read off the two ECDFs of
the sorted arrays (the same formulas scipy uses), so 1M rows x 20 features takes ~3.5 s on 2 threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import stats
from scipy.spatial.distance import jensenshannon

NUMERIC_METHODS = ("auto", "wasserstein", "ks", "psi")
CATEGORICAL_METHODS = ("auto", "jensenshannon", "chi2")
P_VALUE_METHODS = frozenset({"ks", "chi2"})
STAT_COLUMNS = ("psi", "ks_stat", "ks_pvalue", "wasserstein_norm", "js_distance", "chi2_pvalue")
_STD_FLOOR = 1e-3
_KS_EXACT_MAX_N = 10_000  # scipy's ks_2samp switches from exact to asymptotic p-values above this

SCORES_SCHEMA = {
    "feature": pl.String,
    "kind": pl.String,
    "method": pl.String,
    "score": pl.Float64,
    "threshold": pl.Float64,
    "drifted": pl.Boolean,
    **{c: pl.Float64 for c in STAT_COLUMNS},
    "n_reference": pl.Int64,
    "n_current": pl.Int64,
    "null_share_current": pl.Float64,
    "note": pl.String,
}


@dataclass(frozen=True)
class DriftConfig:
    """Drift thresholds and method choice; ``auto`` picks the method by reference size like Evidently."""

    numeric_method: str = "auto"
    categorical_method: str = "auto"
    psi_threshold: float = 0.1
    wasserstein_threshold: float = 0.1
    jensenshannon_threshold: float = 0.1
    ks_pvalue_threshold: float = 0.05
    chi2_pvalue_threshold: float = 0.05
    drift_share: float = 0.5
    small_sample_max: int = 1000
    max_categorical_unique: int = 5
    psi_bins: int = 10
    epsilon: float = 1e-4

    def __post_init__(self) -> None:
        if self.numeric_method not in NUMERIC_METHODS:
            raise ValueError(f"numeric_method must be one of {NUMERIC_METHODS}, got {self.numeric_method!r}")
        if self.categorical_method not in CATEGORICAL_METHODS:
            raise ValueError(
                f"categorical_method must be one of {CATEGORICAL_METHODS}, got {self.categorical_method!r}"
            )
        if not 0 < self.drift_share <= 1:
            raise ValueError(f"drift_share must be in (0, 1], got {self.drift_share}")
        if self.psi_bins < 2:
            raise ValueError(f"psi_bins must be >= 2, got {self.psi_bins}")
        if not 0 < self.epsilon < 1:
            raise ValueError(f"epsilon must be in (0, 1), got {self.epsilon}")

    def threshold(self, method: str) -> float:
        return {
            "psi": self.psi_threshold,
            "wasserstein": self.wasserstein_threshold,
            "jensenshannon": self.jensenshannon_threshold,
            "ks": self.ks_pvalue_threshold,
            "chi2": self.chi2_pvalue_threshold,
        }[method]

    def resolve(self, kind: str, n_reference: int) -> str:
        """The verdict method for a feature: the configured one, or Evidently's size-based default."""
        small = n_reference <= self.small_sample_max
        if kind == "numeric":
            if self.numeric_method != "auto":
                return self.numeric_method
            return "ks" if small else "wasserstein"
        if self.categorical_method != "auto":
            return self.categorical_method
        return "chi2" if small else "jensenshannon"


def _smoothed(counts: np.ndarray, eps: float) -> np.ndarray:
    """Proportions with empty cells set to ``eps`` and renormalised, so logs and ratios stay finite."""
    total = counts.sum()
    p = counts / total if total > 0 else np.full(counts.shape, 1.0 / counts.size)
    p = np.where(p == 0, eps, p)
    return p / p.sum()


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, eps: float = 1e-4) -> float:
    """Population stability index: sum((cur - ref) * ln(cur / ref)) over smoothed bin shares."""
    r = _smoothed(np.asarray(ref_counts, dtype=np.float64), eps)
    c = _smoothed(np.asarray(cur_counts, dtype=np.float64), eps)
    return float(np.sum((c - r) * np.log(c / r)))


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10, eps: float = 1e-4) -> float:
    """PSI on bins cut at reference quantiles (right-closed, outer bins open-ended)."""
    ref, cur = (
        np.sort(np.asarray(reference, dtype=np.float64)),
        np.sort(np.asarray(current, dtype=np.float64)),
    )
    return _psi_sorted(ref, cur, bins, eps)


def _psi_sorted(ref: np.ndarray, cur: np.ndarray, bins: int, eps: float) -> float:
    # Interior edges only; ties in the reference collapse edges, so a point mass gets one bin.
    edges = np.unique(np.quantile(ref, np.arange(1, bins) / bins))

    def counts(x: np.ndarray) -> np.ndarray:
        return np.diff(np.concatenate(([0], np.searchsorted(x, edges, side="right"), [x.size])))

    return psi_from_counts(counts(ref), counts(cur), eps)


def _numeric_stats(
    ref: np.ndarray, cur: np.ndarray, merged: np.ndarray, steps: np.ndarray, cfg: DriftConfig
) -> dict[str, float]:
    """KS, normed Wasserstein and PSI from the ECDFs of two sorted, finite arrays.

    ``merged`` is both arrays sorted together and ``steps = np.diff(merged)``. Both statistics only
    change at the last element of each run of tied values; there, everything up to the position has
    been counted, so the current count is the position minus the reference count (one binary search
    instead of two). Elsewhere the step is 0, so those positions add nothing to either statistic.
    """
    n1, n2 = ref.size, cur.size
    ref_count = np.searchsorted(ref, merged[:-1], side="right")
    cur_count = np.arange(1, merged.size) - ref_count
    gap = np.abs(ref_count / n1 - cur_count / n2)
    wasserstein = float(np.sum(gap * steps))
    if max(n1, n2) <= _KS_EXACT_MAX_N:
        ks = stats.ks_2samp(ref, cur)
        ks_stat, ks_p = float(ks.statistic), float(ks.pvalue)
    else:
        # scipy's asymptotic two-sided branch, reused without re-sorting a million values.
        ks_stat = float(gap[steps > 0].max(initial=0.0))
        en = float(n1) * float(n2) / float(n1 + n2)
        ks_p = float(np.clip(stats.kstwo.sf(ks_stat, np.round(en)), 0.0, 1.0))
    return {
        "psi": _psi_sorted(ref, cur, cfg.psi_bins, cfg.epsilon),
        "ks_stat": ks_stat,
        "ks_pvalue": ks_p,
        "wasserstein_norm": wasserstein / max(float(np.std(ref)), _STD_FLOOR),
    }


def _categorical_stats(ref_counts: np.ndarray, cur_counts: np.ndarray, cfg: DriftConfig) -> dict[str, float]:
    """Jensen-Shannon distance (natural log, raw shares) and chi-squared p-value against the reference mix.

    Like Evidently, the reference shares are the expected distribution for the current counts; a
    category absent from the reference gets ``epsilon`` share, so its appearance is strong evidence.
    """
    if ref_counts.size < 2:  # one category in both frames: nothing can have moved
        return {"js_distance": 0.0, "chi2_pvalue": 1.0}
    p_ref = _smoothed(ref_counts.astype(np.float64), cfg.epsilon)
    chi2 = stats.chisquare(cur_counts.astype(np.float64), p_ref * cur_counts.sum())
    raw_ref, raw_cur = ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()
    return {
        "js_distance": float(jensenshannon(raw_ref, raw_cur)),
        "chi2_pvalue": float(chi2.pvalue),
    }


def _category_counts(ref: pl.Series, cur: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Counts of each category over the union of both frames, in a stable (sorted) order."""

    def vc(s: pl.Series, name: str) -> pl.DataFrame:
        return s.cast(pl.String).rename("v").to_frame().group_by("v").agg(pl.len().alias(name))

    joined = vc(ref, "r").join(vc(cur, "c"), on="v", how="full", coalesce=True).fill_null(0).sort("v")
    return joined["r"].to_numpy(), joined["c"].to_numpy()


def _kind(dtype: pl.DataType) -> str | None:
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Boolean) or isinstance(dtype, (pl.Categorical, pl.Enum)):
        return "categorical"
    return None


def _valid(s: pl.Series) -> pl.Series:
    """Non-null values; for numeric features also drop NaN and +-inf (no defined distance to them)."""
    s = s.drop_nulls()
    if s.dtype.is_numeric():
        s = s.cast(pl.Float64)
        s = s.filter(s.is_finite())
    return s


def _feature_row(name: str, ref: pl.Series, cur: pl.Series, cfg: DriftConfig) -> dict:
    kind = _kind(ref.dtype)
    ref_v, cur_v = _valid(ref), _valid(cur)
    row: dict = {c: None for c in SCORES_SCHEMA}
    row |= {
        "feature": name,
        "kind": kind,
        "n_reference": ref_v.len(),
        "n_current": cur_v.len(),
        "null_share_current": (1.0 - cur_v.len() / cur.len()) if cur.len() else None,
    }
    empty = [label for label, s in (("reference", ref_v), ("current", cur_v)) if s.len() == 0]
    if empty:
        row["method"] = cfg.resolve(kind, ref_v.len())
        row["threshold"] = cfg.threshold(row["method"])
        row["note"] = f"no non-null values in {' and '.join(empty)}"
        return row

    if kind == "numeric":
        a, b = np.sort(ref_v.to_numpy()), np.sort(cur_v.to_numpy())
        # Stable sort of two sorted runs is a linear merge (timsort), not a full sort.
        merged = np.sort(np.concatenate((a, b)), kind="stable")
        steps = np.diff(merged)
        n_distinct = 1 + int(np.count_nonzero(steps))
        if n_distinct <= cfg.max_categorical_unique:
            kind = "categorical"
            values = merged[np.concatenate(([True], steps != 0))]
            rc = np.searchsorted(a, values, side="right") - np.searchsorted(a, values, side="left")
            cc = np.searchsorted(b, values, side="right") - np.searchsorted(b, values, side="left")
            row |= _categorical_stats(rc, cc, cfg)
            row["note"] = f"numeric with {n_distinct} distinct values: tested as categorical"
        else:
            row |= _numeric_stats(a, b, merged, steps, cfg)
    else:
        row |= _categorical_stats(*_category_counts(ref_v, cur_v), cfg)

    method = cfg.resolve(kind, ref_v.len())
    stat_column = {
        "psi": "psi",
        "ks": "ks_pvalue",
        "wasserstein": "wasserstein_norm",
        "jensenshannon": "js_distance",
        "chi2": "chi2_pvalue",
    }[method]
    score, threshold = row[stat_column], cfg.threshold(method)
    row |= {
        "kind": kind,
        "method": method,
        "score": score,
        "threshold": threshold,
        "drifted": bool(score < threshold) if method in P_VALUE_METHODS else bool(score >= threshold),
    }
    return row


def feature_drift(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    columns: list[str] | None = None,
    cfg: DriftConfig | None = None,
    n_threads: int = 2,
) -> pl.DataFrame:
    """One row per feature with the verdict (method, score, threshold, drifted) and every stat computed.

    ``columns=None`` takes every column of ``reference`` that is also in ``current`` and has a
    supported dtype (numeric, string, boolean, categorical/enum). A feature with no non-null values in
    either frame gets ``drifted = null`` and a ``note``; it is not counted by :func:`dataset_drift`.
    A categorical ``method`` applied to a numeric feature is impossible by construction: low-cardinality
    numerics switch kind (see ``note``) before the method is resolved.

    Features are scored on ``n_threads`` threads (numpy sorts and searches release the GIL); each
    feature is independent and rows keep the ``columns`` order, so threading never changes the result.
    """
    cfg = cfg or DriftConfig()
    if columns is None:
        columns = [c for c in reference.columns if c in current.columns and _kind(reference.schema[c])]
    for c in columns:
        if c not in reference.columns or c not in current.columns:
            raise KeyError(
                f"feature {c!r} missing from {'reference' if c not in reference.columns else 'current'}"
            )
        if _kind(reference.schema[c]) is None or _kind(reference.schema[c]) != _kind(current.schema[c]):
            raise TypeError(
                f"feature {c!r}: unsupported or mismatched dtypes {reference.schema[c]} / {current.schema[c]}"
            )
    with ThreadPoolExecutor(max_workers=max(1, n_threads)) as pool:
        rows = list(pool.map(lambda c: _feature_row(c, reference[c], current[c], cfg), columns))
    return pl.DataFrame(rows, schema=SCORES_SCHEMA)


def dataset_drift(scores: pl.DataFrame, cfg: DriftConfig | None = None) -> dict:
    """Dataset-level verdict: drifted when the share of drifted features >= ``cfg.drift_share``.

    Features whose verdict is null (no data) are left out of both counts and reported separately;
    with no decidable feature at all the verdict is ``None`` rather than a reassuring ``False``.
    """
    cfg = cfg or DriftConfig()
    decided = scores.filter(pl.col("drifted").is_not_null())
    n_features = decided.height
    n_drifted = int(decided["drifted"].sum()) if n_features else 0
    share = n_drifted / n_features if n_features else 0.0
    return {
        "n_features": n_features,
        "n_drifted": n_drifted,
        "share_drifted": share,
        "dataset_drift": (share >= cfg.drift_share) if n_features else None,
        "n_undecided": scores.height - n_features,
    }
