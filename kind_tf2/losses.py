"""KinD's three training losses; the only implementation in the package.

Every loss is a mean over the whole (global) batch, as the original's `tf.reduce_mean`, and
`image_ops.gradient` normalises with batch-global extrema, all-reduced across replicas. Each
function returns `(total, {component name: scalar})`.
"""

import tensorflow as tf

from kind_tf2.image_ops import gradient, ssim


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


def decomposition_loss(input_low, input_high, R_low, I_low, R_high, I_high):
    """Layer decomposition loss (`loss_Decom`), term by term as report section 2.3.1.

    input_low, input_high: images `[N, H, W, 3]` in [0, 1]; R_*: `[N, H, W, 3]`; I_*: `[N, H, W, 1]`.
    """
    I_low_3 = tf.concat([I_low, I_low, I_low], axis=3)
    I_high_3 = tf.concat([I_high, I_high, I_high], axis=3)
    # Reconstruction: R * I must give back each input image.
    recon_loss_low = tf.reduce_mean(tf.abs(R_low * I_low_3 - input_low))
    recon_loss_high = tf.reduce_mean(tf.abs(R_high * I_high_3 - input_high))
    # Reflectance similarity: low- and normal-light images share one reflectance.
    equal_R_loss = tf.reduce_mean(tf.abs(R_low - R_high))
    # Mutual consistency of I_low and I_high (paper's L_mc), not mutual information.
    i_mutual_loss = mutual_i_loss(I_low, I_high)
    # Illumination smoothness relative to each input's structure (paper's L_is).
    i_input_mutual_loss_high = mutual_i_input_loss(I_high, input_high)
    i_input_mutual_loss_low = mutual_i_input_loss(I_low, input_low)

    loss_Decom = (
        1 * recon_loss_high + 1 * recon_loss_low
        + 0.01 * equal_R_loss + 0.2 * i_mutual_loss
        + 0.15 * i_input_mutual_loss_high + 0.15 * i_input_mutual_loss_low
    )
    return loss_Decom, {
        "recon_loss_low": recon_loss_low,
        "recon_loss_high": recon_loss_high,
        "equal_R_loss": equal_R_loss,
        "i_mutual_loss": i_mutual_loss,
        "i_input_mutual_loss_high": i_input_mutual_loss_high,
        "i_input_mutual_loss_low": i_input_mutual_loss_low,
        "loss_Decom": loss_Decom,
    }


def grad_loss(output, target):
    """Squared difference of the normalised x and y gradients; inputs `[N, H, W, 1]`."""
    x_loss = tf.square(gradient(output, "x") - gradient(target, "x"))
    y_loss = tf.square(gradient(output, "y") - gradient(target, "y"))
    return tf.reduce_mean(x_loss + y_loss)


def ssim_loss(output_r, input_high_r):
    """1 - mean over R, G, B of the per-channel `tf_ssim`; inputs `[N, H, W, 3]` with H, W >= 11."""
    per_channel = ssim(output_r, input_high_r)
    return 1 - (per_channel[0] + per_channel[1] + per_channel[2]) / 3.0


def restoration_loss(output_r, input_high_r):
    """Reflectance restoration loss (`loss_restoration`).

    output_r: restored reflectance `[N, H, W, 3]`; input_high_r: target `R_high ** 1.2`, same shape.
    """
    loss_square = tf.reduce_mean(tf.square(output_r - input_high_r))
    loss_ssim = ssim_loss(output_r, input_high_r)
    # Gradients of the grayscale images (TF's rgb_to_grayscale weights, as the original).
    loss_grad = grad_loss(tf.image.rgb_to_grayscale(output_r), tf.image.rgb_to_grayscale(input_high_r))
    loss_restoration = loss_square + loss_grad + loss_ssim
    return loss_restoration, {
        "loss_square": loss_square,
        "loss_ssim": loss_ssim,
        "loss_grad": loss_grad,
        "loss_restoration": loss_restoration,
    }


def illumination_loss(output_i, input_high_i):
    """Illumination adjustment loss (`loss_adjust`); inputs `[N, H, W, 1]`."""
    loss_grad = grad_loss(output_i, input_high_i)
    loss_square = tf.reduce_mean(tf.square(output_i - input_high_i))
    loss_adjust = loss_square + loss_grad
    return loss_adjust, {"loss_square": loss_square, "loss_grad": loss_grad, "loss_adjust": loss_adjust}
