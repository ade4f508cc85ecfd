"""The anatomy's controlled distortions of a clean image (brightness, gamma, noise, blur, cast, shift, JPEG, low light), in a registry."""

import dataclasses
import io
import math

import numpy as np
from PIL import Image

from kind_tf2.registry import Registry


@dataclasses.dataclass(frozen=True)
class Distortion:
    """A controlled distortion: `apply(clean, level, low, rng) -> distorted`, float `[H, W, 3]` in [0, 1].

    levels: increasing strength; the first is the identity (the clean image itself).
    """

    name: str
    levels: tuple
    unit: str
    apply: object
    needs_low: bool = False


DISTORTIONS = Registry("distortion", field="distortions")


def register_distortion(name, levels, unit, needs_low=False):
    def add(fn):
        DISTORTIONS.add(name, Distortion(name, tuple(levels), unit, fn, needs_low),
                        where=f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return add


@register_distortion("brightness", (1.0, 0.8, 0.6, 0.4, 0.2), "scale")
def _brightness(clean, level, low, rng):
    """x * level: a global exposure error that clips nothing (level <= 1)."""
    return clean * level


@register_distortion("gamma", (1.0, 1.3, 1.7, 2.2, 3.0), "exponent")
def _gamma(clean, level, low, rng):
    """x ** level: darker mid-tones, black and white kept."""
    return clean**level


@register_distortion("noise", (0.0, 0.02, 0.05, 0.1, 0.2), "sigma")
def _noise(clean, level, low, rng):
    """x + N(0, level^2), clipped to [0, 1]: zero-mean sensor noise."""
    return np.clip(clean + rng.normal(0.0, level, clean.shape), 0.0, 1.0) if level else clean


def gaussian_blur(img, sigma):
    """Separable Gaussian blur of `[H, W, C]` with reflected borders; radius ceil(3 sigma)."""
    if sigma <= 0:
        return img
    r = max(1, math.ceil(3 * sigma))
    k = np.exp(-(np.arange(-r, r + 1) ** 2) / (2 * sigma**2))
    k /= k.sum()
    pad = np.pad(img, ((r, r), (r, r), (0, 0)), mode="reflect")
    rows = np.lib.stride_tricks.sliding_window_view(pad, 2 * r + 1, axis=0) @ k  # [H, W + 2r, C]
    return np.lib.stride_tricks.sliding_window_view(rows, 2 * r + 1, axis=1) @ k


@register_distortion("blur", (0.0, 0.7, 1.5, 3.0, 5.0), "sigma px")
def _blur(clean, level, low, rng):
    """Gaussian blur of standard deviation `level` pixels: lost detail, kept brightness and colour."""
    return gaussian_blur(clean, level)


@register_distortion("cast", (0.0, 0.05, 0.1, 0.2, 0.35), "shift")
def _cast(clean, level, low, rng):
    """R * (1 + level), B * (1 - level), clipped: a warm colour cast."""
    return np.clip(clean * np.array([1.0 + level, 1.0, 1.0 - level]), 0.0, 1.0)


@register_distortion("shift", (0, 1, 2, 3, 4), "px")
def _shift(clean, level, low, rng):
    """The image moved right and down by `level` pixels, the border repeated: a misalignment."""
    if not level:
        return clean
    pad = np.pad(clean, ((level, 0), (level, 0), (0, 0)), mode="edge")
    return pad[: clean.shape[0], : clean.shape[1]]


@register_distortion("jpeg", (100, 80, 50, 25, 10), "quality")
def _jpeg(clean, level, low, rng):
    """JPEG at quality `level` (100: the clean image): blocking and ringing."""
    if level >= 100:
        return clean
    buf = io.BytesIO()
    Image.fromarray(np.rint(clean * 255).astype(np.uint8)).save(buf, "jpeg", quality=int(level))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), np.float64) / 255.0


@register_distortion("lowlight", (0.0, 0.25, 0.5, 0.75, 1.0), "mix", needs_low=True)
def _lowlight(clean, level, low, rng):
    """(1 - level) x + level m: m the paired low-light image scaled to the clean image's mean (clipped):
    the low-light degradation itself (noise, colour, lost detail), its darkness taken out."""
    matched = np.clip(low * (clean.mean() / max(low.mean(), 1e-6)), 0.0, 1.0)
    return (1.0 - level) * clean + level * matched
