"""KinD's three original objectives: layer decomposition, illumination adjustment, reflectance restoration."""

import tensorflow as tf

from kind_tf2.image_ops import gradient
from kind_tf2.losses.objective import Objective
from kind_tf2.losses.spec import SpecError, _format_number, _number, _split_top_level


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
    """Layer decomposition loss (`loss_Decom`), term by term as report section 2.3.1:

        loss_Decom = |R_high I_high - S_high| + |R_low I_low - S_low| + 0.01 |R_low - R_high|
                     + 0.2 L_mc(I_low, I_high) + 0.15 L_is(I_high, S_high) + 0.15 L_is(I_low, S_low)

    with S the input images, |.| a mean absolute value, L_mc `mutual_i_loss`, L_is `mutual_i_input_loss`.
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


# The original objectives: `loss_square + loss_grad + loss_ssim` and `loss_square + loss_grad`.
RESTORATION_SPEC = "l2:1,grad:1,ssim:1"
ILLUMINATION_SPEC = "l2:1,grad:1"


def restoration_loss(output_r, input_high_r):
    """Reflectance restoration loss (`loss_restoration`): mean (R - R_t)² + grad(R, R_t) + 1 - SSIM(R, R_t),
    the original's `loss_square + loss_grad + loss_ssim` (terms `l2`, `grad` on grayscale, `ssim`).

    output_r: restored reflectance `[N, H, W, 3]`; input_high_r: target `R_high ** 1.2`, same shape.
    """
    return Objective(RESTORATION_SPEC, "loss_restoration")(output_r, input_high_r)


def illumination_loss(output_i, input_high_i):
    """Illumination adjustment loss (`loss_adjust`): mean (I - I_t)² + grad(I, I_t), the original's
    `loss_square + loss_grad`; inputs `[N, H, W, 1]`."""
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
