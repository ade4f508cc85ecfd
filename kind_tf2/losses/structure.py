"""Structural-similarity losses: KinD's SSIM loss and MS-SSIM."""

import tensorflow as tf

from kind_tf2.image_ops import ssim, ssim_components
from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register


def ssim_loss(output_r, input_high_r):
    """1 - mean over channels of the per-channel `tf_ssim`; inputs `[N, H, W, C]` with H, W >= 11.

    For C = 3 this is the original's `1 - (ssim_r + ssim_g + ssim_b) / 3`, summed in that order.
    """
    per_channel = ssim(output_r, input_high_r)
    total = per_channel[0]
    for c in range(1, int(output_r.shape[-1])):
        total = total + per_channel[c]
    return 1 - total / float(output_r.shape[-1])


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
