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

from kind_tf2 import checkpoints, errors, image_ops, losses, metrics, models, plots
from kind_tf2.data.lol import DatasetError

LAB_STAGES = ("restoration", "illumination")
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
    seed: int = 0
    vgg_weights: str = None
    illumination_checkpoint: str = None  # with --stage=restoration: end-to-end scores
    restoration_checkpoint: str = None  # with --stage=illumination: end-to-end scores
    log_every: int = 10


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


def _train_config(cfg, stage, variant, init_weights):
    """The variant's TrainConfig: the stage's defaults, then the lab's settings that were given (None: not given)."""
    from kind_tf2.training import config

    given = {"epochs": cfg.epochs, "batch_size": cfg.batch_size, "patch_size": cfg.patch_size,
             "learning_rate": cfg.learning_rate}
    epochs = stage.defaults["epochs"] if cfg.epochs is None else cfg.epochs
    return config.for_stage(
        stage, given, data_dir=cfg.data_dir, checkpoint_dir=variant.folder, decom_checkpoint=cfg.decom_checkpoint,
        seed=cfg.seed, eval_every=epochs, log_every=cfg.log_every,  # samples once, at the end
        export_tf1=False, loss=None if variant.label == "default" else variant.spec, vgg_weights=cfg.vgg_weights,
        init_weights=init_weights,
    )


def _initial_weights(cfg, stage, log):
    """The one initialisation every variant starts from, seeded, kept as `out/init.weights.h5`."""
    import keras

    path = os.path.join(cfg.out, "init.weights.h5")
    if not os.path.isfile(path):
        keras.utils.set_random_seed(cfg.seed)
        net = models.build_network(stage.scope)
        tmp = os.path.join(cfg.out, ".init.tmp.weights.h5")  # Keras insists on the .weights.h5 suffix
        net.save_weights(tmp)
        os.replace(tmp, path)
        log(f"initial weights (seed {cfg.seed}) written to {path}")
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


def score_variant(cfg, stage, data, variant, model, log):
    """Stage PSNR / SSIM of each eval image (and end to end with the other network); writes previews."""
    preview_dir = os.path.join(variant.folder, "eval")
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
            row["e2e_psnr"], row["e2e_ssim"] = metrics.psnr(out, gt), metrics.ssim_rgb(out, gt)
            row["e2e_ciede2000"] = metrics.ciede2000(out, gt)  # the colour error the survey's colour terms target
        if k < SAMPLE_ROWS:
            image_ops.save_image(os.path.join(preview_dir, f"{k}.png"), pred)
            refs = os.path.join(cfg.out, "eval")  # the input and target columns of samples.png
            os.makedirs(refs, exist_ok=True)
            image_ops.save_image(os.path.join(refs, f"input_{k}.png"), item.inputs[0])
            image_ops.save_image(os.path.join(refs, f"target_{k}.png"), item.target)
        rows.append(row)
    keys = [key for key in rows[0] if key != "image"]
    mean = {key: float(np.mean([r[key] for r in rows])) for key in keys}
    log(f"  scores of {variant.label}: " + ", ".join(f"{k} {v:.4f}" for k, v in mean.items()))
    return mean, rows


def run_variant(cfg, stage, data, variant, init_weights, strategy, log):
    """Train (or resume) one variant and score it; writes `<folder>/result.json`."""
    from kind_tf2.training import engine, loop

    tcfg = _train_config(cfg, stage, variant, init_weights)
    t0 = time.time()
    trainer = engine.Trainer(stage, tcfg, strategy, log=lambda line: log("  " + line))
    trained = loop.fit(trainer, data)
    seconds = time.time() - t0
    mean, rows = score_variant(cfg, stage, data, variant, trainer.model, log)
    total = trained.final_losses.get(stage.total_name, float("nan"))
    result = {"variant": variant.label, "spec": variant.spec, "default": variant.is_default,
              "steps": trained.steps, "epochs": tcfg.epochs, "batch_size": tcfg.batch_size,
              "patch_size": tcfg.patch_size, "seed": tcfg.seed, "final_loss": total,
              "train_seconds": round(seconds, 1), **mean, "per_image": rows}
    image_ops.atomic_write_text(os.path.join(variant.folder, "result.json"), json.dumps(result, indent=1))
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
    os.makedirs(cfg.out, exist_ok=True)
    log(f"[lab] {cfg.stage}: {len(variants)} variant(s) in {cfg.out}")
    results, pending = [], []
    for v in variants:
        done = os.path.join(v.folder, "result.json")
        if os.path.isfile(done):
            with open(done) as f:
                results.append(json.load(f))
        else:
            results.append(None)
            pending.append(v)
    if pending:
        strategy = engine.create_strategy("default")
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, scoring=True)
        if not data.scoring:
            raise DatasetError(f"{cfg.data_dir}: the {cfg.stage} eval split is empty")
        init = _initial_weights(cfg, stage, log)
    for k, v in enumerate(variants):
        if results[k] is not None:
            log(f"[lab] variant {k + 1}/{len(variants)} {v.label}: finished earlier, skipped")
            continue
        log(f"[lab] variant {k + 1}/{len(variants)}: {v.label}" + (f" = {v.spec}" if v.label != v.spec else ""))
        results[k] = run_variant(cfg, stage, data, v, init, strategy, log)
    write_reports(cfg, stage, variants, results, log)
    return LabResult(stage.name, results, cfg.out)


# ---- reports -------------------------------------------------------------------------------------------


def _columns(results):
    cols = ["variant", "default", "psnr", "ssim"]
    if any("e2e_psnr" in r for r in results):
        cols += ["e2e_psnr", "e2e_ssim"] + (["e2e_ciede2000"] if any("e2e_ciede2000" in r for r in results) else [])
    return cols + ["final_loss", "steps", "train_seconds", "spec"]


def _fmt(value):
    if isinstance(value, float) and value == int(value) and not math.isinf(value) and abs(value) > 100:
        return f"{value:.0f}"
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4f}"
    return str(value)


def write_reports(cfg, stage, variants, results, log):
    """results.csv / .json / .md, curves.png, metrics.png and samples.png in `cfg.out`."""
    cols = _columns(results)
    order = sorted(range(len(results)), key=lambda k: -results[k]["psnr"])

    def write_csv(tmp):
        with open(tmp, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for r in results:
                w.writerow([r.get(c, "") for c in cols])

    image_ops.atomic_write(os.path.join(cfg.out, "results.csv"), write_csv)
    doc = {"stage": stage.name, "target": _target_name(stage), "data_dir": cfg.data_dir, "variants": results}
    image_ops.atomic_write_text(os.path.join(cfg.out, "results.json"), json.dumps(doc, indent=1))
    lines = [f"# Loss laboratory: {stage.name}", "",
             f"Scores of the network output against {_target_name(stage)} on the stage's eval split"
             + (", and end to end (gt_ratio protocol) against the ground truth" if "e2e_psnr" in cols else "")
             + f". Sorted by PSNR; ★ marks the original objective. {results[0]['steps']} steps, batch "
             f"{results[0]['batch_size']}, patch {results[0]['patch_size']}, seed {results[0]['seed']}.", "",
             "| " + " | ".join(c for c in cols if c != "default") + " |",
             "|" + "---|" * (len(cols) - 1)]
    for k in order:
        r = results[k]
        cells = [("★ " if r["default"] else "") + f"`{r['variant']}`"] + [_fmt(r.get(c, "")) for c in cols[2:-1]]
        lines.append("| " + " | ".join(cells + [f"`{r['spec']}`"]) + " |")
    image_ops.atomic_write_text(os.path.join(cfg.out, "results.md"), "\n".join(lines) + "\n")
    log("\n".join(lines[4:]))
    _plot_curves(cfg, stage, variants, results)
    _plot_metrics(cfg, results, order)
    _plot_samples(cfg, stage, variants)
    log(f"[lab] results.csv, results.json, results.md, curves.png, metrics.png, samples.png in {cfg.out}")


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


def _plot_metrics(cfg, results, order):
    plt = plots.pyplot()
    keys = [k for k in ("psnr", "ssim", "e2e_psnr", "e2e_ssim", "e2e_ciede2000") if k in results[0]]
    titles = {"psnr": "stage PSNR (dB)", "ssim": "stage SSIM", "e2e_psnr": "end-to-end PSNR (dB)",
              "e2e_ssim": "end-to-end SSIM", "e2e_ciede2000": "end-to-end CIEDE2000 (lower better)"}
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys) + 1.5, 0.45 * len(results) + 1.4), squeeze=False)
    labels = [("★ " if results[k]["default"] else "") + _wrap(results[k]["variant"], 30) for k in order][::-1]
    for ax, key in zip(axes[0], keys):
        values = [results[k][key] for k in order][::-1]
        colors = ["tab:orange" if results[k]["default"] else "tab:blue" for k in order][::-1]
        ax.barh(range(len(values)), values, color=colors)
        ax.set_yticks(range(len(values)))
        ax.set_yticklabels(labels if ax is axes[0][0] else [""] * len(values), fontsize=8)
        finite = [x for x in values if math.isfinite(x)]
        if finite:
            lo, hi = min(finite), max(finite)
            pad = (hi - lo) * 0.15 or abs(hi) * 0.05 or 0.05
            ax.set_xlim(lo - pad, hi + pad)
        for y, x in enumerate(values):
            ax.text(x, y, f" {x:.3f}", va="center", fontsize=7)
        ax.set_title(titles[key], fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    plots.save(fig, os.path.join(cfg.out, "metrics.png"))
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
