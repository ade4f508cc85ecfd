"""Zero-DCE's no-reference terms: exposure control, spatial consistency and colour constancy."""

import tensorflow as tf

from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register


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
