"""Pixel-wise losses: L1, L2, smooth L1, Huber, Charbonnier and log-MSE."""

import math

import tensorflow as tf

from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register


def _positive(*names):
    def check(params):
        for k in names:
            if not params[k] > 0:
                raise SpecError(f"parameter {k}={params[k]} must be > 0")
    return check


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
