"""Loss anatomy: what every registered loss term responds to, under controlled distortions of clean images, with no training."""

import dataclasses
import io
import math
import os

import numpy as np
from PIL import Image

from kind_tf2 import errors, image_ops, losses, metrics, plots
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


DISTORTIONS = Registry("distortion", flag="--distortions")


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


# ---- measuring ----------------------------------------------------------------------------------------


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


def _levels(d, strengths):
    """The identity and `strengths` levels of `d`, the strongest included, evenly spread."""
    rest = d.levels[1:]
    if strengths >= len(rest):
        return d.levels
    picks = np.unique(np.round(np.linspace(len(rest) - 1, 0, strengths, endpoint=False)[::-1]).astype(int))
    return (d.levels[0],) + tuple(rest[i] for i in picks)


def _load(folder, name, size):
    img = image_ops.read_rgb(os.path.join(folder, name)).astype(np.float64)
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

    One tf.function per term: traced once per image size, since the 16 terms x 40 distortions of an
    image would otherwise each pay eager TensorFlow's op-by-op dispatch.
    """
    import tensorflow as tf

    key = (name, tuple(sorted((params or {}).items())))  # e.g. another --vgg_weights file: another function
    if key not in _VALUE_AND_GRAD:
        term = losses.TERMS[name]

        @tf.function(reduce_retracing=True)
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


def choose_terms(cfg, have_low, size):
    """The terms measured: `cfg.terms` or every term whose needs are met; ConfigError names one that cannot run."""
    names = [t.strip() for t in cfg.terms.split(",")] if cfg.terms else list(losses.TERMS)
    chosen, skipped = [], []
    for n in names:
        term = losses.TERMS.get_or_raise(n)
        why = ("needs the low-light input (--low_images)" if term.needs_low and not have_low else
               "needs --vgg_weights" if n == "perceptual" and not cfg.vgg_weights else
               f"needs at least {term.min_size({})} px" if term.min_size({}) > size else None)
        if why and cfg.terms:
            raise errors.ConfigError(f"--terms: {n} {why}")
        (skipped if why else chosen).append((n, why))
    return [n for n, _ in chosen], skipped


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


@dataclasses.dataclass
class AnatomyResult:
    """Every measurement (one row per image x distortion x level x term) and the files written."""

    rows: list
    image_metrics: list
    correlations: dict  # {term: {metric: rho}}
    summary: list  # lines of summary.md
    files: list


def run(cfg, log=print):
    """Measure every term under every distortion; write anatomy.csv, metrics.csv, responses.png,
    heatmaps.png, correlations.md and summary.md in `cfg.out`. Returns an AnatomyResult."""
    if not os.path.isdir(cfg.images):
        raise errors.DataError(f"--images={cfg.images}: folder does not exist")
    names = sorted(f for f in os.listdir(cfg.images) if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")))
    names = names[: cfg.max_images] if cfg.max_images else names
    if not names:
        raise errors.DataError(f"--images={cfg.images}: no images")
    have_low = bool(cfg.low_images)
    dists = [DISTORTIONS.get_or_raise(n.strip()) for n in cfg.distortions.split(",")] if cfg.distortions \
        else [d for d in DISTORTIONS.values() if have_low or not d.needs_low]
    for d in dists:
        if d.needs_low and not have_low:
            raise errors.ConfigError(f"--distortions: {d.name} needs --low_images (the paired low-light images)")
    if not (isinstance(cfg.strengths, int) and cfg.strengths >= 1):
        raise errors.ConfigError(f"--strengths={cfg.strengths}: must be a whole number >= 1")
    first = _load(cfg.images, names[0], cfg.size)
    terms, skipped = choose_terms(cfg, have_low, min(first.shape[:2]))
    for n, why in skipped:
        log(f"[anatomy] {n}: left out ({why})")
    os.makedirs(os.path.join(cfg.out, "per_image"), exist_ok=True)
    params = {"perceptual": {"weights": cfg.vgg_weights}} if "perceptual" in terms else {}
    for name, p in params.items():
        losses.TERMS[name].check(p)  # a missing or wrong weights file: one error naming --vgg_weights
    heat_dists = [h.strip() for h in cfg.heatmap_distortions.split(",") if h.strip()]
    # What an image's measurements depend on: a re-run with the same settings reads them back.
    setting = {"terms": terms, "distortions": {d.name: list(_levels(d, cfg.strengths)) for d in dists},
               "size": cfg.size, "seed": cfg.seed, "low": have_low, "heat": heat_dists}
    rows, image_metrics, heat = [], [], {}
    for k, name in enumerate(names, 1):
        got = _measure_image(cfg, name, k == 1, dists, terms, params, heat_dists, setting)
        rows += got["rows"]
        image_metrics += got["metrics"]
        heat.update(got.get("heat", {}))
        log(f"[anatomy] {k}/{len(names)} {name}: {len(dists)} distortions x {len(terms)} terms"
            + (" (measured earlier)" if got["cached"] else ""))
    _normalise(rows)
    correlations = _correlations(rows, image_metrics, terms)
    summary = _summary(rows, dists, terms, correlations)
    files = _write(cfg, rows, image_metrics, correlations, summary, heat, dists, terms)
    log(f"[anatomy] {', '.join(os.path.basename(f) for f in files)} in {cfg.out}")
    return AnatomyResult(rows, image_metrics, correlations, summary, files)


def _measure_image(cfg, name, first, dists, terms, params, heat_dists, setting):
    """One image's rows and metrics (and, for the first image, the gradient maps of the heat-map distortions),
    kept in `out/per_image/<name>.json` (+ `.heat.npz`) and read back when `setting` is unchanged."""
    import json

    path = os.path.join(cfg.out, "per_image", name + ".json")
    heat_path = path[: -len(".json")] + ".heat.npz"
    if os.path.isfile(path) and (not first or os.path.isfile(heat_path)):
        with open(path) as f:
            got = json.load(f)
        if got["setting"] == setting:
            if first:
                with np.load(heat_path) as z:
                    got["heat"] = {tuple(key.split("|")): z[key] for key in z.files}
            return dict(got, cached=True)
    clean = _load(cfg.images, name, cfg.size)
    low = _load(cfg.low_images, name, cfg.size) if cfg.low_images else None
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
    image_ops.atomic_write_text(path, json.dumps({"setting": setting, "rows": rows, "metrics": image_metrics}))
    return {"rows": rows, "metrics": image_metrics, "heat": heat, "cached": False}


def _normalise(rows):
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


def _correlations(rows, image_metrics, terms):
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


def _summary(rows, dists, terms, correlations):
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


def _write(cfg, rows, image_metrics, correlations, summary, heat, dists, terms):
    import csv

    files = []

    def table(name, header, items):
        path = os.path.join(cfg.out, name)

        def write(tmp):
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows([[r[h] for h in header] for r in items])

        image_ops.atomic_write(path, write)
        files.append(path)

    table("anatomy.csv", ["image", "distortion", "level", "index", "term", "value", "value_norm", "grad_norm",
                          "grad_norm_norm"], rows)
    table("metrics.csv", ["image", "distortion", "level", "index", "psnr", "ssim_rgb", "ciede2000", "niqe"],
          image_metrics)
    md = ["# Loss anatomy: rank correlation with the metrics", "",
          "Spearman's rho of each term's value with each metric over every distorted image.", "",
          "| term | PSNR | SSIM | NIQE | CIEDE2000 |", "|---|---|---|---|---|"]
    md += [f"| {t} | " + " | ".join(f"{correlations[t][m]:+.2f}" for m in ("psnr", "ssim_rgb", "niqe", "ciede2000"))
           + " |" for t in terms]
    for name, text in (("correlations.md", md), ("summary.md", summary)):
        path = os.path.join(cfg.out, name)
        image_ops.atomic_write_text(path, "\n".join(text) + "\n")
        files.append(path)
    files.append(_plot_responses(cfg, rows, dists, terms))
    if heat:
        files.append(_plot_heat(cfg, heat, terms))
    return files


def _term_styles(terms):
    """A colour and line style a term, distinct for up to 40 terms (matplotlib's 10-colour cycle repeats)."""
    from matplotlib import colormaps

    colours = colormaps["tab20"].colors
    return {t: (colours[k % 20], ("-", "--")[(k // 20) % 2]) for k, t in enumerate(terms)}


def _plot_responses(cfg, rows, dists, terms):
    """responses.png: per distortion, each term's mean change from the clean image, over the term's largest change."""
    plt = plots.pyplot()
    cols = min(4, len(dists))
    nrows = math.ceil(len(dists) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows + 0.8), squeeze=False)
    # Changes, not values: terms such as tv or exposure are not 0 at the clean image, and log_mse is
    # negative; each term is scaled by its largest |change| anywhere, so a flat line is a blind term.
    change, top = changes(rows, dists, terms)
    styles = _term_styles(terms)
    for ax, d in zip(axes.flat, dists):
        for t in terms:
            colour, line = styles[t]
            ax.plot(range(len(change[t, d.name])), [c / top[t] for c in change[t, d.name]], marker="o", ms=3, lw=1.2,
                    color=colour, ls=line, label=t)
        levels = [level for level, _ in mean_response(rows, terms[0], d.name)]
        ax.set_xticks(range(len(levels)))
        ax.set_xticklabels([f"{level:g}" for level in levels], fontsize=7)
        ax.set_xlabel(f"{d.name} ({d.unit})", fontsize=8)
        ax.set_title(d.name, fontsize=10)
        ax.set_ylim(-1.08, 1.08)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(dists):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("change from clean / largest change", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(8, len(terms)), fontsize=8)
    fig.suptitle("How each term's mean value changes with the strength of each distortion (per term: 1 = its largest "
                 "change under any distortion; flat = blind)", fontsize=11)
    fig.tight_layout(rect=(0, 0.03 + 0.025 * math.ceil(len(terms) / 8), 1, 0.96))
    path = os.path.join(cfg.out, "responses.png")
    plots.save(fig, path)
    plt.close(fig)
    return path


def _plot_heat(cfg, heat, terms):
    """heatmaps.png: |dL/dprediction| of each term on the first image, a block of rows per distortion."""
    plt = plots.pyplot()
    dists = sorted({d for _, d in heat})
    cols = min(8, len(terms))
    per = math.ceil(len(terms) / cols)  # rows a distortion
    fig, axes = plt.subplots(per * len(dists), cols, figsize=(2.1 * cols, 1.75 * per * len(dists) + 0.7),
                             squeeze=False)
    for i, d in enumerate(dists):
        for j, t in enumerate(terms):
            ax = axes[i * per + j // cols][j % cols]
            g = heat.get((t, d))
            if g is not None:
                # The 99th percentile, not the max: terms such as grad (min-max normalised gradients) put
                # nearly all of their gradient on a few pixels, which would leave the rest black.
                ax.imshow(np.clip(g / (np.percentile(g, 99) or g.max() or 1.0), 0, 1), cmap="magma", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{t} | {d}", fontsize=7)
        for j in range(len(terms), per * cols):
            axes[i * per + j // cols][j % cols].axis("off")
    fig.suptitle("|dL/dprediction| of each term on the first image at each distortion's strongest level "
                 "(each scaled to its 99th percentile)", fontsize=9)
    fig.tight_layout()
    path = os.path.join(cfg.out, "heatmaps.png")
    plots.save(fig, path)
    plt.close(fig)
    return path


if __name__ == "__main__":
    from kind_tf2.cli import run_command

    run_command("anatomy")
