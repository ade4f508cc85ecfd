"""BRISQUE against the MATLAB release's published scores, its model file, noise monotonicity and size limits."""

import os

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import errors
from kind_tf2.metrics import spatial_quality as brisque_module
from kind_tf2.metrics.spatial_quality import MIN_SIZE, brisque

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "iqa")


def _load(name):
    # The published files as distributed (tests/data/iqa/README.md); goldhill.gif is a gray palette image.
    img = Image.open(os.path.join(DATA, name))
    return np.asarray(img.convert("L") if img.mode in ("L", "P") else img.convert("RGB"))


# Scores of the authors' release (brisquescore.m, LIVE allmodel) as published by two independent projects:
# - goldhill.gif: piq, tests/test_brisque.py line 40 (commit 9948a52f), `score_matlab` 8.425548118925917
#   for tests/assets/goldhill.gif (gray), "score_matlab" from the MATLAB release.
# - I03.bmp, I04.bmp: IQA-PyTorch (pyiqa), ResultsCalibra/results_official.csv line 2 (commit 01ae427f),
#   row `brisque`: 94.6421 (I03.bmp), -0.107618 (I04.bmp), the original MATLAB script on rgb2gray images
#   (ResultsCalibra/ResultsCalibra.md line 78, footnote 12).
PUBLISHED = [
    ("goldhill.gif", 8.425548118925917),
    ("I03.bmp", 94.6421),
    ("I04.bmp", -0.107618),
]


@pytest.mark.parametrize("name,published", PUBLISHED)
def test_matches_published_matlab_release_scores(name, published):
    score = brisque(_load(name))
    assert abs(score - published) <= 0.02 * abs(published), f"{name}: {score} vs MATLAB {published}"


def test_model_file_is_the_release_model():
    # allmodel's header (gamma 0.05, total_sv 774, rho -153.591) and allrange's first and last lines
    # (1 0.338 10; 36 0.001118 0.370399), as in the authors' release.
    with np.load(brisque_module.MODEL_PATH, allow_pickle=False) as data:
        assert data["support_vectors"].shape == (774, 36)
        assert data["coefficients"].shape == (774,)
        assert all(data[k].dtype == np.float64 for k in data.files)
        assert float(data["gamma"]) == 0.05 and float(data["rho"]) == -153.591
        assert (data["range_min"][0], data["range_max"][0]) == (0.338, 10.0)
        assert (data["range_min"][35], data["range_max"][35]) == (0.001118, 0.370399)
        # libsvm's C = 1024 bounds every dual coefficient.
        assert np.all(np.abs(data["coefficients"]) <= 1024.0)


def test_gray_input_equals_its_rgb_copy():
    gray = _load("goldhill.gif")
    assert brisque(np.stack([gray] * 3, axis=-1)) == pytest.approx(brisque(gray), abs=1e-12)


@pytest.mark.parametrize("name", ["I04.bmp", "goldhill.gif"])
def test_rises_with_gaussian_noise(name):
    img = _load(name).astype(np.float64)
    rng = np.random.default_rng(0)
    scores = []
    for sigma in (0.0, 5.0, 10.0, 20.0):
        noisy = np.clip(np.round(img + rng.normal(0.0, sigma, img.shape)), 0, 255).astype(np.uint8)
        scores.append(brisque(noisy))
    assert all(a < b for a, b in zip(scores, scores[1:])), scores


@pytest.mark.parametrize("shape", [(MIN_SIZE - 1, MIN_SIZE - 1), (MIN_SIZE - 1, 64), (64, MIN_SIZE - 1, 3)])
def test_too_small_raises_naming_its_size(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    with pytest.raises(errors.DataError, match=f"{shape[0]}x{shape[1]}") as info:
        brisque(img)
    assert f"{MIN_SIZE}x{MIN_SIZE}" in str(info.value)


def test_minimum_size_is_accepted():
    crop = _load("goldhill.gif")[100:100 + MIN_SIZE, 200:200 + MIN_SIZE]
    assert np.isfinite(brisque(crop))


def test_flat_image_raises_instead_of_nan():
    with pytest.raises(errors.DataError, match="undefined"):
        brisque(np.zeros((32, 32), dtype=np.uint8))
