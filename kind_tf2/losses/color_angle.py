"""Colour angle loss: the angle between the RGB vectors of prediction and target."""

import tensorflow as tf

from kind_tf2.losses.terms import register

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
