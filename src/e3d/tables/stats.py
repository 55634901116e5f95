"""Rank and linear correlations with bootstrap confidence intervals (Figure 3: how well each score predicts
accuracy). Deterministic: the bootstrap draws come from a seeded generator."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from e3d.errors import E3DError

METHODS = {"kendall": stats.kendalltau, "spearman": stats.spearmanr, "pearson": stats.pearsonr}


class StatsError(E3DError, ValueError):
    """Too few or unusable points for a correlation."""


def _coefficient(method: str, x: np.ndarray, y: np.ndarray) -> float:
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")  # undefined for a constant sample (a bootstrap draw can be one)
    return float(METHODS[method](x, y)[0])


def correlations_with_ci(
    data: pd.DataFrame,
    target: str,
    metrics: Sequence[str],
    method: str = "kendall",
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per metric: its correlation with `target` over the rows of `data` and a percentile bootstrap
    interval (resampling rows with replacement). Rows with a missing value in the pair are dropped."""
    if method not in METHODS:
        raise StatsError(f"unknown correlation method {method!r}; use one of {sorted(METHODS)}")
    if not 0 < confidence < 1:
        raise StatsError(f"confidence must be in (0, 1), got {confidence}")
    missing = [c for c in [target, *metrics] if c not in data.columns]
    if missing:
        raise StatsError(f"correlation input lacks column(s) {missing}; it has {list(data.columns)}")
    rng = np.random.default_rng(seed)
    rows = []
    for metric in metrics:
        pair = data[[metric, target]].dropna().to_numpy(dtype=float)
        if len(pair) < 3:
            raise StatsError(f"correlation of {metric!r} with {target!r} needs at least 3 points, got {len(pair)}")
        x, y = pair[:, 0], pair[:, 1]
        draws = rng.integers(0, len(pair), size=(n_boot, len(pair)))
        boot = np.array([_coefficient(method, x[i], y[i]) for i in draws])
        boot = boot[~np.isnan(boot)]
        alpha = (1 - confidence) / 2
        low, high = (np.quantile(boot, [alpha, 1 - alpha]) if len(boot) else (np.nan, np.nan))
        rows.append({"metric": metric, "target": target, "method": method, "coefficient": _coefficient(method, x, y),
                     "ci_low": float(low), "ci_high": float(high), "confidence": confidence, "n": len(pair),
                     "n_boot": n_boot, "seed": seed})
    return pd.DataFrame(rows)
