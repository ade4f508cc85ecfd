"""Image maths of the original `utils.py` and `evaluate.py`, in TensorFlow (files: `image_io`)."""

import numpy as np
import tensorflow as tf

# skimage.color.rgb2gray weights (ITU-R BT.709), used by evaluate.py's denoise weight.
SKIMAGE_GRAY_WEIGHTS = (0.2125, 0.7154, 0.0721)


def stretch(img):
    """Per-image min-max stretch of the original `load_images`.

    img: float32 `[H, W, C]` (or any rank) in [0, 1]. Returns `(img - min) / max(max - min, 0.001)`
    over the whole array, float32. A constant image maps to 0 (the original's quirk, kept).
    """
    img = tf.convert_to_tensor(img, tf.float32)
    lo = tf.reduce_min(img)
    hi = tf.reduce_max(img)
    return (img - lo) / tf.maximum(hi - lo, 0.001)


def stretch_parameters(pixels):
    """`(lo, range)` float32 of `stretch` for 8-bit `pixels`: stretch(pixels / 255) == (pixels / 255 - lo) / range.

    Division by 255 keeps the order of values, so the stretch's min and max are those of the
    integers, divided: the same float32 numbers `stretch` computes.
    """
    lo = np.float32(pixels.min()) / np.float32(255)
    hi = np.float32(pixels.max()) / np.float32(255)
    return np.array([lo, np.maximum(hi - lo, np.float32(0.001))], np.float32)


def to_uint8(img):
    """The original `save_images` quantisation: `clip(x * 255, 0, 255)` truncated (not rounded)."""
    img = tf.convert_to_tensor(img)
    return tf.cast(tf.clip_by_value(img * 255.0, 0.0, 255.0), tf.uint8)


def augment(image, mode):
    """The original `data_augmentation`: mode 0..7 = rot90 by k = mode // 2, then flipud if mode is odd.

    image: `[H, W, C]` tensor; mode: int or scalar int tensor. Shape `[H, W]` swaps for odd k.
    """
    mode = tf.convert_to_tensor(mode, tf.int32)
    image = tf.convert_to_tensor(image)

    def branch(k, flip):
        def fn():
            out = tf.image.rot90(image, k) if k else image  # counter-clockwise, as np.rot90
            return tf.reverse(out, axis=[0]) if flip else out
        return fn

    return tf.switch_case(mode, [branch(m // 2, m % 2) for m in range(8)])


def _abs_diff_map(x, direction):
    # The original 2x2 kernel [[0, 0], [-1, 1]] (transposed for y), SAME padding.
    kx = tf.reshape(tf.constant([[0.0, 0.0], [-1.0, 1.0]], tf.float32), [2, 2, 1, 1])
    kernel = {"x": kx, "y": tf.transpose(kx, [1, 0, 2, 3])}[direction]
    return tf.abs(tf.nn.conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME"))


def global_min_max(t):
    """Min and max of a tensor over the whole *global* batch.

    Inside `strategy.run` with several replicas the per-replica extrema are all-gathered, so N
    replicas see the single-device values; the all-gather's gradient sums the replicas'
    upstream gradients back to the replica that holds the extremum, as one device would.
    """
    lo, hi = tf.reduce_min(t), tf.reduce_max(t)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        both = ctx.all_gather(tf.stack([-lo, hi])[None], axis=0)  # [replicas, 2]
        ext = tf.reduce_max(both, axis=0)
        lo, hi = -ext[0], ext[1]
    return lo, hi


def gradient(x, direction):
    """The original `gradient`: |2x2 finite difference|, min-max normalised over the whole batch.

    x: `[N, H, W, 1]` float32. direction: "x" or "y". Returns `[N, H, W, 1]` in [0, 1), normalised
    with the min and max of the *whole batch tensor* (+1e-4), not per image: the original's quirk.
    """
    g = _abs_diff_map(x, direction)
    lo, hi = global_min_max(g)
    return (g - lo) / (hi - lo + 0.0001)


def _fspecial_gauss(size, sigma):
    # MATLAB fspecial('gaussian'): grid -size//2+1 .. size//2, normalised to sum 1; float32.
    xs, ys = np.mgrid[-size // 2 + 1 : size // 2 + 1, -size // 2 + 1 : size // 2 + 1]
    x = tf.constant(xs[:, :, None, None], tf.float32)
    y = tf.constant(ys[:, :, None, None], tf.float32)
    g = tf.exp(-((x**2 + y**2) / (2.0 * sigma**2)))
    return g / tf.reduce_sum(g)


def ssim_components(img1, img2, size=11, sigma=1.5):
    """The four factors of the per-pixel SSIM map of the original `tf_ssim`.

    img1, img2: `[N, H, W, C]` float32 with L = 1; Gaussian `size`x`size` window per channel,
    VALID convolution (H, W >= size). Returns `(l_num, l_den, cs_num, cs_den)`, each
    `[N, H - size + 1, W - size + 1, C]`: SSIM = (l_num * cs_num) / (l_den * cs_den) and the
    contrast-structure term of MS-SSIM is cs_num / cs_den.
    """
    channels = img1.shape[-1]
    window = _fspecial_gauss(size, sigma)
    # C1, C2 enter as PlaceholderWithDefault, not Const: grappler's constant push-down would
    # otherwise reassociate `(a + b) + C` in a traced function, while the original's training
    # graph sums as written (its step losses are matched only this way).
    c1, c2 = (tf.raw_ops.PlaceholderWithDefault(input=tf.constant(c, tf.float32), shape=[])
              for c in (0.01**2, 0.03**2))

    def blur(t):
        # The channels go into the batch of one single-channel conv2d: the original convolves each
        # channel with its own conv2d, and a depthwise convolution sums in another order (1e-6
        # relative per pixel), which Adam turned into 1e-4 differences of weight updates on AVX2.
        shape = tf.shape(t)
        stacked = tf.reshape(tf.transpose(t, [3, 0, 1, 2]), [-1, shape[1], shape[2], 1])
        out = tf.nn.conv2d(stacked, window, strides=[1, 1, 1, 1], padding="VALID")
        out_shape = tf.shape(out)
        return tf.transpose(tf.reshape(out, [channels, shape[0], out_shape[1], out_shape[2]]), [1, 2, 3, 0])

    mu1, mu2 = blur(img1), blur(img2)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = blur(img1 * img1) - mu1_sq
    sigma2_sq = blur(img2 * img2) - mu2_sq
    sigma12 = blur(img1 * img2) - mu1_mu2
    return 2 * mu1_mu2 + c1, mu1_sq + mu2_sq + c1, 2 * sigma12 + c2, sigma1_sq + sigma2_sq + c2


def ssim(img1, img2, size=11, sigma=1.5):
    """The original `tf_ssim`, one value per channel.

    img1, img2: `[N, H, W, C]` float32 with L = 1 (values in [0, 1]); Gaussian `size`x`size`
    window, VALID convolution (so H, W >= size). Returns `[C]`: channel c is the original's
    `tf_ssim(img1[..., c:c+1], img2[..., c:c+1])`, the mean SSIM over the batch.
    """
    l_num, l_den, cs_num, cs_den = ssim_components(img1, img2, size, sigma)
    value = (l_num * cs_num) / (l_den * cs_den)
    return tf.stack([tf.reduce_mean(value[..., c]) for c in range(img1.shape[-1])])


def rgb_to_gray_skimage(rgb):
    """skimage `rgb2gray`: `[..., 3]` -> `[...]`, weights 0.2125 / 0.7154 / 0.0721, same dtype."""
    rgb = tf.convert_to_tensor(rgb)
    return tf.tensordot(rgb, tf.constant(SKIMAGE_GRAY_WEIGHTS, rgb.dtype), axes=[[-1], [0]])


def _gaussian_kernel1d(sigma, truncate):
    # scipy.ndimage's kernel: radius int(truncate * sigma + 0.5), exp(-x^2 / (2 sigma^2)), sum 1.
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    phi = np.exp(-0.5 / float(sigma) ** 2 * x**2)
    return phi / phi.sum(), radius


def gaussian_blur_nearest(img, sigma=3.0, truncate=4.0, accumulate=tf.float64):
    """skimage `filters.gaussian(img, sigma)` on 2-D float images (scipy `gaussian_filter`).

    img: `[H, W]` or `[N, H, W]` float32, any H, W >= 1. Edge mode 'nearest' (edge pixels
    repeated), separable: rows then columns, each accumulated in float64 and stored as float32
    between passes, as scipy does for a float32 array. Returns float32 of the input's shape.
    accumulate: tf.float32 for runtimes without float64 kernels (TFLite); about 1e-7 from scipy.
    """
    weights, radius = _gaussian_kernel1d(sigma, truncate)
    kernel = tf.reshape(tf.constant(weights, accumulate), [-1, 1, 1])
    img = tf.convert_to_tensor(img, tf.float32)
    out = img[None] if img.shape.rank == 2 else img
    for axis in (1, 2):
        n = tf.shape(out)[axis]
        idx = tf.clip_by_value(tf.range(-radius, n + radius), 0, n - 1)  # 'nearest' padding
        padded = tf.cast(tf.gather(out, idx, axis=axis), accumulate)
        lines = padded if axis == 2 else tf.transpose(padded, [0, 2, 1])  # filter the last axis
        shape = tf.shape(lines)
        acc = tf.nn.conv1d(tf.reshape(lines, [-1, shape[2], 1]), kernel, 1, "VALID")
        acc = tf.reshape(acc, [shape[0], shape[1], -1])
        acc = acc if axis == 2 else tf.transpose(acc, [0, 2, 1])
        out = tf.cast(acc, tf.float32)
    return out[0] if img.shape.rank == 2 else out


def denoise_weight(r, accumulate=tf.float64):
    """evaluate.py's weight on the restored reflectance: `min(sqrt(2 * gaussian(rgb2gray(R), 3)), 1)`.

    r: reflectance `[H, W, 3]` or `[N, H, W, 3]` float32 in [0, 1]. Returns `[H, W]` or `[N, H, W]`
    float32 in [0, 1]. accumulate: see `gaussian_blur_nearest`.
    """
    g = gaussian_blur_nearest(rgb_to_gray_skimage(tf.convert_to_tensor(r, tf.float32)), 3.0, accumulate=accumulate)
    return tf.minimum(tf.sqrt(g * 2.0), 1.0)


def fuse_with_input(x, i_low, r_restored, weight, i_adjusted):
    """evaluate.py's `fusion2`: `I * x + (1 - I) * (R_hat * w * L_hat)`; avoids over-exposure.

    x: input `[N, H, W, 3]`; i_low: DecomNet I `[N, H, W, 1]`; r_restored: `[N, H, W, 3]`;
    weight: denoise weight `[N, H, W, 1]`; i_adjusted: `[N, H, W, 1]`. Same order of products as
    the original, for bit-level parity.
    """
    enhanced = r_restored * weight * i_adjusted
    return i_low * x + (1.0 - i_low) * enhanced
