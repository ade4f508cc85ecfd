"""NIQE against published MATLAB-release scores; imresize / rgb2gray against published and hand-derived values."""

import csv
import os

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import errors
from kind_tf2.metrics import naturalness as niqe_module
from kind_tf2.metrics.matlab import imresize, rgb2gray
from kind_tf2.metrics.naturalness import niqe

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "iqa")


def _rgb(name):
    return np.asarray(Image.open(os.path.join(DATA, name)).convert("RGB"))


def matlab_scores(row):
    """One row ('brisque' or 'niqe') of tests/data/iqa/tid2013_matlab_scores.csv as {file name: score}."""
    with open(os.path.join(DATA, "tid2013_matlab_scores.csv"), newline="") as f:
        rows = list(csv.reader(line for line in f if not line.startswith("#")))
    header, values = rows[0], {r[0]: r[1:] for r in rows[1:]}
    return {name: float(v) for name, v in zip(header[1:], values[row])}


def _matlab_y(rgb):
    # MATLAB rgb2ycbcr's luma of a uint8 image, rounded: what BasicSR's calculate_niqe (convert_to='y')
    # feeds to NIQE. All terms are positive, so floor(x + 0.5) is MATLAB's rounding.
    x = rgb.astype(np.float64)
    y = 16.0 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255.0
    return np.floor(y + 0.5).astype(np.uint8)


# --- 1. Published MATLAB values -------------------------------------------------------------------

def test_baboon_matches_matlab_r2021a():
    # BasicSR (XPixelGroup/BasicSR @ 8d56e3a) basicsr/metrics/niqe.py line 153:
    # "MATLAB R2021a result for tests/data/baboon.png: 5.72957338", on the Y channel (convert_to='y').
    assert niqe(_matlab_y(_rgb("baboon.png"))) == pytest.approx(5.72957338, rel=1e-6)


def test_tid2013_i04_matches_matlab_release():
    # chaofengc/IQA-PyTorch @ 01ae427 ResultsCalibra/results_official.csv line 12 (row "niqe"), the
    # original MATLAB script on rgb2gray (ResultsCalibra.md footnote 11). No flat 7x7 neighbourhood
    # in this image, so the score does not depend on rounding noise and matches to many digits.
    assert niqe(_rgb("I04.bmp")) == pytest.approx(3.65492152353770, rel=1e-6)


# Relative difference to MATLAB measured on pyiqa's five TID2013 images: I03 0.049 %, I04 1e-14, I06 0.036 %,
# I08 0.565 %, I19 0.351 %. I03, I06, I08 and I19 have flat 7x7 neighbourhoods, where MATLAB's im - mu is a
# rounding residue of either sign that its AGGD fit counts as a coefficient; those residues hang on MATLAB's
# filtering arithmetic and cannot be reproduced (this port sets them to 0, see naturalness.mscn), so these
# scores agree to 1 %, not to many digits.
@pytest.mark.parametrize("name", ["I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp"])
def test_tid2013_calibration_images_within_one_percent_of_matlab_release(name):
    # Row `niqe` of tests/data/iqa/tid2013_matlab_scores.csv (IQA-PyTorch ResultsCalibra/results_original.csv
    # @ bc5e1351), the original MATLAB script on rgb2gray (ResultsCalibra.md footnote 11).
    published = matlab_scores("niqe")[name]
    assert niqe(_rgb(name)) == pytest.approx(published, rel=1e-2)


def test_rgb_input_goes_through_uint8_rgb2gray():
    img = _rgb("I04.bmp")
    assert niqe(img) == niqe(rgb2gray(img).astype(np.uint8))


# --- 2. Monotone in noise -------------------------------------------------------------------------

def test_niqe_rises_with_gaussian_noise():
    img = _rgb("baboon.png").astype(np.float64)
    noise = np.random.default_rng(0).standard_normal(img.shape)
    scores = [niqe(np.clip(np.round(img + sigma * noise), 0, 255).astype(np.uint8)) for sigma in (0, 5, 10, 20)]
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


# --- 3. imresize and rgb2gray as MATLAB -------------------------------------------------------------

def test_imresize_upscale_matches_published_matlab_output():
    # MATLAB's imresize([0 0 1 1 0], [1 10]) (bicubic), printed in Stack Overflow question 17380407
    # (June 2013): 0 -0.0234 -0.0703 0.2031 0.7969 1.0938 1.0938 0.7969 0.2031 -0.0703.
    # imresize(., 2) resizes the single row to two identical rows and the columns exactly so.
    published = [0, -0.0234, -0.0703, 0.2031, 0.7969, 1.0938, 1.0938, 0.7969, 0.2031]
    out = imresize(np.array([[0, 0, 1, 1, 0]], dtype=np.float64), 2)
    assert out.shape == (2, 10)
    np.testing.assert_allclose(out[0, :9], published, atol=5e-5)
    np.testing.assert_array_equal(out[0], out[1])
    # The 10th value: output x = 10 maps to u = 10/2 + 0.25 = 5.25, taps at 3..8 with cubic weights
    # (0, -0.0703125, 0.8671875, 0.2265625, -0.0234375, 0). Current imresize.m reflects indices past
    # the end symmetrically (6 -> 5, 7 -> 4, 8 -> 3), giving -0.0703125 * 1 + -0.0234375 * 1 = -0.09375.
    # The 2013 post shows -0.0703: MATLAB then clamped indices (7 -> 5, pixel value 0). Symmetric
    # reflection is what reproduces the R2021a baboon score above (clamping gives 5.7191).
    assert out[0, 9] == pytest.approx(-0.09375, abs=1e-12)


def test_imresize_halving_weights_derived_by_hand():
    # imresize.m's contributions for 4 -> 2 pixels, scale 1/2 with antialiasing: kernel
    # h(d) = 0.5 cubic(0.5 d), width 8, output 1 maps to u = 1.5, taps -3..6 at distances 4.5..-4.5:
    # cubic(0.5 d) = 0, -0.0234375, -0.0703125, 0.2265625, 0.8671875 (and mirrored), summing to 2.
    # Normalised and folded by the symmetric reflection (-2 -> 3, -1 -> 2, 0 -> 1, 5 -> 4):
    # pixel 1: (0.2265625 + 0.8671875) / 2 = 35/64, pixel 2: (0.8671875 - 0.0703125) / 2 = 51/128,
    # pixel 3: (0.2265625 - 0.0234375) / 2 = 13/128, pixel 4: (-0.0703125 - 0.0234375) / 2 = -3/64.
    row = np.array([35 / 64, 51 / 128, 13 / 128, -3 / 64])
    w = np.stack([row, row[::-1]])
    a = np.random.default_rng(1).uniform(0, 255, (4, 4))
    np.testing.assert_allclose(imresize(a, 0.5), w @ a @ w.T, rtol=0, atol=1e-12)


def test_imresize_constant_and_ramp():
    # Size is ceil(scale * size); the weights sum to one, so a constant stays constant.
    const = imresize(np.full((97, 45), 37.5), 0.5)
    assert const.shape == (49, 23)
    np.testing.assert_allclose(const, 37.5, rtol=0, atol=1e-12)
    # A symmetric kernel reproduces a linear ramp: output x (1-based) maps to u = 2x - 0.5, so away from
    # the borders (taps within u +- 4) a ramp r(i) = i gives exactly 2x - 0.5.
    ramp = np.tile(np.arange(1, 41, dtype=np.float64)[:, None], (1, 12))
    out = imresize(ramp, 0.5)
    x = np.arange(1, 21)
    inner = (2 * x - 0.5 - 4 >= 1) & (2 * x - 0.5 + 4 <= 40)
    np.testing.assert_allclose(out[inner, 5], 2 * x[inner] - 0.5, rtol=0, atol=1e-12)


def test_rgb2gray_rounds_as_matlab_uint8():
    # 0.298936021293775 * 100 + 0.587043074451121 * 150 + 0.114020904255103 * 200 = 140.754 -> 141;
    # (1, 2, 3) -> 1.815 -> 2; white stays 255. A gray image passes through as float64.
    img = np.array([[[100, 150, 200], [1, 2, 3], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_array_equal(rgb2gray(img), [[141.0, 2.0, 255.0]])
    gray = np.array([[0, 7], [200, 255]], dtype=np.uint8)
    out = rgb2gray(gray)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, gray)


def test_grid_search_is_the_release_full_scan():
    # estimateaggdparam scans all of gam = 0.2:0.001:10 for min (r_gam - R)^2; ours searches the sorted
    # grid. Same index for random targets, exact grid values, out-of-range values and NaN (index 1 in
    # MATLAB, 0 here).
    _, r_gam, _, _ = niqe_module._gamma_grid()
    rng = np.random.default_rng(2)
    targets = np.concatenate([rng.uniform(r_gam[0] - 0.05, r_gam[-1] + 0.05, 2000), r_gam[::97], [np.nan]])
    full_scan = np.argmin((r_gam[None, :] - targets[:, None]) ** 2, axis=1)
    np.testing.assert_array_equal(niqe_module._nearest_on_grid(r_gam, targets), full_scan)


def test_pristine_model_is_the_release_shape():
    mu, cov = niqe_module.pristine_params()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    assert mu.dtype == np.float64 and cov.dtype == np.float64
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() > 0


# --- 4. Too small or flat -------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(95, 300), (300, 95), (96, 96), (191, 191)])
def test_too_small_image_raises_naming_its_size(shape):
    img = np.random.default_rng(3).integers(0, 256, shape).astype(np.uint8)
    with pytest.raises(errors.DataError, match=f"got {shape[0]}x{shape[1]}") as info:
        niqe(img)
    assert "96x192" in str(info.value)


def test_two_blocks_are_enough():
    img = np.random.default_rng(4).integers(0, 256, (96, 192)).astype(np.uint8)
    assert np.isfinite(niqe(img))


def test_flat_image_raises():
    with pytest.raises(errors.DataError, match="flat"):
        niqe(np.full((192, 192), 128, np.uint8))


def test_non_uint8_raises():
    with pytest.raises(errors.DataError, match="uint8"):
        niqe(np.zeros((192, 192), np.float32))
