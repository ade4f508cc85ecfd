"""Full-reference metrics: PSNR, SSIM (two conventions), LOE and the gt_mean alignment, as the papers compute them."""

import numpy as np

from kind_tf2 import errors

# The paper's figures on LOL eval15 (Zhang, Zhang & Guo, ACM MM 2019, Table 1), obtained with the
# ratio taken from the ground truth's decomposition (evaluate_LOLdataset.py).
PAPER_ANCHOR = {"method": "KinD", "dataset": "LOL eval15", "protocol": "gt_ratio", "psnr": 20.87, "ssim": 0.8022}

# MATLAB rgb2gray (ITU-R BT.601 luma), for SSIM on grayscale; no rounding to integers.
MATLAB_GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def _as_255(img):
    """uint8 or float 0..255 `[H, W, 3]` -> float64."""
    arr = np.asarray(img)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise errors.DataError(f"expected an RGB image [H, W, 3], got shape {arr.shape}")
    return arr.astype(np.float64)


def _check_pair(a, b):
    a, b = _as_255(a), _as_255(b)
    if a.shape != b.shape:
        raise errors.DataError(f"image sizes differ: {a.shape[:2]} vs {b.shape[:2]}")
    return a, b


def psnr(img, ref, peak=255.0):
    """PSNR in dB over all RGB values at the 0-255 scale; `inf` for identical images.

    img, ref: `[H, W, 3]` uint8 (or float in 0..255), same shape.
    """
    a, b = _check_pair(img, ref)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0.0 else float(10.0 * np.log10(peak**2 / mse))


def gaussian_window_1d(size=11, sigma=1.5):
    """Normalised 1-D Gaussian; its outer product is MATLAB's `fspecial('gaussian', size, sigma)`."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2.0 * sigma**2))
    return g / g.sum()


def _filter_valid(img, g):
    # MATLAB filter2(w, img, 'valid') with the separable window w = g g^T: rows, then columns.
    size = g.size
    rows = np.lib.stride_tricks.sliding_window_view(img, size, axis=1) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, size, axis=0) @ g


def ssim_channel(x, y, peak=255.0, size=11, sigma=1.5):
    """Mean SSIM of two 2-D images (Wang et al. 2004, `ssim_index.m` without downsampling).

    x, y: float `[H, W]` at the 0..peak scale, H, W >= size. K1 = 0.01, K2 = 0.03, Gaussian
    window `size` x `size` with `sigma`, 'valid' filtering. Returns a float in [-1, 1].
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if min(x.shape) < size:
        raise errors.DataError(f"SSIM needs images of at least {size}x{size}, got {x.shape[0]}x{x.shape[1]}")
    g = gaussian_window_1d(size, sigma)
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    mu_x, mu_y = _filter_valid(x, g), _filter_valid(y, g)
    var_x = _filter_valid(x * x, g) - mu_x**2
    var_y = _filter_valid(y * y, g) - mu_y**2
    cov = _filter_valid(x * y, g) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())


def ssim_rgb(img, ref):
    """SSIM per RGB channel, averaged (the 'rgb' convention). img, ref: `[H, W, 3]` at 0..255."""
    a, b = _check_pair(img, ref)
    return float(np.mean([ssim_channel(a[..., c], b[..., c]) for c in range(3)]))


def to_gray(img):
    """MATLAB rgb2gray weights on `[H, W, 3]` 0..255 -> float64 `[H, W]` (not rounded)."""
    return _as_255(img) @ np.asarray(MATLAB_GRAY_WEIGHTS)


def gt_mean_align(img, ref):
    """`img` scaled so that its mean grey level equals `ref`'s ("GT-mean", as Retinexformer, LLFlow, PyDiff).

    img, ref: `[H, W, 3]` at 0..255 (uint8 or float). Grey = MATLAB rgb2gray weights. Returns float64
    `[H, W, 3]` = clip(img * mean_grey(ref) / mean_grey(img), 0, 255); a black `img` stays black.
    """
    a, b = _check_pair(img, ref)
    mean_a, mean_b = float(to_gray(a).mean()), float(to_gray(b).mean())
    return a if mean_a <= 0.0 else np.clip(a * (mean_b / mean_a), 0.0, 255.0)


def ssim_gray(img, ref):
    """SSIM of the grayscale images (the 'gray' convention). img, ref: `[H, W, 3]` at 0..255."""
    a, b = _check_pair(img, ref)
    return ssim_channel(to_gray(a), to_gray(b))


def loe(img, ref, side=50):
    """Lightness order error (Wang et al. 2013, NPE) of `img` against `ref`; 0 when orders agree.

    Lightness is the max over RGB. Both maps are subsampled with stride max(1, min(H, W) // side)
    (about `side` pixels on the short side, as the common implementations) and for every pixel x
    RD(x) counts the pixels y whose order relation L(x) >= L(y) differs between the two images.
    Returns mean RD, in [0, number of subsampled pixels).
    """
    a, b = _check_pair(img, ref)
    step = max(1, min(a.shape[:2]) // side)
    la = a.max(axis=2)[::step, ::step].ravel()
    lb = b.max(axis=2)[::step, ::step].ravel()
    total = 0
    for start in range(0, la.size, 512):  # chunks keep the pairwise table small
        ua = la[start : start + 512, None] >= la[None, :]
        ub = lb[start : start + 512, None] >= lb[None, :]
        total += int(np.count_nonzero(ua != ub))
    return total / la.size
