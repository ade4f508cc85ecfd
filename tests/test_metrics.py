"""Metrics against values computed independently of kind_tf2/metrics.py (each test says how)."""

import math

import numpy as np
import pytest

from kind_tf2 import metrics


def _rng_image(seed, h=24, w=20):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3)).astype(np.uint8)


def test_identical_images():
    img = _rng_image(0)
    m = metrics.evaluate_pair(img, img)
    assert m["psnr"] == math.inf
    assert m["ssim_rgb"] == pytest.approx(1.0, abs=1e-12)
    assert m["ssim_gray"] == pytest.approx(1.0, abs=1e-12)
    assert m["loe"] == 0.0


def test_psnr_of_a_constant_offset():
    # Every value off by 10: MSE = 100, PSNR = 10 log10(255^2 / 100) = 28.1308 dB (by hand).
    a = np.full((4, 5, 3), 100, np.uint8)
    b = a + np.uint8(10)
    assert metrics.psnr(a, b) == pytest.approx(28.130803608679106, abs=1e-9)


def test_psnr_is_over_all_rgb_values():
    # One value of 60 off by 255 in a 2x2x3 image: MSE = 255^2 / 12, PSNR = 10 log10(12) dB.
    a = np.zeros((2, 2, 3), np.uint8)
    b = a.copy()
    b[0, 0, 1] = 255
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(12), abs=1e-9)


def _ssim_by_windows(x, y):
    # Independent SSIM: an explicit loop over every 11x11 window with the 2-D MATLAB
    # fspecial('gaussian', 11, 1.5) kernel (not separable filtering), float64, L = 255.
    k = np.arange(-5, 6)
    w = np.exp(-(k[:, None] ** 2 + k[None, :] ** 2) / (2 * 1.5**2))
    w /= w.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i : i + 11, j : j + 11], y[i : i + 11, j : j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * px * px).sum() - mx**2, (w * py * py).sum() - my**2
            cxy = (w * px * py).sum() - mx * my
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_conventions_match_a_window_loop():
    a = _rng_image(1, 17, 15)
    noise = np.random.default_rng(2).normal(0, 20, a.shape)
    b = np.clip(a + noise, 0, 255).astype(np.uint8)
    want_rgb = np.mean([_ssim_by_windows(a[..., c].astype(float), b[..., c].astype(float)) for c in range(3)])
    assert metrics.ssim_rgb(a, b) == pytest.approx(want_rgb, abs=1e-10)
    wts = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
    want_gray = _ssim_by_windows(a.astype(float) @ wts, b.astype(float) @ wts)
    assert metrics.ssim_gray(a, b) == pytest.approx(want_gray, abs=1e-10)
    assert metrics.ssim_rgb(a, b) < 0.99  # the noise is visible to the metric


def test_loe_counts_order_flips():
    # Lightness = max over RGB. Reference lightness [[1, 2], [3, 4]].
    ref = np.zeros((2, 2, 3), np.uint8)
    ref[..., 0] = [[1, 2], [3, 4]]
    # Fully reversed order: each pixel disagrees with the 3 others, LOE = 3 (by hand).
    rev = np.zeros_like(ref)
    rev[..., 2] = [[4, 3], [2, 1]]
    assert metrics.loe(rev, ref) == 3.0
    # Only the last two swapped: those two pixels each disagree once, LOE = 2 / 4.
    swap = np.zeros_like(ref)
    swap[..., 1] = [[1, 2], [4, 3]]
    assert metrics.loe(swap, ref) == 0.5
    # A monotone brightening keeps every order: LOE = 0.
    assert metrics.loe(np.minimum(ref.astype(int) * 3 + 10, 255).astype(np.uint8), ref) == 0.0


def test_small_images_and_bad_shapes():
    tiny = _rng_image(3, 5, 7)
    m = metrics.evaluate_pair(tiny, tiny)
    assert math.isnan(m["ssim_rgb"]) and m["psnr"] == math.inf
    with pytest.raises(ValueError, match="sizes differ"):
        metrics.psnr(_rng_image(0, 4, 4), _rng_image(0, 4, 5))


def test_psnr_and_ssim_equal_scikit_image():
    # scikit-image (a test-only peer): PSNR with data_range 255; SSIM with the Gaussian 11x11 window
    # (sigma 1.5), population covariance and K1, K2 = 0.01, 0.03: ssim_index.m's settings.
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = _rng_image(4, 40, 33)
    b = np.clip(a + np.random.default_rng(5).normal(0, 15, a.shape), 0, 255).astype(np.uint8)
    assert metrics.psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=1e-9)
    peer = structural_similarity(a, b, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False)
    assert metrics.ssim_rgb(a, b) == pytest.approx(peer, abs=1e-9)
