"""Every registered loss term against an independent numpy computation, plus edge cases and gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from kind_tf2 import losses

RNG = np.random.default_rng(11)


def _cases(channels=3, size=24):
    """(name, pred, target, low): random, equal, black and one-pixel-apart inputs `[2, size, size, C]`."""
    shape = (2, size, size, channels)
    a = RNG.random(shape).astype(np.float32)
    b = np.clip(a + RNG.normal(0, 0.2, shape), 0, 1).astype(np.float32)
    low = (b * RNG.uniform(0.05, 0.3)).astype(np.float32)
    one = a.copy()
    one[0, 3, 5, :] = np.clip(one[0, 3, 5, :] + 0.5, 0, 1)
    black = np.zeros(shape, np.float32)
    return [
        ("random", a, b, low),
        ("equal", a, a.copy(), low),
        ("black", black, black.copy(), black.copy()),
        ("black_vs_image", black, b, low),
        ("one_pixel", one, a, low),
    ]


def _np_gauss(size=11, sigma=1.5):
    x = np.arange(size) - size // 2
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


def _np_filter_valid(img, w):
    # Plain 2-D 'valid' correlation of [H, W] with w, one window position at a time.
    k = w.shape[0]
    out = np.empty((img.shape[0] - k + 1, img.shape[1] - k + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(img[i : i + k, j : j + k] * w)
    return out


def _np_ssim_maps(x, y):
    w = _np_gauss()
    c1, c2 = 0.01**2, 0.03**2
    mx, my = _np_filter_valid(x, w), _np_filter_valid(y, w)
    vx = _np_filter_valid(x * x, w) - mx**2
    vy = _np_filter_valid(y * y, w) - my**2
    cov = _np_filter_valid(x * y, w) - mx * my
    cs = (2 * cov + c2) / (vx + vy + c2)
    return (2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs, cs


def _np_tf_gray(x):
    return x @ np.array([0.2989, 0.587, 0.114])[:, None] if x.shape[-1] == 3 else x


def _np_norm_grad(x, direction):
    # KinD's gradient(): the 2x2 kernel [[0, 0], [-1, 1]] (transposed for y) with TF's SAME
    # padding (one zero row below, one zero column right), absolute value, batch min-max normalised.
    p = np.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    h, w = x.shape[1:3]
    if direction == "x":
        g = p[:, 1 : h + 1, 1 : w + 1] - p[:, 1 : h + 1, :w]
    else:
        g = p[:, 1 : h + 1, 1 : w + 1] - p[:, :h, 1 : w + 1]
    g = np.abs(g)
    return (g - g.min()) / (g.max() - g.min() + 1e-4)


def _np_blur5(x):
    k = np.array([1, 4, 6, 4, 1], np.float64) / 16
    p = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), mode="symmetric")
    rows = sum(k[i] * p[:, i : i + x.shape[1], :, :] for i in range(5))
    return sum(k[i] * rows[:, :, i : i + x.shape[2], :] for i in range(5))


def _np_pyramid(x, levels):
    out, g = [], x
    for _ in range(levels - 1):
        down = _np_blur5(g)[:, ::2, ::2]
        up = np.repeat(np.repeat(down, 2, axis=1), 2, axis=2)[:, : g.shape[1], : g.shape[2]]
        out.append(g - _np_blur5(up))
        g = down
    return out + [g]


def _np_pool(x, k):
    n, h, w = x.shape[0], x.shape[1] // k, x.shape[2] // k
    return x[:, : h * k, : w * k].reshape(n, h, k, w, k).mean(axis=(2, 4))


def _np_region(p, t, low, frac, wd, wl):
    g = _np_tf_gray(low.astype(np.float64))[..., 0].reshape(low.shape[0], -1)
    k = max(1, int(math.floor(frac * g.shape[1])))
    dark = np.zeros_like(g, bool)
    for i in range(g.shape[0]):
        dark[i, np.argsort(g[i], kind="stable")[:k]] = True
    dark = np.repeat(dark.reshape(low.shape[:3])[..., None], p.shape[-1], axis=3)
    err = np.abs(p - t)
    return wd * err[dark].mean() + wl * err[~dark].mean()


def _np_spatial(p, low, pool):
    y, i = _np_pool(p.mean(-1), pool), _np_pool(low.mean(-1), pool)
    total = 0.0
    for n in range(y.shape[0]):
        for r in range(y.shape[1]):
            for c in range(y.shape[2]):
                for dr, dc in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < y.shape[1] and 0 <= cc < y.shape[2]:
                        total += (abs(y[n, r, c] - y[n, rr, cc]) - abs(i[n, r, c] - i[n, rr, cc])) ** 2
    return total / y.size


def _np_ms_ssim(p, t, scales):
    size = min(p.shape[1:3])
    used = 0
    while used < scales and size // 2**used >= 11:
        used += 1
    w = np.array(losses.MS_SSIM_WEIGHTS[:used])
    w = w / w.sum()
    vals = []
    for n in range(p.shape[0]):
        for c in range(p.shape[3]):
            x, y, prod = p[n, :, :, c].astype(np.float64), t[n, :, :, c].astype(np.float64), 1.0
            for j in range(used):
                s_map, cs_map = _np_ssim_maps(x, y)
                m = (cs_map if j < used - 1 else s_map).mean()
                prod *= max(m, 1e-6) ** w[j]
                h2, w2 = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
                x = x[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))
                y = y[:h2, :w2].reshape(h2 // 2, 2, w2 // 2, 2).mean(axis=(1, 3))
            vals.append(prod)
    return 1 - np.mean(vals)


def _np_color(p, t):
    p, t = p.astype(np.float64), t.astype(np.float64)
    cross = np.linalg.norm(np.cross(p, t), axis=-1)
    dot = (p * t).sum(-1)
    black = (np.linalg.norm(p, axis=-1) == 0) | (np.linalg.norm(t, axis=-1) == 0)
    return np.where(black, 0.0, np.arctan2(cross, dot)).mean()


def _np_reference(name, p, t, low, params):
    p64, t64, d = p.astype(np.float64), t.astype(np.float64), p.astype(np.float64) - t.astype(np.float64)
    a = np.abs(d)
    if name == "l1":
        return a.mean()
    if name == "l2":
        return (d**2).mean()
    if name == "smooth_l1":
        beta = params.get("beta", 1.0)
        return np.where(a < beta, 0.5 * d**2 / beta, a - 0.5 * beta).mean()
    if name == "huber":
        delta = params.get("delta", 1.0)
        return np.where(a <= delta, 0.5 * d**2, delta * (a - 0.5 * delta)).mean()
    if name == "charbonnier":
        return np.sqrt(d**2 + params.get("eps", 1e-3) ** 2).mean()
    if name == "log_mse":
        return 10 * np.log10((d**2).mean() + 1e-8)
    if name == "ssim":
        return 1 - np.mean([np.mean([_np_ssim_maps(p64[n, :, :, c], t64[n, :, :, c])[0]
                                     for n in range(p.shape[0])]) for c in range(p.shape[3])])
    if name == "ms_ssim":
        return _np_ms_ssim(p, t, params.get("scales", 5))
    if name == "grad":
        gp, gt = _np_tf_gray(p64), _np_tf_gray(t64)
        return np.mean((_np_norm_grad(gp, "x") - _np_norm_grad(gt, "x")) ** 2
                       + (_np_norm_grad(gp, "y") - _np_norm_grad(gt, "y")) ** 2)
    if name == "tv":
        return np.abs(np.diff(p64, axis=2)).mean() + np.abs(np.diff(p64, axis=1)).mean()
    if name == "color":
        return _np_color(p, t)
    if name == "laplacian":
        return sum(np.abs(x - y).mean() for x, y in zip(_np_pyramid(p64, params.get("levels", 3)),
                                                         _np_pyramid(t64, params.get("levels", 3))))
    if name == "region":
        return _np_region(p64, t64, low, 0.4, 4.0, 1.0)
    if name == "exposure":
        return np.abs(_np_pool(p64.mean(-1), params.get("patch", 16)) - params.get("level", 0.6)).mean()
    if name == "spatial_consistency":
        return _np_spatial(p64, low.astype(np.float64), 4)
    if name == "color_constancy":
        j = p64.mean(axis=(1, 2))
        return ((j[:, 0] - j[:, 1]) ** 2 + (j[:, 0] - j[:, 2]) ** 2 + (j[:, 1] - j[:, 2]) ** 2).mean()
    raise KeyError(name)


CHECKED = [
    ("l1", {}), ("l2", {}), ("smooth_l1", {}), ("smooth_l1", {"beta": 0.1}), ("huber", {}),
    ("huber", {"delta": 0.05}), ("charbonnier", {}), ("log_mse", {}), ("ssim", {}), ("ms_ssim", {}),
    ("grad", {}), ("tv", {}), ("color", {}), ("laplacian", {}), ("region", {}), ("exposure", {}),
    ("exposure", {"patch": 8, "level": 0.3}), ("spatial_consistency", {}), ("color_constancy", {}),
]


def test_every_registered_term_is_checked_here():
    assert {name for name, _ in CHECKED} | {"perceptual"} == set(losses.TERMS)


@pytest.mark.parametrize("name,params", CHECKED, ids=[f"{n}{p or ''}" for n, p in CHECKED])
def test_term_equals_numpy_and_has_finite_gradients(name, params):
    term = losses.TERMS[name]
    for case, p, t, low in _cases(3 if 3 in term.channels else 1):
        pv = tf.Variable(p)
        with tf.GradientTape() as tape:
            value = term(pv, tf.constant(t), tf.constant(low), **params)
        grad = tape.gradient(value, pv)
        want = _np_reference(name, p, t, low, params)
        got = float(value)
        assert math.isfinite(got), f"{case}: {got}"
        tol = 1e-4 if name == "log_mse" else 2e-5 * max(1.0, abs(want))
        assert abs(got - want) <= tol, f"{case}: {got} vs numpy {want}"
        assert grad is None or np.isfinite(grad.numpy()).all(), f"{case}: non-finite gradient"


def test_terms_are_zero_on_equal_images():
    _, a, _, low = _cases()[0]
    for name in ("l1", "l2", "smooth_l1", "huber", "ssim", "ms_ssim", "grad", "color", "laplacian", "region"):
        assert abs(float(losses.TERMS[name](a, a, low))) < 1e-5, name


def test_ms_ssim_where_contrast_is_negative():
    # An inverted image has negative contrast-structure terms: tf.image.ssim_multiscale gives NaN
    # gradients there, ours stays finite and clamps the loss at 1 - 1e-6 ** (sum of weights).
    x = RNG.random((1, 48, 48, 3)).astype(np.float32)
    v = tf.Variable(x)
    with tf.GradientTape() as tape:
        value = losses.TERMS["ms_ssim"](v, 1.0 - x)
    g = tape.gradient(value, v)
    assert np.isfinite(float(value)) and np.isfinite(g.numpy()).all()
    assert abs(float(value) - _np_ms_ssim(x, 1.0 - x, 5)) < 1e-5


def test_ms_ssim_uses_the_scales_the_patch_allows():
    assert losses.ms_ssim_scales(48, 5) == 3 and losses.ms_ssim_scales(384, 5) == 5
    assert losses.ms_ssim_scales(11, 5) == 1 and losses.ms_ssim_scales(384, 2) == 2
    note = losses.TERMS["ms_ssim"].note({}, 48)
    assert "3 of 5" in note and losses.TERMS["ms_ssim"].note({}, 384) is None


def test_color_is_zero_for_parallel_vectors_and_known_for_orthogonal():
    p = np.zeros((1, 1, 2, 3), np.float32)
    t = np.zeros((1, 1, 2, 3), np.float32)
    p[0, 0, 0] = [0.2, 0.4, 0.6]
    t[0, 0, 0] = [0.1, 0.2, 0.3]  # same direction, other length
    p[0, 0, 1] = [1, 0, 0]
    t[0, 0, 1] = [0, 1, 0]  # 90 degrees
    assert abs(float(losses.TERMS["color"](p, t)) - (0 + math.pi / 2) / 2) < 1e-6


def test_log_mse_on_equal_images_is_finite():
    x = RNG.random((1, 8, 8, 1)).astype(np.float32)
    assert abs(float(losses.TERMS["log_mse"](x, x)) - (-80.0)) < 1e-3


def test_log_mse_is_the_global_batch_value_on_two_replicas(two_cpu_strategy):
    a = RNG.random((4, 8, 8, 1)).astype(np.float32)
    b = a.copy()
    b[:2] += 0.3  # the halves have very different MSE: a mean of per-replica logs would differ
    want = 10 * np.log10(((a - b) ** 2).mean() + 1e-8)

    def replica(x, y):
        return losses.TERMS["log_mse"](x, y)

    dist = two_cpu_strategy.experimental_distribute_values_from_function(
        lambda ctx: (a[2 * ctx.replica_id_in_sync_group :][:2], b[2 * ctx.replica_id_in_sync_group :][:2])
    )
    per = two_cpu_strategy.run(tf.function(replica), args=dist)
    for v in two_cpu_strategy.experimental_local_results(per):
        assert abs(float(v) - want) < 1e-4


def test_perceptual_with_a_vgg_weights_file(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
    path = str(tmp_path / "vgg19_random.weights.h5")
    vgg.save_weights(path)
    _, p, t, _ = _cases(3, 32)[0]
    value = losses.TERMS["perceptual"](p, t, layer="block2_conv2", weights=path)
    feats = keras.Model(vgg.input, vgg.get_layer("block2_conv2").output)
    pre = keras.applications.vgg19.preprocess_input
    want = np.mean((feats(pre(p * 255.0)).numpy().astype(np.float64) - feats(pre(t * 255.0)).numpy()) ** 2)
    assert abs(float(value) - want) <= 1e-4 * want
    # One channel is repeated to RGB; equal images give 0.
    gray = p[..., :1]
    assert float(losses.TERMS["perceptual"](gray, gray, layer="block2_conv2", weights=path)) == 0.0
    with pytest.raises(losses.SpecError, match="perceptual needs vgg_weights=FILE"):
        losses.TERMS["perceptual"](p, t)
