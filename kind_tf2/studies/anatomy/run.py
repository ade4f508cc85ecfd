"""Running the loss anatomy: check the settings, measure every image (resumable), then the tables, summary and plots."""

import dataclasses
import os

from kind_tf2 import errors, image_io, losses
from kind_tf2.studies.anatomy import measure, report
from kind_tf2.studies.anatomy.distortions import DISTORTIONS


@dataclasses.dataclass
class AnatomyResult:
    """Every measurement (one row per image x distortion x level x term), the files written, the images that failed."""

    rows: list
    image_metrics: list
    correlations: dict  # {term: {metric: rho}}
    summary: list  # lines of summary.md
    files: list
    failures: list = dataclasses.field(default_factory=list)  # [(image path, message)], each said through `warn`

    @property
    def ok(self):
        return not self.failures


def _check(cfg):
    """`(distortions, terms, params)` of the config, checked before any image is read; a KindError names the field."""
    have_low = bool(cfg.low_images)
    dists = [DISTORTIONS.get_or_raise(n.strip()) for n in cfg.distortions.split(",")] if cfg.distortions \
        else [d for d in DISTORTIONS.values() if have_low or not d.needs_low]
    for d in dists:
        if d.needs_low and not have_low:
            raise errors.ConfigError(f"distortions: {d.name} needs low_images (the paired low-light images)",
                                     fields=("distortions", "low_images"))
    if not (isinstance(cfg.strengths, int) and cfg.strengths >= 1):
        raise errors.ConfigError(f"strengths={cfg.strengths}: must be a whole number >= 1", fields=("strengths",))
    terms, skipped = measure.choose_terms(cfg, have_low)
    params = {"perceptual": {"weights": cfg.vgg_weights}} if "perceptual" in terms else {}
    for name, p in params.items():
        losses.TERMS[name].check(p)  # a missing or wrong weights file: one error naming vgg_weights
    return dists, terms, skipped, params


def run(cfg, log=print, warn=None):
    """Measure every term under every distortion; write anatomy.csv, metrics.csv, responses.png,
    heatmaps.png, correlations.md and summary.md in `cfg.out`. Returns an AnatomyResult.

    The images are read as `evaluate` reads them (`image_io`: any mode, sorted by name). An image that
    cannot be measured (unreadable, its low-light image missing or of another size) is said in one
    line through `warn` (default: log) and listed in `failures`; the others go on. A term larger than
    an image is left out on that image, in one line naming both.
    """
    warn = warn or log
    paths, others = image_io.list_images(cfg.images, "images")
    if others:
        log(f"[anatomy] skipping {len(others)} file(s) without an image extension: {', '.join(others)}")
    names = [os.path.basename(p) for p in paths]
    names = names[: cfg.max_images] if cfg.max_images else names
    if not names:
        raise errors.DataError(f"images={cfg.images}: no images", fields=("images",))
    dists, terms, skipped, params = _check(cfg)
    for n, why in skipped:
        log(f"[anatomy] {n}: left out ({why})")
    os.makedirs(os.path.join(cfg.out, "per_image"), exist_ok=True)
    heat_dists = [h.strip() for h in cfg.heatmap_distortions.split(",") if h.strip()]
    # What an image's measurements depend on: a re-run with the same settings reads them back.
    setting = {"terms": terms, "distortions": {d.name: list(measure.levels(d, cfg.strengths)) for d in dists},
               "size": cfg.size, "seed": cfg.seed, "low": bool(cfg.low_images), "heat": heat_dists}
    rows, image_metrics, heat, failures = [], [], {}, []
    for k, name in enumerate(names, 1):
        try:  # the heat maps are of the first image measured
            got = measure.measure_image(cfg, name, not rows, dists, terms, params, heat_dists, setting)
        except (errors.KindError, OSError) as err:
            path = os.path.join(cfg.images, name)
            message = errors.about_file(path, err)
            warn(message)
            failures.append((path, message))
            continue
        rows += got["rows"]
        image_metrics += got["metrics"]
        heat.update(got.get("heat", {}))
        for term, side in got["too_small"]:
            log(f"[anatomy] {name}: {term} needs images of at least {side} px; not measured on this one")
        log(f"[anatomy] {k}/{len(names)} {name}: {len(dists)} distortions x {len(terms) - len(got['too_small'])} "
            "terms" + (" (measured earlier)" if got["cached"] else ""))
    measured = [t for t in terms if any(r["term"] == t for r in rows)]
    if not measured:
        raise errors.DataError(f"images={cfg.images}: no image could be measured ({len(failures)} failed)",
                               fields=("images",))
    measure.normalise(rows)
    correlations = measure.correlations(rows, image_metrics, measured)
    summary = measure.summary(rows, dists, measured, correlations)
    if failures:
        summary += ["", f"Not measured ({len(failures)} image(s)):", ""] + [f"- {message}" for _, message in failures]
    files = report.write(cfg, rows, image_metrics, correlations, summary, heat, dists, measured)
    log(f"[anatomy] {', '.join(os.path.basename(f) for f in files)} in {cfg.out}")
    return AnatomyResult(rows, image_metrics, correlations, summary, files, failures)
