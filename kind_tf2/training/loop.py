"""The training loop: epochs of `Trainer.train_step` and the actions around them (checkpoints, logs, samples, signals)."""

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import time

import tensorflow as tf

from kind_tf2 import checkpoints, errors, files
from kind_tf2.data.patches import PatchSampler
from kind_tf2.training import faults, schedules
from kind_tf2.training.lock import FolderLock

RESULT_FILE = "train_result.json"  # the TrainResult of the last finished run, in the checkpoint folder


@dataclasses.dataclass
class TrainResult:
    """What one training run did; also written as `<checkpoint_dir>/train_result.json` when it finishes."""

    stage: str
    steps: int  # the global step at the end (all runs of the folder together)
    steps_this_run: int  # steps taken by this call (0 when the folder had finished already)
    epochs: int
    final_losses: dict  # {component: value} of the last step taken (the total under the stage's total_name)
    checkpoint: str  # the newest checkpoint prefix (ckpt-<step>)
    weights: str  # <checkpoint_dir>/<net>.weights.h5
    tf1_checkpoint: str  # the TF1 export's prefix, or None (export_tf1=False, or not the chief)
    seconds: float  # wall time of this call
    skipped_steps: int = 0  # non-finite steps dropped under nan_policy=skip_step in this call
    step_seconds: float = 0.0  # of `seconds`, the time inside training steps (batch, step; the first step traces)
    precision: str = "float32"  # what the network computed in (`mixed_precision` resolved: float32, bf16, fp16)


@dataclasses.dataclass
class Run:
    """State of one `fit` call, shared by the loop and its actions."""

    is_chief: bool
    ckpt_dir: str
    manager: tf.train.CheckpointManager
    steps_per_epoch: int
    total_steps: int  # the run's last step: epochs x steps_per_epoch, or `steps`
    epochs: int  # epochs the loop runs through (the last one ends early when `steps` is set)
    start_epoch: int
    start_step: int
    sampler: PatchSampler
    writer: object
    sample_dir: str
    saved_step: int = None  # the step of the newest checkpoint in ckpt_dir (None: none yet)
    tf1_prefix: str = None  # set by the TF1 export


@dataclasses.dataclass
class Step:
    """What the loop hands the actions after a step."""

    epoch: int  # 0-based
    index: int  # 0-based step within the epoch
    global_step: int  # steps taken, counted on the host
    lr: float
    parts: dict  # the step's loss components (tensors)


class Action:
    """Something the loop does around the steps. Every hook is optional; the loop calls them in list order."""

    def after_step(self, step):
        """After each step (`step`: a `Step`)."""

    def end_epoch(self, epoch):
        """After the last step of 0-based `epoch`."""

    def finish(self):
        """After the last epoch, once the input pipeline and the summary writer are closed."""


def worker_role(strategy):
    """(is_chief, worker_id) under MultiWorkerMirroredStrategy; (True, 0) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return is_chief, task_id


# ---- the actions ---------------------------------------------------------------------------------------


class Checkpoints(Action):
    """`ckpt-<step>` and `<net>.weights.h5` at epoch ends, at most every `checkpoint_every` seconds, and at
    the last step; `save()` for the other actions (a preemption, a diverged run)."""

    def __init__(self, trainer, run):
        self.trainer, self.run = trainer, run
        self.last_save = time.time()

    def save(self, weights=True):
        """Checkpoint `ckpt-<step>` (unless this step is saved already) and `<net>.weights.h5`."""
        trainer, run = self.trainer, self.run
        step = int(trainer.step.numpy())
        if run.saved_step != step:
            prefix = os.path.join(run.ckpt_dir, f"ckpt-{step}")
            with faults.writing("checkpoint", prefix):
                run.manager.save(checkpoint_number=step)
            run.saved_step = step
        if weights and run.is_chief:
            path = checkpoints.weights_file(trainer.config.checkpoint_dir, trainer.stage.scope)
            with faults.writing("weights file", path):
                trainer.model.save_weights(path)
        self.last_save = time.time()

    def end_epoch(self, epoch):
        self.trainer.epoch.assign(epoch + 1)
        last = epoch + 1 == self.run.epochs
        if last or time.time() - self.last_save >= self.trainer.config.checkpoint_every:
            self.save()


class TF1Export(Action):
    """The final weights as a TF1 checkpoint (original variable names) in `<checkpoint_dir>/tf1`, on the chief."""

    def __init__(self, trainer, run, log):
        self.trainer, self.run, self.log = trainer, run, log

    def export(self):
        if not (self.run.is_chief and self.trainer.config.export_tf1):
            return
        folder = os.path.join(self.trainer.config.checkpoint_dir, "tf1")
        with faults.writing("TF1 checkpoint", folder):
            self.run.tf1_prefix = checkpoints.write_tf1(folder, checkpoints.network_tensors(self.trainer.model))
        self.log(f"TF1 checkpoint (original variable names) written to {self.run.tf1_prefix}")

    def finish(self):
        self.export()


class NanGuard(Action):
    """Under nan_policy=stop: once a step went bad, save the last finite state and raise TrainingDiverged.

    `check()` reads one variable; the other actions call it where the loop waits for the device
    anyway (log lines, epoch ends, signals).
    """

    def __init__(self, trainer, run, saver, exporter):
        self.trainer, self.run, self.saver, self.exporter = trainer, run, saver, exporter

    def check(self):
        bad, terms = self.trainer.nan_state()
        if not bad:
            return
        spe = self.run.steps_per_epoch
        self.trainer.epoch.assign(int(self.trainer.step.numpy()) // spe)
        self.saver.save()
        self.exporter.export()
        raise faults.TrainingDiverged(
            f"step {bad} (epoch {(bad - 1) // spe + 1}, step {(bad - 1) % spe + 1} of {spe}) is not finite: "
            f"{', '.join(terms)}; stopped (nan_policy=stop). Nothing of that step was saved: "
            f"{self.run.manager.latest_checkpoint} holds step {bad - 1}, the last finite one "
            f"(nan_policy=skip_step drops such steps instead)", fields=("nan_policy",)
        )

    def end_epoch(self, epoch):
        self.check()


def duration(seconds):
    """`seconds` for a person: "42 s", "12 min", "2 h 05 min"."""
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


class Progress(Action):
    """A progress line every `log_every` steps and at each epoch's last step (the step wrote its scalars):
    the losses, the learning rate, seconds per step and the time left for the stage.

    s/step is measured since the previous line (the run's first step, which traces, is not counted).
    `annotate(steps_done, total_steps, seconds_left) -> str`, when given, adds to the line (e.g. the
    time left for a whole `reproduce` run).
    """

    def __init__(self, trainer, run, guard, log, annotate=None):
        self.trainer, self.run, self.guard, self.log = trainer, run, guard, log
        self.annotate = annotate
        self.mark = None  # (time, global step) of the last line, or of the run's first step
        self.pace = None  # seconds per step between the last two lines

    def after_step(self, s):
        cfg, stage, spe, run = self.trainer.config, self.trainer.stage, self.run.steps_per_epoch, self.run
        if self.mark is None:
            self.mark = (time.time(), s.global_step)
        last_of_epoch = s.index + 1 == min(spe, run.total_steps - s.epoch * spe)
        if (s.index + 1) % cfg.log_every and not last_of_epoch:
            return
        total = float(s.parts[stage.total_name])  # waits for the step
        self.guard.check()  # the line above waited for the step: this read is free
        now = time.time()
        if s.global_step > self.mark[1]:
            self.pace = (now - self.mark[0]) / (s.global_step - self.mark[1])
            self.mark = (now, s.global_step)
        left = None if self.pace is None else self.pace * (run.total_steps - s.global_step)
        timing = "timing from the next line" if left is None else f"{self.pace:.3g} s/step, {duration(left)} left"
        if self.annotate is not None and left is not None:
            timing += self.annotate(s.global_step, run.total_steps, left)
        terms = " ".join(f"{k} {float(v):.4g}" for k, v in s.parts.items() if k != stage.total_name)
        skipped = self.trainer.skipped_steps() if cfg.nan_policy == "skip_step" else 0
        self.log(f"{stage.name} epoch [{s.epoch + 1}/{run.epochs}] step [{s.index + 1}/{spe}] "
                 f"loss {total:.6f} ({terms}) lr {s.lr:g} ({timing})"
                 + (f" [skipped {skipped} non-finite step(s)]" if skipped else ""))


class Samples(Action):
    """Every `eval_every` epochs, on the chief: the stage's sample images, also as TensorBoard images."""

    def __init__(self, trainer, run, data, log):
        self.trainer, self.run, self.data, self.log = trainer, run, data, log

    def end_epoch(self, epoch):
        cfg, run = self.trainer.config, self.run
        if not (run.is_chief and (epoch + 1) % cfg.eval_every == 0 and self.data.eval_items):
            return
        self.log(f"[*] writing samples for epoch {epoch + 1} to {run.sample_dir}")
        with faults.writing("samples of epoch", f"{epoch + 1} in {run.sample_dir}"):
            shown = self.trainer.stage.write_samples(self.trainer.model, self.data, run.sample_dir, epoch + 1,
                                                     cfg.seed)
        if run.writer is not None:
            with run.writer.as_default():
                step = (epoch + 1) * run.steps_per_epoch
                for tag, pixels in (shown or {}).items():
                    img = pixels if pixels.ndim == 3 else pixels[:, :, None]
                    tf.summary.image(f"samples/{tag}", img[None], step=step)


class FlushSummaries(Action):
    """The event file flushed at every epoch end, so TensorBoard shows a running job."""

    def __init__(self, run):
        self.run = run

    def end_epoch(self, epoch):
        if self.run.writer is not None:
            self.run.writer.flush()


class Preemption(Action):
    """Polled after every step: on a SIGTERM/SIGINT, save this step and raise Preempted.

    Single host: our SignalWatcher. multi_worker: TF's PreemptionCheckpointHandler, which syncs
    the workers so that they all save the same step, then calls our exit function.
    """

    def __init__(self, trainer, run, saver, guard, log, watcher=None, handler=None):
        self.trainer, self.run, self.saver, self.guard, self.log = trainer, run, saver, guard, log
        self.watcher, self.handler = watcher, handler

    def message(self, name):
        step, spe = int(self.trainer.step.numpy()), self.run.steps_per_epoch
        where = f"end of epoch {step // spe}" if step % spe == 0 else f"epoch {step // spe + 1}, step {step % spe} of {spe}"
        return (f"{name}: saved step {step} ({where}) to {self.run.manager.latest_checkpoint} and stopped; "
                f"run the same command to resume")

    def check(self, step):
        """step: the global step just taken, counted on the host (reading the variable would sync)."""
        if self.handler is not None:
            from tensorflow.python.util import deprecation

            # Every worker calls this at the same points; the handler decides together whether to save.
            with deprecation.silence():  # it reads its own deprecated run counter
                self.handler.save_checkpoint_if_preempted(checkpoint_number=step)
            return
        if self.watcher.signum is None:
            return
        name = signal.Signals(self.watcher.signum).name
        self.log(f"[*] {name} received: saving step {int(self.trainer.step.numpy())}")
        self.guard.check()  # a diverged run saves its last finite step instead
        self.saver.save()
        raise faults.Preempted(self.message(name), self.watcher.signum)

    def after_step(self, s):
        if s.index + 1 < self.run.steps_per_epoch:  # at an epoch's last step, after its checkpoint and samples
            self.check(s.global_step)

    def end_epoch(self, epoch):
        self.check((epoch + 1) * self.run.steps_per_epoch)


@contextlib.contextmanager
def preemption(trainer, run, saver, guard, log):
    """The Preemption action, with its signal watcher (single host) or TF's handler (multi_worker) live."""
    if trainer.config.strategy == "multi_worker":
        action = Preemption(trainer, run, saver, guard, log)

        # TF's own handler: the workers agree on the step, the chief saves, all exit together.
        def leave():
            raise faults.Preempted(action.message("SIGTERM"), signal.SIGTERM)

        action.handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            trainer.strategy.cluster_resolver, run.manager,
            termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=leave),
        )
        try:
            yield action
        finally:
            # What its __del__ does, which never runs: the scripts skip the final collection.
            # Unstopped, a worker's watcher thread dies noisily once the chief is gone.
            action.handler._stop_cluster_wise_termination_watcher_thread()
            action.handler._stop_poll_termination_signal_thread()
        return
    with faults.SignalWatcher() as watcher:
        yield Preemption(trainer, run, saver, guard, log, watcher=watcher)


# ---- the loop ------------------------------------------------------------------------------------------


def fit(trainer, data, release_data=False, annotate=None):
    """Train `trainer` for `config.epochs` epochs (resuming from the checkpoint folder); returns a TrainResult.

    data: the stage's StageData. release_data: move its training arrays into the input pipeline
    (`data.arrays` is None afterwards) instead of keeping a second copy for reuse. annotate: see
    `Progress`.

    Raises FolderLockedError when a live run uses the checkpoint folder, TrainingDiverged when a
    step is not finite under nan_policy=stop, WriteFailed when a save fails, and Preempted
    (after saving the current step) on SIGTERM or SIGINT.
    """
    lock = FolderLock(trainer.config.checkpoint_dir)
    if worker_role(trainer.strategy)[0]:
        lock.acquire(trainer.log)
    try:
        return _fit_locked(trainer, data, release_data, annotate)
    finally:
        lock.release()


def _fit_locked(trainer, data, release_data, annotate):
    cfg, log, t_start = trainer.config, trainer.log, time.time()
    run = open_run(trainer, data, release_data)
    iterator = iter(trainer.strategy.distribute_datasets_from_function(
        lambda ctx: run.sampler.dataset(run.start_step, run.total_steps, trainer.stage.transform, ctx)
    ))
    spe, step_seconds = run.steps_per_epoch, 0.0
    saver, exporter = Checkpoints(trainer, run), TF1Export(trainer, run, log)
    guard = NanGuard(trainer, run, saver, exporter)
    parts = None
    with preemption(trainer, run, saver, guard, log) as signals:
        step_actions = [Progress(trainer, run, guard, log, annotate), signals]
        epoch_actions = [guard, saver, Samples(trainer, run, data, log), FlushSummaries(run), signals]
        lr = None
        for epoch in range(run.start_epoch, run.epochs):
            # A run preempted mid-epoch resumes at the step it saved; a run of `steps` ends mid-epoch.
            first = max(0, run.start_step - epoch * spe)
            for b in range(first, min(spe, run.total_steps - epoch * spe)):
                global_step = epoch * spe + b + 1
                rate = learning_rate(cfg, trainer.stage, epoch, b, spe)
                if rate != lr:
                    lr = rate
                    trainer.set_learning_rate(lr)
                t_step = time.perf_counter()
                parts = trainer.train_step(next(iterator), tf.constant(global_step, tf.int64))
                step_seconds += time.perf_counter() - t_step
                s = Step(epoch, b, global_step, lr, parts)
                for action in step_actions:
                    action.after_step(s)
            for action in epoch_actions:
                action.end_epoch(epoch)
    # Stop the input pipeline's threads and close the event file now: left to the
    # interpreter's exit, their teardown sometimes holds the process for 1.5 s.
    del iterator
    if run.writer is not None:
        run.writer.close()
    exporter.finish()
    if not run.is_chief:
        shutil.rmtree(run.ckpt_dir, ignore_errors=True)  # a worker's scratch checkpoints
    skipped = trainer.skipped_steps()
    if cfg.nan_policy == "skip_step":
        log(f"[*] nan_policy=skip_step: skipped {skipped} non-finite step(s) "
            f"of {int(trainer.step.numpy()) - run.start_step} in this run")
    log(f"[*] Finish training for phase {trainer.stage.name}.")
    return _result(trainer, run, parts, skipped, time.time() - t_start, step_seconds)


def learning_rate(cfg, stage, epoch, index, steps_per_epoch):
    """The rate of step `index` (0-based) of 0-based `epoch`: per epoch in a run of epochs; per step,
    the schedule spanning exactly `cfg.steps`, in a run of steps."""
    if cfg.steps is None:
        return schedules.learning_rate(cfg.lr_schedule, stage, epoch, cfg.epochs, cfg.learning_rate)
    return schedules.learning_rate(cfg.lr_schedule, stage, epoch + index / steps_per_epoch,
                                   cfg.steps / steps_per_epoch, cfg.learning_rate)


def _result(trainer, run, parts, skipped, seconds, step_seconds):
    """The TrainResult, written to `<checkpoint_dir>/train_result.json` on the chief; a finished folder's
    final losses come from that file (no step ran in this call)."""
    cfg = trainer.config
    path = os.path.join(cfg.checkpoint_dir, RESULT_FILE)
    if parts is not None:
        final = {k: float(v) for k, v in parts.items()}
    elif os.path.isfile(path):
        with open(path) as f:
            final = json.load(f).get("final_losses", {})
    else:
        final = {}
    step = int(trainer.step.numpy())
    result = TrainResult(
        stage=trainer.stage.name, steps=step, steps_this_run=step - run.start_step, epochs=run.epochs,
        final_losses=final, checkpoint=run.manager.latest_checkpoint,
        weights=checkpoints.weights_file(cfg.checkpoint_dir, trainer.stage.scope),
        tf1_checkpoint=run.tf1_prefix, seconds=round(seconds, 3), skipped_steps=skipped,
        step_seconds=round(step_seconds, 3), precision=trainer.precision.name,
    )
    if run.is_chief:
        with faults.writing("run result", path):
            files.atomic_write_text(path, json.dumps(dataclasses.asdict(result), indent=1))
    return result


def open_run(trainer, data, release_data):
    """Checkpoint manager, resume or fresh start, patch sampler, summary writer, config.json."""
    cfg, stage, log = trainer.config, trainer.stage, trainer.log
    is_chief, worker_id = worker_role(trainer.strategy)
    n = len(data.names)
    steps_per_epoch = epoch_steps(n, cfg.batch_size)
    total_steps = cfg.steps or cfg.epochs * steps_per_epoch
    epochs = -(-total_steps // steps_per_epoch)
    ckpt_dir = cfg.checkpoint_dir if is_chief else os.path.join(cfg.checkpoint_dir, f".worker_{worker_id}")
    # Checkpoints are numbered by step (ckpt-<step>): a preempted run saves mid-epoch.
    manager = tf.train.CheckpointManager(trainer.checkpoint, ckpt_dir, max_to_keep=cfg.max_keep)
    if manager.checkpoints:
        _check_same_objective(trainer)
        restored = faults.restore_newest_readable(trainer.checkpoint, manager, log)
        if restored != manager.latest_checkpoint:  # the state file was rewritten without the broken ones
            manager = tf.train.CheckpointManager(trainer.checkpoint, ckpt_dir, max_to_keep=cfg.max_keep)
        log(f"Resuming from {restored} at epoch {int(trainer.epoch.numpy())} "
            f"(step {int(trainer.step.numpy())} of {total_steps})")
    else:
        if cfg.init_weights:
            log(f"initial weights from {checkpoints.load_network_weights(trainer.model, cfg.init_weights)}")
        length = f"{cfg.steps} steps ({epochs} epochs)" if cfg.steps else f"{cfg.epochs} epochs"
        log(f"Starting {stage.name} from scratch: {n} training images, {steps_per_epoch} steps per "
            f"epoch, {length}, global batch {cfg.batch_size} on {trainer.replicas} replica(s)")
    log(f"objective ({stage.total_name}): {trainer.objective.spec}")
    for note in trainer.objective.notes():
        log(note)
    start_epoch, start_step = int(trainer.epoch.numpy()), int(trainer.step.numpy())
    # A run of `steps` that ended mid-epoch counted that epoch as done.
    finished_early = start_step == total_steps and start_epoch == epochs
    if start_step // steps_per_epoch != start_epoch and not finished_early:
        raise errors.ResumeError(
            f"{ckpt_dir}: checkpoint at step {start_step} does not fit epoch {start_epoch} with "
            f"{steps_per_epoch} steps per epoch (was batch_size or the data changed?)", fields=("batch_size",)
        )
    sampler = patch_sampler(trainer, data)
    if release_data:
        # The sampler holds the training images now (the same memory for `channel_stack`
        # slices, else a copy in TF memory); the variable keeps what it needs alive.
        data.arrays = None
    sample_dir = os.path.join(cfg.checkpoint_dir, "samples")
    writer = tf.summary.create_file_writer(os.path.join(cfg.checkpoint_dir, "logs")) if is_chief else None
    if is_chief:
        with faults.writing("samples folder", sample_dir):
            os.makedirs(sample_dir, exist_ok=True)
        config = dict(dataclasses.asdict(cfg), stage=stage.name, loss=trainer.objective.spec)
        path = os.path.join(cfg.checkpoint_dir, "config.json")
        with faults.writing("run configuration", path):
            files.atomic_write_text(path, json.dumps(config, indent=1))
    saved_step = start_step if manager.latest_checkpoint else None
    # Traced anew for this run: the step writes with this run's summary writer.
    trainer.bind_summaries(writer)
    return Run(is_chief, ckpt_dir, manager, steps_per_epoch, total_steps, epochs, start_epoch, start_step,
               sampler, writer, sample_dir, saved_step)


def epoch_steps(images, batch_size):
    """Steps in an epoch: as the original, len(train) // batch; at least one on a tiny data set."""
    return max(1, images // batch_size)


def patch_sampler(trainer, data):
    """The run's PatchSampler over the stage's training images: patches a pure function of the seed and the step."""
    cfg, stage = trainer.config, trainer.stage
    return PatchSampler(data.arrays, data.sizes, cfg.batch_size, cfg.patch_size, stage.num_modes, cfg.seed,
                        reshuffle=stage.reshuffle, names=data.names, scales=data.scales)


def _check_same_objective(trainer):
    """Refuse to resume a run that was trained with another objective."""
    cfg = trainer.config
    path = os.path.join(cfg.checkpoint_dir, "config.json")
    if not os.path.isfile(path):
        return
    with open(path) as f:
        stored = json.load(f).get("loss")
    # Runs written before `loss` existed trained the original objective.
    stored = stored or trainer.stage.objective(None).spec
    if stored != trainer.objective.spec:
        raise errors.ResumeError(
            f"{cfg.checkpoint_dir} was trained with loss={stored!r}; this run asks for "
            f"loss={trainer.objective.spec!r}. Resume with the same loss, or start a new run in "
            f"another checkpoint_dir", fields=("loss", "checkpoint_dir")
        )
