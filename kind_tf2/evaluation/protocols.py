"""Evaluation protocols: how an image is enhanced for scoring (fixed_ratio, gt_ratio, gt_mean), in a registry."""

import dataclasses

import numpy as np

from kind_tf2 import errors, image_ops, metrics
from kind_tf2.registry import Registry


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One evaluation protocol; `enhance` gives the image that is saved and scored."""

    name: str
    description: str
    needs_gt: bool
    # enhance(kind, x, high, gt, ratio, **options) -> uint8 [H, W, 3]. x, high: float32 [1, H, W, 3]
    # in [0, 1] (stretched as load_images; high None without ground truth); gt: the stored ground
    # truth, uint8 [H, W, 3] or None; ratio: the config's ratio; options: passed on to KinD.enhance (tile, progress).
    enhance: object


PROTOCOLS = Registry("protocol", field="protocol")


def register_protocol(name, description, needs_gt):
    """Decorator adding an `enhance` function to `PROTOCOLS` under `name` (a name taken twice is an error)."""

    def add(fn):
        PROTOCOLS.add(name, Protocol(name, description, needs_gt, fn), where=f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return add


@register_protocol("fixed_ratio", "fixed ratio (evaluate.py: constant ratio map, denoise weight, fusion with "
                   "the input)", needs_gt=False)
def _fixed_ratio(kind, x, high, gt, ratio, **options):
    return image_ops.to_uint8(kind.enhance(x, ratio=ratio, **options)[0]).numpy()


@register_protocol("gt_ratio", "ratio from the ground truth (evaluate_LOLdataset.py, 'KinD align': ratio = "
                   "mean(I_high / (I_low + 1e-4)), output R_hat * L_hat)", needs_gt=True)
def _gt_ratio(kind, x, high, gt, ratio, **options):
    return image_ops.to_uint8(kind.enhance(x, high=high, **options)[0]).numpy()


@register_protocol("gt_mean", "GT-mean: the fixed-ratio output scaled so that its mean grey level equals the "
                   "ground truth's, rounded to uint8 (as Retinexformer, LLFlow, PyDiff report)", needs_gt=True)
def _gt_mean(kind, x, high, gt, ratio, **options):
    out = np.clip(np.asarray(kind.enhance(x, ratio=ratio, **options)[0], np.float64) * 255.0, 0.0, 255.0)
    return np.rint(metrics.gt_mean_align(out, gt)).astype(np.uint8)


def resolve_protocol(name, high_dir):
    """The protocol `protocol=name` means (`auto`: gt_ratio with ground truth, else fixed_ratio)."""
    if name == "auto":
        return "gt_ratio" if high_dir else "fixed_ratio"
    if name not in PROTOCOLS:
        raise errors.ConfigError(f"protocol={name}: expected auto or one of {', '.join(PROTOCOLS)}", fields=("protocol",))
    if PROTOCOLS[name].needs_gt and not high_dir:
        raise errors.ConfigError(f"protocol={name} needs high_dir (the ground-truth folder)",
                                 fields=("protocol", "high_dir"))
    return name


def anchor_line(protocol):
    """The paper's figures, and whether they were measured under `protocol`."""
    a = metrics.PAPER_ANCHOR
    same = "" if protocol == a["protocol"] else f"; measured under {a['protocol']}, not comparable with {protocol}"
    return (f"paper anchor ({a['method']}, {a['dataset']}, ratio from the ground truth{same}): "
            f"PSNR {a['psnr']:.2f} dB, SSIM {a['ssim']:.4f}")
