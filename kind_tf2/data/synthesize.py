"""Synthetic LOL-layout data (no downloads): `synthesize(out, ...)`, the `synthesize` command.

Normal-light scenes are procedural (smooth colour gradients, textured shapes); low-light
versions follow the simulations of LLNet (gamma darkening plus Gaussian noise) and MBLLEN
(gamma plus Poisson shot noise): low = clip(Poisson(peak * s * high ** gamma) / peak + N(0, sigma)).
"""

import os

import numpy as np
from PIL import Image

from kind_tf2 import errors


def scene(rng, height, width, full_range=False):
    """A normal-light RGB scene, float64 `[H, W, 3]` in [0, 1].

    full_range: stretch it to span exactly [0, 1], as KinD's input normalisation (a per-image
    min-max stretch) would; its ground truth then equals what the network sees.
    """
    yy, xx = np.mgrid[0:height, 0:width] / np.array([max(height - 1, 1), max(width - 1, 1)])[:, None, None]
    c0, c1, c2 = rng.uniform(0.3, 1.0, (3, 3))
    img = c0 * (1 - xx[..., None]) + c1 * xx[..., None]
    img = 0.6 * img + 0.4 * (c2 * yy[..., None])
    for _ in range(rng.integers(3, 8)):
        colour = rng.uniform(0.1, 1.0, 3)
        cy, cx = rng.uniform(0, 1, 2)
        ry, rx = rng.uniform(0.08, 0.35, 2)
        if rng.random() < 0.5:
            mask = (np.abs(yy - cy) < ry) & (np.abs(xx - cx) < rx)
        else:
            mask = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        freq = rng.uniform(4, 30)
        texture = 0.85 + 0.15 * np.sin(2 * np.pi * freq * (xx * np.cos(freq) + yy * np.sin(freq)))
        img[mask] = (colour * texture[..., None])[mask]
    img = np.clip(img, 0, 1)
    if full_range:
        img = (img - img.min()) / max(img.max() - img.min(), 1e-6)
    return img


# The darkening of the `synthesize` command: strong, as LLNet / MBLLEN simulate it.
DARKENING = {"gamma": (2.0, 4.0), "exposure": (0.3, 0.7), "peak": (200.0, 800.0), "read_noise": (0.002, 0.01)}


def darken(rng, high, gamma=(2.0, 4.0), exposure=(0.3, 0.7), peak=(200.0, 800.0), read_noise=(0.002, 0.01)):
    """Low-light version of a scene; each argument is the (low, high) range a value is drawn from.

    gamma: darkening exponent; exposure: scale after it; peak: photons at full scale (lower =
    more shot noise); read_noise: sigma of the additive Gaussian noise.
    """
    g, scale = rng.uniform(*gamma), rng.uniform(*exposure)
    photons = rng.uniform(*peak)
    clean = scale * high**g
    noisy = rng.poisson(clean * photons) / photons + rng.normal(0, rng.uniform(*read_noise), high.shape)
    return np.clip(noisy, 0, 1)


def write_split(rng, folder, count, height, width, start, darkening=None, full_range=False):
    for sub in ("low", "high"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for k in range(count):
        high = scene(rng, height, width, full_range)
        low = darken(rng, high, **(darkening or DARKENING))
        name = f"{start + k}.png"
        for sub, img in (("high", high), ("low", low)):
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(os.path.join(folder, sub, name))


def synthesize(out, train=12, eval_count=3, height=96, width=128, seed=0, darkening=None, full_range=False):
    """Write `out/our485/{low,high}` (train pairs) and `out/eval15/{low,high}` (eval pairs).

    darkening: `darken`'s keyword ranges (default `DARKENING`); full_range: see `scene`.
    """
    for name, value in (("train", train), ("eval", eval_count), ("height", height), ("width", width)):
        if value < 1:
            raise errors.ConfigError(f"--{name}={value}: must be >= 1")
    rng = np.random.default_rng(seed)
    write_split(rng, os.path.join(out, "our485"), train, height, width, 1, darkening, full_range)
    write_split(rng, os.path.join(out, "eval15"), eval_count, height, width, train + 1, darkening, full_range)
    return out


if __name__ == "__main__":  # a library module: the command line is kind-tf2's, not this file's
    raise SystemExit("run `kind-tf2 synthesize` (or `python -m kind_tf2 synthesize`) with the same flags")
