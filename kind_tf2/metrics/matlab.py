"""MATLAB's `rgb2gray` (uint8) and `imresize` (bicubic, antialiased) reimplemented for the no-reference metrics."""

import math

import numpy as np

from kind_tf2 import errors

# rgb2gray's coefficients as MATLAB stores them (the inverse of the NTSC YIQ matrix's first row, rounded).
RGB2GRAY_WEIGHTS = (0.298936021293775, 0.587043074451121, 0.114020904255103)


def rgb2gray(img):
    """MATLAB `rgb2gray` of a uint8 image, as the uint8 values MATLAB returns, in float64.

    img: uint8 `[H, W, 3]` RGB, or `[H, W]` gray (returned unchanged, as float64).
    Returns float64 `[H, W]` holding integers 0..255:
        round(0.298936021293775 R + 0.587043074451121 G + 0.114020904255103 B),
    rounded half away from zero as MATLAB's cast to uint8 does (all terms are >= 0, so floor(x + 0.5)).
    """
    arr = np.asarray(img)
    if arr.ndim == 2:
        return arr.astype(np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise errors.DataError(f"expected an RGB image [H, W, 3] or a gray image [H, W], got shape {arr.shape}")
    rgb = arr.astype(np.float64)
    wr, wg, wb = RGB2GRAY_WEIGHTS
    # Same order of operations as MATLAB's weighted sum, so ties at .5 fall the same way.
    gray = wr * rgb[..., 0] + wg * rgb[..., 1] + wb * rgb[..., 2]
    return np.clip(np.floor(gray + 0.5), 0.0, 255.0)


def _cubic(x):
    """Keys' cubic convolution kernel with a = -0.5, MATLAB's `cubic` (support |x| < 2)."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1.0)
            + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1.0) & (ax <= 2.0)))


def _contributions(in_length, out_length, scale):
    """MATLAB imresize's `contributions` for the bicubic kernel with antialiasing, as an `[out, in]` matrix.

    Output pixel x (1-based) maps to input u = x / scale + 0.5 (1 - 1 / scale); it takes the
    P = ceil(width) + 2 input pixels from floor(u - width / 2), weighted by the kernel (stretched
    by 1 / scale when shrinking, to antialias) and normalised to sum 1. Indices outside 1..in_length
    are reflected symmetrically (the edge pixel repeated: MATLAB's aux = [1:n, n:-1:1] with mod),
    so their weights fold back onto the pixels they mirror.
    """
    width = 4.0
    if scale < 1.0:
        kernel = lambda d: scale * _cubic(scale * d)  # noqa: E731  (antialiasing: widened kernel)
        width = width / scale
    else:
        kernel = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    aux = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    cols = aux[np.mod(indices.astype(np.int64) - 1, aux.size)]
    # MATLAB drops all-zero weight columns; adding zeros changes nothing, so a dense matrix is exact.
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_length)[:, None], cols.shape)
    np.add.at(matrix, (rows, cols), weights)
    return matrix


def imresize(img, scale):
    """MATLAB `imresize(img, scale)` with its default bicubic kernel and antialiasing, for a double image.

    img: float64 `[H, W]` (any range; no rounding or clipping, as for a double input in MATLAB).
    scale: positive factor, the same on both axes.
    Returns float64 `[ceil(scale H), ceil(scale W)]`: rows resized first, then columns (MATLAB
    resizes the axis with the smaller factor first; equal factors keep the order 1, 2).
    """
    arr = np.asarray(img, dtype=np.float64)
    if arr.ndim != 2:
        raise errors.DataError(f"imresize expects a 2-D image [H, W], got shape {arr.shape}")
    if not scale > 0:
        raise errors.DataError(f"imresize scale must be positive, got {scale}")
    in_h, in_w = arr.shape
    # MATLAB: output size = ceil(scale * input size).
    out_h, out_w = int(math.ceil(scale * in_h)), int(math.ceil(scale * in_w))
    rows = _contributions(in_h, out_h, scale)
    cols = _contributions(in_w, out_w, scale)
    return (rows @ arr) @ cols.T
