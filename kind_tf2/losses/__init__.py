"""Every training loss of the package: KinD's three objectives and the registry of survey loss terms."""

# Every loss is a mean over the whole (global) batch, as the original's `tf.reduce_mean`, and
# `image_ops.gradient` normalises with batch-global extrema, all-reduced across replicas. The
# objectives return `(total, {component name: scalar})`.

# The term modules are imported first and in this order: it is `TERMS`' order, the order in which
# messages list the terms ("expected one of l1, l2, ...").
from kind_tf2.losses.color_angle import color
from kind_tf2.losses.dark_region import region
from kind_tf2.losses.gradients import grad_loss, grad_term, tv
from kind_tf2.losses.kind import (
    DECOMPOSITION_WEIGHTS,
    ILLUMINATION_SPEC,
    RESTORATION_SPEC,
    DecompositionObjective,
    decomposition_loss,
    illumination_loss,
    mutual_i_input_loss,
    mutual_i_loss,
    parse_decomposition_spec,
    restoration_loss,
)
from kind_tf2.losses.objective import Objective, component_name
from kind_tf2.losses.pixel import charbonnier, global_mean, huber, l1, l2, log_mse, smooth_l1
from kind_tf2.losses.pyramid import laplacian, laplacian_pyramid
from kind_tf2.losses.spec import SpecError, format_spec, parse_spec
from kind_tf2.losses.structure import MS_SSIM_WEIGHTS, ms_ssim, ms_ssim_scales, ssim_loss, ssim_term
from kind_tf2.losses.terms import TERMS, Term, register
from kind_tf2.losses.vgg import perceptual, vgg19_features
from kind_tf2.losses.zero_reference import color_constancy, exposure, spatial_consistency
