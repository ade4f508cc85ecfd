"""Numerical parity with the original code's outputs in ../shared/kind_reference (README there)."""

import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from kind_tf2 import checkpoints, image_io, losses, models

ATOL = 1e-5
STAGES = ["R", "I", "restored_R", "adjusted_I", "denoise_weight", "output"]


def _assert_close(ours, ref, key, atol=ATOL):
    ours = np.asarray(ours, np.float32).reshape(np.shape(ref))
    err = float(np.abs(ours - ref).max())
    assert err <= atol, f"{key}: max abs diff {err:.3g} > {atol}"


@pytest.mark.parametrize("name,image", [("4.npz", "4.bmp"), ("22.npz", "22.png")])
def test_full_images(kind, ref, ref_npz, name, image):
    expected = ref_npz(name)
    x = image_io.load_image(os.path.join(ref, "images", image))
    _assert_close(x, expected["input"], "input", atol=0)
    got = kind.enhance(x[None], ratio=5.0, return_all=True)
    for key in STAGES:
        _assert_close(got[key][0], expected[key], key)


@pytest.mark.parametrize("name", ["crop_1x1.npz", "crop_2x2.npz", "crop_5x3.npz", "crop_77x101.npz"])
def test_odd_and_tiny_crops(kind, ref_npz, name):
    expected = ref_npz(name)
    got = kind.enhance(expected["input"][None], ratio=5.0, return_all=True)
    for key in STAGES:
        _assert_close(got[key][0], expected[key], f"{name}:{key}")


def test_illumination_ratio_sweep(kind, ref_npz):
    sweep = ref_npz("illumination_ratio_sweep.npz")
    i = sweep["I"][None]
    for key in [k for k in sweep if k.startswith("ratio_")]:
        ratio = float(key[len("ratio_"):])
        _assert_close(kind.illumination(i, tf.ones_like(i) * ratio), sweep[key], key)


def _loaded(ref, scope):
    net = models.build_network(scope)
    checkpoints.load_network_weights(net, os.path.join(ref, "checkpoints", checkpoints.TF1_SUBDIR[scope]))
    return net


def _assert_losses(components, expected):
    for name, value in components.items():
        want = float(expected["loss/" + name])
        assert abs(float(value) - want) <= 1e-5 * abs(want), f"{name}: {float(value)} vs {want}"


def _assert_grads(net, grads, expected, prefix="grad/"):
    names = {id(v): k for k, v in models.tf1_variable_map(net).items()}
    assert len(grads) == len(names)
    for g, v in zip(grads, net.trainable_variables):
        want = expected[prefix + names[id(v)]]
        err = float(np.abs(g.numpy() - want).max())
        assert err <= 1e-5 * float(np.abs(want).max()), f"{names[id(v)]}: {err}"


def test_decomposition_losses_and_gradients(ref, ref_npz):
    d = ref_npz("losses_decomposition.npz")
    net = _loaded(ref, "DecomNet")
    with tf.GradientTape() as tape:
        r_low, i_low = net(d["input_low"])
        r_high, i_high = net(d["input_high"])
        total, parts = losses.decomposition_loss(d["input_low"], d["input_high"], r_low, i_low, r_high, i_high)
    assert set(parts) == {k[len("loss/"):] for k in d if k.startswith("loss/")}
    _assert_losses(parts, d)
    _assert_grads(net, tape.gradient(total, net.trainable_variables), d)


def test_illumination_losses_and_gradients(ref, ref_npz):
    d = ref_npz("losses_illumination.npz")
    net = _loaded(ref, "Illumination_adjust_net")
    with tf.GradientTape() as tape:
        out = net(d["input_low_i"], d["input_low_i_ratio"])
        total, parts = losses.illumination_loss(out, d["input_high_i"])
    _assert_close(out, d["output_i"], "output_i")
    assert set(parts) == {k[len("loss/"):] for k in d if k.startswith("loss/")}
    _assert_losses(parts, d)
    _assert_grads(net, tape.gradient(total, net.trainable_variables), d)


def test_restoration_losses_and_gradient_norms(ref, ref_npz):
    d = ref_npz("losses_restoration.npz")
    net = _loaded(ref, "Restoration_net")
    with tf.GradientTape() as tape:
        out = net(d["input_low_r"], d["input_low_i"])
        total, parts = losses.restoration_loss(out, d["input_high_r"])
    _assert_close(out, d["output_r"], "output_r")
    assert set(parts) == {k[len("loss/"):] for k in d if k.startswith("loss/")}
    _assert_losses(parts, d)
    names = {id(v): k for k, v in models.tf1_variable_map(net).items()}
    for g, v in zip(tape.gradient(total, net.trainable_variables), net.trainable_variables):
        want = float(d["grad_norm/" + names[id(v)]])
        assert abs(float(tf.norm(g)) - want) <= 1e-4 * want, names[id(v)]


def _png_agreement(ours, ref_path):
    expected = np.asarray(Image.open(ref_path))
    assert ours.shape == expected.shape
    diff = np.abs(ours.astype(int) - expected.astype(int))
    assert diff.max() <= 1, f"{ref_path}: a pixel is off by {diff.max()}"
    assert (diff == 0).mean() >= 0.999, f"{ref_path}: only {(diff == 0).mean():.4%} identical"


@pytest.mark.parametrize("image", ["4.bmp", "22.png", "04.JPG"])
def test_png_ratio5_equal_to_original(kind, ref, tmp_path, image):
    x = image_io.load_image(os.path.join(ref, "images", image))
    out = tmp_path / "out.png"
    image_io.save_image(str(out), kind.enhance(x[None], ratio=5.0))
    stem = image.split(".")[0]
    _png_agreement(np.asarray(Image.open(out)), os.path.join(ref, "outputs", "png_test", f"{stem}_kindle.png"))


@pytest.mark.parametrize("stem", ["1", "22"])
def test_png_with_ground_truth_equal_to_original(kind, ref, tmp_path, stem):
    low = image_io.load_image(os.path.join(ref, "images", f"{stem}.png"))
    high = image_io.load_image(os.path.join(ref, "outputs", "png_lol", "high", f"{stem}.png"))
    out = tmp_path / "out.png"
    image_io.save_image(str(out), kind.enhance(low[None], high=high[None]))
    _png_agreement(np.asarray(Image.open(out)), os.path.join(ref, "outputs", "png_lol", f"{stem}_kindle.png"))
