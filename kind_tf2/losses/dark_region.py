"""MBLLEN's region loss: the darkest pixels of the input weighted apart from the rest."""

import tensorflow as tf

from kind_tf2.losses.gradients import _gray
from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register


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
