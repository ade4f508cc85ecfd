"""Laplacian-pyramid L1 loss."""

import tensorflow as tf

from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register

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
