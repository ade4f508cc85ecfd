"""Every metric by name (`METRICS`): what it measures, which way is better, what it matches; `score` runs a selection."""

import dataclasses
import math

from kind_tf2 import errors
from kind_tf2.metrics import color, full_reference, naturalness, spatial_quality
from kind_tf2.registry import Registry


@dataclasses.dataclass(frozen=True)
class Metric:
    """One registered metric.

    fn: `fn(img, ref)` for a full-reference metric, `fn(img)` for a no-reference one; uint8 RGB
    `[H, W, 3]` in, a Python float out.
    """

    name: str
    fn: object
    reference: bool  # needs the ground truth
    higher_is_better: bool
    header: str  # column header in tables
    decimals: int
    measures: str  # one line: what it measures
    matches: str  # the reference implementation it matches, and how closely


METRICS = Registry("metric", field="metrics")


def register_metric(name, **meta):
    """Decorator: add `fn` to METRICS as a Metric called `name` (a name taken twice is an error)."""

    def add(fn):
        METRICS.add(name, Metric(name, fn, **meta), where=f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return add


def _small(img, side=11):
    return min(img.shape[:2]) < side


@register_metric("psnr", reference=True, higher_is_better=True, header="PSNR dB", decimals=3,
                 measures="pixel fidelity: 10 log10(255^2 / MSE) over all RGB values",
                 matches="scikit-image peak_signal_noise_ratio (data_range 255): 1e-9")
def _psnr(img, ref):
    return full_reference.psnr(img, ref)


@register_metric("ssim_rgb", reference=True, higher_is_better=True, header="SSIM rgb", decimals=4,
                 measures="structural similarity, Gaussian 11x11 window (sigma 1.5), per RGB channel, averaged",
                 matches="ssim_index.m's formula as an explicit window loop: 1e-10; scikit-image structural_similarity "
                         "(gaussian_weights, sigma 1.5, population covariance): 1e-9")
def _ssim_rgb(img, ref):
    return float("nan") if _small(img) else full_reference.ssim_rgb(img, ref)


@register_metric("ssim_gray", reference=True, higher_is_better=True, header="SSIM gray", decimals=4,
                 measures="the same SSIM on MATLAB rgb2gray luma",
                 matches="the window loop on rgb2gray's weights: 1e-10")
def _ssim_gray(img, ref):
    return float("nan") if _small(img) else full_reference.ssim_gray(img, ref)


@register_metric("loe", reference=True, higher_is_better=False, header="LOE", decimals=1,
                 measures="lightness order error (NPE, Wang et al. 2013): naturalness of the brightness order",
                 matches="order flips counted by hand (tests); subsampled to about 50 px on the short side as the "
                         "common implementations")
def _loe(img, ref):
    return full_reference.loe(img, ref)


@register_metric("ciede2000", reference=True, higher_is_better=False, header="dE2000", decimals=3,
                 measures="colour error: mean CIEDE2000 over pixels in CIE L*a*b* (sRGB, D65)",
                 matches="scikit-image deltaE_ciede2000(rgb2lab): 1e-6; Sharma et al. 2005's 34 pairs: 5e-5")
def _ciede2000(img, ref):
    return color.ciede2000(img, ref)


@register_metric("niqe", reference=False, higher_is_better=False, header="NIQE", decimals=3,
                 measures="no-reference naturalness: distance of the image's NSS statistics to pristine images",
                 matches="the authors' MATLAB release (computequality.m, its pristine model): see README")
def _niqe(img):
    return naturalness.niqe(img)


@register_metric("brisque", reference=False, higher_is_better=False, header="BRISQUE", decimals=3,
                 measures="no-reference quality: an SVR on NSS features, trained on LIVE (0 best, ~100 worst)",
                 matches="the authors' MATLAB release (brisquescore.m, its LIVE model): see README")
def _brisque(img):
    return spatial_quality.brisque(img)


# With ground truth: the paper's table (PSNR, SSIM, LOE), the colour error, and NIQE and BRISQUE of
# the output, which are cheap: about 0.06 s a 600x400 image on one core, 5 % of its enhancement
# (benchmarks/nr_metrics.py). Without ground truth the no-reference ones are all there is to score.
DEFAULT_PAIRED = ("psnr", "ssim_rgb", "ssim_gray", "loe", "ciede2000", "niqe", "brisque")
DEFAULT_UNPAIRED = ("niqe", "brisque")


def parse_metrics(value, paired):
    """`metrics` ("psnr,niqe", "default" or "default,niqe,brisque") -> metric names, each once, in order.

    `default` stands for DEFAULT_PAIRED with ground truth, DEFAULT_UNPAIRED without. ConfigError naming
    the field when a name is unknown, or a full-reference metric is asked for without ground truth.
    """
    default = DEFAULT_PAIRED if paired else DEFAULT_UNPAIRED
    if value in (None, ""):
        return default
    names = []
    for n in (n.strip() for n in value.split(",")):
        for name in (default if n == "default" else (n,) if n else ()):
            if name not in METRICS:
                raise errors.RegistryError(f"metrics={n}: expected default or one of {', '.join(METRICS)}",
                                           fields=("metrics",))
            if name not in names:
                names.append(name)
    names = tuple(names)
    if not names:
        raise errors.ConfigError(f"metrics={value}: name at least one of {', '.join(METRICS)}", fields=("metrics",))
    needing = [n for n in names if METRICS[n].reference]
    if needing and not paired:
        raise errors.ConfigError(f"metrics={value}: {', '.join(needing)} need(s) the ground truth (high_dir)",
                                 fields=("metrics", "high_dir"))
    return names


def score(names, img, ref=None, inp=None, unscored=None):
    """`{name: value}` of each metric in `names` for `img` (uint8 RGB); full-reference ones against `ref`.

    inp: the input image, also scored by the no-reference metrics as `<name>_input` (how much the
    enhancement changed its quality). A metric that cannot score an image (too small for NIQE's
    blocks, a flat image) raises DataError naming the size; with `unscored(column, error)` given,
    that value is NaN instead (left out of means) and `unscored` says why.
    """
    jobs = [(n, img) for n in names]
    if inp is not None:
        jobs += [(f"{n}_input", inp) for n in names if not METRICS[n].reference]
    out = {}
    for column, image in jobs:
        m = describe(column)
        try:
            out[column] = m.fn(image, ref) if m.reference else m.fn(image)
        except errors.DataError as err:
            if unscored is None:
                raise
            unscored(column, err)
            out[column] = float("nan")
    return out


def evaluate_pair(img, ref):
    """PSNR, SSIM (rgb, gray) and LOE of one enhanced image against its ground truth, as a dict.

    img, ref: uint8 `[H, W, 3]` (the saved PNG and the ground-truth file). SSIM is NaN for images
    smaller than the 11x11 window (the registered metrics' rule).
    """
    return score(("psnr", "ssim_rgb", "ssim_gray", "loe"), img, ref)


def describe(column):
    """The Metric of a result column (`niqe_input` -> niqe)."""
    return METRICS[column[: -len("_input")] if column.endswith("_input") else column]


def fmt(column, value):
    """A value as its metric prints it (NaN and inf as words)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return str(value)
    return f"{value:.{describe(column).decimals}f}"
