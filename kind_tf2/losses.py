"""Every training loss of the package: KinD's three objectives and the registry of survey loss terms."""

# Every loss is a mean over the whole (global) batch, as the original's `tf.reduce_mean`, and
# `image_ops.gradient` normalises with batch-global extrema, all-reduced across replicas. The
# objectives return `(total, {component name: scalar})`.

import inspect
import math
import os
import re

import tensorflow as tf

from kind_tf2.image_ops import gradient, global_min_max, ssim, ssim_components


def mutual_i_loss(input_I_low, input_I_high):
    """Mutual consistency of the two illuminations: M * exp(-10 M), M = sum of their gradients."""
    low_gradient_x = gradient(input_I_low, "x")
    high_gradient_x = gradient(input_I_high, "x")
    x_loss = (low_gradient_x + high_gradient_x) * tf.exp(-10 * (low_gradient_x + high_gradient_x))
    low_gradient_y = gradient(input_I_low, "y")
    high_gradient_y = gradient(input_I_high, "y")
    y_loss = (low_gradient_y + high_gradient_y) * tf.exp(-10 * (low_gradient_y + high_gradient_y))
    return tf.reduce_mean(x_loss + y_loss)


def mutual_i_input_loss(input_I_low, input_im):
    """Illumination smoothness: gradient of I relative to the input's gray gradient (floored at 0.01)."""
    input_gray = tf.image.rgb_to_grayscale(input_im)
    low_gradient_x = gradient(input_I_low, "x")
    input_gradient_x = gradient(input_gray, "x")
    x_loss = tf.abs(low_gradient_x / tf.maximum(input_gradient_x, 0.01))
    low_gradient_y = gradient(input_I_low, "y")
    input_gradient_y = gradient(input_gray, "y")
    y_loss = tf.abs(low_gradient_y / tf.maximum(input_gradient_y, 0.01))
    return tf.reduce_mean(x_loss + y_loss)


# The decomposition objective's six terms, in the original's order of summation, and its weights.
DECOMPOSITION_WEIGHTS = {
    "recon_loss_high": 1.0,
    "recon_loss_low": 1.0,
    "equal_R_loss": 0.01,
    "i_mutual_loss": 0.2,
    "i_input_mutual_loss_high": 0.15,
    "i_input_mutual_loss_low": 0.15,
}


def decomposition_loss(input_low, input_high, R_low, I_low, R_high, I_high, weights=None):
    """Layer decomposition loss (`loss_Decom`), term by term as report section 2.3.1.

    input_low, input_high: images `[N, H, W, 3]` in [0, 1]; R_*: `[N, H, W, 3]`; I_*: `[N, H, W, 1]`.
    weights: `{term: weight}` for the six terms (default `DECOMPOSITION_WEIGHTS`, the original's).
    """
    weights = DECOMPOSITION_WEIGHTS if weights is None else weights
    I_low_3 = tf.concat([I_low, I_low, I_low], axis=3)
    I_high_3 = tf.concat([I_high, I_high, I_high], axis=3)
    parts = {
        # Reconstruction: R * I must give back each input image.
        "recon_loss_high": tf.reduce_mean(tf.abs(R_high * I_high_3 - input_high)),
        "recon_loss_low": tf.reduce_mean(tf.abs(R_low * I_low_3 - input_low)),
        # Reflectance similarity: low- and normal-light images share one reflectance.
        "equal_R_loss": tf.reduce_mean(tf.abs(R_low - R_high)),
        # Mutual consistency of I_low and I_high (paper's L_mc), not mutual information.
        "i_mutual_loss": mutual_i_loss(I_low, I_high),
        # Illumination smoothness relative to each input's structure (paper's L_is).
        "i_input_mutual_loss_high": mutual_i_input_loss(I_high, input_high),
        "i_input_mutual_loss_low": mutual_i_input_loss(I_low, input_low),
    }
    # Summed left to right in the original's order: `1 * a + 1 * b + 0.01 * c + ...`.
    loss_Decom = None
    for name in DECOMPOSITION_WEIGHTS:
        if weights[name] == 0:
            continue
        term = weights[name] * parts[name]
        loss_Decom = term if loss_Decom is None else loss_Decom + term
    parts["loss_Decom"] = tf.constant(0.0) if loss_Decom is None else loss_Decom
    return parts["loss_Decom"], parts


def grad_loss(output, target):
    """Squared difference of the normalised x and y gradients; inputs `[N, H, W, 1]`."""
    x_loss = tf.square(gradient(output, "x") - gradient(target, "x"))
    y_loss = tf.square(gradient(output, "y") - gradient(target, "y"))
    return tf.reduce_mean(x_loss + y_loss)


def ssim_loss(output_r, input_high_r):
    """1 - mean over channels of the per-channel `tf_ssim`; inputs `[N, H, W, C]` with H, W >= 11.

    For C = 3 this is the original's `1 - (ssim_r + ssim_g + ssim_b) / 3`, summed in that order.
    """
    per_channel = ssim(output_r, input_high_r)
    total = per_channel[0]
    for c in range(1, int(output_r.shape[-1])):
        total = total + per_channel[c]
    return 1 - total / float(output_r.shape[-1])


# ---- the registry of loss terms ------------------------------------------------------------------


class SpecError(ValueError):
    """A `--loss` spec cannot be used; the message names the term, parameter or number at fault."""


class Term:
    """A registered loss term: `term(pred, target, low=None, **params) -> scalar tensor`.

    pred, target: `[N, H, W, C]` in [0, 1]; low: the stage's low-light input of the same shape
    (R_low for restoration, the input illumination for illumination), used only by terms with
    `needs_low`. `defaults` are the keyword parameters and their default values (from the
    signature); `channels` the channel counts the term accepts; `min_size(params)` the smallest
    patch side it works on.
    """

    def __init__(self, fn, name, channels=(1, 3), needs_low=False, min_size=None, check=None, note=None):
        self.fn, self.name, self.channels, self.needs_low = fn, name, channels, needs_low
        self._min_size, self._check, self._note = min_size, check, note
        sig = inspect.signature(fn)
        self.defaults = {k: p.default for k, p in sig.parameters.items() if k not in ("pred", "target", "low")}
        self.__doc__ = fn.__doc__

    def __call__(self, pred, target, low=None, **params):
        return self.fn(pred, target, low, **params)

    def min_size(self, params):
        return self._min_size(dict(self.defaults, **params)) if self._min_size else 1

    def check(self, params):
        """Raise SpecError when a parameter value is out of its range."""
        if self._check:
            self._check(dict(self.defaults, **params))

    def note(self, params, patch_size):
        """A line for the log about how the term adapts to `patch_size`, or None."""
        return self._note(dict(self.defaults, **params), patch_size) if self._note else None


TERMS = {}


def register(name, **meta):
    """Decorator: add `fn(pred, target, low=None, **params)` to `TERMS` under `name`."""

    def wrap(fn):
        TERMS[name] = Term(fn, name, **meta)
        return TERMS[name]

    return wrap


def _positive(*names):
    def check(params):
        for k in names:
            if not params[k] > 0:
                raise SpecError(f"parameter {k}={params[k]} must be > 0")
    return check


def _gray(x):
    """`[N, H, W, 3]` -> TF's rgb_to_grayscale `[N, H, W, 1]`; one channel passes through."""
    return tf.image.rgb_to_grayscale(x) if x.shape[-1] == 3 else x


@register("l1")
def l1(pred, target, low=None):
    """Mean absolute error: mean |d|, d = pred - target (L1 / MAE; report eq. 1)."""
    return tf.reduce_mean(tf.abs(pred - target))


@register("l2")
def l2(pred, target, low=None):
    """Mean squared error: mean d² (L2 / MSE; report eq. 2; KinD's `loss_square`)."""
    return tf.reduce_mean(tf.square(pred - target))


@register("smooth_l1", check=_positive("beta"))
def smooth_l1(pred, target, low=None, beta=1.0):
    """Smooth L1 (Girshick, Fast R-CNN 2015; torch semantics; report eq. 5):
    mean of 0.5 d² / beta where |d| < beta, else |d| - 0.5 beta."""
    a = tf.abs(pred - target)
    return tf.reduce_mean(tf.where(a < beta, 0.5 * a * a / beta, a - 0.5 * beta))


@register("huber", check=_positive("delta"))
def huber(pred, target, low=None, delta=1.0):
    """Huber loss (Huber 1964; report eq. 6): mean of 0.5 d² where |d| <= delta, else delta (|d| - 0.5 delta)."""
    a = tf.abs(pred - target)
    return tf.reduce_mean(tf.where(a <= delta, 0.5 * a * a, delta * (a - 0.5 * delta)))


@register("charbonnier", check=_positive("eps"))
def charbonnier(pred, target, low=None, eps=1e-3):
    """Charbonnier loss (Charbonnier et al. 1994; LapSRN): mean sqrt(d² + eps²)."""
    d = pred - target
    return tf.reduce_mean(tf.sqrt(d * d + eps * eps))


def global_mean(x):
    """Mean of `x` over every element of the *global* batch, also inside `strategy.run`.

    For terms that are not linear in a mean (log_mse): N replicas all-reduce their sums and
    counts, so each sees the single-device value; the all-reduce's gradient is an all-reduce.
    """
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return tf.reduce_mean(x)
    total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, tf.stack([tf.reduce_sum(x), tf.cast(tf.size(x), x.dtype)]))
    return total[0] / total[1]


@register("log_mse")
def log_mse(pred, target, low=None):
    """log-MSE (report eq. 7): 10 log10(mean d² + 1e-8); the 1e-8 keeps equal images finite."""
    mse = global_mean(tf.square(pred - target))
    return 10.0 * tf.math.log(mse + 1e-8) / math.log(10.0)


@register("ssim", min_size=lambda p: 11)
def ssim_term(pred, target, low=None):
    """SSIM loss (Wang et al. 2004), KinD's: 1 - mean SSIM, Gaussian 11 / sigma 1.5, per channel."""
    return ssim_loss(pred, target)


# Wang, Simoncelli & Bovik 2003, "Multi-scale structural similarity for image quality assessment".
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_MS_SSIM_FLOOR = 1e-6  # contrast terms <= 0 are clamped here: finite powers and zero gradients there


def ms_ssim_scales(size, scales):
    """How many of `scales` MS-SSIM scales a `size`-pixel side allows (each >= 11 px after halving)."""
    n = 0
    while n < scales and size // (2**n) >= 11:
        n += 1
    return n


def _ms_ssim_check(params):
    if not 1 <= params["scales"] <= len(MS_SSIM_WEIGHTS):
        raise SpecError(f"parameter scales={params['scales']} must be 1..{len(MS_SSIM_WEIGHTS)}")


def _ms_ssim_note(params, patch_size):
    used = ms_ssim_scales(patch_size, params["scales"])
    if used < params["scales"]:
        return (f"ms_ssim: a {patch_size}-pixel patch allows {used} of {params['scales']} scales; "
                f"their weights are renormalised to sum to 1")
    return None


@register("ms_ssim", min_size=lambda p: 11, check=_ms_ssim_check, note=_ms_ssim_note)
def ms_ssim(pred, target, low=None, scales=5):
    """MS-SSIM loss (Wang et al. 2003): 1 - mean over images and channels of
    prod_j cs_j^w_j * ssim_M^w_M, Gaussian 11 / 1.5, 2x2 average pooling between scales.

    Uses as many scales as the image allows (each side >= 11 px), with the first weights
    renormalised to sum 1. Per-scale means <= 0 are clamped to 1e-6, so the loss and its
    gradients stay finite where tf.image.ssim_multiscale gives NaN.
    """
    size = min(int(pred.shape[1]), int(pred.shape[2]))
    used = ms_ssim_scales(size, scales)
    weights = tf.constant(MS_SSIM_WEIGHTS[:used], tf.float32)
    weights = weights / tf.reduce_sum(weights)
    x, y, factors = pred, target, []
    for j in range(used):
        l_num, l_den, cs_num, cs_den = ssim_components(x, y)
        cs = cs_num / cs_den
        value = cs if j < used - 1 else (l_num * cs_num) / (l_den * cs_den)
        mean = tf.reduce_mean(value, axis=[1, 2])  # [N, C]: per image and channel
        factors.append(tf.pow(tf.maximum(mean, _MS_SSIM_FLOOR), weights[j]))
        if j < used - 1:
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
            y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
    return 1.0 - tf.reduce_mean(tf.reduce_prod(tf.stack(factors), axis=0))


@register("grad")
def grad_term(pred, target, low=None):
    """KinD's gradient loss: squared difference of the batch-normalised x and y gradients,
    on grayscale for RGB (TF's rgb_to_grayscale weights), as the restoration stage does."""
    return grad_loss(_gray(pred), _gray(target))


@register("tv", min_size=lambda p: 2)
def tv(pred, target=None, low=None):
    """Total variation of pred (Rudin, Osher & Fatemi 1992): mean |x-difference| + mean |y-difference|."""
    dx = pred[:, :, 1:, :] - pred[:, :, :-1, :]
    dy = pred[:, 1:, :, :] - pred[:, :-1, :, :]
    return tf.reduce_mean(tf.abs(dx)) + tf.reduce_mean(tf.abs(dy))


_ANGLE_EPS = 1e-12


@register("color", channels=(3,))
def color(pred, target, low=None):
    """Colour (angle) loss (DSLR; DeepUPE, Wang et al. 2019): mean over pixels of the angle in
    radians between the RGB vectors of pred and target, atan2(|p x t|, p . t).

    0 at equal vectors and where either vector is black (no direction); gradients finite there.
    """
    cross = tf.linalg.cross(pred, target)
    dot = tf.reduce_sum(pred * target, axis=-1)
    cross_sq = tf.reduce_sum(cross * cross, axis=-1)
    # |p x t| through sqrt(c + e²) - e: exactly 0 at parallel vectors with a finite gradient.
    sin_part = tf.sqrt(cross_sq + _ANGLE_EPS**2) - _ANGLE_EPS
    black = (tf.reduce_sum(pred * pred, axis=-1) * tf.reduce_sum(target * target, axis=-1)) <= 0.0
    # atan2(0, 0) has a NaN gradient: feed it (0, 1) at black pixels and mask the result.
    angle = tf.atan2(tf.where(black, tf.zeros_like(sin_part), sin_part), tf.where(black, tf.ones_like(dot), dot))
    return tf.reduce_mean(tf.where(black, tf.zeros_like(angle), angle))


_BINOMIAL5 = (1.0, 4.0, 6.0, 4.0, 1.0)


def _pyramid_blur(x):
    """Separable 5-tap binomial blur [1 4 6 4 1] / 16 with symmetric (edge-including) padding."""
    k = tf.constant(_BINOMIAL5, tf.float32) / 16.0
    c = int(x.shape[-1])
    x = tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    x = tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(k, [5, 1, 1, 1]), [1, 1, c, 1]), [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(x, tf.tile(tf.reshape(k, [1, 5, 1, 1]), [1, 1, c, 1]), [1, 1, 1, 1], "VALID")


def laplacian_pyramid(x, levels):
    """Laplacian pyramid (Burt & Adelson 1983): `levels` tensors, finest first.

    G_0 = x, G_{k+1} = blur(G_k)[::2, ::2]; L_k = G_k - blur(nearest 2x upsample of G_{k+1},
    cropped to G_k's size); the last level is G_{levels-1}.
    """
    out, g = [], x
    for _ in range(levels - 1):
        down = _pyramid_blur(g)[:, ::2, ::2, :]
        up = tf.repeat(tf.repeat(down, 2, axis=1), 2, axis=2)[:, : tf.shape(g)[1], : tf.shape(g)[2], :]
        out.append(g - _pyramid_blur(up))
        g = down
    out.append(g)
    return out


def _levels_check(params):
    if params["levels"] < 1:
        raise SpecError(f"parameter levels={params['levels']} must be >= 1")


@register("laplacian", min_size=lambda p: 2 ** (p["levels"] + 1), check=_levels_check)
def laplacian(pred, target, low=None, levels=3):
    """Laplacian-pyramid L1 (DSLR, Lim & Kim 2020): sum over the levels of mean |L_k(pred) - L_k(target)|."""
    total = None
    for a, b in zip(laplacian_pyramid(pred, levels), laplacian_pyramid(target, levels)):
        term = tf.reduce_mean(tf.abs(a - b))
        total = term if total is None else total + term
    return total


def _region_check(params):
    if not 0 < params["dark_fraction"] < 1:
        raise SpecError(f"parameter dark_fraction={params['dark_fraction']} must be in (0, 1)")
    if params["w_dark"] < 0 or params["w_light"] < 0:
        raise SpecError("parameters w_dark and w_light must be >= 0")


@register("region", needs_low=True, check=_region_check)
def region(pred, target, low=None, dark_fraction=0.4, w_dark=4.0, w_light=1.0):
    """Region loss (MBLLEN, Lv et al. 2018): w_dark * L1 over the dark pixels + w_light * L1 elsewhere.

    Dark pixels: the floor(dark_fraction * H * W) darkest of `low`'s grayscale in each image
    (ties: the lower index first). Each L1 is a mean over its region's elements in the batch.
    """
    shape = tf.shape(low)
    n, hw = shape[0], shape[1] * shape[2]
    gray = tf.reshape(_gray(low), [n, hw])
    k = tf.maximum(1, tf.cast(tf.floor(dark_fraction * tf.cast(hw, tf.float32)), tf.int32))
    # Rank of each pixel in a stable ascending sort (equal values: lower index first).
    rank = tf.argsort(tf.argsort(gray, axis=1, stable=True), axis=1, stable=True)
    dark = tf.reshape(rank < k, [n, shape[1], shape[2], 1])
    err = tf.abs(pred - target)
    mask = tf.cast(tf.broadcast_to(dark, tf.shape(err)), err.dtype)
    dark_mean = tf.reduce_sum(err * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)
    light_mean = tf.reduce_sum(err * (1 - mask)) / tf.maximum(tf.reduce_sum(1 - mask), 1.0)
    return w_dark * dark_mean + w_light * light_mean


def _exposure_check(params):
    if params["patch"] < 1:
        raise SpecError(f"parameter patch={params['patch']} must be >= 1")


@register("exposure", min_size=lambda p: p["patch"], check=_exposure_check)
def exposure(pred, target=None, low=None, level=0.6, patch=16):
    """Exposure control (Zero-DCE, Guo et al. 2020): mean over non-overlapping `patch` x `patch`
    regions of |mean intensity of pred - level|; intensity is the mean over channels."""
    y = tf.nn.avg_pool2d(tf.reduce_mean(pred, axis=-1, keepdims=True), patch, patch, "VALID")
    return tf.reduce_mean(tf.abs(y - level))


@register("spatial_consistency", needs_low=True, min_size=lambda p: 2 * p["pool"],
          check=lambda p: _exposure_check({"patch": p["pool"]}))
def spatial_consistency(pred, target=None, low=None, pool=4):
    """Spatial consistency (Zero-DCE): with Y, I the `pool` x `pool` average intensities of pred
    and low, mean over regions i of sum over its 4-neighbours j of (|Y_i - Y_j| - |I_i - I_j|)²
    (neighbours outside the image do not count)."""
    y = tf.nn.avg_pool2d(tf.reduce_mean(pred, axis=-1, keepdims=True), pool, pool, "VALID")
    i = tf.nn.avg_pool2d(tf.reduce_mean(low, axis=-1, keepdims=True), pool, pool, "VALID")
    dh = tf.abs(y[:, :, 1:] - y[:, :, :-1]) - tf.abs(i[:, :, 1:] - i[:, :, :-1])
    dv = tf.abs(y[:, 1:] - y[:, :-1]) - tf.abs(i[:, 1:] - i[:, :-1])
    # Each neighbour pair is counted from both of its regions.
    regions = tf.cast(tf.size(y), tf.float32)
    return 2.0 * (tf.reduce_sum(dh * dh) + tf.reduce_sum(dv * dv)) / regions


@register("color_constancy", channels=(3,))
def color_constancy(pred, target=None, low=None):
    """Colour constancy (Zero-DCE, Gray-World): mean over images of
    (J_R - J_G)² + (J_R - J_B)² + (J_G - J_B)², J the per-image channel means of pred."""
    j = tf.reduce_mean(pred, axis=[1, 2])  # [N, 3]
    r, g, b = j[:, 0], j[:, 1], j[:, 2]
    return tf.reduce_mean(tf.square(r - g) + tf.square(r - b) + tf.square(g - b))


_VGG_CACHE = {}


def vgg19_features(weights, layer):
    """A frozen VGG19 (ImageNet layout, no top) truncated at `layer`, weights read from a file.

    weights: a Keras VGG19 weights file (e.g. `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`
    or a `.weights.h5`); never downloaded. One model per (file, layer), built on first use.
    """
    if not weights:
        raise SpecError("perceptual needs --vgg_weights=FILE (Keras VGG19 ImageNet weights, e.g. "
                        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is downloaded")
    key = (os.path.abspath(weights), layer)
    if key not in _VGG_CACHE:
        import keras

        vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
        try:
            vgg.load_weights(weights)
        except Exception as err:  # h5py and Keras raise many types for a wrong file
            raise SpecError(f"--vgg_weights={weights}: not VGG19 weights ({err})") from None
        model = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg19_{layer}")
        model.trainable = False
        _VGG_CACHE[key] = model
    return _VGG_CACHE[key]


# VGG19's stages: blockK needs 2^(K-1) pixels to have one after its K-1 poolings.
_VGG_LAYER = re.compile(r"^block([1-5])_conv([1-4])$")


def _perceptual_check(params):
    if not _VGG_LAYER.match(str(params["layer"])):
        raise SpecError(f"parameter layer={params['layer']} is not a VGG19 conv layer (block1_conv1 .. block5_conv4)")
    if params["weights"] and not os.path.isfile(params["weights"]):
        raise SpecError(f"--vgg_weights={params['weights']}: file does not exist")


def _perceptual_min_size(params):
    m = _VGG_LAYER.match(str(params["layer"]))
    return 2 ** (int(m.group(1)) - 1) if m else 1


@register("perceptual", min_size=_perceptual_min_size, check=_perceptual_check)
def perceptual(pred, target, low=None, layer="block5_conv4", weights=None):
    """Perceptual (feature reconstruction) loss (Johnson et al. 2016; report eq. 8): mean squared
    difference of VGG19 `layer` features of pred and target (caffe preprocessing of x * 255;
    one channel is repeated to RGB)."""
    import keras

    net = vgg19_features(weights, layer)

    def features(x):
        x = tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x
        return net(keras.applications.vgg19.preprocess_input(x * 255.0), training=False)

    return tf.reduce_mean(tf.square(features(pred) - features(target)))


# ---- objectives: weighted sums of terms, from a spec string -----------------------------------------

_ITEM = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*(?::\s*(.*?))?\s*$", re.S)


def _split_top_level(text, sep):
    """Split on `sep` outside parentheses."""
    parts, depth, cur = [], 0, ""
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise SpecError(f"unbalanced ')' in {text!r}")
        if ch == sep and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        raise SpecError(f"unbalanced '(' in {text!r}")
    return parts + [cur]


def _number(text, what):
    try:
        value = float(text)
    except ValueError:
        raise SpecError(f"{what}: {text.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise SpecError(f"{what}: {text.strip()!r} is not a finite number")
    return value


def _param_value(term, key, text):
    default = term.defaults[key]
    text = text.strip()
    what = f"{term.name}({key}=...)"
    if isinstance(default, bool) or default is None or isinstance(default, str):
        return text[1:-1] if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else text
    value = _number(text, what)
    if isinstance(default, int):
        if value != int(value):
            raise SpecError(f"{what}: {text!r} must be an integer")
        return int(value)
    return value


def _format_number(x):
    return repr(int(x)) if float(x) == int(x) and abs(x) < 1e15 else repr(float(x))


def parse_spec(text):
    """`"huber(delta=0.5):1,ms_ssim(scales=3):0.16"` -> `[(name, {param: value}, weight)]`.

    A missing weight is 1. Raises SpecError naming the culprit: an unknown term or parameter, a
    bad number, a duplicate term or a negative weight.
    """
    if not text or not text.strip():
        raise SpecError("empty loss spec")
    items, seen = [], set()
    for raw in _split_top_level(text, ","):
        m = _ITEM.match(raw)
        if not m or not raw.strip():
            raise SpecError(f"cannot read {raw.strip()!r}: expected name, name:weight or name(key=value,...):weight")
        name, args, weight_text = m.group(1), m.group(2), m.group(3)
        if name not in TERMS:
            raise SpecError(f"unknown loss term {name!r}; known terms: {', '.join(sorted(TERMS))}")
        if name in seen:
            raise SpecError(f"term {name!r} appears twice")
        seen.add(name)
        term, params = TERMS[name], {}
        for arg in _split_top_level(args, ",") if args and args.strip() else []:
            if "=" not in arg:
                raise SpecError(f"{name}({arg.strip()}): parameters are key=value")
            key, value = (s.strip() for s in arg.split("=", 1))
            if key not in term.defaults:
                known = ", ".join(term.defaults) or "none"
                raise SpecError(f"{name}: unknown parameter {key!r} (parameters: {known})")
            params[key] = _param_value(term, key, value)
        try:
            term.check(params)
        except SpecError as err:
            raise SpecError(f"{name}: {err}") from None
        weight = 1.0 if weight_text is None else _number(weight_text, f"weight of {name}")
        if weight < 0:
            raise SpecError(f"weight of {name}: {weight_text} is negative")
        items.append((name, params, weight))
    return items


def format_spec(items):
    """The canonical spec string of parsed `items` (what config.json and the logs hold)."""
    out = []
    for name, params, weight in items:
        args = ",".join(f"{k}={_format_number(v) if isinstance(v, (int, float)) else v}" for k, v in params.items())
        out.append(f"{name}{f'({args})' if args else ''}:{_format_number(weight)}")
    return ",".join(out)


def component_name(term):
    """Logged name of a term: `loss_<term>`, except KinD's own keep the original's names."""
    return {"l2": "loss_square"}.get(term, f"loss_{term}")


class Objective:
    """A weighted sum of registered terms: `objective(pred, target, low) -> (total, parts)`.

    spec: a spec string (`parse_spec`); total_name: the key of the total in `parts` (the stage's
    original name, e.g. `loss_restoration`). channels: the stage's output channels; patch_size:
    the training patch side (checked against each term's minimum). vgg_weights: the file
    `perceptual` reads unless its spec names one. Every term is computed, weight 0 included (it
    is then logged, not trained); weights of 1 multiply nothing, so the original objectives are
    the same graph as the original's.
    """

    def __init__(self, spec, total_name, channels=3, patch_size=None, vgg_weights=None):
        self.items, written = [], parse_spec(spec)
        for name, params, weight in written:
            term = TERMS[name]
            if name == "perceptual" and not params.get("weights"):
                params = dict(params, weights=vgg_weights)
                if not vgg_weights:
                    raise SpecError("perceptual needs --vgg_weights=FILE (Keras VGG19 ImageNet weights, e.g. "
                                    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is downloaded")
                term.check(params)
            if channels not in term.channels:
                raise SpecError(f"{name} needs {' or '.join(map(str, term.channels))}-channel images; "
                                f"this stage's have {channels}")
            if patch_size is not None and patch_size < term.min_size(params):
                raise SpecError(f"{name} needs patches of at least {term.min_size(params)} px; "
                                f"--patch_size={patch_size} is too small")
            self.items.append((name, params, weight))
        self.total_name, self.patch_size = total_name, patch_size
        self.spec = format_spec(written)  # as written: --vgg_weights is a flag of its own

    def notes(self):
        """Lines to log once: how terms adapt to the patch size."""
        if self.patch_size is None:
            return []
        return [n for n in (TERMS[name].note(p, self.patch_size) for name, p, _ in self.items) if n]

    def build(self):
        """Create what terms hold (the VGG19 of `perceptual`); call under the strategy's scope."""
        for name, params, _ in self.items:
            if name == "perceptual":
                vgg19_features(params["weights"], params.get("layer", TERMS[name].defaults["layer"]))

    def __call__(self, pred, target, low=None):
        parts, total = {}, None
        for name, params, weight in self.items:
            value = TERMS[name](pred, target, low, **params)
            parts[component_name(name)] = value
            if weight == 0:
                continue
            term = value if weight == 1 else weight * value
            total = term if total is None else total + term
        parts[self.total_name] = tf.zeros([]) if total is None else total
        return parts[self.total_name], parts


# The original objectives: `loss_square + loss_grad + loss_ssim` and `loss_square + loss_grad`.
RESTORATION_SPEC = "l2:1,grad:1,ssim:1"
ILLUMINATION_SPEC = "l2:1,grad:1"


def restoration_loss(output_r, input_high_r):
    """Reflectance restoration loss (`loss_restoration`).

    output_r: restored reflectance `[N, H, W, 3]`; input_high_r: target `R_high ** 1.2`, same shape.
    """
    return Objective(RESTORATION_SPEC, "loss_restoration")(output_r, input_high_r)


def illumination_loss(output_i, input_high_i):
    """Illumination adjustment loss (`loss_adjust`); inputs `[N, H, W, 1]`."""
    return Objective(ILLUMINATION_SPEC, "loss_adjust", channels=1)(output_i, input_high_i)


def parse_decomposition_spec(text):
    """Re-weightings of the six decomposition terms, `"equal_R_loss:0.05,..."` -> full weights dict.

    Terms not named keep the original's weight. Raises SpecError naming the culprit.
    """
    weights = dict(DECOMPOSITION_WEIGHTS)
    if text is None:
        return weights
    if not text.strip():
        raise SpecError("empty loss spec")
    seen = set()
    for raw in _split_top_level(text, ","):
        name, sep, value = raw.partition(":")
        name = name.strip()
        if name not in DECOMPOSITION_WEIGHTS:
            raise SpecError(f"the decomposition stage re-weights its own terms only; {name!r} is not one of "
                            f"{', '.join(DECOMPOSITION_WEIGHTS)}")
        if not sep:
            raise SpecError(f"{name}: give a weight, e.g. {name}:{_format_number(DECOMPOSITION_WEIGHTS[name])}")
        if name in seen:
            raise SpecError(f"term {name!r} appears twice")
        seen.add(name)
        weight = _number(value, f"weight of {name}")
        if weight < 0:
            raise SpecError(f"weight of {name}: {value.strip()} is negative")
        weights[name] = weight
    return weights


class DecompositionObjective:
    """KinD's decomposition loss with re-weighted terms: `objective(low, high, R_low, I_low, R_high, I_high)`."""

    def __init__(self, spec=None):
        self.weights = parse_decomposition_spec(spec)
        self.spec = ",".join(f"{k}:{_format_number(v)}" for k, v in self.weights.items())

    def notes(self):
        return []

    def build(self):
        pass

    def __call__(self, input_low, input_high, R_low, I_low, R_high, I_high):
        return decomposition_loss(input_low, input_high, R_low, I_low, R_high, I_high, self.weights)
