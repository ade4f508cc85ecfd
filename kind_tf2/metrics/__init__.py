"""Image quality metrics: full-reference (PSNR, SSIM, LOE) and, by concept, one module each."""

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

__all__ = ["MATLAB_GRAY_WEIGHTS", "PAPER_ANCHOR", "evaluate_pair", "gaussian_window_1d", "gt_mean_align", "loe",
           "psnr", "ssim_channel", "ssim_gray", "ssim_rgb", "to_gray"]
