"""Running the loss anatomy: check the settings, measure every image (resumable), then the tables, summary and plots."""

import dataclasses
import os

from kind_tf2 import errors, losses
from kind_tf2.studies.anatomy import measure, report
from kind_tf2.studies.anatomy.distortions import DISTORTIONS


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
        raise errors.DataError(f"images={cfg.images}: folder does not exist", fields=("images",))
    names = sorted(f for f in os.listdir(cfg.images) if f.lower().endswith((".png", ".jpg", ".jpeg", ".bmp")))
    names = names[: cfg.max_images] if cfg.max_images else names
    if not names:
        raise errors.DataError(f"images={cfg.images}: no images", fields=("images",))
    have_low = bool(cfg.low_images)
    dists = [DISTORTIONS.get_or_raise(n.strip()) for n in cfg.distortions.split(",")] if cfg.distortions \
        else [d for d in DISTORTIONS.values() if have_low or not d.needs_low]
    for d in dists:
        if d.needs_low and not have_low:
            raise errors.ConfigError(f"distortions: {d.name} needs low_images (the paired low-light images)",
                                     fields=("distortions", "low_images"))
    if not (isinstance(cfg.strengths, int) and cfg.strengths >= 1):
        raise errors.ConfigError(f"strengths={cfg.strengths}: must be a whole number >= 1", fields=("strengths",))
    first = measure.load_image(cfg.images, names[0], cfg.size)
    terms, skipped = measure.choose_terms(cfg, have_low, min(first.shape[:2]))
    for n, why in skipped:
        log(f"[anatomy] {n}: left out ({why})")
    os.makedirs(os.path.join(cfg.out, "per_image"), exist_ok=True)
    params = {"perceptual": {"weights": cfg.vgg_weights}} if "perceptual" in terms else {}
    for name, p in params.items():
        losses.TERMS[name].check(p)  # a missing or wrong weights file: one error naming vgg_weights
    heat_dists = [h.strip() for h in cfg.heatmap_distortions.split(",") if h.strip()]
    # What an image's measurements depend on: a re-run with the same settings reads them back.
    setting = {"terms": terms, "distortions": {d.name: list(measure.levels(d, cfg.strengths)) for d in dists},
               "size": cfg.size, "seed": cfg.seed, "low": have_low, "heat": heat_dists}
    rows, image_metrics, heat = [], [], {}
    for k, name in enumerate(names, 1):
        got = measure.measure_image(cfg, name, k == 1, dists, terms, params, heat_dists, setting)
        rows += got["rows"]
        image_metrics += got["metrics"]
        heat.update(got.get("heat", {}))
        log(f"[anatomy] {k}/{len(names)} {name}: {len(dists)} distortions x {len(terms)} terms"
            + (" (measured earlier)" if got["cached"] else ""))
    measure.normalise(rows)
    correlations = measure.correlations(rows, image_metrics, terms)
    summary = measure.summary(rows, dists, terms, correlations)
    files = report.write(cfg, rows, image_metrics, correlations, summary, heat, dists, terms)
    log(f"[anatomy] {', '.join(os.path.basename(f) for f in files)} in {cfg.out}")
    return AnatomyResult(rows, image_metrics, correlations, summary, files)
