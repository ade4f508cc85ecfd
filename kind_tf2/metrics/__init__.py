"""Image quality metrics, one concept a module: full-reference (PSNR, SSIM, LOE), colour (CIEDE2000), no-reference (NIQE, BRISQUE)."""

# The functions niqe and brisque live in modules of other names (naturalness, spatial_quality), so
# that `kind_tf2.metrics.niqe` is the function and the modules stay importable.
from kind_tf2.metrics.catalog import METRICS, Metric, evaluate_pair, score
from kind_tf2.metrics.color import ciede2000
from kind_tf2.metrics.full_reference import (
    MATLAB_GRAY_WEIGHTS,
    PAPER_ANCHOR,
    gaussian_window_1d,
    gt_mean_align,
    loe,
    psnr,
    ssim_channel,
    ssim_gray,
    ssim_rgb,
    to_gray,
)
from kind_tf2.metrics.naturalness import niqe
from kind_tf2.metrics.spatial_quality import brisque

__all__ = ["METRICS", "MATLAB_GRAY_WEIGHTS", "Metric", "PAPER_ANCHOR", "brisque", "ciede2000", "evaluate_pair",
           "gaussian_window_1d", "gt_mean_align", "loe", "niqe", "psnr", "score", "ssim_channel", "ssim_gray",
           "ssim_rgb", "to_gray"]
