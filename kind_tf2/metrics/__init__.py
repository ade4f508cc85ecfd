"""Image quality metrics, one concept a module: full-reference (PSNR, SSIM, LOE), colour (CIEDE2000), no-reference (NIQE, BRISQUE)."""

from kind_tf2.metrics.brisque import brisque
from kind_tf2.metrics.catalog import METRICS, Metric, score
from kind_tf2.metrics.color import ciede2000
from kind_tf2.metrics.full_reference import (
    MATLAB_GRAY_WEIGHTS,
    PAPER_ANCHOR,
    evaluate_pair,
    gaussian_window_1d,
    gt_mean_align,
    loe,
    psnr,
    ssim_channel,
    ssim_gray,
    ssim_rgb,
    to_gray,
)
from kind_tf2.metrics.niqe import niqe

__all__ = ["METRICS", "MATLAB_GRAY_WEIGHTS", "Metric", "PAPER_ANCHOR", "brisque", "ciede2000", "evaluate_pair",
           "gaussian_window_1d", "gt_mean_align", "loe", "niqe", "psnr", "score", "ssim_channel", "ssim_gray",
           "ssim_rgb", "to_gray"]
