"""NIQE, the Natural Image Quality Evaluator (Mittal, Soundararajan & Bovik 2013), exactly as the authors' MATLAB release computes it."""

import functools
import math
import os

import numpy as np

from kind_tf2 import errors
from kind_tf2.metrics.matlab import imresize, rgb2gray

# The release's call: computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam).
BLOCK = 96
# Two blocks at least: one block gives no covariance (and MATLAB's nanmean/nancov then treat the
# single 1x36 row as a vector, which is meaningless), and the second scale halves each block.
MIN_BLOCKS = 2
# |im - mu| up to this (0..255 scale) is rounding noise of a flat neighbourhood (see `mscn`).
FLAT_RESIDUE = 1e-10
PRISTINE_PARAMS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "niqe_pris_params.npz")


@functools.lru_cache(maxsize=1)
def pristine_params():
    """The release's pristine model (modelparameters.mat): mu `(36,)` and cov `(36, 36)`, float64."""
    with np.load(PRISTINE_PARAMS, allow_pickle=False) as data:
        mu, cov = data["mu_prisparam"].astype(np.float64), data["cov_prisparam"].astype(np.float64)
    # Cached and shared: read-only, so that no caller can change the model for the next one.
    mu.flags.writeable = cov.flags.writeable = False
    return mu, cov


@functools.lru_cache(maxsize=1)
def _gamma_grid():
    """The release's grid gam = 0.2:0.001:10 `(9801,)`; r = G(2/g)^2 / (G(1/g) G(3/g)), G(1/g)/G(3/g), G(2/g)/G(1/g)."""
    # k / 1000 is the correctly rounded value that MATLAB's colon operator aims for.
    gam = np.arange(200, 10001, dtype=np.float64) / 1000.0
    g1 = np.array([math.gamma(1.0 / g) for g in gam])
    g2 = np.array([math.gamma(2.0 / g) for g in gam])
    g3 = np.array([math.gamma(3.0 / g) for g in gam])
    r_gam = g2**2 / (g1 * g3)
    # The nearest-neighbour lookup below relies on r rising strictly along the grid.
    assert np.all(np.diff(r_gam) > 0)
    return gam, r_gam, g1 / g3, g2 / g1


def _nearest_on_grid(r_gam, target):
    """Index of argmin (r_gam - t)^2 per target, first index on ties and 0 for NaN, as MATLAB's `min`.

    r_gam: increasing `(G,)`; target: `(N,)`. Returns int `(N,)`. A search on the sorted grid
    instead of the release's full scan, so that memory stays O(N) for large images.
    """
    hi = np.clip(np.searchsorted(r_gam, target, side="left"), 1, r_gam.size - 1)
    lo = hi - 1
    with np.errstate(invalid="ignore"):
        pick_lo = (r_gam[lo] - target) ** 2 <= (r_gam[hi] - target) ** 2
    idx = np.where(pick_lo, lo, hi)
    # MATLAB's min over an all-NaN vector returns index 1 (Python 0); NaN targets sort past the end.
    return np.where(np.isnan(target), 0, idx)


def aggd_params(vecs):
    """The release's `estimateaggdparam` on each row: alpha, beta_l, beta_r of an asymmetric GGD.

    vecs: float64 `(N, M)`, one sample per row. Moment matching on the release's grid:
        sigma_l = sqrt(mean(x^2 | x < 0)), sigma_r = sqrt(mean(x^2 | x > 0)), g = sigma_l / sigma_r,
        r = mean|x|^2 / mean x^2, R = r (g^3 + 1)(g + 1) / (g^2 + 1)^2,
        alpha = the grid point whose G(2/a)^2 / (G(1/a) G(3/a)) is nearest R,
        beta_{l,r} = sigma_{l,r} sqrt(G(1/alpha) / G(3/alpha)).
    Returns alpha `(N,)` (in [0.2, 10]), beta_l, beta_r `(N,)` and G(2/alpha)/G(1/alpha) `(N,)`.
    A row without negative (or positive) values gives NaN betas, as MATLAB's mean([]) does.
    """
    gam, r_gam, g1_over_g3, g2_over_g1 = _gamma_grid()
    sq = vecs * vecs
    neg, pos = vecs < 0, vecs > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        left_std = np.sqrt((sq * neg).sum(axis=1) / neg.sum(axis=1))
        right_std = np.sqrt((sq * pos).sum(axis=1) / pos.sum(axis=1))
        gammahat = left_std / right_std
        rhat = np.mean(np.abs(vecs), axis=1) ** 2 / np.mean(sq, axis=1)
        rhatnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    idx = _nearest_on_grid(r_gam, rhatnorm)
    scale = np.sqrt(g1_over_g3[idx])
    return gam[idx], left_std * scale, right_std * scale, g2_over_g1[idx]


def block_features(blocks):
    """The release's `computefeature` on each block: 18 features of its MSCN coefficients.

    blocks: float64 `(N, b, b)`. Per block: alpha and (beta_l + beta_r) / 2 of the coefficients,
    then for the products with their neighbours (circular shifts within the block by (0, 1),
    (1, 0), (1, 1), (1, -1), as `circshift`): alpha, (beta_r - beta_l) G(2/alpha) / G(1/alpha),
    beta_l, beta_r. Returns float64 `(N, 18)`.
    """
    n = blocks.shape[0]
    alpha, beta_l, beta_r, _ = aggd_params(blocks.reshape(n, -1))
    feats = [alpha, (beta_l + beta_r) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        pair = (blocks * np.roll(blocks, shift, axis=(1, 2))).reshape(n, -1)
        alpha, beta_l, beta_r, g2_over_g1 = aggd_params(pair)
        feats += [alpha, (beta_r - beta_l) * g2_over_g1, beta_l, beta_r]
    return np.stack(feats, axis=1)


@functools.lru_cache(maxsize=1)
def _gaussian_1d():
    # fspecial('gaussian', 7, 7/6) is the outer product of this normalised 1-D window (no value is
    # under fspecial's eps cut-off), so filtering rows then columns gives the same imfilter result.
    x = np.arange(7, dtype=np.float64) - 3.0
    g = np.exp(-(x * x) / (2.0 * (7.0 / 6.0) ** 2))
    return g / g.sum()


def _filter_replicate(img):
    """imfilter(img, fspecial('gaussian', 7, 7/6), 'replicate'): float64 `[H, W]` -> `[H, W]`."""
    g = _gaussian_1d()
    padded = np.pad(img, 3, mode="edge")
    h, w = img.shape
    rows = sum(g[k] * padded[k:k + h, :] for k in range(7))
    return sum(g[k] * rows[:, k:k + w] for k in range(7))


def mscn(img):
    """Mean-subtracted contrast-normalised coefficients (im - mu) / (sigma + 1), as the release.

    img: float64 `[H, W]` at 0..255. mu = G * im, sigma = sqrt(|G * im^2 - mu^2|), G the 7x7
    Gaussian (sigma 7/6) with replicated borders. Returns float64 `[H, W]`.
    """
    mu = _filter_replicate(img)
    sigma = np.sqrt(np.abs(_filter_replicate(img * img) - mu * mu))
    centred = img - mu
    # Where the 7x7 neighbourhood is flat, im - mu is 0 in exact arithmetic but a residue of about
    # 1e-14 of either sign in floating point, which estimateaggdparam would then count as a negative
    # or positive coefficient: the score would hang on summation order (MATLAB's, BLAS's). Such
    # residues are set to their exact value 0. On the calibration images no |im - mu| lies between
    # 1e-12 and 1e-9, so the threshold separates noise from signal with room on both sides.
    centred[np.abs(centred) <= FLAT_RESIDUE] = 0.0
    return centred / (sigma + 1.0)


def _blocks(img, size):
    """Non-overlapping `size` x `size` tiles of `[H, W]` (H, W multiples of size) -> `(N, size, size)`."""
    h, w = img.shape
    return img.reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3).reshape(-1, size, size)


def _pinv(a):
    """MATLAB `pinv(A)`: singular values up to max(size(A)) * eps(norm(A)) are dropped."""
    u, s, vt = np.linalg.svd(a)
    keep = s > max(a.shape) * np.spacing(s[0])
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def niqe_features(gray):
    """The release's distorted-patch features: float64 `(blocks, 36)` for a float64 gray `[H, W]`.

    The image is cropped to whole 96x96 blocks from the top-left; columns 0-17 are the features of
    the 96x96 blocks, 18-35 those of the 48x48 blocks of imresize(im, 0.5) (MATLAB bicubic, antialiased).
    """
    h, w = gray.shape
    rows, cols = h // BLOCK, w // BLOCK
    if rows < 1 or cols < 1 or rows * cols < MIN_BLOCKS:
        raise errors.DataError(
            f"NIQE needs at least {MIN_BLOCKS} whole {BLOCK}x{BLOCK} blocks (an image of at least "
            f"{BLOCK}x{MIN_BLOCKS * BLOCK} or {MIN_BLOCKS * BLOCK}x{BLOCK} pixels), got {h}x{w}")
    im = gray[:rows * BLOCK, :cols * BLOCK]
    scale1 = block_features(_blocks(mscn(im), BLOCK))
    # The second scale resizes the double image without rounding, as the release does.
    scale2 = block_features(_blocks(mscn(imresize(im, 0.5)), BLOCK // 2))
    return np.concatenate([scale1, scale2], axis=1)


def niqe(img):
    """NIQE of one image, as `computequality(im, 96, 96, 0, 0, mu_prisparam, cov_prisparam)`.

    img: uint8 RGB `[H, W, 3]` (taken to gray by MATLAB's uint8 rgb2gray) or gray `[H, W]`, with at
    least two whole 96x96 blocks. Returns the distance (lower is better, >= 0)
        sqrt((mu_p - mu_d) pinv((S_p + S_d) / 2) (mu_p - mu_d)^T)
    between the pristine model (mu_p, S_p) and the image's blocks' mean mu_d (NaN ignored per
    feature, as nanmean) and covariance S_d (rows with a NaN dropped, as nancov).
    Matches MATLAB to ~1e-8 on images without perfectly flat 7x7 neighbourhoods; where there are
    some, MATLAB's score depends on its rounding noise there (see `mscn`) and ours differs by < 1 %.
    """
    arr = np.asarray(img)
    if arr.dtype != np.uint8:
        raise errors.DataError(f"NIQE expects a uint8 image, got dtype {arr.dtype}")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise errors.DataError(f"NIQE expects an RGB image [H, W, 3] or a gray image [H, W], got shape {arr.shape}")
    feats = niqe_features(rgb2gray(arr))
    complete = feats[~np.isnan(feats).any(axis=1)]
    if complete.shape[0] < 2:
        # A flat image: the MSCN coefficients of its blocks are all zero and the AGGD fit is undefined.
        raise errors.DataError(
            f"NIQE needs at least 2 blocks with texture, got {complete.shape[0]} of {feats.shape[0]} (a flat image?)")
    with np.errstate(invalid="ignore"):
        mu_dist = np.nanmean(feats, axis=0)
    cov_dist = np.cov(complete, rowvar=False)
    mu_pris, cov_pris = pristine_params()
    diff = mu_pris - mu_dist
    return float(np.sqrt(diff @ _pinv((cov_pris + cov_dist) / 2.0) @ diff))
