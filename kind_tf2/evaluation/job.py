"""The evaluate.py job: enhance a folder, score it against ground truth, write a comparison grid."""

import dataclasses
import math
import os
import sys
import time

import numpy as np

from kind_tf2 import errors, image_io, tiling
from kind_tf2.evaluation.outputs import format_table, mean_metrics, write_metrics
from kind_tf2.evaluation.protocols import PROTOCOLS, resolve_protocol
from kind_tf2.image_io import IMAGE_EXTENSIONS, output_name
from kind_tf2.metrics import catalog
from kind_tf2.pipeline import KinD
from kind_tf2.reporting import grids

# The columns of an evaluation with ground truth by default (`metrics="default"`); see metrics.catalog.
METRIC_NAMES = catalog.DEFAULT_PAIRED


@dataclasses.dataclass
class EvalConfig:
    """What one evaluation needs (the command line fills it from the flags of the same names)."""

    input_dir: str
    output_dir: str = "./results/test"
    checkpoint_dir: str = "./checkpoint"
    decom_checkpoint: str = None
    illumination_checkpoint: str = None
    restoration_checkpoint: str = None
    ratio: float = 5.0
    high_dir: str = None
    protocol: str = "auto"  # auto: gt_ratio with high_dir, else fixed_ratio
    grid: bool = True
    grid_height: int = 160
    tile: object = "auto"  # auto, none or a multiple of 16: see KinD.enhance
    metrics: str = "default"  # comma list of names in metrics.catalog.METRICS; default: by ground truth or not
    # Turn photos (and their ground truth) as their EXIF orientation tag says before enhancing. Off: the
    # original read the stored pixels, and the default results stay the original's.
    exif_orientation: bool = False


class EvalError(errors.ConfigError):
    """A problem with the job as a whole (folders, settings); the message names the config field."""


def _check_config(cfg):
    """(protocol, tile, metric names): the settings checked, `cfg.tile` parsed once (None, "auto" or an int)."""
    protocol = resolve_protocol(cfg.protocol, cfg.high_dir)
    if cfg.high_dir and not os.path.isdir(cfg.high_dir):
        raise EvalError(f"high_dir={cfg.high_dir}: folder does not exist", fields=("high_dir",))
    if not math.isfinite(cfg.ratio) or cfg.ratio < 0:
        raise EvalError(f"ratio={cfg.ratio}: expected a finite value >= 0", fields=("ratio",))
    tile = tiling.parse_tile(cfg.tile, name="tile")
    names = catalog.parse_metrics(cfg.metrics, paired=bool(cfg.high_dir))
    if os.path.realpath(cfg.output_dir) == os.path.realpath(cfg.input_dir):
        raise EvalError(f"output_dir={cfg.output_dir} is input_dir: refusing to write next to the inputs",
                        fields=("output_dir", "input_dir"))
    return protocol, tile, names


@dataclasses.dataclass
class _Job:
    """One evaluation: what is enhanced how, and what has come out so far."""

    protocol: str
    paths: list
    kind: object
    tile: object  # parsed `tile`: None, "auto" or an int
    metric_names: tuple  # what each image is scored with (metrics.catalog)
    rows: list = dataclasses.field(default_factory=list)  # metrics per scored image
    grid_rows: list = dataclasses.field(default_factory=list)  # thumbnails per image
    failures: list = dataclasses.field(default_factory=list)


def _open_job(cfg, log, kind):
    """Check the settings, list the inputs, load the networks; raises a KindError naming the field or file."""
    protocol, tile, names = _check_config(cfg)
    paths, skipped = image_io.list_images(cfg.input_dir, "input_dir")
    if skipped:
        log(f"skipping {len(skipped)} file(s) without an image extension: {', '.join(skipped)}")
    if not paths:
        raise EvalError(f"input_dir={cfg.input_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})", fields=("input_dir",))
    os.makedirs(cfg.output_dir, exist_ok=True)
    kind = kind or KinD.from_checkpoint(
        cfg.checkpoint_dir, decom=cfg.decom_checkpoint, restoration=cfg.restoration_checkpoint,
        illumination=cfg.illumination_checkpoint, log=log,
    )
    return _Job(protocol, paths, kind, tile, names)


def _enhance_one(cfg, job, path, log):
    """Enhance, save and score one file; returns (input, output, ground truth) uint8 arrays (gt may be None).

    Raises ValueError / OSError for this file only (unreadable, no or mismatched ground truth).
    log: takes progress lines while a tiled image runs.
    """
    raw = image_io.read_rgb(path, cfg.exif_orientation)
    x = image_io.stretch(raw)[None]
    high = gt = None
    if cfg.high_dir:
        gt_path = image_io.find_ground_truth(cfg.high_dir, path)
        gt_raw = image_io.read_rgb(gt_path, cfg.exif_orientation)
        if gt_raw.shape != raw.shape:
            raise errors.DataError(f"{path}: size {raw.shape[1]}x{raw.shape[0]} differs from the ground truth "
                             f"{gt_path} ({gt_raw.shape[1]}x{gt_raw.shape[0]})")
        high, gt = image_io.stretch(gt_raw)[None], image_io.as_uint8(gt_raw)
    tile = tiling.resolve_tile(job.tile, *raw.shape[:2])
    progress = None
    if tile is not None:
        log(f"  {os.path.basename(path)} ({raw.shape[1]}x{raw.shape[0]}): {tile}-px tiles, "
            f"{tiling.count_tiles(*raw.shape[:2], tile)} per pass")
        progress = _progress_printer(os.path.basename(path), log)
    pixels = PROTOCOLS[job.protocol].enhance(job.kind, x, high, gt, cfg.ratio, tile=tile, progress=progress)
    image_io.save_png(os.path.join(cfg.output_dir, output_name(path)), pixels)
    inp = np.rint(raw * 255.0).astype(np.uint8)
    # With ground truth, the output against it; without, the no-reference metrics of output and input.
    name, skipped = os.path.basename(path), {}
    # A metric that cannot score this image (too small for NIQE's blocks): the image is enhanced and
    # the rest scored; one line says which columns are empty and why.
    scores = catalog.score(job.metric_names, pixels, ref=gt, inp=None if gt is not None else inp,
                           unscored=lambda column, err: skipped.setdefault(str(err), []).append(column))
    for why, columns in skipped.items():
        log(f"warning: {name}: {', '.join(columns)} not scored: {why}")
    job.rows.append(dict(image=name, **scores))
    return inp, pixels, gt


def _progress_printer(name, log, every=10.0):
    # A line at most every `every` seconds, and the last tile: a 12 MP image takes minutes on a CPU.
    last = [time.perf_counter()]

    def progress(done, total):
        now = time.perf_counter()
        if done == total or now - last[0] >= every:
            last[0] = now
            log(f"  {name}: tile {done}/{total}")

    return progress


def _write_reports(cfg, job, log):
    """The metrics table (printed, CSV, JSON) and the comparison grid; returns the paths written."""
    files = []
    if job.rows:
        log(format_table(job.rows, job.protocol))
        write_metrics(cfg.output_dir, job.rows, job.protocol)
        log(f"metrics written to {os.path.join(cfg.output_dir, 'metrics.csv')} and metrics.json")
        files += [os.path.join(cfg.output_dir, name) for name in ("metrics.csv", "metrics.json")]
    if cfg.grid and job.grid_rows:
        grid_path = os.path.join(cfg.output_dir, "comparison_grid.png")
        grids.write_grid(grid_path, job.grid_rows)
        log(f"comparison grid (input | output{' | ground truth' if cfg.high_dir else ''}) written to {grid_path}")
        files.append(grid_path)
    return files


@dataclasses.dataclass
class EvalResult:
    """What one evaluation did: per-image and mean metrics (with ground truth), the files written, the failures."""

    protocol: str
    output_dir: str
    images: int  # input images found
    rows: list  # per scored image: {"image": name, <metric>: value, ...} (metrics.catalog; `<name>_input` unpaired)
    mean: dict  # the mean of each metric over `rows` (empty without ground truth)
    outputs: list  # the enhanced PNGs written
    files: list  # metrics.csv, metrics.json, comparison_grid.png as written
    failures: list  # [(input path, message)] of the images that could not be enhanced or scored

    @property
    def ok(self):
        return not self.failures


def evaluate(cfg, log=None, warn=None, kind=None):
    """Enhance every image of `cfg.input_dir` (and score it, given `cfg.high_dir`); returns an EvalResult.

    Raises EvalError / DataError / CheckpointNotFound (a KindError) when the job as a whole cannot
    run (folders, settings, networks). An image that fails alone (unreadable, no or mismatched ground
    truth, a failed write) is reported through `warn(message)`, listed in `failures`, and the
    others go on. log / warn: callables taking one line (default: print to stdout / stderr). kind:
    an already loaded `KinD` to use instead of the checkpoint settings (tests, reproduce).
    """
    log = log or (lambda line: print(line, flush=True))
    warn = warn or (lambda line: print(line, file=sys.stderr, flush=True))
    job = _open_job(cfg, log, kind)
    log(f"enhancing {len(job.paths)} image(s) from {cfg.input_dir} into {cfg.output_dir} ({job.protocol}"
        + (f", ratio {cfg.ratio:g})" if job.protocol != "gt_ratio" else ")"))
    outputs, failures = [], []
    for k, path in enumerate(job.paths, 1):
        t0 = time.perf_counter()
        try:
            images = _enhance_one(cfg, job, path, log)
        except (errors.KindError, OSError) as e:
            # One image's problem (DataError, or an OSError writing its output): named, and the rest go on.
            msg = errors.about_file(path, e)
            warn(msg)
            failures.append((path, msg))
            job.failures.append(path)
            continue
        if cfg.grid:  # thumbnails only: a long run must not hold every full-size image
            job.grid_rows.append([grids.thumbnail(a, cfg.grid_height) for a in images if a is not None])
        h, w = images[0].shape[:2]
        outputs.append(os.path.join(cfg.output_dir, output_name(path)))
        log(f"[{k}/{len(job.paths)}] {os.path.basename(path)} ({w}x{h}) -> {output_name(path)} "
            f"({time.perf_counter() - t0:.2f} s)")
    files = _write_reports(cfg, job, log)
    done = len(job.paths) - len(job.failures)
    failed = f", {len(job.failures)} failed" if job.failures else ""
    log(f"done: {done} of {len(job.paths)} image(s) enhanced{failed}")
    return EvalResult(job.protocol, cfg.output_dir, len(job.paths), job.rows,
                      mean_metrics(job.rows) if job.rows else {}, outputs, files, failures)
