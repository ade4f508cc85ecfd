"""The loss laboratory: train one KinD stage under several objectives from one start and compare them: `python -m kind_tf2.lab`."""

import csv
import dataclasses
import hashlib
import json
import math
import os
import re
import textwrap
import time

import numpy as np

from kind_tf2 import checkpoints, errors, image_ops, losses, metrics, models, plots, presets
from kind_tf2.metrics import catalog
from kind_tf2.data.lol import DatasetError

LAB_STAGES = ("restoration", "illumination")
# The scores of a variant and which way is better; the uncertainty tables cover these.
# End to end (with the other networks from their checkpoints, gt_ratio) every output is scored by these
# registered metrics (metrics.catalog), column e2e_<name>: the paper's three, the colour error the
# survey's colour terms target, and the two no-reference ones (about 5 % of an enhancement's cost).
E2E_METRICS = {"e2e_psnr": "psnr", "e2e_ssim": "ssim_rgb", "e2e_loe": "loe", "e2e_ciede2000": "ciede2000",
               "e2e_niqe": "niqe", "e2e_brisque": "brisque"}
# Every lab metric and the registered metric it is (stage scores compare the network output with its target).
_REGISTERED = {"psnr": "psnr", "ssim": "ssim_rgb", **E2E_METRICS}
LAB_METRICS = {col: catalog.METRICS[name].higher_is_better for col, name in _REGISTERED.items()}
# A difference whose whole CI lies within +-margin is "no practical difference" (--margins).
DEFAULT_MARGINS = ("psnr:0.05,ssim:0.002,e2e_psnr:0.05,e2e_ssim:0.002,e2e_loe:5,e2e_ciede2000:0.05,"
                   "e2e_niqe:0.05,e2e_brisque:0.5")
SAMPLE_ROWS = 4  # eval images shown in samples.png


@dataclasses.dataclass
class LabConfig:
    """What one laboratory run compares; `main` fills it from flags."""

    stage: str
    data_dir: str
    decom_checkpoint: str
    out: str
    variants: str = "default"
    epochs: int = None  # None: the stage's default (the original's)
    batch_size: int = None
    patch_size: int = None
    learning_rate: float = None
    preset: str = "original"  # a name in presets.PRESETS: the stage's settings under the lab's flags
    lr_schedule: str = None  # None: the preset's (training.schedules)
    mixed_precision: str = None  # None: the preset's
    seed: int = 0
    vgg_weights: str = None
    decom_cache: str = None  # folder of the frozen DecomNet's outputs (as the stage scripts); None: decompose
    illumination_checkpoint: str = None  # with --stage=restoration: end-to-end scores
    restoration_checkpoint: str = None  # with --stage=illumination: end-to-end scores
    log_every: int = 10
    seeds: int = 1  # runs per variant: seeds seed, seed + 1, ... (initialisation and patch order, shared by variants)
    margins: str = DEFAULT_MARGINS  # metric:margin,... the practical margins of the comparisons
    level: float = 0.05  # significance level, after Holm's correction over the variants


def parse_margins(value):
    """`--margins` ("psnr:0.05,ssim:0.002") -> {metric: margin}; ConfigError naming the flag when malformed."""
    out = {}
    for item in (i.strip() for i in (value or "").split(",")):
        if not item:
            continue
        name, _, number = item.partition(":")
        try:
            margin = float(number)
        except ValueError:
            margin = -1.0
        if name not in LAB_METRICS or not margin >= 0:
            raise errors.ConfigError(f"--margins={value}: {item!r} is not <metric>:<margin >= 0> with a metric of "
                                     f"{', '.join(LAB_METRICS)}")
        out[name] = margin
    return out


def run_folder(cfg, variant, k):
    """The folder of seed index k of a variant: the variant's folder for the first seed, `seed_<s>/` in it else."""
    return variant.folder if k == 0 else os.path.join(variant.folder, f"seed_{cfg.seed + k}")


@dataclasses.dataclass
class Variant:
    """One objective under comparison."""

    label: str  # as the user wrote it ("default" or the spec)
    spec: str  # canonical spec
    is_default: bool
    folder: str  # out/variants/<slug>


def slug(spec):
    """A folder name for a canonical spec: readable prefix plus a hash (order of --variants does not matter)."""
    readable = re.sub(r"[^A-Za-z0-9.=_-]+", "_", spec).strip("_")[:48]
    return f"{readable}-{hashlib.sha1(spec.encode()).hexdigest()[:8]}"


def parse_variants(cfg, stage):
    """`--variants` ("default;l1:1;...") -> [Variant]; SpecError names the variant at fault."""
    variants, seen = [], {}
    patch = cfg.patch_size or stage.defaults["patch_size"]
    for raw in (v.strip() for v in cfg.variants.split(";")):
        if not raw:
            continue
        is_default = raw == "default"
        try:
            objective = stage.objective(None if is_default else raw, patch, cfg.vgg_weights)
        except losses.SpecError as err:
            raise losses.SpecError(f"--variants: {raw!r}: {err}") from None
        spec = objective.spec
        if spec in seen:
            raise losses.SpecError(f"--variants: {raw!r} is the same objective as {seen[spec]!r}")
        seen[spec] = raw
        is_default = is_default or spec == stage.objective(None).spec
        variants.append(Variant(raw, spec, is_default, os.path.join(cfg.out, "variants", slug(spec))))
    if not variants:
        raise losses.SpecError("--variants is empty")
    return variants


def _train_config(cfg, stage, variant, init_weights, k=0):
    """The TrainConfig of seed index k of a variant: the stage's defaults, then the lab's settings that were given."""
    from kind_tf2.training import config

    preset = presets.get(cfg.preset).stages.get(stage.name, {})
    given = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "patch_size": cfg.patch_size,
             "learning_rate": cfg.learning_rate, "lr_schedule": cfg.lr_schedule,
             "mixed_precision": cfg.mixed_precision}
    epochs = next(e for e in (cfg.epochs, preset.get("epochs"), stage.defaults["epochs"]) if e is not None)
    preset = {key: value for key, value in preset.items() if key != "eval_every"}  # the lab evaluates once, at the end
    return config.for_stage(
        stage, preset, given, data_dir=cfg.data_dir, checkpoint_dir=run_folder(cfg, variant, k),
        decom_checkpoint=cfg.decom_checkpoint, seed=cfg.seed + k, eval_every=epochs, log_every=cfg.log_every,  # samples once, at the end
        export_tf1=False, loss=None if variant.label == "default" else variant.spec, vgg_weights=cfg.vgg_weights,
        init_weights=init_weights, decom_cache=cfg.decom_cache,
    )


def _initial_weights(cfg, stage, log, k=0):
    """The initialisation every variant starts from under seed index k: `out/init.weights.h5` (k = 0), else
    `out/init_seed<s>.weights.h5`."""
    import keras

    seed = cfg.seed + k
    path = os.path.join(cfg.out, "init.weights.h5" if k == 0 else f"init_seed{seed}.weights.h5")
    if not os.path.isfile(path):
        keras.utils.set_random_seed(seed)
        net = models.build_network(stage.scope)
        tmp = os.path.join(cfg.out, ".init.tmp.weights.h5")  # Keras insists on the .weights.h5 suffix
        net.save_weights(tmp)
        os.replace(tmp, path)
        log(f"initial weights (seed {seed}) written to {path}")
    return path


def _end_to_end_kind(cfg, stage, model):
    """KinD with the variant's network and the other two from their checkpoints, or None."""
    from kind_tf2.pipeline import KinD

    other = cfg.illumination_checkpoint if stage.name == "restoration" else cfg.restoration_checkpoint
    if not other:
        return None
    nets = {stage.scope: model}
    other_scope = models.ILLUMINATION_SCOPE if stage.name == "restoration" else models.RESTORATION_SCOPE
    for scope, source in ((models.DECOM_SCOPE, cfg.decom_checkpoint), (other_scope, other)):
        nets[scope] = models.build_network(scope)
        checkpoints.load_network_weights(nets[scope], source)
    return KinD(nets[models.DECOM_SCOPE], nets[models.RESTORATION_SCOPE], nets[models.ILLUMINATION_SCOPE])


def score_variant(cfg, stage, data, variant, model, log, folder=None):
    """Stage PSNR / SSIM of each eval image (and end to end with the other network); writes previews in `folder`."""
    preview_dir = os.path.join(folder or variant.folder, "eval")
    os.makedirs(preview_dir, exist_ok=True)
    kind = _end_to_end_kind(cfg, stage, model)
    rows = []
    for k, item in enumerate(data.scoring):
        pred = np.clip(stage.predict(model, item.inputs)[0].numpy(), 0.0, 1.0)
        a = np.repeat(pred, 3, axis=2) if pred.shape[2] == 1 else pred
        b = np.repeat(item.target, 3, axis=2) if item.target.shape[2] == 1 else item.target
        row = {"image": item.name, "psnr": metrics.psnr(a * 255.0, b * 255.0),
               "ssim": metrics.ssim_rgb(a * 255.0, b * 255.0) if min(a.shape[:2]) >= 11 else float("nan")}
        if kind is not None:
            low, high = image_ops.load_image(item.low_path), image_ops.load_image(item.high_path)
            out = image_ops.to_uint8(kind.enhance(low[None], high=high[None])[0]).numpy()
            gt = np.rint(image_ops.read_rgb(item.high_path).astype(np.float64) * 255.0).astype(np.uint8)
            scores = catalog.score(tuple(E2E_METRICS.values()), out, gt, unscored=lambda column, err: log(
                f"  warning: {item.name}: {column} not scored: {err}"))
            row.update({col: scores[name] for col, name in E2E_METRICS.items()})
        if k < SAMPLE_ROWS:
            image_ops.save_image(os.path.join(preview_dir, f"{k}.png"), pred)
            refs = os.path.join(cfg.out, "eval")  # the input and target columns of samples.png
            os.makedirs(refs, exist_ok=True)
            image_ops.save_image(os.path.join(refs, f"input_{k}.png"), item.inputs[0])
            image_ops.save_image(os.path.join(refs, f"target_{k}.png"), item.target)
        rows.append(row)
    keys = [key for key in rows[0] if key != "image"]
    # An image a metric cannot score (NIQE under 96x192) is NaN there and left out of the mean.
    mean = {key: _finite_mean([r[key] for r in rows]) for key in keys}
    log(f"  scores of {variant.label}: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))
    return mean, rows


def _finite_mean(values):
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def run_variant(cfg, stage, data, variant, init_weights, strategy, log, k=0):
    """Train (or resume) seed index k of one variant and score it; writes `<its folder>/result.json`."""
    from kind_tf2.training import engine, loop

    tcfg = _train_config(cfg, stage, variant, init_weights, k)
    t0 = time.time()
    trainer = engine.Trainer(stage, tcfg, strategy, log=lambda line: log("  " + line))
    trained = loop.fit(trainer, data)
    seconds = time.time() - t0
    mean, rows = score_variant(cfg, stage, data, variant, trainer.model, log, tcfg.checkpoint_dir)
    total = trained.final_losses.get(stage.total_name, float("nan"))
    result = {"variant": variant.label, "spec": variant.spec, "default": variant.is_default,
              "steps": trained.steps, "epochs": tcfg.epochs, "batch_size": tcfg.batch_size,
              "patch_size": tcfg.patch_size, "seed": tcfg.seed, "final_loss": total,
              "train_seconds": round(seconds, 1), **mean, "per_image": rows}
    image_ops.atomic_write_text(os.path.join(tcfg.checkpoint_dir, "result.json"), json.dumps(result, indent=1))
    return result


@dataclasses.dataclass
class LabResult:
    """The laboratory's outcome: one result dict per variant (as in results.json), and the folder of the reports."""

    stage: str
    variants: list
    out: str


def run_lab(cfg, log=None):
    """Run the laboratory; returns a LabResult. Finished variants are read, not retrained.

    Raises a KindError naming the flag or file at fault (checked before any training where possible).
    """
    from kind_tf2.training import engine, stages

    log = log or (lambda line: print(line, flush=True))
    if cfg.stage not in LAB_STAGES:
        raise errors.ConfigError(f"--stage={cfg.stage}: expected one of {', '.join(LAB_STAGES)}")
    stage = stages.STAGES[cfg.stage]()
    variants = parse_variants(cfg, stage)
    other = "--restoration_checkpoint" if cfg.stage == "illumination" else "--illumination_checkpoint"
    wrong = cfg.illumination_checkpoint if cfg.stage == "illumination" else cfg.restoration_checkpoint
    if wrong:
        raise errors.ConfigError(f"--stage={cfg.stage} trains that network itself; for end-to-end scores give {other}")
    _train_config(cfg, stage, variants[0], None)  # a bad --epochs / --batch_size stops here, before any work
    if not (isinstance(cfg.seeds, int) and cfg.seeds >= 1):
        raise errors.ConfigError(f"--seeds={cfg.seeds}: must be a whole number >= 1")
    margins = parse_margins(cfg.margins)
    os.makedirs(cfg.out, exist_ok=True)
    log(f"[lab] {cfg.stage}: {len(variants)} variant(s) x {cfg.seeds} seed(s) in {cfg.out}")
    runs = {}  # (variant index, seed index) -> result dict
    for i, v in enumerate(variants):
        for k in range(cfg.seeds):
            done = os.path.join(run_folder(cfg, v, k), "result.json")
            if os.path.isfile(done):
                with open(done) as f:
                    runs[i, k] = json.load(f)
    if len(runs) < len(variants) * cfg.seeds:
        strategy = engine.create_strategy("default")
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, scoring=True, decom_cache=cfg.decom_cache)
        if not data.scoring:
            raise DatasetError(f"{cfg.data_dir}: the {cfg.stage} eval split is empty")
    for k in range(cfg.seeds):  # seed by seed: a short budget gives every variant its first seed first
        init = None
        for i, v in enumerate(variants):
            name = f"variant {i + 1}/{len(variants)}" + (f", seed {cfg.seed + k}" if cfg.seeds > 1 else "")
            if (i, k) in runs:
                log(f"[lab] {name} {v.label}: finished earlier, skipped")
                continue
            init = init or _initial_weights(cfg, stage, log, k)
            log(f"[lab] {name}: {v.label}" + (f" = {v.spec}" if v.label != v.spec else ""))
            runs[i, k] = run_variant(cfg, stage, data, v, init, strategy, log, k)
    results = summarize([[runs[i, k] for k in range(cfg.seeds)] for i in range(len(variants))], margins, cfg.level)
    write_reports(cfg, stage, variants, results, log)
    return LabResult(stage.name, results, cfg.out)


# ---- uncertainty ---------------------------------------------------------------------------------------


def summarize(per_variant, margins, level=0.05):
    """One dict per variant from its runs (one result dict per seed, as `run_variant` wrote them).

    The first seed's settings; each metric of LAB_METRICS averaged over the seeds' means; `runs`, the
    per-seed results; `ci` {metric: {mean, low, high}}: the 95 % bootstrap interval over images and
    seeds (`stats.confidence_interval`); `vs_default` {metric: {mean, low, high, p, p_holm, verdict}}:
    the paired difference to the ★ default over the same (seed, image) cells, Holm-corrected over the
    variants per metric, and its verdict at `level` with the metric's practical margin.
    """
    from kind_tf2 import stats

    names = [m for m in LAB_METRICS if m in per_variant[0][0]]
    out, cells = [], {}
    for i, runs in enumerate(per_variant):
        r = {k: v for k, v in runs[0].items() if k != "per_image"}
        r.update(final_loss=float(np.mean([x["final_loss"] for x in runs])),
                 train_seconds=round(sum(x["train_seconds"] for x in runs), 1), seeds=[x["seed"] for x in runs],
                 runs=runs, ci={})
        for m in names:
            r[m] = float(np.mean([x[m] for x in runs]))
            mat = np.array([[row[m] for row in x["per_image"]] for x in runs], np.float64)  # [seeds, images]
            cells[i, m] = mat
            ok = np.isfinite(mat).all(axis=0)  # SSIM is NaN on images under 11 px
            if ok.any():
                ci = stats.confidence_interval(mat[:, ok])
                r["ci"][m] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
        out.append(r)
    ref = next((i for i, r in enumerate(out) if r["default"]), None)
    if ref is None:
        return out
    for m in names:
        diffs = {}
        for i in range(len(out)):
            a, b = cells[i, m], cells[ref, m]
            ok = np.isfinite(a).all(axis=0) & np.isfinite(b).all(axis=0)
            if i != ref and ok.any():
                diffs[i] = stats.paired_difference(a[:, ok], b[:, ok])
        for (i, d), p_holm in zip(diffs.items(), stats.holm([d.p_value for d in diffs.values()])):
            out[i].setdefault("vs_default", {})[m] = {
                "mean": d.mean, "low": d.low, "high": d.high, "p": d.p_value, "p_holm": float(p_holm),
                "verdict": stats.verdict(d, p_holm, margins.get(m), LAB_METRICS[m], level)}
    return out


def _uncertainty_lines(results, margins, level):
    """results.md's part on uncertainty: each variant's CIs, its paired difference to the default, verdicts."""
    names = [m for m in LAB_METRICS if m in results[0]["ci"]]
    seeds = len(results[0]["seeds"])
    lines = ["", "## Uncertainty", "",
             f"Means over {seeds} seed(s) x the eval images, with 95 % bootstrap intervals (images and seeds "
             "resampled). Differences to ★ are paired by seed and image; p: two-sided bootstrap, Holm-corrected "
             f"over the variants per metric; significant at {level:g}. Practical margins: "
             + (", ".join(f"{m} {v:g}" for m, v in margins.items()) or "none") + ".", "",
             "| variant | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for r in results:
        cells = [f"{r['ci'][m]['mean']:.{_decimals(m)}f} [{r['ci'][m]['low']:.{_decimals(m)}f}, "
                 f"{r['ci'][m]['high']:.{_decimals(m)}f}]" if m in r["ci"] else "" for m in names]
        lines.append(f"| {'★ ' if r['default'] else ''}`{r['variant']}` | " + " | ".join(cells) + " |")
    others = [r for r in results if "vs_default" in r]
    if not others:
        return lines
    lines += ["", "| variant vs ★ | metric | difference [95 % CI] | p | p (Holm) | verdict |",
              "|---|---|---|---|---|---|"]
    for r in others:
        for m, d in r["vs_default"].items():
            n = _decimals(m)
            lines.append(f"| `{r['variant']}` | {m} | {d['mean']:+.{n}f} [{d['low']:+.{n}f}, {d['high']:+.{n}f}] | "
                         f"{d['p']:.4f} | {d['p_holm']:.4f} | {d['verdict']} |")
    lines += [""]
    for m in names:
        groups = {}
        for r in others:
            if m in r.get("vs_default", {}):
                groups.setdefault(r["vs_default"][m]["verdict"], []).append(f"`{r['variant']}`")
        said = "; ".join(f"{verdict}: {', '.join(vs)}" for verdict, vs in groups.items())
        lines.append(f"- {m} against ★: {said}.")
    if seeds < 2:
        lines.append("- One seed: the intervals cover the images only, not the variation between training runs "
                     "(--seeds=3 or more for that).")
    return lines


# ---- reports -------------------------------------------------------------------------------------------


def _columns(results):
    return (["variant", "default"] + [m for m in LAB_METRICS if any(m in r for r in results)]
            + ["final_loss", "steps", "train_seconds", "spec"])


def _decimals(metric):
    """Decimals a lab metric prints with: its registered metric's (metrics.catalog)."""
    return catalog.METRICS[_REGISTERED[metric]].decimals


def _csv_row(r, cols):
    """A results.csv row: the columns, then the CIs and the difference to the default of every metric."""
    row = [r.get(c, "") for c in cols] + [len(r.get("seeds", [1]))]
    for m in LAB_METRICS:
        ci, d = r.get("ci", {}).get(m), r.get("vs_default", {}).get(m)
        row += [ci["low"], ci["high"]] if ci else ["", ""]
        row += [d["mean"], d["low"], d["high"], d["p_holm"], d["verdict"]] if d else ["", "", "", "", ""]
    return row


def _csv_header(cols):
    extra = ["n_seeds"]
    for m in LAB_METRICS:
        extra += [f"{m}_low", f"{m}_high", f"{m}_diff", f"{m}_diff_low", f"{m}_diff_high", f"{m}_p_holm",
                  f"{m}_verdict"]
    return cols + extra


def _fmt(value):
    if isinstance(value, float) and value == int(value) and not math.isinf(value) and abs(value) > 100:
        return f"{value:.0f}"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.1f}" if abs(value) >= 10 else f"{value:.4f}"
    return str(value)


def write_reports(cfg, stage, variants, results, log):
    """results.csv / .json / .md, curves.png, metrics.png, differences.png and samples.png in `cfg.out`."""
    cols = _columns(results)
    order = sorted(range(len(results)), key=lambda k: -results[k]["psnr"])

    def write_csv(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(_csv_header(cols))
            for r in results:
                w.writerow(_csv_row(r, cols))

    image_ops.atomic_write(os.path.join(cfg.out, "results.csv"), write_csv)
    doc = {"stage": stage.name, "target": _target_name(stage), "data_dir": cfg.data_dir, "variants": results}
    image_ops.atomic_write_text(os.path.join(cfg.out, "results.json"), json.dumps(doc, indent=1))
    lines = [f"# Loss laboratory: {stage.name}", "",
             f"Scores of the network output against {_target_name(stage)} on the stage's eval split"
             + (", and end to end (gt_ratio protocol) against the ground truth" if "e2e_psnr" in cols else "")
             + f". Sorted by PSNR; ★ marks the original objective. {results[0]['steps']} steps, batch "
             f"{results[0]['batch_size']}, patch {results[0]['patch_size']}, seed(s) "
             f"{', '.join(map(str, results[0].get('seeds', [results[0]['seed']])))}; the columns are means over "
             "seeds and images (train_seconds: the seeds' sum).", "",
             "| " + " | ".join(c for c in cols if c != "default") + " |",
             "|" + "---|" * (len(cols) - 1)]
    for k in order:
        r = results[k]
        cells = [("★ " if r["default"] else "") + f"`{r['variant']}`"] + [
            f"{r[c]:.{_decimals(c)}f}" if c in LAB_METRICS and c in r else _fmt(r.get(c, "")) for c in cols[2:-1]]
        lines.append("| " + " | ".join(cells + [f"`{r['spec']}`"]) + " |")
    if results[0].get("ci"):
        lines += _uncertainty_lines(results, parse_margins(cfg.margins), cfg.level)
    image_ops.atomic_write_text(os.path.join(cfg.out, "results.md"), "\n".join(lines) + "\n")
    log("\n".join(lines[4:]))
    _plot_curves(cfg, stage, variants, results)
    _plot_metrics(cfg, results, order)
    _plot_differences(cfg, results, parse_margins(cfg.margins))
    _plot_samples(cfg, stage, variants)
    log(f"[lab] results.csv, results.json, results.md, curves.png, metrics.png, differences.png, samples.png in "
        f"{cfg.out}")


def _target_name(stage):
    return "R_high^1.2" if stage.name == "restoration" else "I_high"


def _wrap(text, width=22):
    # Break between terms (after commas), never inside a term's name or parameters.
    return "\n".join(textwrap.wrap(text.replace(",", ", "), width, break_on_hyphens=False,
                                    break_long_words=False)).replace(", ", ",") or text


def _plot_curves(cfg, stage, variants, results):
    from kind_tf2.training import engine

    plt = plots.pyplot()
    n = len(variants)
    cols = min(3, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.2 * rows), squeeze=False)
    for k, v in enumerate(variants):
        ax = axes[k // cols][k % cols]
        series = engine.read_scalars(os.path.join(v.folder, "logs"))
        for tag, (steps, values) in sorted(series.items()):
            if not tag.startswith("loss/"):
                continue
            name = tag[len("loss/"):]
            is_total = name == stage.total_name
            ax.plot(steps, values, color="black" if is_total else None, lw=2.0 if is_total else 1.0,
                    label=("total" if is_total else name))
        ax.set_title(("★ " if v.is_default else "") + _wrap(v.label, 40), fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.suptitle(f"{stage.name}: training loss of each variant (total and its terms)")
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "curves.png"))
    plt.close(fig)


_GRID_COLUMNS = 4  # panels a row in metrics.png and differences.png


def _metric_grid(plt, n, row_height):
    """A figure of n panels, _GRID_COLUMNS a row; the panels in order (unused ones hidden)."""
    cols = min(n, _GRID_COLUMNS)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols + 1.5, row_height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.axis("off")
    return fig, flat[:n]


def _metric_title(key):
    """"end-to-end NIQE (lower better)" for e2e_niqe; "stage PSNR dB" for psnr."""
    m = catalog.METRICS[_REGISTERED[key]]
    where = "end-to-end" if key in E2E_METRICS else "stage"
    return f"{where} {m.header}" + ("" if m.higher_is_better else " (lower better)")


def _plot_metrics(cfg, results, order):
    plt = plots.pyplot()
    keys = [k for k in LAB_METRICS if k in results[0]]
    fig, axes = _metric_grid(plt, len(keys), 0.45 * len(results) + 1.4)
    labels = [("★ " if results[k]["default"] else "") + _wrap(results[k]["variant"], 30) for k in order][::-1]
    for ax, key in zip(axes, keys):
        values = [results[k][key] for k in order][::-1]
        colors = ["tab:orange" if results[k]["default"] else "tab:blue" for k in order][::-1]
        cis = [results[k].get("ci", {}).get(key) for k in order][::-1]
        # The 95 % interval of each mean (over images and seeds) as an error bar.
        err = np.array([[v - c["low"], c["high"] - v] if c else [0.0, 0.0] for v, c in zip(values, cis)]).T
        ax.barh(range(len(values)), values, color=colors, xerr=err, error_kw={"elinewidth": 1, "capsize": 2})
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(labels if ax in axes[::_GRID_COLUMNS] else [""] * len(values), fontsize=8)
        finite = [x for x in values if math.isfinite(x)] + [c[b] for c in cis if c for b in ("low", "high")]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.05
            ax.set_xlim(lo - pad, hi + pad)
        for y, x in enumerate(values):
            ax.text(x, y, f" {x:.{_decimals(key)}f}", va="center", fontsize=7)
        ax.set_title(_metric_title(key), fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "metrics.png"))
    plt.close(fig)


def _plot_differences(cfg, results, margins):
    """differences.png: each variant minus ★, paired by seed and image, with its 95 % interval; the grey band
    is the practical margin, a filled dot a Holm-significant difference."""
    plt = plots.pyplot()
    others = [r for r in results if r.get("vs_default")]
    keys = [m for m in LAB_METRICS if any(m in r["vs_default"] for r in others)]
    if not keys:  # no default among the variants, or only the default
        fig, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, "no paired differences: the default objective is not among the variants, or alone",
                ha="center", va="center", fontsize=9)
        plots.save(fig, os.path.join(cfg.out, "differences.png"))
        plt.close(fig)
        return
    fig, axes = _metric_grid(plt, len(keys), 0.45 * len(others) + 1.6)
    labels = [_wrap(r["variant"], 30) for r in others][::-1]
    for ax, key in zip(axes, keys):
        diffs = [r["vs_default"].get(key) for r in others][::-1]
        for y, d in enumerate(diffs):
            if d is None:
                continue
            significant = d["p_holm"] <= cfg.level
            ax.errorbar(d["mean"], y, xerr=[[d["mean"] - d["low"]], [d["high"] - d["mean"]]], fmt="o",
                        color="black", mfc="black" if significant else "white", capsize=3)
        if key in margins:
            ax.axvspan(-margins[key], margins[key], color="0.85", zorder=0)
        ax.axvline(0.0, color="tab:orange", lw=1)
        ax.set_yticks(range(len(diffs)))
        ax.set_yticklabels(labels if ax in axes[::_GRID_COLUMNS] else [""] * len(diffs), fontsize=8)
        ax.set_title(f"{_metric_title(key)}: variant - ★", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Paired differences to the default, 95 % CI (filled: significant after Holm)", fontsize=10)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "differences.png"))
    plt.close(fig)


def _plot_samples(cfg, stage, variants):
    """Rows: eval images; columns: each variant's output (previews written when it was scored)."""
    plt = plots.pyplot()
    from PIL import Image

    rows = sorted(int(f.split(".")[0]) for f in os.listdir(os.path.join(variants[0].folder, "eval")))
    refs = os.path.join(cfg.out, "eval")
    inputs = "R_low" if stage.name == "restoration" else "I_low"
    columns = [(f"input ({inputs})", lambda k: os.path.join(refs, f"input_{k}.png"))]
    columns += [(("★ " if v.is_default else "") + _wrap(v.label), lambda k, v=v: os.path.join(v.folder, "eval", f"{k}.png"))
                for v in variants]
    columns.append((f"target ({_target_name(stage)})", lambda k: os.path.join(refs, f"target_{k}.png")))
    fig, axes = plt.subplots(len(rows), len(columns), figsize=(2.4 * len(columns), 2.0 * len(rows) + 0.6),
                             squeeze=False)
    for c, (title, path) in enumerate(columns):
        for r, k in enumerate(rows):
            ax = axes[r][c]
            img = np.asarray(Image.open(path(k)))
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(title, fontsize=8)
    fig.suptitle(f"{stage.name} output of each variant on the eval images (target: {_target_name(stage)})", fontsize=10)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "samples.png"))
    plt.close(fig)


if __name__ == "__main__":
    from kind_tf2.cli import run_command

    run_command("lab")
