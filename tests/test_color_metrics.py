"""CIEDE2000: Sharma's published test pairs, and scikit-image (a test-only peer) on random and real LOL images."""

import os

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import errors, metrics
from kind_tf2.metrics import color

# The 34 pairs of Sharma, Wu & Dalal, "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Color Res. Appl. 30(1), 2005, Table 1:
# L1 a1 b1, L2 a2 b2, dE00 (4 decimals as published).
SHARMA_2005 = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_sharma_2005_pairs():
    data = np.array(SHARMA_2005)
    got = color.delta_e_ciede2000(data[:, 0:3], data[:, 3:6])
    np.testing.assert_allclose(got, data[:, 6], atol=5e-5)  # the table's 4 decimals
    # The formula is symmetric in its two colours.
    np.testing.assert_allclose(color.delta_e_ciede2000(data[:, 3:6], data[:, 0:3]), got, atol=1e-12)


def _skimage_mean(a, b):
    from skimage.color import deltaE_ciede2000, rgb2lab

    return float(np.mean(deltaE_ciede2000(rgb2lab(a), rgb2lab(b))))


def test_equals_scikit_image_on_random_images():
    from skimage.color import rgb2lab

    rng = np.random.default_rng(3)
    for shape in ((1, 1, 3), (7, 5, 3), (64, 48, 3)):
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        b = rng.integers(0, 256, shape, dtype=np.uint8)
        np.testing.assert_allclose(color.srgb_to_lab(a), rgb2lab(a), atol=1e-9)
        assert abs(metrics.ciede2000(a, b) - _skimage_mean(a, b)) < 1e-6
    # Greys (zero chroma: the achromatic branches) and identical images.
    grey = np.repeat(rng.integers(0, 256, (16, 16, 1), dtype=np.uint8), 3, axis=2)
    assert abs(metrics.ciede2000(grey, a[:16, :16]) - _skimage_mean(grey, a[:16, :16])) < 1e-6
    assert metrics.ciede2000(a, a) == 0.0


def test_equals_scikit_image_on_real_lol_pairs(real_lol):
    for name in sorted(os.listdir(os.path.join(real_lol, "eval15", "low")))[:3]:
        low = np.asarray(Image.open(os.path.join(real_lol, "eval15", "low", name)).convert("RGB"))
        high = np.asarray(Image.open(os.path.join(real_lol, "eval15", "high", name)).convert("RGB"))
        ours, peer = metrics.ciede2000(low, high), _skimage_mean(low, high)
        assert abs(ours - peer) < 1e-6, (name, ours, peer)
        assert ours > 5.0  # a dark image is far from its well-lit ground truth


def test_bad_shapes_are_named():
    with pytest.raises(errors.DataError, match="sizes differ"):
        metrics.ciede2000(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(errors.DataError, match=r"shape \(4, 4\)"):
        metrics.ciede2000(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))
