"""The evaluate.py job: enhance a folder, score it against ground truth, write a comparison grid."""

import dataclasses
import json
import math
import os
import sys
import time

import numpy as np
from PIL import Image

from kind_tf2 import errors, image_ops, metrics, tiling
from kind_tf2.data.lol import IMAGE_EXTENSIONS
from kind_tf2.metrics import catalog
from kind_tf2.pipeline import KinD
from kind_tf2.registry import Registry

# The columns of an evaluation with ground truth by default (`--metrics=default`); see metrics.catalog.
METRIC_NAMES = catalog.DEFAULT_PAIRED


@dataclasses.dataclass
class EvalConfig:
    """What one evaluation needs; `evaluate.py` fills it from flags inside `main`."""

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


class EvalError(errors.ConfigError):
    """A problem with the job as a whole (folders, checkpoints, flags); the message names it."""


def _atomic_save(path, pil_image):
    image_ops.atomic_write(path, lambda tmp: pil_image.save(tmp, "png", compress_level=1))


def list_inputs(folder):
    """(image paths, skipped names): files with an image extension, sorted by name."""
    if not os.path.isdir(folder):
        raise EvalError(f"--input_dir={folder}: folder does not exist")
    images, skipped = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        if name.lower().endswith(IMAGE_EXTENSIONS):
            images.append(path)
        else:
            skipped.append(name)
    return images, skipped


def find_ground_truth(high_dir, low_path):
    """The ground-truth file for a low image: the same file name, else the same stem."""
    name = os.path.basename(low_path)
    exact = os.path.join(high_dir, name)
    if os.path.isfile(exact):
        return exact
    stem = os.path.splitext(name)[0]
    for cand in sorted(os.listdir(high_dir)):
        if os.path.splitext(cand)[0] == stem and cand.lower().endswith(IMAGE_EXTENSIONS):
            return os.path.join(high_dir, cand)
    raise errors.DataError(f"{low_path}: no ground truth named {stem}.* in {high_dir}")


def output_name(path):
    """The original's output name: text before the first '.' of the file name, plus `_kindle.png`."""
    name = os.path.basename(path)
    return name[: name.find(".")] + "_kindle.png" if "." in name else name + "_kindle.png"


def _uint8_ground_truth(path):
    # The ground truth as stored (no stretch), back at the 0..255 scale.
    return np.rint(image_ops.read_rgb(path).astype(np.float64) * 255.0).astype(np.uint8)


# ---- protocols: how an image is enhanced and what is scored -------------------------------------


@dataclasses.dataclass(frozen=True)
class Protocol:
    """One evaluation protocol; `enhance` gives the image that is saved and scored."""

    name: str
    description: str
    needs_gt: bool
    # enhance(kind, x, high, gt, ratio, **options) -> uint8 [H, W, 3]. x, high: float32 [1, H, W, 3]
    # in [0, 1] (stretched as load_images; high None without ground truth); gt: the stored ground
    # truth, uint8 [H, W, 3] or None; ratio: --ratio; options: passed on to KinD.enhance (tile, progress).
    enhance: object


PROTOCOLS = Registry("protocol", flag="--protocol")


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
    """The protocol `--protocol=name` means (`auto`: gt_ratio with ground truth, else fixed_ratio)."""
    if name == "auto":
        return "gt_ratio" if high_dir else "fixed_ratio"
    if name not in PROTOCOLS:
        raise EvalError(f"--protocol={name}: expected auto or one of {', '.join(PROTOCOLS)}")
    if PROTOCOLS[name].needs_gt and not high_dir:
        raise EvalError(f"--protocol={name} needs --high_dir (the ground-truth folder)")
    return name


def thumbnail(arr, height):
    """A uint8 `[H, W, 3]` array as a PIL image `height` px tall (aspect kept)."""
    h, w = arr.shape[:2]
    # Nearest for tiny images (a 1x1 input stays one flat colour), bilinear otherwise.
    method = Image.Resampling.NEAREST if h < 16 else Image.Resampling.BILINEAR
    return Image.fromarray(arr).resize((max(1, round(w * height / h)), height), method)


def write_grid(path, tiles, labels=None):
    """A PNG with one row of equally tall thumbnails per image: input | output | ground truth.

    labels: optional column titles, drawn in a header row above the first row's tiles.
    """
    gap, height = 4, tiles[0][0].height
    head = 18 if labels else 0
    width = max(sum(t.width for t in row) + gap * (len(row) - 1) for row in tiles)
    canvas = Image.new("RGB", (width, head + len(tiles) * height + gap * (len(tiles) - 1)), (255, 255, 255))
    for r, row in enumerate(tiles):
        x = 0
        for tile in row:
            canvas.paste(tile, (x, head + r * (height + gap)))
            x += tile.width + gap
    if labels:
        from PIL import ImageDraw

        draw, x = ImageDraw.Draw(canvas), 0
        for tile, label in zip(tiles[0], labels):
            draw.text((x + tile.width / 2, head / 2), label, fill=(0, 0, 0), anchor="mm")
            x += tile.width + gap
    _atomic_save(path, canvas)


def compact_copy(png, path, scale=1.0):
    """A copy of a comparison grid for reports and docs: resized by `scale`, in a 256-colour palette.

    15 real LOL images make a 2.2 MB grid at compress level 1; this copy is 0.3-0.6 MB.
    """
    with Image.open(png) as im:
        small = im.convert("RGB")
    if scale != 1.0:
        small = small.resize((round(small.width * scale), round(small.height * scale)), Image.Resampling.LANCZOS)
    small = small.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)
    image_ops.atomic_write(path, lambda tmp: small.save(tmp, "png", optimize=True))


def anchor_line(protocol):
    """The paper's figures, and whether they were measured under `protocol`."""
    a = metrics.PAPER_ANCHOR
    same = "" if protocol == a["protocol"] else f"; measured under {a['protocol']}, not comparable with {protocol}"
    return (f"paper anchor ({a['method']}, {a['dataset']}, ratio from the ground truth{same}): "
            f"PSNR {a['psnr']:.2f} dB, SSIM {a['ssim']:.4f}")


def metric_columns(rows):
    """The metric columns of scored rows, in their order (every key but `image`)."""
    return [k for k in rows[0] if k != "image"] if rows else []


def _header(column):
    m = catalog.describe(column)
    return m.header + (" in" if column.endswith("_input") else "")


def format_table(rows, protocol):
    """The metrics table as text: one line per image, the mean, the protocol and (with ground truth) the paper anchor."""
    cols = metric_columns(rows)
    widths = [max(9, len(_header(c)) + 2) for c in cols]
    lines = [f"protocol: {protocol} -- {PROTOCOLS[protocol].description}",
             f"{'image':<28}" + "".join(f"{_header(c):>{w}}" for c, w in zip(cols, widths))]
    mean = mean_metrics(rows)
    for row in rows + [dict(mean, image=f"mean ({len(rows)} images)")]:
        lines.append(f"{row['image']:<28}" + "".join(f"{catalog.fmt(c, row[c]):>{w}}" for c, w in zip(cols, widths)))
    arrows = ", ".join(f"{_header(c)} {'higher' if catalog.describe(c).higher_is_better else 'lower'}"
                       for c in cols if not c.endswith("_input"))
    lines.append(f"better: {arrows}")
    if any(catalog.describe(c).reference for c in cols):
        lines.append(anchor_line(protocol))
    return "\n".join(lines)


def mean_metrics(rows):
    """Mean of each metric column over the rows (NaN entries, from tiny images, are left out)."""
    out = {}
    for k in metric_columns(rows):
        vals = [r[k] for r in rows if not math.isnan(r[k])]
        out[k] = float(np.mean(vals)) if vals else float("nan")
    return out


def write_metrics(folder, rows, protocol):
    """`metrics.csv` (per image, then the mean) and `metrics.json` (with protocol, metric notes and anchor)."""
    mean, cols = mean_metrics(rows), metric_columns(rows)
    lines = [",".join(["image"] + cols)]
    for row in rows + [dict(mean, image="mean")]:
        lines.append(",".join([row["image"]] + [repr(float(row[k])) for k in cols]))
    image_ops.atomic_write_text(os.path.join(folder, "metrics.csv"), "\n".join(lines) + "\n")
    notes = {c: catalog.describe(c).measures + (" (of the input image)" if c.endswith("_input") else "")
             + f"; {'higher' if catalog.describe(c).higher_is_better else 'lower'} is better" for c in cols}
    doc = {"protocol": protocol, "protocol_description": PROTOCOLS[protocol].description, "metrics": notes,
           "paper_anchor": metrics.PAPER_ANCHOR, "images": rows, "mean": mean}
    image_ops.atomic_write_text(os.path.join(folder, "metrics.json"), json.dumps(doc, indent=1, allow_nan=True) + "\n")


def _check_config(cfg):
    """(protocol, tile, metric names): the settings checked, `cfg.tile` parsed once (None, "auto" or an int)."""
    protocol = resolve_protocol(cfg.protocol, cfg.high_dir)
    if cfg.high_dir and not os.path.isdir(cfg.high_dir):
        raise EvalError(f"--high_dir={cfg.high_dir}: folder does not exist")
    if not math.isfinite(cfg.ratio) or cfg.ratio < 0:
        raise EvalError(f"--ratio={cfg.ratio}: expected a finite value >= 0")
    tile = tiling.parse_tile(cfg.tile, name="--tile")
    names = catalog.parse_metrics(cfg.metrics, paired=bool(cfg.high_dir))
    if os.path.realpath(cfg.output_dir) == os.path.realpath(cfg.input_dir):
        raise EvalError(f"--output_dir={cfg.output_dir} is --input_dir: refusing to write next to the inputs")
    return protocol, tile, names


@dataclasses.dataclass
class _Job:
    """One evaluation: what is enhanced how, and what has come out so far."""

    protocol: str
    paths: list
    kind: object
    tile: object  # parsed --tile: None, "auto" or an int
    metric_names: tuple  # what each image is scored with (metrics.catalog)
    rows: list = dataclasses.field(default_factory=list)  # metrics per scored image
    grid_rows: list = dataclasses.field(default_factory=list)  # thumbnails per image
    failures: list = dataclasses.field(default_factory=list)


def _open_job(cfg, log, kind):
    """Check the flags, list the inputs, load the networks; raises EvalError / FileNotFoundError / ValueError."""
    protocol, tile, names = _check_config(cfg)
    paths, skipped = list_inputs(cfg.input_dir)
    if skipped:
        log(f"skipping {len(skipped)} file(s) without an image extension: {', '.join(skipped)}")
    if not paths:
        raise EvalError(f"--input_dir={cfg.input_dir}: no images ({', '.join(IMAGE_EXTENSIONS)})")
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
    raw = image_ops.read_rgb(path)
    x = image_ops.stretch(raw).numpy()[None]
    high = gt = None
    if cfg.high_dir:
        gt_path = find_ground_truth(cfg.high_dir, path)
        gt_raw = image_ops.read_rgb(gt_path)
        if gt_raw.shape != raw.shape:
            raise errors.DataError(f"{path}: size {raw.shape[1]}x{raw.shape[0]} differs from the ground truth "
                             f"{gt_path} ({gt_raw.shape[1]}x{gt_raw.shape[0]})")
        high, gt = image_ops.stretch(gt_raw).numpy()[None], _uint8_ground_truth(gt_path)
    tile = tiling.resolve_tile(job.tile, *raw.shape[:2])
    progress = None
    if tile is not None:
        log(f"  {os.path.basename(path)} ({raw.shape[1]}x{raw.shape[0]}): {tile}-px tiles, "
            f"{tiling.count_tiles(*raw.shape[:2], tile)} per pass")
        progress = _progress_printer(os.path.basename(path), log)
    pixels = PROTOCOLS[job.protocol].enhance(job.kind, x, high, gt, cfg.ratio, tile=tile, progress=progress)
    _atomic_save(os.path.join(cfg.output_dir, output_name(path)), Image.fromarray(pixels))
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
        write_grid(grid_path, job.grid_rows)
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
    run (folders, flags, networks). An image that fails alone (unreadable, no or mismatched ground
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
            msg = str(e) if os.path.basename(path) in str(e) else f"{path}: {e}"
            warn(msg)
            failures.append((path, msg))
            job.failures.append(path)
            continue
        if cfg.grid:  # thumbnails only: a long run must not hold every full-size image
            job.grid_rows.append([thumbnail(a, cfg.grid_height) for a in images if a is not None])
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
