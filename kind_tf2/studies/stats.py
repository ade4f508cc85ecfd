"""Uncertainty for comparisons of runs: bootstrap confidence intervals over images and seeds, paired differences, Holm."""

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    confidence: float


@dataclasses.dataclass(frozen=True)
class PairedDifference:
    """variant - reference over the same (seed, image) cells: mean, CI and a two-sided bootstrap p-value."""

    mean: float
    low: float
    high: float
    p_value: float
    confidence: float


def _as_cells(values):
    """`[seeds, images]` float64 (a 1-D array is one seed)."""
    arr = np.asarray(values, np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.size == 0:
        raise ValueError(f"expected values [seeds, images] (or [images]), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError("values must be finite (drop unscored images first)")
    return arr


def bootstrap_means(values, n_boot=10000, seed=0):
    """Bootstrap replicates of the grand mean of `values` `[seeds, images]`: `(n_boot,)` float64.

    Two-level resampling: each replicate draws the seeds with replacement and, independently, the
    images with replacement, and averages the selected cells (the mean over both). With one seed the
    seed draw is trivial and this is the ordinary bootstrap over images. Both sources of variation
    of a training comparison are resampled: which runs (seeds) and which test images.
    """
    arr = _as_cells(values)
    rng = np.random.default_rng(seed)
    s, n = arr.shape
    out = np.empty(n_boot)
    # In chunks: one replicate is an s x n fancy index, and n_boot of them at once can be large.
    for start in range(0, n_boot, 1000):
        k = min(1000, n_boot - start)
        rows = rng.integers(0, s, (k, s))
        cols = rng.integers(0, n, (k, n))
        out[start:start + k] = arr[rows[:, :, None], cols[:, None, :]].mean(axis=(1, 2))
    return out


def confidence_interval(values, confidence=0.95, n_boot=10000, seed=0):
    """The grand mean of `values` `[seeds, images]` and its percentile bootstrap interval (`bootstrap_means`).

        low, high = quantiles (1 - c) / 2 and (1 + c) / 2 of the replicate means
    """
    arr = _as_cells(values)
    reps = bootstrap_means(arr, n_boot, seed)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    return Interval(float(arr.mean()), float(low), float(high), confidence)


def paired_difference(variant, reference, confidence=0.95, n_boot=10000, seed=0):
    """variant - reference, paired by (seed, image): mean, percentile CI and a two-sided p-value.

    variant, reference: `[seeds, images]`, cell (k, i) of both from seed k and image i. The
    differences d = variant - reference are bootstrapped as `bootstrap_means` does; the p-value is
    the bootstrap's two-sided test of mean d = 0 by the replicates of the centred differences:

        p = (1 + #{|mean(d*) - mean(d)| >= |mean(d)|}) / (1 + n_boot)

    (the shift method: the null distribution is the replicate distribution moved to 0).
    """
    v, r = _as_cells(variant), _as_cells(reference)
    if v.shape != r.shape:
        raise ValueError(f"paired values differ in shape: {v.shape} vs {r.shape}")
    d = v - r
    reps = bootstrap_means(d, n_boot, seed)
    observed = float(d.mean())
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(reps, [alpha, 1.0 - alpha])
    extreme = np.count_nonzero(np.abs(reps - observed) >= abs(observed) - 1e-15)
    p = (1.0 + extreme) / (1.0 + n_boot)
    return PairedDifference(observed, float(low), float(high), float(min(1.0, p)), confidence)


def holm(p_values):
    """Holm's step-down adjusted p-values (family-wise error over the comparisons), in the input order.

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(j) = max over i <= j of min(1, (m - i + 1) p_(i)).
    Reject at level a where adjusted p <= a.
    """
    p = np.asarray(p_values, np.float64)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    adjusted = np.maximum.accumulate(scaled)
    out = np.empty(m)
    out[order] = adjusted
    return out


def verdict(diff, p_adjusted, margin, higher_is_better, level=0.05):
    """In words: how a variant compares with the reference on one metric.

    "no practical difference" when the whole CI lies within +-margin (even if significant);
    "better" / "worse" when the Holm-adjusted p is <= level (the sign and `higher_is_better` decide);
    else "not distinguishable".
    """
    if margin is not None and -margin <= diff.low and diff.high <= margin:
        return "no practical difference"
    if p_adjusted <= level:
        return "better" if (diff.mean > 0) == higher_is_better else "worse"
    return "not distinguishable"
