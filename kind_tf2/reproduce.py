"""The paper's whole pipeline in one command: `python -m kind_tf2.reproduce --data_dir=LOLdataset --out=runs/kind`."""

import dataclasses
import json
import os
import sys
import time

from absl import app, flags, logging

from kind_tf2 import checkpoints, evaluation, image_ops, metrics, models, plots
from kind_tf2.data.lol import DatasetError
from kind_tf2.report import Report, versions

STAGE_ORDER = ("decomposition", "illumination", "restoration")
# Flag prefix of each stage: --decom_epochs, --illumination_batch_size, --restoration_loss, ...
FLAG_PREFIX = {"decomposition": "decom", "illumination": "illumination", "restoration": "restoration"}
OVERRIDABLE = {"epochs": int, "batch_size": int, "patch_size": int, "learning_rate": float,
               "eval_every": int, "log_every": int, "loss": str}
STATE_FILE = "reproduce.json"
# Settings that change what a stage learns; log_every and eval_every do not.
_IDENTITY_EXCLUDE = ("log_every", "eval_every", "checkpoint_dir", "data_dir", "decom_checkpoint", "export_tf1")


class ReproduceError(ValueError):
    """A problem with the run as a whole (folders, flags, stale stages); the message names it."""


@dataclasses.dataclass
class ReproduceConfig:
    """What `reproduce` needs; `main` fills it from flags, the quickstart from its own settings."""

    data_dir: str = "./LOLdataset"
    out: str = "./runs/kind"
    overrides: dict = dataclasses.field(default_factory=dict)  # {stage: {setting: value}}
    seed: int = 0
    strategy: str = "default"
    reference_checkpoint_dir: str = None
    ratio: float = 5.0  # fixed_ratio and gt_mean: the constant ratio map
    vgg_weights: str = None
    deterministic: bool = False
    title: str = "KinD reproduction"
    log_steps: bool = True  # progress lines of every training step (the quickstart keeps them out)


def stage_folder(out, stage):
    """`<out>/checkpoint/<the original's folder name>`, so `evaluate.py --checkpoint_dir=<out>/checkpoint` works."""
    return os.path.join(out, "checkpoint", checkpoints.TF1_SUBDIR[stage.scope])


def train_config(cfg, stage):
    """The stage's TrainConfig: the original's hyper-parameters, then `cfg.overrides[stage.name]`."""
    from kind_tf2.training import engine

    settings = dict(stage.defaults, **cfg.overrides.get(stage.name, {}))
    unknown = set(settings) - set(OVERRIDABLE)
    if unknown:
        raise ReproduceError(f"{stage.name}: cannot override {', '.join(sorted(unknown))} "
                             f"(settings: {', '.join(OVERRIDABLE)})")
    decom = stage_folder(cfg.out, _stage("decomposition")) if stage.needs_decom else None
    return engine.TrainConfig(
        data_dir=cfg.data_dir, checkpoint_dir=stage_folder(cfg.out, stage), decom_checkpoint=decom,
        seed=cfg.seed, strategy=cfg.strategy, deterministic=cfg.deterministic,
        vgg_weights=None if stage.name == "decomposition" else cfg.vgg_weights, **settings,
    )


def _stage(name):
    from kind_tf2.training import stages

    return stages.STAGES[name]()


class State:
    """`<out>/reproduce.json`: per stage its status, settings, time and the DecomNet it was trained on."""

    def __init__(self, out):
        self.path = os.path.join(out, STATE_FILE)
        self.doc = {"stages": {}}
        if os.path.isfile(self.path):
            with open(self.path) as f:
                try:
                    self.doc = json.load(f)
                except json.JSONDecodeError as e:
                    raise ReproduceError(f"{self.path}: not valid JSON ({e}); delete it to start over") from None

    def stage(self, name):
        return self.doc["stages"].setdefault(name, {"status": "new", "seconds": 0.0})

    def save(self):
        image_ops.atomic_write_text(self.path, json.dumps(self.doc, indent=1) + "\n")


def _identity(tcfg):
    d = dataclasses.asdict(tcfg)
    return {k: v for k, v in d.items() if k not in _IDENTITY_EXCLUDE}


def run_stage(cfg, name, state, strategy, log):
    """Train one stage unless it finished earlier with the same settings; resumes an interrupted one."""
    from kind_tf2.training import engine

    stage = _stage(name)
    tcfg = train_config(cfg, stage)
    entry = state.stage(name)
    identity = _identity(tcfg)
    # Stages 2 and 3 learn on DecomNet's outputs: a retrained DecomNet makes them stale.
    decom_weights = checkpoints.weights_file(tcfg.decom_checkpoint, models.DECOM_SCOPE) if stage.needs_decom else None
    decom = checkpoints.sha256_file(decom_weights) if decom_weights and os.path.isfile(decom_weights) else None
    weights = checkpoints.weights_file(tcfg.checkpoint_dir, stage.scope)
    if entry["status"] == "finished" and entry.get("settings") == identity and entry.get("decom") == decom \
            and os.path.isfile(weights):
        log(f"[reproduce] {name}: finished earlier in {entry['seconds']:.0f} s, skipped "
            f"({tcfg.checkpoint_dir})")
        return
    if stage.needs_decom and entry.get("decom") not in (None, decom) and os.path.isdir(tcfg.checkpoint_dir):
        raise ReproduceError(f"{tcfg.checkpoint_dir} was trained on another DecomNet than the one in "
                             f"{tcfg.decom_checkpoint}; delete the folder to retrain {name} on it")
    verb = "resuming" if entry["status"] != "new" else "training"
    log(f"[reproduce] {name}: {verb}, {tcfg.epochs} epochs, batch {tcfg.batch_size}, patch {tcfg.patch_size}, "
        f"lr {tcfg.learning_rate:g}" + (f", loss {tcfg.loss}" if tcfg.loss else "") + f" -> {tcfg.checkpoint_dir}")
    entry.update(status="running", settings=identity, decom=decom)
    state.save()
    before, t0, last = entry["seconds"], time.time(), [time.time()]

    def stage_log(line):
        if cfg.log_steps or " epoch [" not in line:
            log("  " + line)
        if time.time() - last[0] > 10:  # an interrupted stage still has its time on record
            entry["seconds"] = before + time.time() - t0
            state.save()
            last[0] = time.time()

    status = engine.run(stage, tcfg, log=stage_log, strategy=strategy)
    entry["seconds"] = before + time.time() - t0
    if status:
        state.save()
        raise ReproduceError(f"{name} training stopped with status {status} (see above); re-run to resume")
    entry["status"] = "finished"
    state.save()


def _eval_models(cfg):
    """(label, checkpoint folder, results folder) of every model evaluated."""
    models_ = [("this run", os.path.join(cfg.out, "checkpoint"), os.path.join(cfg.out, "eval"))]
    if cfg.reference_checkpoint_dir:
        models_.append((f"reference ({cfg.reference_checkpoint_dir})", cfg.reference_checkpoint_dir,
                        os.path.join(cfg.out, "eval_reference")))
    return models_


def evaluate_all(cfg, log):
    """eval15 under every protocol for this run's networks and the reference ones.

    Returns `{protocol: [(model label, mean metrics, grid path)]}`.
    """
    from kind_tf2.pipeline import KinD

    low, high = os.path.join(cfg.data_dir, "eval15", "low"), os.path.join(cfg.data_dir, "eval15", "high")
    # The paper's protocol first: it is the table a reproduction is read by.
    first = metrics.PAPER_ANCHOR["protocol"]
    results = {p: [] for p in sorted(evaluation.PROTOCOLS, key=lambda p: p != first)}
    for label, ckpt, folder in _eval_models(cfg):
        log(f"[reproduce] evaluating {label} on {os.path.dirname(low)} under {', '.join(results)}")
        kind = KinD.from_checkpoint(ckpt, log=lambda line: log("  " + line))
        for protocol in results:
            ecfg = evaluation.EvalConfig(input_dir=low, high_dir=high, output_dir=os.path.join(folder, protocol),
                                         protocol=protocol, ratio=cfg.ratio)
            if evaluation.run(ecfg, log=lambda line: log("  " + line), kind=kind):
                raise ReproduceError(f"evaluating {label} under {protocol} failed (see the errors above)")
            with open(os.path.join(ecfg.output_dir, "metrics.json")) as f:
                doc = json.load(f)
            results[protocol].append((label, doc["mean"], len(doc["images"]),
                                      os.path.join(ecfg.output_dir, "comparison_grid.png")))
    return results


def plot_curves(cfg, name, path):
    """Every loss component of a stage against the step (raw and smoothed), one panel each; False if no logs."""
    from kind_tf2.training import engine

    series = engine.read_scalars(os.path.join(stage_folder(cfg.out, _stage(name)), "logs"))
    total = f"loss/{_stage(name).total_name}"
    tags = sorted((t for t in series if t.startswith("loss/")), key=lambda t: (t != total, t))  # the total first
    if not tags:
        return False
    plt = plots.pyplot()
    cols = min(4, len(tags))
    rows = (len(tags) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.5 * rows), squeeze=False)
    for ax, tag in zip(axes.flat, tags):
        steps, values = series[tag]
        ax.plot(steps, values, color="tab:blue", alpha=0.3, linewidth=0.8)
        ax.plot(steps, plots.smooth(values), color="tab:blue", linewidth=1.5)
        ax.set_title(tag[len("loss/"):], fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tags):]:
        ax.axis("off")
    fig.suptitle(f"{name}: training losses (light: per step, dark: smoothed)", fontsize=10)
    fig.tight_layout()
    plots.save(fig, path)
    return True


def _fmt(value, digits):
    return "inf" if value == float("inf") else f"{value:.{digits}f}"


def write_report(cfg, state, results, eval_seconds, log):
    """`report.md` and `report.html` in `cfg.out`; returns their paths."""
    rep = Report(cfg.title, cfg.out)
    n = next((r[2] for rows in results.values() for r in rows), 0)
    rep.text(f"Data: {os.path.abspath(cfg.data_dir)} (eval15: {n} images). Output: {os.path.abspath(cfg.out)}. "
             f"Networks in checkpoint/ (the original's folder layout); enhanced images per protocol in eval/.")
    rep.heading("Metrics on eval15, per protocol")
    rep.text("PSNR over RGB at 0-255; SSIM with an 11x11 Gaussian window (sigma 1.5) per RGB channel averaged, "
             "and on MATLAB rgb2gray; LOE (lightness order error, lower is better).")
    anchor = metrics.PAPER_ANCHOR
    for protocol, rows in results.items():
        rep.heading(f"Protocol {protocol}", 3)
        rep.text(evaluation.PROTOCOLS[protocol].description + ".")
        table = [[label, _fmt(m["psnr"], 3), _fmt(m["ssim_rgb"], 4), _fmt(m["ssim_gray"], 4), f"{m['loe']:.1f}"]
                 for label, m, _, _ in rows]
        if protocol == anchor["protocol"]:
            paper = f"paper ({anchor['method']}, {anchor['dataset']}, ACM MM 2019 Table 1)"
            table.append([paper, f"{anchor['psnr']:.2f}", f"{anchor['ssim']:.4f}", "", ""])
        else:
            table.append(["paper", "not reported under this protocol", "", "", ""])
        rep.table(["model", "PSNR dB", "SSIM rgb", "SSIM gray", "LOE"], table)
    rep.heading("Training")
    stage_rows, total = [], 0.0
    for name in STAGE_ORDER:
        e = state.stage(name)
        s = e.get("settings", {})
        total += e["seconds"]
        stage_rows.append([name, e["status"], s.get("epochs", ""), s.get("batch_size", ""), s.get("patch_size", ""),
                           f"{s.get('learning_rate', 0):g}", s.get("loss") or "original", f"{e['seconds']:.0f}"])
    stage_rows.append(["evaluation (all protocols and models)", "", "", "", "", "", "", f"{eval_seconds:.0f}"])
    rep.table(["stage", "status", "epochs", "batch", "patch", "lr", "loss", "seconds"], stage_rows)
    rep.text(f"Training time in all: {total / 60:.1f} min (summed over interrupted and resumed runs).")
    os.makedirs(os.path.join(cfg.out, "plots"), exist_ok=True)
    for name in STAGE_ORDER:
        path = os.path.join(cfg.out, "plots", f"curves_{name}.png")
        if plot_curves(cfg, name, path):
            rep.image(path, f"{name}: every loss component per step, from the TensorBoard event files")
    rep.heading("Samples")
    for protocol, rows in results.items():
        for label, _, _, grid in rows:
            if os.path.isfile(grid):
                rep.image(grid, f"{label}, {protocol}: input | output | ground truth")
    rep.heading("Configuration")
    config = {"reproduce": dataclasses.asdict(cfg),
              "stages": {name: dataclasses.asdict(train_config(cfg, _stage(name))) for name in STAGE_ORDER}}
    rep.code(json.dumps(config, indent=1))
    rep.heading("Versions")
    rep.code("\n".join(f"{k}: {v}" for k, v in versions().items()))
    md, page = rep.write()
    log(f"[reproduce] report: {md} and {page} (self-contained)")
    return md, page


def _check(cfg):
    for sub in ("our485", "eval15"):
        if not os.path.isdir(os.path.join(cfg.data_dir, sub)):
            raise ReproduceError(f"--data_dir={cfg.data_dir}: no {sub}/ folder (the LOL layout: our485/ and "
                                 "eval15/, each with low/ and high/)")
    if cfg.reference_checkpoint_dir and not os.path.isdir(cfg.reference_checkpoint_dir):
        raise ReproduceError(f"--reference_checkpoint_dir={cfg.reference_checkpoint_dir}: folder does not exist")
    for name in STAGE_ORDER:
        stage = _stage(name)
        tcfg = train_config(cfg, stage)
        stage.objective(tcfg.loss, tcfg.patch_size, tcfg.vgg_weights)  # a bad --<stage>_loss stops here
    plots.pyplot()  # the report needs matplotlib: say so before hours of training


def reproduce(cfg, log=None):
    """Train the three stages (resuming), evaluate every protocol, write the report; returns an exit status."""
    from kind_tf2.training import engine

    log = log or (lambda line: print(line, flush=True))
    try:
        _check(cfg)
        os.makedirs(cfg.out, exist_ok=True)
        state = State(cfg.out)
        state.doc["config"] = dataclasses.asdict(cfg)
        strategy = engine.create_strategy(cfg.strategy)  # once, for all three stages
        for name in STAGE_ORDER:
            run_stage(cfg, name, state, strategy, log)
        t0 = time.time()
        results = evaluate_all(cfg, log)
        eval_seconds = time.time() - t0
        state.doc["evaluation"] = {p: {label: m for label, m, _, _ in rows} for p, rows in results.items()}
        state.doc["evaluation_seconds"] = eval_seconds
        state.save()
        write_report(cfg, state, results, eval_seconds, log)
    except (ReproduceError, DatasetError, FileNotFoundError, checkpoints.CheckpointMismatchError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


# ---- command line -----------------------------------------------------------------------------


def define_flags():
    flags.DEFINE_string("data_dir", "./LOLdataset", "LOL layout: our485/ and eval15/, each with low/ and high/.")
    flags.DEFINE_string("out", "./runs/kind", "Checkpoints, evaluations and the report; re-running resumes.")
    flags.DEFINE_string("reference_checkpoint_dir", None, "Other KinD weights (e.g. the released ones in the "
                        "original ./checkpoint/ layout) evaluated side by side.")
    flags.DEFINE_integer("seed", 0, "Seed of the initialisation and the patches of every stage.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
    flags.DEFINE_float("ratio", 5.0, "Constant ratio of the fixed_ratio and gt_mean protocols.")
    flags.DEFINE_string("vgg_weights", None, "Keras VGG19 weights for a `perceptual` term in a --*_loss.")
    flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism (slower).")
    for name in STAGE_ORDER:
        prefix = FLAG_PREFIX[name]
        for setting, kind in OVERRIDABLE.items():
            define = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string}[kind]
            define(f"{prefix}_{setting}", None, f"{name} stage: --{setting} (default: the original's).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)
    overrides = {}
    for name in STAGE_ORDER:
        for setting in OVERRIDABLE:
            value = getattr(F, f"{FLAG_PREFIX[name]}_{setting}")
            if value is not None:
                overrides.setdefault(name, {})[setting] = value
    cfg = ReproduceConfig(data_dir=F.data_dir, out=F.out, overrides=overrides, seed=F.seed, strategy=F.strategy,
                          reference_checkpoint_dir=F.reference_checkpoint_dir, ratio=F.ratio,
                          vgg_weights=F.vgg_weights, deterministic=F.deterministic)
    return reproduce(cfg)


if __name__ == "__main__":
    define_flags()
    app.run(main)
