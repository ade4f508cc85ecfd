"""BRISQUE, the Blind/Referenceless Image Spatial Quality Evaluator (Mittal, Moorthy & Bovik 2012), as the authors' MATLAB release computes it."""

import math
import os

import numpy as np

from kind_tf2 import errors
from kind_tf2.metrics.full_reference import gaussian_window_1d
from kind_tf2.metrics.matlab import imresize, rgb2gray

# The release's LIVE-trained epsilon-SVR (allmodel) and its feature ranges (allrange); see data/NOTICE.md.
MODEL_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "brisque_model.npz")

# brisque_feature.m: fspecial('gaussian', 7, 7/6), normalised; separable, so one 1-D factor suffices.
WINDOW = gaussian_window_1d(7, 7.0 / 6.0)

# The half-scale image (imresize(im, 0.5) -> ceil(H / 2) x ceil(W / 2)) must still hold the 7 x 7
# window, or the local statistics at that scale come from padding zeros alone: ceil(13 / 2) = 7.
MIN_SIZE = 13

# circshift shifts of brisque_feature.m (rows, columns): horizontal, vertical, main and secondary diagonal.
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))

_model = None
_gamma_grid = None


def _load_model():
    """The release's SVR and scaling ranges, loaded once (float64 arrays, no pickle)."""
    global _model
    if _model is None:
        with np.load(MODEL_PATH, allow_pickle=False) as data:
            _model = {key: np.asarray(data[key], dtype=np.float64) for key in data.files}
    return _model


def _gamma_tables():
    """The release's shape grid gam = 0.2:0.001:10 (9801 values) and its two moment-ratio tables.

    ggd:  Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2      (estimateggdparam.m)
    aggd: Gamma(2/a)^2 / (Gamma(1/a) Gamma(3/a))    (estimateaggdparam.m, the reciprocal)
    """
    global _gamma_grid
    if _gamma_grid is None:
        # 0.2 + k * 0.001 rounded to the grid: the printed alpha features are these decimals.
        gam = np.round(0.2 + 0.001 * np.arange(9801), 3)
        g1 = np.array([math.gamma(1.0 / a) for a in gam])
        g2 = np.array([math.gamma(2.0 / a) for a in gam])
        g3 = np.array([math.gamma(3.0 / a) for a in gam])
        _gamma_grid = (gam, g1 * g3 / g2**2, g2**2 / (g1 * g3))
    return _gamma_grid


def _filter2_same(img):
    """MATLAB filter2(window, img, 'same') with the 7 x 7 Gaussian: zero padding outside the image.

    img: float64 `[..., H, W]`; the window is separable and symmetric, so rows then columns.
    brisque_feature.m pads with zeros (filter2), not imfilter's 'replicate' (that is NIQE's
    computequality.m); 'replicate' moves the published calibration scores by 4-18 %.
    """
    half = WINDOW.size // 2
    h, w = img.shape[-2:]
    pad = np.zeros(img.shape[:-2] + (h, w + 2 * half))
    pad[..., half:half + w] = img
    rows = sum(WINDOW[k] * pad[..., k:k + w] for k in range(WINDOW.size))
    pad = np.zeros(img.shape[:-2] + (h + 2 * half, w))
    pad[..., half:half + h, :] = rows
    return sum(WINDOW[k] * pad[..., k:k + h, :] for k in range(WINDOW.size))


def _mscn(img):
    """MSCN coefficients (img - mu) / (sigma + 1), mu and sigma from the zero-padded Gaussian window.

    img: float64 `[H, W]` at the 0..255 scale (C = 1 matches that scale). Returns float64 `[H, W]`.
    sigma = sqrt(|E[x^2] - mu^2|): the abs guards against tiny negative round-off, as the release does.
    """
    mu, second = _filter2_same(np.stack([img, img * img]))
    sigma = np.sqrt(np.abs(second - mu * mu))
    return (img - mu) / (sigma + 1.0)


def _ggd_features(vec):
    """Generalised Gaussian fit by moment matching (estimateggdparam.m): (alpha, sigma^2).

    rho = E[x^2] / E[|x|]^2; alpha is the grid value whose Gamma(1/a)Gamma(3/a)/Gamma(2/a)^2 is
    nearest rho (the first on ties, as MATLAB's min).
    """
    gam, r_ggd, _ = _gamma_tables()
    sigma_sq = np.mean(vec * vec)
    if sigma_sq == 0.0:
        # All MSCN coefficients zero (an all-black image): rho is 0/0, NaN in the release.
        raise errors.DataError("BRISQUE is undefined for this image: its MSCN coefficients are all zero")
    rho = sigma_sq / np.mean(np.abs(vec)) ** 2
    return gam[np.argmin(np.abs(rho - r_ggd))], sigma_sq


def _aggd_features(vec):
    """Asymmetric GGD fit (estimateaggdparam.m) -> (alpha, mean, left_std^2, right_std^2).

    left/right std: RMS of the negative / positive values; gammahat = left / right;
    rhat = E[|x|]^2 / E[x^2]; rhatnorm = rhat (g^3 + 1)(g + 1) / (g^2 + 1)^2, matched to
    Gamma(2/a)^2 / (Gamma(1/a)Gamma(3/a)) in squared distance;
    mean = (right - left) Gamma(2/a) / Gamma(1/a) * sqrt(Gamma(1/a) / Gamma(3/a)).
    """
    gam, _, r_aggd = _gamma_tables()
    sq = vec * vec
    neg, pos = sq[vec < 0], sq[vec > 0]
    if neg.size == 0 or pos.size == 0:
        # MATLAB's mean([]) is NaN and the score would be NaN; say why instead.
        raise errors.DataError("BRISQUE is undefined for this image: a pairwise product of its MSCN "
                               "coefficients has no negative or no positive values (flat image?)")
    left, right = math.sqrt(neg.mean()), math.sqrt(pos.mean())
    g = left / right
    rhat = np.mean(np.abs(vec)) ** 2 / sq.mean()
    rhatnorm = rhat * (g**3 + 1.0) * (g + 1.0) / (g**2 + 1.0) ** 2
    alpha = gam[np.argmin((r_aggd - rhatnorm) ** 2)]
    const = math.sqrt(math.gamma(1.0 / alpha)) / math.sqrt(math.gamma(3.0 / alpha))
    mean = (right - left) * (math.gamma(2.0 / alpha) / math.gamma(1.0 / alpha)) * const
    return alpha, mean, left * left, right * right


def brisque_features(img):
    """The 36 BRISQUE features of brisque_feature.m, unscaled.

    img: float64 gray `[H, W]` at the 0..255 scale (not rounded), H, W >= MIN_SIZE.
    Returns float64 `[36]`: per scale (full, then imresize(., 0.5)) the MSCN GGD (alpha, sigma^2),
    then for each of the four neighbour products MSCN * circshift(MSCN) the AGGD
    (alpha, mean, left^2, right^2); 18 per scale.
    """
    img = np.asarray(img, dtype=np.float64)
    feats = []
    for scale in range(2):
        mscn = _mscn(img)
        feats.extend(_ggd_features(mscn.ravel()))
        for shift in SHIFTS:
            # np.roll is circshift: element (i, j) moves to (i + di, j + dj), wrapping around.
            pair = mscn * np.roll(mscn, shift, axis=(0, 1))
            feats.extend(_aggd_features(pair.ravel()))
        if scale == 0:
            img = imresize(img, 0.5)
    return np.array(feats, dtype=np.float64)


def _as_gray(img):
    """brisquescore.m's input handling: RGB -> uint8 -> rgb2gray; gray -> double as it is."""
    arr = np.asarray(img)
    if arr.ndim == 3 and arr.shape[2] == 3 and arr.dtype != np.uint8:
        # MATLAB's uint8(): round half away from zero, saturate to 0..255.
        arr = np.clip(np.floor(arr.astype(np.float64) + 0.5), 0, 255).astype(np.uint8)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise errors.DataError(f"BRISQUE expects an RGB image [H, W, 3] or a gray image [H, W], got shape {arr.shape}")
    h, w = arr.shape[:2]
    if min(h, w) < MIN_SIZE:
        raise errors.DataError(f"BRISQUE needs an image of at least {MIN_SIZE}x{MIN_SIZE} pixels, got {h}x{w}")
    return rgb2gray(arr)


def _through_text(values, fmt):
    # The release hands features to svm-scale and svm-predict through text files ('%f', then
    # libsvm's '%g'); rounding the same way keeps the scores those binaries print.
    return np.array([float(fmt % v) for v in values])


def brisque(img):
    """BRISQUE score of one image, as the release's brisquescore.m (lower is better, about 0..100).

    img: uint8 RGB `[H, W, 3]` (a float RGB image is first cast as MATLAB's uint8() does) or gray
    `[H, W]` at the 0..255 scale; H, W >= MIN_SIZE (13), else DataError.
    Steps: gray = rgb2gray(uint8 RGB); f = brisque_features(gray) (printed with '%f');
    x = -1 + 2 (f - min) / (max - min) with the release's allrange (printed with '%g', svm-scale);
    score = sum_i coef_i exp(-gamma ||sv_i - x||^2) - rho with the release's allmodel (gamma 0.05,
    774 support vectors, rho -153.591).

    Flat 7 x 7 windows (saturated sky, clipped shadows, TID2013's block distortions) give im - mu = 0
    or +-3e-14, depending on the filter's float rounding, and the AGGD fit counts the sign of each as a
    negative or positive coefficient. On such images the release itself is unstable, and MATLAB's score
    is one draw of that noise. This port's residues are deterministic (numpy's elementwise IEEE
    arithmetic) but not MATLAB's: on IQA-PyTorch's five TID2013 images it is within 0.9 % of MATLAB
    except I08 (4.4 %: 5.594 vs 5.358); on I06, giving the residues MATLAB's signs reproduces MATLAB's
    0.992889 exactly (tests/test_brisque.py), and 1e-12 of noise on a float gray input moves I08 by 1 point.
    """
    gray = _as_gray(img)
    feats = _through_text(brisque_features(gray), "%f")
    model = _load_model()
    lo, hi = model["range_min"], model["range_max"]
    # svm-scale maps the range ends exactly and extrapolates linearly outside them (no clipping).
    scaled = np.where(feats == lo, -1.0, np.where(feats == hi, 1.0, -1.0 + 2.0 * (feats - lo) / (hi - lo)))
    scaled = _through_text(scaled, "%g")
    dist_sq = np.sum((model["support_vectors"] - scaled) ** 2, axis=1)
    return float(model["coefficients"] @ np.exp(-model["gamma"] * dist_sq) - model["rho"])
