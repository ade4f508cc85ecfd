"""The paper's whole pipeline in one command: `python -m kind_tf2.reproduce --data_dir=LOLdataset --out=runs/kind`."""

import dataclasses
import json
import os
import time


from kind_tf2 import checkpoints, errors, evaluation, hardware, image_ops, metrics, models, plots, presets
from kind_tf2.report import Report, versions

STAGE_ORDER = ("decomposition", "illumination", "restoration")
# Flag prefix of each stage: --decom_epochs, --illumination_batch_size, --restoration_loss, ...
FLAG_PREFIX = {"decomposition": "decom", "illumination": "illumination", "restoration": "restoration"}
# The settings a preset or --<prefix>_<setting> may change: training.config.STAGE_SETTINGS.
# Stages whose network can be given instead of trained (--decom_checkpoint, --illumination_checkpoint).
GIVEN_FLAG = {"decomposition": "decom_checkpoint", "illumination": "illumination_checkpoint"}
STATE_FILE = "reproduce.json"
# Settings that change what a stage learns; log_every, eval_every and checkpoint_every do not, nor
# where the DecomNet cache lives (the same float32 values either way).
_IDENTITY_EXCLUDE = ("log_every", "eval_every", "checkpoint_every", "checkpoint_dir", "data_dir", "decom_checkpoint",
                     "export_tf1", "decom_cache")
# Added after runs were recorded: absent from a stored identity means their default.
_IDENTITY_DEFAULTS = {"lr_schedule": None, "steps": None, "time_budget": None}
# The validation split of our485: the pairs after restoration's training range [0:466] (sorted
# names 466..484), never trained on by Restoration_net. Schedules are chosen on it, not on eval15.
VALIDATION_SPLIT = (466, 485)


class ReproduceError(errors.ConfigError):
    """A problem with the run as a whole (folders, flags, stale stages); the message names it."""


@dataclasses.dataclass
class ReproduceConfig:
    """What `reproduce` needs; `main` fills it from flags, the quickstart from its own settings."""

    data_dir: str = "./LOLdataset"
    out: str = "./runs/kind"
    overrides: dict = dataclasses.field(default_factory=dict)  # {stage: {setting: value}}, over the preset's
    preset: str = "original"  # a name in presets.PRESETS: per-stage settings over the original's
    given: dict = dataclasses.field(default_factory=dict)  # {stage: checkpoint} used instead of training it
    decom_cache: str = None  # DecompositionCache folder for stages 2 and 3 (None: decompose every run)
    validation: bool = False  # also score the our485 validation split (VALIDATION_SPLIT) under gt_ratio
    seed: int = 0
    strategy: str = "default"
    reference_checkpoint_dir: str = None
    ratio: float = 5.0  # fixed_ratio and gt_mean: the constant ratio map
    metrics: str = "default"  # the evaluations' --metrics (metrics.catalog)
    vgg_weights: str = None
    deterministic: bool = False
    title: str = "KinD reproduction"
    log_steps: bool = True  # progress lines of every training step (the quickstart keeps them out)
    command: str = None  # the command line that made the run, written at the top of the report
    publish_dir: str = None  # copy the report, plots and metrics there at the end (`publish`)


def stage_folder(out, stage):
    """`<out>/checkpoint/<the original's folder name>`, so `evaluate.py --checkpoint_dir=<out>/checkpoint` works."""
    return os.path.join(out, "checkpoint", checkpoints.TF1_SUBDIR[stage.scope])


def _preset(cfg):
    return presets.get(cfg.preset)


def network_source(cfg, name):
    """Where stage `name`'s network comes from: the given checkpoint, or this run's stage folder."""
    return cfg.given.get(name) or stage_folder(cfg.out, _stage(name))


def train_config(cfg, stage):
    """The stage's TrainConfig: the original's hyper-parameters, the preset's, then `cfg.overrides[stage.name]`."""
    from kind_tf2.training import config

    preset, overrides = _preset(cfg).stages.get(stage.name, {}), cfg.overrides.get(stage.name, {})
    unknown = sorted((set(preset) | set(overrides)) - set(config.STAGE_SETTINGS))
    if unknown:
        raise ReproduceError(f"{stage.name}: cannot override {', '.join(unknown)} "
                             f"(settings: {', '.join(config.STAGE_SETTINGS)})")
    decom = network_source(cfg, "decomposition") if stage.needs_decom else None
    return config.for_stage(
        stage, preset, overrides, flag_prefix=f"{FLAG_PREFIX[stage.name]}_",
        data_dir=cfg.data_dir, checkpoint_dir=stage_folder(cfg.out, stage), decom_checkpoint=decom,
        seed=cfg.seed, strategy=cfg.strategy, deterministic=cfg.deterministic,
        vgg_weights=None if stage.name == "decomposition" else cfg.vgg_weights, decom_cache=cfg.decom_cache,
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
    return {k: v for k, v in d.items()
            if k not in _IDENTITY_EXCLUDE and not (k in _IDENTITY_DEFAULTS and v == _IDENTITY_DEFAULTS[k])}


def use_given(cfg, name, state, log):
    """Record that stage `name` is not trained: its network is `cfg.given[name]` (checked to load)."""
    stage = _stage(name)
    source = cfg.given[name]
    net = models.build_network(stage.scope)
    loaded = checkpoints.load_network_weights(net, source)
    entry = state.stage(name)
    entry.update(status="given", source=loaded, settings={}, seconds=0.0)
    state.save()
    log(f"[reproduce] {name}: not trained, {stage.scope} given ({loaded})")


def _decom_fingerprint(source):
    """sha256 of the DecomNet weights at `source`: the port's weights file, or a given checkpoint's tensors."""
    import hashlib

    weights = checkpoints.weights_file(source, models.DECOM_SCOPE)
    if os.path.isfile(weights):
        return checkpoints.sha256_file(weights)
    if source is None or not os.path.exists(source) and not os.path.exists(source + ".index"):
        return None  # not trained yet
    net = models.build_network(models.DECOM_SCOPE)
    checkpoints.load_network_weights(net, source)
    h = hashlib.sha256()
    for name, value in sorted(checkpoints.network_tensors(net).items()):
        h.update(name.encode())
        h.update(value.tobytes())
    return h.hexdigest()


def _later_stages(cfg, name):
    """[(stage, its time budget in seconds or None)] of the stages trained after `name` in this run."""
    later = STAGE_ORDER[STAGE_ORDER.index(name) + 1:]
    return [(n, train_config(cfg, _stage(n)).time_budget) for n in later if n not in cfg.given]


def run_left(stage_left, later):
    """The progress lines' note of the whole run's time left: this stage's, plus the later stages' budgets;
    a later stage without a budget is named, its time not known before it runs."""
    from kind_tf2.training.loop import duration

    known = stage_left + sum(b for _, b in later if b)
    untimed = [n for n, b in later if not b]
    return f"; run: {duration(known)} left" + (f" + {' + '.join(untimed)} (not timed yet)" if untimed else "")


def run_stage(cfg, name, state, strategy, log):
    """Train one stage unless it finished earlier with the same settings; resumes an interrupted one."""
    from kind_tf2.training import engine

    stage = _stage(name)
    tcfg = train_config(cfg, stage)
    entry = state.stage(name)
    identity = _identity(tcfg)
    if entry.get("status") == "given":
        entry.update(status="new", seconds=0.0)
    # Stages 2 and 3 learn on DecomNet's outputs: a retrained (or another given) DecomNet makes them stale.
    decom = _decom_fingerprint(tcfg.decom_checkpoint) if stage.needs_decom else None
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

    later = _later_stages(cfg, name)
    try:
        result = engine.train(stage, tcfg, log=stage_log, strategy=strategy,
                              annotate=lambda done, total, left: run_left(left, later))
    finally:  # stopped or finished, the stage's time so far is on record
        entry["seconds"] = before + time.time() - t0
        state.save()
    # How it was trained: the precision `auto` chose on this machine, the steps (a time budget's
    # choice), and how much of the time went into the steps themselves.
    entry.update(status="finished", precision=result.precision, steps=result.steps,
                 step_seconds=entry.get("step_seconds", 0.0) + result.step_seconds, machine=hardware.cpu().describe())
    state.save()
    return result


def _eval_models(cfg):
    """(label, checkpoint folder, {stage: given network}, results folder) of every model evaluated."""
    ckpt = os.path.join(cfg.out, "checkpoint")
    models_ = [("this run", ckpt, cfg.given, os.path.join(cfg.out, "eval"))]
    if cfg.reference_checkpoint_dir:
        models_.append((f"reference ({cfg.reference_checkpoint_dir})", cfg.reference_checkpoint_dir, {},
                        os.path.join(cfg.out, "eval_reference")))
    # What the restoration stage adds: the same first two networks with R_hat = R.
    models_.append((NO_RESTORATION_LABEL, ckpt, dict(cfg.given, restoration="none"),
                    os.path.join(cfg.out, "eval_no_restoration")))
    return models_


def validation_folder(cfg):
    """`<out>/validation_split/{low,high}`: links to the our485 pairs of VALIDATION_SPLIT (copies where links fail)."""
    import shutil

    from kind_tf2.data import lol

    pairs = lol.pair_files(os.path.join(cfg.data_dir, "our485"))[slice(*VALIDATION_SPLIT)]
    if not pairs:
        raise ReproduceError(f"--data_dir={cfg.data_dir}: our485 has no pairs past {VALIDATION_SPLIT[0]} for the "
                             "validation split (the full LOL has 485)")
    folder = os.path.join(cfg.out, "validation_split")
    for name, *paths in pairs:
        for side, path in zip(("low", "high"), paths):
            dest = os.path.join(folder, side, name)
            if os.path.lexists(dest):
                continue
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            try:
                os.symlink(os.path.abspath(path), dest)
            except OSError:
                shutil.copyfile(path, dest)
    return folder


def evaluate_all(cfg, log):
    """eval15 under every protocol for this run's networks and the reference ones.

    Returns `{protocol: [(model label, mean metrics, grid path)]}`.
    """
    from kind_tf2.pipeline import KinD

    low, high = os.path.join(cfg.data_dir, "eval15", "low"), os.path.join(cfg.data_dir, "eval15", "high")
    # The paper's protocol first: it is the table a reproduction is read by.
    first = metrics.PAPER_ANCHOR["protocol"]
    results = {p: [] for p in sorted(evaluation.PROTOCOLS, key=lambda p: p != first)}
    jobs = [(p, low, high, p) for p in results]
    if cfg.validation:
        val = validation_folder(cfg)
        results[VALIDATION_KEY] = []
        jobs.append((VALIDATION_KEY, os.path.join(val, "low"), os.path.join(val, "high"), "gt_ratio"))
    for label, ckpt, given, folder in _eval_models(cfg):
        log(f"[reproduce] evaluating {label} on {os.path.dirname(low)} under {', '.join(results)}")
        kind = KinD.from_checkpoint(ckpt, decom=given.get("decomposition"), illumination=given.get("illumination"),
                                    restoration=given.get("restoration"), log=lambda line: log("  " + line))
        for key, low_dir, high_dir, protocol in jobs:
            ecfg = evaluation.EvalConfig(input_dir=low_dir, high_dir=high_dir, output_dir=os.path.join(folder, key),
                                         protocol=protocol, ratio=cfg.ratio, metrics=cfg.metrics)
            failed = []
            result = evaluation.evaluate(ecfg, log=lambda line: log("  " + line), warn=failed.append, kind=kind)
            if not result.ok:
                raise ReproduceError(f"evaluating {label} under {protocol} failed: {'; '.join(failed)}")
            results[key].append((label, result.mean, len(result.rows),
                                 os.path.join(ecfg.output_dir, "comparison_grid.png")))
    return results


NO_RESTORATION_LABEL = "this run without Restoration_net (R_hat = R)"
# The results key of the validation split (our485 [466:485], gt_ratio) next to the eval15 protocols.
VALIDATION_KEY = "validation_gt_ratio"


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


def _metric_table(rows, paper=None):
    """(header, rows) of a models x metrics table; the columns are the metrics the evaluations scored.

    paper: an extra row `(label, {metric: value})`, blank where the paper gives nothing.
    """
    from kind_tf2.metrics import catalog

    cols = list(rows[0][1]) if rows else []
    table = [[label] + [catalog.fmt(c, m[c]) for c in cols] for label, m, _, _ in rows]
    if paper:
        table.append([paper[0]] + [paper[1].get(c, "") for c in cols])
    return ["model"] + [catalog.describe(c).header for c in cols], table


def _per_image_table(rep, cfg, protocol):
    """Per-image PSNR / SSIM of this run and of its no-restoration row under `protocol`, from their metrics.json."""
    docs = {}
    for label, _, _, folder in _eval_models(cfg):
        path = os.path.join(folder, protocol, "metrics.json")
        if os.path.isfile(path):
            with open(path) as f:
                docs[label] = {r["image"]: r for r in json.load(f)["images"]}
    if len(docs) < 2:
        return
    ours, none = docs["this run"], docs[NO_RESTORATION_LABEL]
    rows = [[name, f"{ours[name]['psnr']:.2f}", f"{ours[name]['ssim_rgb']:.4f}", f"{none[name]['psnr']:.2f}",
             f"{none[name]['ssim_rgb']:.4f}"] for name in sorted(ours, key=lambda n: int(n.split(".")[0])
                                                                    if n.split(".")[0].isdigit() else 0)]
    rep.table(["image", "PSNR this run", "SSIM this run", "PSNR no restoration", "SSIM no restoration"], rows)


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


def write_report(cfg, state, results, eval_seconds, log):
    """`report.md` and `report.html` in `cfg.out`; returns their paths."""
    rep = Report(cfg.title, cfg.out)
    if cfg.command:
        rep.code(cfg.command)
    n = next((r[2] for p, rows in results.items() if p != VALIDATION_KEY for r in rows), 0)
    preset = _preset(cfg)
    rep.text(f"Preset `{preset.name}`: {preset.description}. Data: {os.path.abspath(cfg.data_dir)} (eval15: {n} "
             f"images). Networks in checkpoint/ (the original's folder layout); enhanced images per protocol in "
             f"eval/." + "".join(f" {name} not trained: {state.stage(name).get('source')} given."
                                 for name in STAGE_ORDER if name in cfg.given))
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
        rep.table(*_metric_table(rows, paper))
    if VALIDATION_KEY in results:
        lo, hi = VALIDATION_SPLIT
        rep.heading("Validation split (our485, gt_ratio)")
        rep.text(f"The our485 pairs at sorted positions {lo}..{hi - 1}, after Restoration_net's training range "
                 f"[0:{lo}]: what schedules are chosen on (never eval15).")
        rep.table(*_metric_table(results[VALIDATION_KEY]))
    rep.heading("Per image, eval15, gt_ratio")
    _per_image_table(rep, cfg, anchor["protocol"])
    rep.heading("Training")
    stage_rows, total = [], 0.0
    for name in STAGE_ORDER:
        e = state.stage(name)
        s = e.get("settings", {})
        total += e["seconds"]
        if e["status"] == "given":
            stage_rows.append([name, "given (not trained, see above)", "", "", "", "", "", "", "", "0", "", ""])
            continue
        precision = e.get("precision") or s.get("mixed_precision") or "float32"
        if s.get("mixed_precision") == "auto" and "precision" in e:
            precision += " (auto)"
        budget = f" (budget {s['time_budget']:g} s)" if s.get("time_budget") else ""
        stage_rows.append([name, e["status"], s.get("epochs", ""), s.get("batch_size", ""), s.get("patch_size", ""),
                           f"{s.get('learning_rate', 0):g}", s.get("lr_schedule") or "original",
                           precision, s.get("loss") or "original", f"{e['seconds']:.0f}",
                           f"{e['step_seconds']:.0f}" if "step_seconds" in e else "",
                           f"{e.get('steps', s.get('steps') or '')}{budget}"])
    stage_rows.append(["evaluation (all protocols and models)", "", "", "", "", "", "", "", "", f"{eval_seconds:.0f}",
                       "", ""])
    rep.table(["stage", "status", "epochs", "batch", "patch", "lr", "lr schedule", "precision", "loss",
               "seconds", "in steps", "steps"], stage_rows)
    rep.text(f"Training time in all: {total / 60:.1f} min wall (summed over interrupted and resumed runs; "
             f"the first run of stages 2 and 3 includes decomposing our485 with the frozen DecomNet); "
             f"`in steps`: the part of it inside training steps. Trained on: "
             + "; ".join(sorted({state.stage(n).get("machine", "not recorded") for n in STAGE_ORDER
                                 if n not in cfg.given})) + ".")
    os.makedirs(os.path.join(cfg.out, "plots"), exist_ok=True)
    for name in STAGE_ORDER:
        path = os.path.join(cfg.out, "plots", f"curves_{name}.png")
        if name not in cfg.given and plot_curves(cfg, name, path):
            rep.image(path, f"{name}: every loss component per step, from the TensorBoard event files")
    rep.heading("Samples")
    for protocol, rows in results.items():
        for k, (label, _, _, grid) in enumerate(rows):
            # The no-restoration row under the paper's protocol only; no grid of the validation split.
            if os.path.isfile(grid) and protocol != VALIDATION_KEY and (
                    label != NO_RESTORATION_LABEL or protocol == anchor["protocol"]):
                thumb = os.path.join(cfg.out, "plots", f"grid_{k}_{protocol}.png")
                evaluation.compact_copy(grid, thumb, scale=0.6)
                rep.image(thumb, f"{label}, {protocol}: input | output | ground truth")
    rep.heading("Configuration")
    config = {"reproduce": dataclasses.asdict(cfg),
              "stages": {name: dataclasses.asdict(train_config(cfg, _stage(name))) for name in STAGE_ORDER
                         if name not in cfg.given}}
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
    _preset(cfg)
    for name, source in cfg.given.items():
        if name not in GIVEN_FLAG:
            raise ReproduceError(f"{name}: only {', '.join(GIVEN_FLAG)} can be given instead of trained")
        if not (os.path.exists(source) or os.path.exists(source + ".index")):
            raise ReproduceError(f"--{GIVEN_FLAG[name]}={source}: no such checkpoint folder or file")
    for name in STAGE_ORDER:
        stage = _stage(name)
        tcfg = train_config(cfg, stage)
        stage.objective(tcfg.loss, tcfg.patch_size, tcfg.vgg_weights)  # a bad --<stage>_loss stops here
    plots.pyplot()  # the report needs matplotlib: say so before hours of training


@dataclasses.dataclass
class ReproduceResult:
    """What one `reproduce` call produced."""

    stages: dict  # {stage: TrainResult of this call, or None (given, or finished earlier and skipped)}
    evaluation: dict  # {protocol or VALIDATION_KEY: [(model label, mean metrics, images, grid path)]}
    report: tuple  # (report.md, report.html)
    seconds: float  # wall time of this call


def reproduce(cfg, log=None):
    """Train the three stages (resuming), evaluate every protocol, write the report; returns a ReproduceResult.

    Raises a KindError (ReproduceError, DataError, ConfigError, ...) naming the flag or file at
    fault, before any training where it can be known then; faults.Preempted when a stage was
    stopped by a signal (it saved: re-run to resume).
    """
    from kind_tf2.training import engine

    log = log or (lambda line: print(line, flush=True))
    start = time.time()
    _check(cfg)
    os.makedirs(cfg.out, exist_ok=True)
    state = State(cfg.out)
    state.doc["config"] = dataclasses.asdict(cfg)
    strategy = engine.create_strategy(cfg.strategy)  # once, for all three stages
    trained = {}
    for name in STAGE_ORDER:
        if name in cfg.given:
            use_given(cfg, name, state, log)
            trained[name] = None
        else:
            trained[name] = run_stage(cfg, name, state, strategy, log)
    t0 = time.time()
    results = evaluate_all(cfg, log)
    eval_seconds = time.time() - t0
    state.doc["evaluation"] = {p: {label: m for label, m, _, _ in rows} for p, rows in results.items()}
    state.doc["evaluation_seconds"] = eval_seconds
    state.save()
    report = write_report(cfg, state, results, eval_seconds, log)
    if cfg.publish_dir:
        publish(cfg.out, cfg.publish_dir, log)
    return ReproduceResult(trained, results, report, time.time() - start)


if __name__ == "__main__":
    from kind_tf2.cli import run_command

    run_command("reproduce")
