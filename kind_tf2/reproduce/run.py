"""Running a reproduction: train the stages (resuming, skipping finished ones), evaluate every protocol, keep state."""

import dataclasses
import json
import os
import time

from kind_tf2 import checkpoints, errors, evaluation, files, hardware, metrics, models
from kind_tf2.data.lol import VALIDATION_SPLIT
from kind_tf2.reproduce.plan import STAGE_ORDER, VALIDATION_KEY, ReproduceError, eval_models, plan
from kind_tf2.reproduce.report import publish, write_report

STATE_FILE = "reproduce.json"
# Settings that change what a stage learns; log_every, eval_every and checkpoint_every do not, nor
# where the DecomNet cache lives (the same float32 values either way).
_IDENTITY_EXCLUDE = ("log_every", "eval_every", "checkpoint_every", "checkpoint_dir", "data_dir", "decom_checkpoint",
                     "export_tf1", "decom_cache")
# Added after runs were recorded: absent from a stored identity means their default.
_IDENTITY_DEFAULTS = {"lr_schedule": None, "steps": None, "time_budget": None}


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
        files.atomic_write_text(self.path, json.dumps(self.doc, indent=1) + "\n")


def _identity(tcfg):
    d = dataclasses.asdict(tcfg)
    return {k: v for k, v in d.items()
            if k not in _IDENTITY_EXCLUDE and not (k in _IDENTITY_DEFAULTS and v == _IDENTITY_DEFAULTS[k])}


def use_given(stage_plan, state, log):
    """Record that a stage is not trained: its network is the given checkpoint (checked to load)."""
    name, stage, source = stage_plan.name, stage_plan.stage, stage_plan.given
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


def _later_stages(plans, name):
    """[(stage, its time budget in seconds or None)] of the stages trained after `name` in this run."""
    later = STAGE_ORDER[STAGE_ORDER.index(name) + 1:]
    return [(n, plans[n].config.time_budget) for n in later if plans[n].given is None]


def run_left(stage_left, later):
    """The progress lines' note of the whole run's time left: this stage's, plus the later stages' budgets;
    a later stage without a budget is named, its time not known before it runs."""
    from kind_tf2.training.loop import duration

    known = stage_left + sum(b for _, b in later if b)
    untimed = [n for n, b in later if not b]
    return f"; run: {duration(known)} left" + (f" + {' + '.join(untimed)} (not timed yet)" if untimed else "")


def run_stage(cfg, plans, name, state, strategy, log):
    """Train one stage (`plans[name]`) unless it finished earlier with the same settings; resumes an interrupted one."""
    from kind_tf2.training import engine

    stage, tcfg = plans[name].stage, plans[name].config
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

    later = _later_stages(plans, name)
    try:
        result = engine.train(stage, tcfg, log=stage_log, strategy=strategy, objective=plans[name].objective,
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


def validation_folder(cfg):
    """`<out>/validation_split/{low,high}`: links to the our485 pairs of VALIDATION_SPLIT (copies where links fail)."""
    import shutil

    from kind_tf2.data import lol

    pairs = lol.pair_files(os.path.join(cfg.data_dir, "our485"))[slice(*VALIDATION_SPLIT)]
    if not pairs:
        raise ReproduceError(f"data_dir={cfg.data_dir}: our485 has no pairs past {VALIDATION_SPLIT[0]} for the "
                             "validation split (the full LOL has 485)", fields=("data_dir",))
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
    for label, ckpt, given, folder in eval_models(cfg):
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


@dataclasses.dataclass
class ReproduceResult:
    """What one `reproduce` call produced."""

    stages: dict  # {stage: TrainResult of this call, or None (given, or finished earlier and skipped)}
    evaluation: dict  # {protocol or VALIDATION_KEY: [(model label, mean metrics, images, grid path)]}
    report: tuple  # (report.md, report.html)
    seconds: float  # wall time of this call


def reproduce(cfg, log=None):
    """Train the three stages (resuming), evaluate every protocol, write the report; returns a ReproduceResult.

    Raises a KindError (ReproduceError, DataError, ConfigError, ...) naming the field or file at
    fault, before any training where it can be known then (`plan`); faults.Preempted when a stage
    was stopped by a signal (it saved: re-run to resume).
    """
    from kind_tf2.training import engine

    log = log or (lambda line: print(line, flush=True))
    start = time.time()
    plans = plan(cfg)
    os.makedirs(cfg.out, exist_ok=True)
    state = State(cfg.out)
    state.doc["config"] = dataclasses.asdict(cfg)
    strategy = engine.create_strategy(cfg.strategy)  # once, for all three stages
    trained = {}
    for name in STAGE_ORDER:
        if plans[name].given is not None:
            use_given(plans[name], state, log)
            trained[name] = None
            continue
        try:
            trained[name] = run_stage(cfg, plans, name, state, strategy, log)
        except errors.KindError as err:  # the stage's settings are said as that stage's
            raise err.in_section(name) from None
    t0 = time.time()
    results = evaluate_all(cfg, log)
    eval_seconds = time.time() - t0
    state.doc["evaluation"] = {p: {label: m for label, m, _, _ in rows} for p, rows in results.items()}
    state.doc["evaluation_seconds"] = eval_seconds
    state.save()
    report = write_report(cfg, plans, state, results, eval_seconds, log)
    if cfg.publish_dir:
        publish(cfg.out, cfg.publish_dir, log)
    return ReproduceResult(trained, results, report, time.time() - start)
