"""The reproduction's report (`report.md` and a self-contained `report.html`) and `publish`, which copies its small files."""

import dataclasses
import json
import os

from kind_tf2 import evaluation, metrics, presets
from kind_tf2.data.lol import VALIDATION_SPLIT
from kind_tf2.reporting import grids, tables
from kind_tf2.reporting.report import Report, versions
from kind_tf2.reproduce.plan import (
    NO_RESTORATION_LABEL,
    STAGE_ORDER,
    VALIDATION_KEY,
    eval_models,
    stage_folder,
)
from kind_tf2.reproduce.plots import plot_curves

# What `publish` copies of a run: the report and everything it links, and the metrics files.
_PUBLISHED = ("report.md", "report.html", "reproduce.json", "plots/*.png", "eval/*/metrics.*",
              "eval_no_restoration/*/metrics.*", "eval_reference/*/metrics.*")


def publish(out, dest, log=print):
    """Copy the small results of the run in `out` to `dest` (e.g. docs/): report, plots, metrics; no images, no weights."""
    import glob
    import shutil

    n = 0
    for pattern in _PUBLISHED:
        for path in sorted(glob.glob(os.path.join(out, pattern))):
            target = os.path.join(dest, os.path.relpath(path, out))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)
            n += 1
    log(f"[reproduce] published {n} files (report, plots, metrics) to {dest}")


def metric_table(rows, paper=None):
    """A models x metrics `Table`; the columns are the metrics the evaluations scored (headers, decimals: the catalog).

    rows: `[(label, mean metrics, images, grid)]`; paper: an extra row `(label, {metric: text})`,
    blank where the paper gives nothing.
    """
    keys = list(rows[0][1]) if rows else []
    table = tables.Table([tables.Column("model", "model")] + tables.metric_columns(keys),
                         [dict(m, model=label) for label, m, _, _ in rows])
    if paper:
        table.add(dict({k: paper[1].get(k, "") for k in keys}, model=paper[0]))
    return table


def _per_image_table(cfg, protocol):
    """Per-image PSNR / SSIM of this run and of its no-restoration row under `protocol`, from their metrics.json."""
    docs = {}
    for label, _, _, folder in eval_models(cfg):
        path = os.path.join(folder, protocol, "metrics.json")
        if os.path.isfile(path):
            with open(path) as f:
                docs[label] = {r["image"]: r for r in json.load(f)["images"]}
    if len(docs) < 2:
        return None
    ours, none = docs["this run"], docs[NO_RESTORATION_LABEL]
    columns = [tables.Column("image", "image"),
               tables.metric_column("psnr", "PSNR this run"), tables.metric_column("ssim_rgb", "SSIM this run"),
               tables.metric_column("psnr", "PSNR no restoration", "psnr_none"),
               tables.metric_column("ssim_rgb", "SSIM no restoration", "ssim_rgb_none")]
    order = sorted(ours, key=lambda n: int(n.split(".")[0]) if n.split(".")[0].isdigit() else 0)
    return tables.Table(columns, [{"image": name, "psnr": ours[name]["psnr"], "ssim_rgb": ours[name]["ssim_rgb"],
                                   "psnr_none": none[name]["psnr"], "ssim_rgb_none": none[name]["ssim_rgb"]}
                                  for name in order])


def _metrics_section(rep, results):
    rep.heading("Metrics on eval15, per protocol")
    rep.text("PSNR over RGB at 0-255; SSIM with an 11x11 Gaussian window (sigma 1.5) per RGB channel averaged, "
             "and on MATLAB rgb2gray; LOE (lightness order error, lower is better); dE2000 (mean CIEDE2000 "
             "colour error, lower is better); NIQE and BRISQUE of the output alone (no-reference, as the MATLAB "
             "releases; lower is better). Every number is recomputable from the saved PNGs in "
             "eval/<protocol>/ and the ground truth (`kind-tf2 evaluate`'s metrics, or kind_tf2.metrics on the "
             "two files).")
    anchor = metrics.PAPER_ANCHOR
    for protocol, rows in results.items():
        if protocol == VALIDATION_KEY:
            continue
        rep.heading(f"Protocol {protocol}", 3)
        rep.text(evaluation.PROTOCOLS[protocol].description + ".")
        if protocol == anchor["protocol"]:
            paper = (f"paper ({anchor['method']}, {anchor['dataset']}, ACM MM 2019 Table 1)",
                     {"psnr": f"{anchor['psnr']:.2f}", "ssim_rgb": f"{anchor['ssim']:.4f}"})
        else:
            paper = ("paper", {"psnr": "not reported under this protocol"})
        rep.table(metric_table(rows, paper))
    if VALIDATION_KEY in results:
        lo, hi = VALIDATION_SPLIT
        rep.heading("Validation split (our485, gt_ratio)")
        rep.text(f"The our485 pairs at sorted positions {lo}..{hi - 1}, after Restoration_net's training range "
                 f"[0:{lo}]: what schedules are chosen on (never eval15).")
        rep.table(metric_table(results[VALIDATION_KEY]))


def _training_table(state, eval_seconds):
    """The Training section's table: per stage its settings, precision, time and steps; then the evaluation's time."""
    columns = ["stage", "status", "epochs", "batch", "patch", "lr", "lr schedule", "precision", "loss", "seconds",
               "in steps", "steps"]
    table = tables.Table(columns)
    for name in STAGE_ORDER:
        e = state.stage(name)
        s = e.get("settings", {})
        if e["status"] == "given":
            table.add([name, "given (not trained, see above)", "", "", "", "", "", "", "", "0", "", ""])
            continue
        precision = e.get("precision") or s.get("mixed_precision") or "float32"
        if s.get("mixed_precision") == "auto" and "precision" in e:
            precision += " (auto)"
        budget = f" (budget {s['time_budget']:g} s)" if s.get("time_budget") else ""
        table.add([name, e["status"], str(s.get("epochs", "")), str(s.get("batch_size", "")),
                   str(s.get("patch_size", "")), f"{s.get('learning_rate', 0):g}", s.get("lr_schedule") or "original",
                   precision, s.get("loss") or "original", f"{e['seconds']:.0f}",
                   f"{e['step_seconds']:.0f}" if "step_seconds" in e else "",
                   f"{e.get('steps', s.get('steps') or '')}{budget}"])
    table.add(["evaluation (all protocols and models)", "", "", "", "", "", "", "", "", f"{eval_seconds:.0f}", "", ""])
    return table


def write_report(cfg, plans, state, results, eval_seconds, log):
    """`report.md` and `report.html` in `cfg.out`; returns their paths. plans: `plan.plan(cfg)`."""
    rep = Report(cfg.title, cfg.out)
    if cfg.command:
        rep.code(cfg.command)
    n = next((r[2] for p, rows in results.items() if p != VALIDATION_KEY for r in rows), 0)
    preset = presets.get(cfg.preset)
    rep.text(f"Preset `{preset.name}`: {preset.description}. Data: {os.path.abspath(cfg.data_dir)} (eval15: {n} "
             f"images). Networks in checkpoint/ (the original's folder layout); enhanced images per protocol in "
             f"eval/." + "".join(f" {name} not trained: {state.stage(name).get('source')} given."
                                 for name in STAGE_ORDER if name in cfg.given))
    _metrics_section(rep, results)
    rep.heading("Per image, eval15, gt_ratio")
    per_image = _per_image_table(cfg, metrics.PAPER_ANCHOR["protocol"])
    if per_image is not None:
        rep.table(per_image)
    rep.heading("Training")
    rep.table(_training_table(state, eval_seconds))
    total = sum(state.stage(name)["seconds"] for name in STAGE_ORDER)
    rep.text(f"Training time in all: {total / 60:.1f} min wall (summed over interrupted and resumed runs; "
             f"the first run of stages 2 and 3 includes decomposing our485 with the frozen DecomNet); "
             f"`in steps`: the part of it inside training steps. Trained on: "
             + "; ".join(sorted({state.stage(n).get("machine", "not recorded") for n in STAGE_ORDER
                                 if n not in cfg.given})) + ".")
    for name in STAGE_ORDER:
        path = os.path.join(cfg.out, "plots", f"curves_{name}.png")
        stage = plans[name].stage
        if plans[name].given is None and plot_curves(stage, os.path.join(stage_folder(cfg.out, stage), "logs"), path):
            rep.image(path, f"{name}: every loss component per step, from the TensorBoard event files")
    _samples(rep, cfg, results)
    rep.heading("Configuration")
    config = {"reproduce": dataclasses.asdict(cfg),
              "stages": {name: dataclasses.asdict(p.config) for name, p in plans.items() if p.given is None}}
    rep.code(json.dumps(config, indent=1))
    rep.heading("Versions")
    rep.code("\n".join(f"{k}: {v}" for k, v in versions().items()))
    md, page = rep.write()
    log(f"[reproduce] report: {md} and {page} (self-contained)")
    return md, page


def _samples(rep, cfg, results):
    rep.heading("Samples")
    os.makedirs(os.path.join(cfg.out, "plots"), exist_ok=True)
    for protocol, rows in results.items():
        for k, (label, _, _, grid) in enumerate(rows):
            # The no-restoration row under the paper's protocol only; no grid of the validation split.
            if os.path.isfile(grid) and protocol != VALIDATION_KEY and (
                    label != NO_RESTORATION_LABEL or protocol == metrics.PAPER_ANCHOR["protocol"]):
                thumb = os.path.join(cfg.out, "plots", f"grid_{k}_{protocol}.png")
                grids.compact_copy(grid, thumb, scale=0.6)
                rep.image(thumb, f"{label}, {protocol}: input | output | ground truth")
