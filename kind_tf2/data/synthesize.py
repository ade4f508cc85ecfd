"""Synthetic LOL-layout data: `python -m kind_tf2.data.synthesize --out DIR` (no downloads).

Normal-light scenes are procedural (smooth colour gradients, textured shapes); low-light
versions follow the simulations of LLNet (gamma darkening plus Gaussian noise) and MBLLEN
(gamma plus Poisson shot noise): low = clip(Poisson(peak * s * high ** gamma) / peak + N(0, sigma)).
"""

import os
import sys

import numpy as np
from absl import app, flags
from PIL import Image


def scene(rng, height, width):
    """A normal-light RGB scene, float64 `[H, W, 3]` in [0, 1]."""
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
    return np.clip(img, 0, 1)


def darken(rng, high):
    """Low-light version of a scene: gamma 2..4, exposure 0.3..0.7, Poisson + Gaussian noise."""
    gamma, scale = rng.uniform(2.0, 4.0), rng.uniform(0.3, 0.7)
    peak = rng.uniform(200, 800)  # photons at full scale: lower = noisier
    clean = scale * high**gamma
    noisy = rng.poisson(clean * peak) / peak + rng.normal(0, rng.uniform(0.002, 0.01), high.shape)
    return np.clip(noisy, 0, 1)


def write_split(rng, folder, count, height, width, start):
    for sub in ("low", "high"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    for k in range(count):
        high = scene(rng, height, width)
        low = darken(rng, high)
        name = f"{start + k}.png"
        for sub, img in (("high", high), ("low", low)):
            Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(os.path.join(folder, sub, name))


def synthesize(out, train=12, eval_count=3, height=96, width=128, seed=0):
    """Write `out/our485/{low,high}` (train pairs) and `out/eval15/{low,high}` (eval pairs)."""
    rng = np.random.default_rng(seed)
    write_split(rng, os.path.join(out, "our485"), train, height, width, 1)
    write_split(rng, os.path.join(out, "eval15"), eval_count, height, width, train + 1)
    return out


def main(argv):
    del argv
    F = flags.FLAGS
    if F.height < 1 or F.width < 1 or F.train < 1 or F.eval < 1:
        print("error: --height, --width, --train and --eval must be >= 1", file=sys.stderr)
        return 1
    synthesize(F.out, F.train, F.eval, F.height, F.width, F.seed)
    print(f"wrote {F.train} training and {F.eval} evaluation pairs of {F.height}x{F.width} to {F.out}")
    return 0


if __name__ == "__main__":
    flags.DEFINE_string("out", None, "Output folder (LOL layout).")
    flags.DEFINE_integer("train", 12, "Pairs in our485/.")
    flags.DEFINE_integer("eval", 3, "Pairs in eval15/.")
    flags.DEFINE_integer("height", 96, "Image height.")
    flags.DEFINE_integer("width", 128, "Image width.")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.mark_flag_as_required("out")
    app.run(main)
