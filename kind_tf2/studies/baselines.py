"""What KinD's first two networks give on real LOL without restoration, next to the stretched input and a ceiling.

`run(BaselinesConfig(data_dir="../shared/lol", checkpoint_dir=<released DecomNet and
Illumination_adjust_net>, out="docs/real_lol/released_networks"))` (the `baselines` command) scores
eval15 under every protocol:

- `stretched_input`: the low image min-max stretched, as every protocol's input (under gt_mean
  scaled to the ground truth's mean grey level, as that protocol scores any output);
- `no_restoration`: the whole pipeline with R_hat = R (`restoration="none"`): what the released
  DecomNet and Illumination_adjust_net give alone;
- `ceiling_r_high` (gt_ratio only): the decomposition of the ground truth, R_high, in place of
  R_hat, times the same L_hat: what a perfect Restoration_net would reach (its target is R_high ** 1.2).
"""

import dataclasses
import os

import numpy as np

from kind_tf2 import errors, evaluation, image_io, image_ops, metrics
from kind_tf2.files import atomic_write_text
from kind_tf2.registry import Registry
from kind_tf2.reporting import grids, tables

ROWS = Registry("baseline row")


def register_row(name, description, protocols=None):
    """Decorator: `fn(kind, x, high, gt, ratio, protocol) -> uint8 [H, W, 3]` scored as row `name`.

    protocols: the protocols the row exists under (None: all).
    """

    def add(fn):
        ROWS.add(name, (description, protocols, fn), where=f"{fn.__module__}.{fn.__qualname__}")
        return fn

    return add


@register_row("stretched_input", "the low image, min-max stretched (gt_mean: scaled to the ground truth's mean grey)")
def _stretched_input(kind, x, high, gt, ratio, protocol):
    out = np.clip(np.asarray(x[0], np.float64) * 255.0, 0.0, 255.0)
    if protocol == "gt_mean":
        out = metrics.gt_mean_align(out, gt)
    return np.rint(out).astype(np.uint8)


@register_row("no_restoration", "released DecomNet + Illumination_adjust_net, R_hat = R (no Restoration_net)")
def _no_restoration(kind, x, high, gt, ratio, protocol):
    return evaluation.PROTOCOLS[protocol].enhance(kind, x, high, gt, ratio)


@register_row("ceiling_r_high", "R_high (DecomNet of the ground truth) x L_hat: a perfect restoration's ceiling",
              protocols=("gt_ratio",))
def _ceiling(kind, x, high, gt, ratio, protocol):
    import tensorflow as tf

    r_high, i_high = kind.decom(high, training=False)
    _, i = kind.decom(x, training=False)
    ratio_map = tf.reduce_mean(i_high / (i + 0.0001), axis=[1, 2, 3], keepdims=True)  # as the gt_ratio protocol
    i_hat = kind.illumination(i, tf.ones_like(i) * ratio_map, training=False)
    return image_ops.to_uint8((r_high * i_hat)[0]).numpy()


@dataclasses.dataclass
class BaselinesConfig:
    """What the job needs: LOL (eval15/low, eval15/high), the networks, where results go."""

    data_dir: str
    checkpoint_dir: str = None  # DecomNet and Illumination_adjust_net (the original layout or the port's)
    decom_checkpoint: str = None
    illumination_checkpoint: str = None
    out: str = "./results/baselines"
    ratio: float = 5.0  # fixed_ratio and gt_mean
    save_images: bool = True  # the enhanced PNGs of every row and protocol (the metrics are recomputable from them)


@dataclasses.dataclass
class BaselinesResult:
    """What the baselines wrote, and the pairs they could not score."""

    means: dict  # {protocol: {row: mean metrics}}
    table: str  # path of table.md
    grid: str  # path of grid.png
    failures: list = dataclasses.field(default_factory=list)  # [(low image path, message)]

    @property
    def ok(self):
        return not self.failures


def _read_pair(name, low_path, high_path):
    """`(x, high, gt)` of one eval pair (`image_io`, as evaluate reads them); DataError naming a bad or mismatched file."""
    x, high, gt = image_io.load_image(low_path)[None], image_io.load_image(high_path)[None], image_io.read_uint8(high_path)
    if x.shape != high.shape:
        raise errors.DataError(f"{low_path}: size {x.shape[2]}x{x.shape[1]} differs from the ground truth {high_path} "
                               f"({high.shape[2]}x{high.shape[1]})")
    return x, high, gt


def run(cfg, log=print, warn=None):
    """Score every row under every protocol; writes `<out>/<row>/<protocol>/metrics.json` (the evaluate job's
    format), `<out>/table.md` and `<out>/grid.png`. Returns a BaselinesResult.

    A pair that cannot be read (or whose sizes differ) is said through `warn` (default: log) and
    left out; the others are scored."""
    warn = warn or log
    from kind_tf2.data import lol
    from kind_tf2.pipeline import NO_RESTORATION, KinD

    pairs = lol.pair_files(os.path.join(cfg.data_dir, "eval15"))
    kind = KinD.from_checkpoint(cfg.checkpoint_dir, decom=cfg.decom_checkpoint,
                                illumination=cfg.illumination_checkpoint, restoration=NO_RESTORATION, log=log)
    scored = {p: {r: [] for r, (_, only, _) in ROWS.items() if only is None or p in only}
              for p in evaluation.PROTOCOLS}
    grid_rows = []
    failures = []
    for k, (name, low_path, high_path) in enumerate(pairs, 1):
        try:
            x, high, gt = _read_pair(name, low_path, high_path)
        except (errors.KindError, OSError) as err:
            message = errors.about_file(low_path, err)
            warn(message)
            failures.append((low_path, message))
            continue
        shown = {}
        for protocol, rows in scored.items():
            for row in rows:
                pixels = ROWS[row][2](kind, x, high, gt, cfg.ratio, protocol)
                rows[row].append(dict(image=name, **metrics.evaluate_pair(pixels, gt)))
                if cfg.save_images:
                    folder = os.path.join(cfg.out, row, protocol)
                    os.makedirs(folder, exist_ok=True)
                    image_io.save_png(os.path.join(folder, image_io.output_name(name)), pixels)
                if protocol == "gt_ratio":
                    shown[row] = pixels
        grid_rows.append([grids.thumbnail(a, 120) for a in (shown["stretched_input"], shown["no_restoration"],
                                                                 shown["ceiling_r_high"], gt)])
        log(f"[{k}/{len(pairs)}] {name}")
    if not grid_rows:
        raise errors.DataError(f"data_dir={cfg.data_dir}: no eval15 pair could be scored ({len(failures)} failed)",
                               fields=("data_dir",))
    means = {}
    for protocol, rows in scored.items():
        means[protocol] = {}
        for row, per_image in rows.items():
            folder = os.path.join(cfg.out, row, protocol)
            os.makedirs(folder, exist_ok=True)
            evaluation.write_metrics(folder, per_image, protocol)
            means[protocol][row] = evaluation.mean_metrics(per_image)
    grid = os.path.join(cfg.out, "grid.png")
    grids.write_grid(grid, grid_rows, labels=("stretched input", "no restoration (gt_ratio)",
                                                   "ceiling: R_high x L_hat", "ground truth"))
    grids.compact_copy(grid, grid)  # small enough to commit (docs/real_lol)
    table = os.path.join(cfg.out, "table.md")
    atomic_write_text(table, format_table(means, kind.sources, len(pairs)))
    tables.write_json(os.path.join(cfg.out, "means.json"), means)
    log(f"table: {table}; grid (gt_ratio: stretched input | no restoration | ceiling | ground truth): {grid}")
    return BaselinesResult(means, table, grid, failures)


def format_table(means, sources, n):
    """Markdown: one table per protocol, a row per baseline (metric columns from the catalog), the paper's KinD
    under gt_ratio."""
    lines = [f"eval15 ({n} images). Networks: " + "; ".join(f"{k}: {v}" for k, v in sources.items()) + ".", ""]
    anchor = metrics.PAPER_ANCHOR
    columns = [tables.Column("row", "row")] + tables.metric_columns(("psnr", "ssim_rgb", "ssim_gray", "loe"))
    for protocol, rows in means.items():
        table = tables.Table(columns, [dict(m, row=f"{row}: {ROWS[row][0]}") for row, m in rows.items()])
        if protocol == anchor["protocol"]:
            table.add({"row": "the paper's whole KinD (ACM MM 2019, Table 1)", "psnr": f"{anchor['psnr']:.2f}",
                       "ssim_rgb": f"{anchor['ssim']:.4f}", "ssim_gray": "", "loe": ""})
        lines += [f"**{protocol}**: {evaluation.PROTOCOLS[protocol].description}.", "", table.markdown(), ""]
    return "\n".join(lines)
