"""Image ops against independent numpy computations (each test says how its expected value is made)."""

import numpy as np
import pytest
from PIL import Image

from kind_tf2 import files, image_io, image_ops


def test_stretch_is_per_image_min_max():
    x = np.float32([[[0.2, 0.4, 0.6]]])
    np.testing.assert_allclose(image_ops.stretch(x).numpy(), [[[0.0, 0.5, 1.0]]], atol=1e-7)
    # A constant image: the denominator is floored at 0.001, so it maps to zeros.
    np.testing.assert_array_equal(image_ops.stretch(np.full((2, 2, 3), 0.7, np.float32)).numpy(), 0)


def test_to_uint8_truncates_and_clips():
    x = np.float32([-0.5, 0.0, 0.99 / 255, 1.999 / 255, 0.5, 1.0, 2.0])
    # Expected by hand: clip(x * 255) then truncation toward zero (0.99 -> 0, 1.999 -> 1, 127.5 -> 127).
    np.testing.assert_array_equal(image_ops.to_uint8(x).numpy(), [0, 0, 0, 1, 127, 255, 255])


@pytest.mark.parametrize("mode", range(8))
def test_augment_modes_match_numpy_rot90_flipud(mode):
    img = np.arange(4 * 6 * 2, dtype=np.float32).reshape(4, 6, 2)
    # The original's definition: mode 2k / 2k+1 = np.rot90(img, k), the odd ones then np.flipud.
    expected = np.rot90(img, k=mode // 2)
    if mode % 2:
        expected = np.flipud(expected)
    np.testing.assert_array_equal(image_ops.augment(img, mode).numpy(), expected)


def test_gradient_matches_numpy_difference_and_batch_normalisation():
    rng = np.random.default_rng(0)
    x = rng.random((2, 5, 4, 1)).astype(np.float32)
    # By hand: the 2x2 kernel [[0,0],[-1,1]] with SAME padding (zero row/column after the image) is
    # d[i, j] = x[i+1, j+1] - x[i+1, j]; then |d| normalised by the min/max of the whole batch.
    p = np.pad(x[..., 0].astype(np.float64), ((0, 0), (0, 1), (0, 1)))
    dx = np.abs(p[:, 1:, 1:] - p[:, 1:, :-1])
    dy = np.abs(p[:, 1:, 1:] - p[:, :-1, 1:])
    for d, direction in ((dx, "x"), (dy, "y")):
        expected = (d - d.min()) / (d.max() - d.min() + 1e-4)
        np.testing.assert_allclose(image_ops.gradient(x, direction).numpy()[..., 0], expected, atol=1e-6)


def test_ssim_identical_is_one_and_matches_numpy():
    rng = np.random.default_rng(1)
    a = rng.random((1, 16, 14, 1)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    assert abs(float(image_ops.ssim(a, a)[0]) - 1.0) < 1e-6
    # Independent float64 SSIM: explicit 11x11 windows of the MATLAB fspecial Gaussian (sigma 1.5).
    g = np.exp(-(np.arange(-5, 6)[:, None] ** 2 + np.arange(-5, 6)[None, :] ** 2) / (2 * 1.5**2))
    g /= g.sum()
    vals = []
    for i in range(16 - 10):
        for j in range(14 - 10):
            pa, pb = a[0, i : i + 11, j : j + 11, 0], b[0, i : i + 11, j : j + 11, 0]
            ma, mb = (g * pa).sum(), (g * pb).sum()
            va, vb = (g * pa * pa).sum() - ma**2, (g * pb * pb).sum() - mb**2
            cov = (g * pa * pb).sum() - ma * mb
            vals.append(((2 * ma * mb + 1e-4) * (2 * cov + 9e-4)) / ((ma**2 + mb**2 + 1e-4) * (va + vb + 9e-4)))
    assert abs(float(image_ops.ssim(a, b)[0]) - np.mean(vals)) < 1e-5


@pytest.mark.parametrize("shape", [(1, 1), (3, 2), (30, 41)])
def test_gaussian_blur_matches_direct_2d_convolution(shape):
    rng = np.random.default_rng(2)
    img = rng.random(shape).astype(np.float32)
    # Independent: a 25x25 Gaussian (sigma 3, radius int(4*3+0.5) = 12) applied as one 2-D sum in
    # float64 over the edge-replicated image ('nearest' mode).
    x = np.arange(-12, 13)
    k1 = np.exp(-(x**2) / 18.0)
    k1 /= k1.sum()
    k2 = np.outer(k1, k1)
    padded = np.pad(img.astype(np.float64), 12, mode="edge")
    expected = np.zeros(shape)
    for i in range(shape[0]):
        for j in range(shape[1]):
            expected[i, j] = (padded[i : i + 25, j : j + 25] * k2).sum()
    np.testing.assert_allclose(image_ops.gaussian_blur_nearest(img).numpy(), expected, atol=1e-6)


def test_denoise_weight_formula():
    r = np.full((4, 5, 3), 0.02, np.float32)
    # A constant image blurs to itself: gray = 0.02 (weights sum to 1); sqrt(2 * 0.02) = 0.2.
    np.testing.assert_allclose(image_ops.denoise_weight(r).numpy(), 0.2, atol=1e-6)
    np.testing.assert_allclose(image_ops.denoise_weight(np.ones((2, 2, 3), np.float32)).numpy(), 1.0)


def test_save_image_writes_side_by_side_png_atomically(tmp_path):
    a = np.zeros((3, 4, 3), np.float32)
    b = np.ones((1, 3, 4, 1), np.float32)
    path = tmp_path / "x.png"
    image_io.save_image(str(path), a, b)
    out = np.asarray(Image.open(path))
    assert out.shape == (3, 8, 3) and out[:, :4].max() == 0 and out[:, 4:].min() == 255
    assert [p.name for p in tmp_path.iterdir()] == ["x.png"]


def test_read_rgb_converts_modes_and_rejects_bad_files(tmp_path):
    gray = tmp_path / "g.png"
    Image.fromarray(np.full((2, 3), 51, np.uint8), "L").save(gray)
    np.testing.assert_allclose(image_io.read_rgb(str(gray)), 0.2)
    rgba = tmp_path / "a.png"
    Image.fromarray(np.full((2, 2, 4), 102, np.uint8), "RGBA").save(rgba)
    assert image_io.read_rgb(str(rgba)).shape == (2, 2, 3)
    empty = tmp_path / "e.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="e.png"):
        image_io.read_rgb(str(empty))
    junk = tmp_path / "j.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(ValueError, match="j.png"):
        image_io.read_rgb(str(junk))


def test_gradient_min_max_is_global_across_replicas(two_cpu_strategy):
    # Two logical CPUs: each replica sees half the batch, but gradient() must normalise with the
    # extrema of the whole batch, so the per-replica results equal the single-device result.
    strategy = two_cpu_strategy
    rng = np.random.default_rng(3)
    x = rng.random((2, 6, 5, 1)).astype(np.float32)
    x[1] *= 3.0  # the second image holds the global max
    single = image_ops.gradient(x, "x").numpy()
    dist = strategy.experimental_distribute_values_from_function(lambda ctx: x[ctx.replica_id_in_sync_group][None])
    per_replica = strategy.run(lambda t: image_ops.gradient(t, "x"), args=(dist,))
    got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(per_replica)])
    np.testing.assert_allclose(got, single, atol=1e-7)


def test_atomic_write_gives_the_mode_of_a_new_file(tmp_path):
    # mkstemp makes 0600 files; results (reports, PNGs) must be as readable as any file the user creates.
    import os


    old = os.umask(0o022)
    try:
        files.atomic_write_text(str(tmp_path / "a.txt"), "x")
        os.umask(0o077)
        files.atomic_write_text(str(tmp_path / "b.txt"), "y")
    finally:
        os.umask(old)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.txt").stat().st_mode & 0o777 == 0o600
