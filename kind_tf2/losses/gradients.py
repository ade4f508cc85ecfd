"""Gradient losses: KinD's gradient loss and total variation."""

import tensorflow as tf

from kind_tf2.image_ops import gradient
from kind_tf2.losses.terms import register


def _gray(x):
    """`[N, H, W, 3]` -> TF's rgb_to_grayscale `[N, H, W, 1]`; one channel passes through."""
    return tf.image.rgb_to_grayscale(x) if x.shape[-1] == 3 else x


def grad_loss(output, target):
    """Squared difference of the normalised x and y gradients; inputs `[N, H, W, 1]`."""
    x_loss = tf.square(gradient(output, "x") - gradient(target, "x"))
    y_loss = tf.square(gradient(output, "y") - gradient(target, "y"))
    return tf.reduce_mean(x_loss + y_loss)


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
