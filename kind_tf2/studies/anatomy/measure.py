"""Measuring the loss anatomy: every term's value and gradient under every distortion of every image, no training."""

import dataclasses
import json
import math
import os

import numpy as np
from PIL import Image

from kind_tf2 import errors, files, image_io, losses, metrics


@dataclasses.dataclass
class AnatomyConfig:
    """What one anatomy run measures."""

    images: str  # folder of clean images (e.g. LOL eval15/high)
    out: str
    low_images: str = None  # paired low-light images (same names): the `lowlight` distortion and needs-low terms
    terms: str = None  # comma list of names in losses.TERMS (None: every term that needs nothing missing)
    distortions: str = None  # comma list of names in DISTORTIONS (None: all that can run)
    strengths: int = 4  # levels per distortion besides the identity (the strongest always included)
    max_images: int = None
    size: int = None  # resize so that the short side is `size` px (None: as they are)
    heatmap_distortions: str = "noise,brightness"
    seed: int = 0
    vgg_weights: str = None  # Keras VGG19 weights: measures `perceptual` too


def levels(d, strengths):
    """The identity and `strengths` levels of `d`, the strongest included, evenly spread."""
    rest = d.levels[1:]
    if strengths >= len(rest):
        return d.levels
    picks = np.unique(np.round(np.linspace(len(rest) - 1, 0, strengths, endpoint=False)[::-1]).astype(int))
    return (d.levels[0],) + tuple(rest[i] for i in picks)


def load_image(folder, name, size):
    img = image_io.read_rgb(os.path.join(folder, name)).astype(np.float64)
    if size:
        h, w = img.shape[:2]
        scale = size / min(h, w)
        pil = Image.fromarray(np.rint(img * 255).astype(np.uint8)).resize(
            (max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
        img = np.asarray(pil, np.float64) / 255.0
    return img


_VALUE_AND_GRAD = {}  # (term name, its parameters) -> its traced value-and-gradient function


def _term_value_and_grad(name, pred, target, low, params=None):
    """(L(pred, target, low), |dL/dpred| `[H, W]` summed over channels) with TensorFlow, float64 out.

    One tf.function per term, since the 16 terms x 40 distortions of an image would otherwise each
    pay eager TensorFlow's op-by-op dispatch. It is traced once per image size, on purpose: terms
    read their input's static shape (ms_ssim's scales, the VGG's), which a shape-relaxed trace
    would leave unknown on the second size.
    """
    import tensorflow as tf

    key = (name, tuple(sorted((params or {}).items())))  # e.g. another vgg_weights file: another function
    if key not in _VALUE_AND_GRAD:
        term = losses.TERMS[name]

        @tf.function
        def value_and_grad(p, t, lo):
            with tf.GradientTape() as tape:
                tape.watch(p)
                value = term(p, t, lo, **(params or {}))
            grad = tape.gradient(value, p)
            return value, tf.zeros_like(p) if grad is None else grad

        _VALUE_AND_GRAD[key] = value_and_grad
    p = tf.constant(pred[None], tf.float32)
    t = tf.constant(target[None], tf.float32)
    lo = None if low is None else tf.constant(low[None], tf.float32)
    value, grad = _VALUE_AND_GRAD[key](p, t, lo)
    return float(value), np.abs(grad[0].numpy()).sum(axis=-1).astype(np.float64)


def choose_terms(cfg, have_low, size=None):
    """`(terms, [(term, why)] left out)`: `cfg.terms`, or every term whose needs are met; ConfigError names a
    named one that cannot run. size: the images' short side, when every image has it (None: each image is
    checked by `terms_for`)."""
    names = [t.strip() for t in cfg.terms.split(",")] if cfg.terms else list(losses.TERMS)
    chosen, skipped = [], []
    for n in names:
        term = losses.TERMS.get_or_raise(n)
        why = ("needs the low-light input (low_images)" if term.needs_low and not have_low else
               "needs vgg_weights" if n == "perceptual" and not cfg.vgg_weights else
               f"needs at least {term.min_size({})} px" if size is not None and term.min_size({}) > size else None)
        if why and cfg.terms:
            raise errors.ConfigError(f"terms: {n} {why}", fields=("terms", "low_images", "vgg_weights"))
        (skipped if why else chosen).append((n, why))
    return [n for n, _ in chosen], skipped


def terms_for(terms, params, shape):
    """`(terms measured on an image of `shape` [H, W, ...], [(term, its minimum side)] left out as too small)`."""
    side = min(shape[:2])
    minimum = {t: losses.TERMS[t].min_size(params.get(t) or {}) for t in terms}
    return [t for t in terms if minimum[t] <= side], [(t, minimum[t]) for t in terms if minimum[t] > side]


def spearman(a, b):
    """Spearman's rank correlation of two equal-length vectors (average ranks for ties); NaN pairs dropped.

        rho = pearson(rank(a), rank(b))
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if a.size < 3:
        return float("nan")

    def rank(x):
        order = np.argsort(x, kind="stable")
        r = np.empty(x.size)
        r[order] = np.arange(x.size, dtype=np.float64)
        for v in np.unique(x):  # ties share their mean rank
            same = x == v
            if same.sum() > 1:
                r[same] = r[same].mean()
        return r

    ra, rb = rank(a), rank(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def measure_image(cfg, name, first, dists, terms, params, heat_dists, setting):
    """One image's rows and metrics (and, for the first image, the gradient maps of the heat-map distortions),
    kept in `out/per_image/<name>.json` (+ `.heat.npz`) and read back when `setting` is unchanged.

    `too_small` lists the terms left out on this image, `[(term, its minimum side)]`. Raises DataError
    (or OSError) for this image alone: unreadable, or its low-light image missing or of another size.
    """
    path = os.path.join(cfg.out, "per_image", name + ".json")
    heat_path = path[: -len(".json")] + ".heat.npz"
    if os.path.isfile(path) and (not first or os.path.isfile(heat_path)):
        with open(path) as f:
            got = json.load(f)
        if got["setting"] == setting:
            if first:
                with np.load(heat_path) as z:
                    got["heat"] = {tuple(key.split("|")): z[key] for key in z.files}
            return dict(got, cached=True, too_small=[tuple(t) for t in got.get("too_small", [])])
    clean = load_image(cfg.images, name, cfg.size)
    low = load_image(cfg.low_images, name, cfg.size) if cfg.low_images else None
    if low is not None and low.shape != clean.shape:
        raise errors.DataError(f"{os.path.join(cfg.images, name)}: size {clean.shape[1]}x{clean.shape[0]} differs "
                               f"from its low-light image in {cfg.low_images} ({low.shape[1]}x{low.shape[0]})")
    terms, too_small = terms_for(terms, params, clean.shape)
    ref8 = np.rint(clean * 255).astype(np.uint8)
    # A noise stream per image (from the seed and the name): the same draws whichever images were measured before.
    rng = np.random.default_rng([cfg.seed, *name.encode()])
    rows, image_metrics, heat = [], [], {}
    for d in dists:
        levels = setting["distortions"][d.name]
        for j, level in enumerate(levels):
            pred = d.apply(clean, level, low, rng)
            out8 = np.rint(np.clip(pred, 0, 1) * 255).astype(np.uint8)
            m = metrics.score(("psnr", "ssim_rgb", "ciede2000", "niqe"), out8, ref=ref8,
                              unscored=lambda column, err: None)
            image_metrics.append(dict(image=name, distortion=d.name, level=level, index=j, **m))
            for t in terms:
                value, grad = _term_value_and_grad(t, pred, clean, low, params.get(t))
                rows.append({"image": name, "distortion": d.name, "level": level, "index": j, "term": t,
                             "value": value, "grad_norm": float(np.sqrt((grad**2).sum()))})
                if first and d.name in heat_dists and j == len(levels) - 1:
                    heat[t, d.name] = grad.astype(np.float32)
    if first:
        tmp = heat_path + ".tmp.npz"
        np.savez_compressed(tmp, **{f"{t}|{d}": g for (t, d), g in heat.items()})
        os.replace(tmp, heat_path)
    doc = {"setting": setting, "rows": rows, "metrics": image_metrics, "too_small": too_small}
    files.atomic_write_text(path, json.dumps(doc))
    return dict(doc, heat=heat, cached=False)


def normalise(rows):
    """value_norm, grad_norm_norm: each term's values divided by its largest |value| over everything measured."""
    for key in ("value", "grad_norm"):
        top = {}
        for r in rows:
            top[r["term"]] = max(top.get(r["term"], 0.0), abs(r[key]))
        for r in rows:
            r[f"{key}_norm"] = r[key] / top[r["term"]] if top[r["term"]] > 0 else 0.0


def changes(rows, dists, terms):
    """The responses plotted and summarised: `{(term, distortion): [mean change from the clean image per level]}`
    and `{term: its largest |change| under any distortion}` (1.0 for a term that never moves)."""
    change = {}
    for t in terms:
        for d in dists:
            resp = mean_response(rows, t, d.name)
            change[t, d.name] = [v - resp[0][1] for _, v in resp]
    top = {t: max(abs(c) for d in dists for c in change[t, d.name]) or 1.0 for t in terms}
    return change, top


def mean_response(rows, term, distortion):
    """`[(level, mean value over images)]` of one term under one distortion, by increasing strength."""
    by = {}
    for r in rows:
        if r["term"] == term and r["distortion"] == distortion:
            by.setdefault((r["index"], r["level"]), []).append(r["value"])
    return [(level, float(np.mean(v))) for (_, level), v in sorted(by.items())]


def correlations(rows, image_metrics, terms):
    keyed = {(m["image"], m["distortion"], m["index"]): m for m in image_metrics}
    out = {}
    for t in terms:
        mine = [r for r in rows if r["term"] == t]
        values = [r["value"] for r in mine]
        out[t] = {metric: spearman(values, [keyed[r["image"], r["distortion"], r["index"]][metric] for r in mine])
                  for metric in ("psnr", "ssim_rgb", "niqe", "ciede2000")}
    return out


# A term whose response moves by less than this fraction of its largest move under any distortion is flat.
BLIND = 0.01


def summary(rows, dists, terms, correlations):
    """summary.md: per distortion the most and least sensitive terms and the flat ones; which metric each term
    follows."""
    change, top = changes(rows, dists, terms)
    lines = ["# Loss anatomy: summary", "",
             "Response: how far a term's mean value moves from the clean image to the strongest level, as a "
             "fraction of its largest move under any distortion (the scale of responses.png). Flat: under "
             f"{BLIND:.0%}; the term is blind to the distortion, or nearly so next to what it sees of the others.", ""]
    for d in dists:
        moves = {t: change[t, d.name][-1] / top[t] for t in terms}
        ranked = sorted(terms, key=lambda t: -abs(moves[t]))
        flat = [t for t in ranked if abs(moves[t]) < BLIND]
        lines.append(f"- **{d.name}**: most sensitive {', '.join(f'{t} ({moves[t]:+.2f})' for t in ranked[:3])}; "
                     f"least {', '.join(f'{t} ({moves[t]:+.2f})' for t in ranked[-3:])}"
                     + (f"; flat: {', '.join(flat)}" if flat else "") + ".")
    lines += ["", "Which metric each term behaves like (Spearman's rho over every distorted image; a loss that "
              "agrees with a metric is negative against PSNR / SSIM and positive against NIQE / CIEDE2000):", ""]
    for t in terms:
        c = correlations[t]
        like = {"psnr": -c["psnr"], "ssim_rgb": -c["ssim_rgb"], "niqe": c["niqe"], "ciede2000": c["ciede2000"]}
        best = max((k for k in like if math.isfinite(like[k])), key=lambda k: like[k], default=None)
        lines.append(f"- {t}: " + (f"most like {best} (rho {c[best]:+.2f})" if best else "no metric scored"))
    return lines
