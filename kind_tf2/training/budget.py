"""A stage trained within a time budget: its step time measured on this machine, then the steps that fit, recorded."""

import dataclasses
import json
import os
import shutil
import tempfile
import time

from kind_tf2 import checkpoints, errors, files, hardware
from kind_tf2.training import loop

BUDGET_FILE = "budget.json"  # in the checkpoint folder: the steps chosen for a time budget, reused on resume
PROBE_STEPS = (2, 3, 20, 6.0)  # warm-up steps, then timed steps: at least 3, at most 20, until 6 s have passed


@dataclasses.dataclass
class Probe:
    """What a few steps of the stage cost on this machine (seconds)."""

    step: float  # one training step, steady state (median of the timed steps)
    first: float  # the first step of a fresh network: tracing, the pipeline's start
    save: float  # one checkpoint and `<net>.weights.h5`
    setup: float  # building the trainer and its input pipeline
    precision: str  # what the steps computed in (`mixed_precision` resolved)


def measure(stage, cfg, strategy, data, objective=None):
    """Time a throw-away Trainer on the stage's real data: a `Probe`. Nothing is written to `cfg.checkpoint_dir`."""
    from kind_tf2.training.trainer import Trainer

    warmup, least, most, enough = PROBE_STEPS
    t0 = time.perf_counter()
    trainer = Trainer(stage, cfg, strategy, log=lambda line: None, objective=objective)
    sampler = loop.patch_sampler(trainer, data)
    iterator = iter(strategy.distribute_datasets_from_function(
        lambda ctx: sampler.dataset(0, warmup + most, stage.transform, ctx)))
    setup = time.perf_counter() - t0
    times = []
    for k in range(warmup + most):
        t = time.perf_counter()
        parts = trainer.train_step(next(iterator))
        float(parts[stage.total_name])  # wait for the step
        times.append(time.perf_counter() - t)
        if k + 1 >= warmup + least and sum(times[warmup:]) >= enough:
            break
    folder = tempfile.mkdtemp(prefix="kind_tf2_probe_")
    try:
        t = time.perf_counter()
        trainer.checkpoint.write(os.path.join(folder, "ckpt"))
        trainer.model.save_weights(checkpoints.weights_file(folder, stage.scope))
        save = time.perf_counter() - t
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    del iterator
    timed = sorted(times[warmup:])
    return Probe(step=timed[len(timed) // 2], first=times[0], save=save, setup=setup,
                 precision=trainer.precision.name)


def steps_within(seconds, probe, steps_per_epoch, checkpoint_every):
    """The most steps whose training, saves and start-up fit in `seconds` (0 if none).

    A run re-traces its step (`probe.first`), builds its pipeline (`probe.setup`), checkpoints at
    epoch ends (at most every `checkpoint_every` s) and at the end, and writes its TF1 export.
    """
    fixed = probe.setup + probe.first + 3 * probe.save
    saves_every = max(steps_per_epoch, checkpoint_every / probe.step)  # steps between checkpoints
    per_step = probe.step + probe.save / saves_every
    return max(0, int((seconds - fixed) // per_step))


def read(folder, budget):
    """The steps recorded in `folder/budget.json` for the same `budget` (seconds), or None."""
    path = os.path.join(folder, BUDGET_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        doc = json.load(f)
    return doc["steps"] if doc.get("time_budget") == budget else None


def plan(stage, cfg, strategy, data, started, log, objective=None):
    """`cfg` with `steps` set so that the stage ends within `cfg.time_budget` seconds from `started` (time.time()).

    A folder that recorded steps for this budget resumes with them; otherwise the step time is
    measured here and the choice written to `<checkpoint_dir>/budget.json`. The learning-rate
    schedule then spans exactly these steps (`loop.learning_rate`), so `steps=N` elsewhere trains
    the same run. Raises ConfigError when not one step fits.
    """
    recorded = read(cfg.checkpoint_dir, cfg.time_budget)
    if recorded:
        log(f"time budget {loop.duration(cfg.time_budget)}: {recorded} steps, as chosen earlier "
            f"({os.path.join(cfg.checkpoint_dir, BUDGET_FILE)})")
        return dataclasses.replace(cfg, steps=recorded)
    probe = measure(stage, cfg, strategy, data, objective)
    spe = loop.epoch_steps(len(data.names), cfg.batch_size)
    left = cfg.time_budget - (time.time() - started)
    steps = steps_within(left, probe, spe, cfg.checkpoint_every)
    if steps < 1:
        raise errors.ConfigError(
            f"time_budget={cfg.time_budget:g} s: no training step fits; {time.time() - started:.0f} s went to "
            f"preparing the data and timing, and a step takes {probe.step:.3g} s here (the first "
            f"{probe.first:.3g} s, a checkpoint {probe.save:.3g} s)")
    doc = {"time_budget": cfg.time_budget, "steps": steps, "steps_per_epoch": spe,
           "seconds_per_step": round(probe.step, 4), "first_step_seconds": round(probe.first, 3),
           "save_seconds": round(probe.save, 3), "setup_seconds": round(probe.setup, 3),
           "seconds_before_training": round(time.time() - started, 1), "machine": hardware.cpu().describe(),
           "precision": probe.precision}
    os.makedirs(cfg.checkpoint_dir, exist_ok=True)
    files.atomic_write_text(os.path.join(cfg.checkpoint_dir, BUDGET_FILE), json.dumps(doc, indent=1))
    log(f"time budget {loop.duration(cfg.time_budget)}: {probe.step:.3g} s/step measured here "
        f"({hardware.cpu().model}, {doc['precision']}), {loop.duration(left)} left after the data -> {steps} steps "
        f"(~{steps / spe:.1f} epochs of {spe}); steps={steps} trains the same run on another machine")
    return dataclasses.replace(cfg, steps=steps)
