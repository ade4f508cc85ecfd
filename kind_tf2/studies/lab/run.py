"""Running the loss laboratory: one start, each variant trained (resumable) and scored, then the summary and reports."""

import dataclasses
import json
import math
import os
import time

import numpy as np

from kind_tf2 import checkpoints, files, image_io, image_ops, metrics, models
from kind_tf2.data.lol import DatasetError
from kind_tf2.metrics import catalog
from kind_tf2.studies.lab.config import E2E_METRICS, SAMPLE_ROWS, check, run_folder, train_config
from kind_tf2.studies.lab.report import write_reports
from kind_tf2.studies.lab.summary import summarize


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
            low, high = image_io.load_image(item.low_path), image_io.load_image(item.high_path)
            out = image_ops.to_uint8(kind.enhance(low[None], high=high[None])[0]).numpy()
            gt = image_io.read_uint8(item.high_path)
            scores = catalog.score(tuple(E2E_METRICS.values()), out, gt, unscored=lambda column, err, name=item.name: log(
                f"  warning: {name}: {column} not scored: {err}"))
            row.update({col: scores[name] for col, name in E2E_METRICS.items()})
        if k < SAMPLE_ROWS:
            image_io.save_image(os.path.join(preview_dir, f"{k}.png"), pred)
            refs = os.path.join(cfg.out, "eval")  # the input and target columns of samples.png
            os.makedirs(refs, exist_ok=True)
            image_io.save_image(os.path.join(refs, f"input_{k}.png"), item.inputs[0])
            image_io.save_image(os.path.join(refs, f"target_{k}.png"), item.target)
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

    tcfg = train_config(cfg, stage, variant, init_weights, k)
    t0 = time.time()
    trainer = engine.Trainer(stage, tcfg, strategy, log=lambda line: log("  " + line), objective=variant.objective)
    trained = loop.fit(trainer, data)
    seconds = time.time() - t0
    mean, rows = score_variant(cfg, stage, data, variant, trainer.model, log, tcfg.checkpoint_dir)
    total = trained.final_losses.get(stage.total_name, float("nan"))
    result = {"variant": variant.label, "spec": variant.spec, "default": variant.is_default,
              "steps": trained.steps, "epochs": tcfg.epochs, "batch_size": tcfg.batch_size,
              "patch_size": tcfg.patch_size, "seed": tcfg.seed, "final_loss": total,
              "train_seconds": round(seconds, 1), "scoring": cfg.scoring, **mean, "per_image": rows}
    files.atomic_write_text(os.path.join(tcfg.checkpoint_dir, "result.json"), json.dumps(result, indent=1))
    return result


@dataclasses.dataclass
class LabResult:
    """The laboratory's outcome: one result dict per variant (as in results.json), and the folder of the reports."""

    stage: str
    variants: list
    out: str


def run_lab(cfg, log=None):
    """Run the laboratory; returns a LabResult. Finished variants are read, not retrained.

    Raises a KindError naming the field or file at fault (checked before any training where possible).
    """
    from kind_tf2.training import engine

    log = log or (lambda line: print(line, flush=True))
    stage, variants, margins = check(cfg)
    os.makedirs(cfg.out, exist_ok=True)
    log(f"[lab] {cfg.stage}: {len(variants)} variant(s) x {cfg.seeds} seed(s) in {cfg.out}")
    runs = {}  # (variant index, seed index) -> result dict
    for i, v in enumerate(variants):
        for k in range(cfg.seeds):
            done = os.path.join(run_folder(cfg, v, k), "result.json")
            if os.path.isfile(done):
                with open(done) as f:
                    result = json.load(f)
                # Scored on another split: the finished training is read back and scored again.
                if result.get("scoring", "eval") == cfg.scoring:
                    runs[i, k] = result
    if len(runs) < len(variants) * cfg.seeds:
        strategy = engine.create_strategy("default")
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, scoring=cfg.scoring, decom_cache=cfg.decom_cache)
        if not data.scoring:
            raise DatasetError(f"{cfg.data_dir}: the {cfg.stage} {cfg.scoring} split is empty", fields=("data_dir",))
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
