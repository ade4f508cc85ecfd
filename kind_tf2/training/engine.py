"""The one training engine behind the three stage scripts: tf.distribute, tf.data, checkpoints, logs."""

import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sys
import time

import keras
import tensorflow as tf
from absl import flags, logging

from kind_tf2 import checkpoints, image_ops, models, process
from kind_tf2.data.lol import DatasetError
from kind_tf2.data.patches import PatchSampler
from kind_tf2.training import faults, schedules
from kind_tf2.training.lock import FolderLock
from kind_tf2.training.optimizer import TF1Adam


@dataclasses.dataclass
class TrainConfig:
    """Everything a run needs; the scripts fill it from flags inside `main`."""

    data_dir: str = "./LOLdataset"
    checkpoint_dir: str = "./checkpoint/decom_net_train"
    decom_checkpoint: str = None
    epochs: int = 2000
    batch_size: int = 10
    patch_size: int = 48
    learning_rate: float = 1e-4
    seed: int = 0
    strategy: str = "default"
    eval_every: int = 200
    log_every: int = 10
    deterministic: bool = False
    export_tf1: bool = True
    max_keep: int = 3
    jit_compile: bool = False
    loss: str = None  # --loss spec; None: the stage's original objective
    vgg_weights: str = None  # VGG19 weights file for the `perceptual` term
    init_weights: str = None  # weights to start from instead of the seeded initialisation (not on resume)
    decom_cache: str = None  # folder of the DecompositionCache (stages 2 and 3); None: always decompose
    mixed_precision: str = None  # None: float32 (the original); "bf16" / "fp16": compute dtype, fp32 variables
    nan_policy: str = "stop"  # a non-finite loss or gradient: "stop" the run, or "skip_step" (drop the update)
    lr_schedule: str = None  # a name in training.schedules.SCHEDULES; None: the original's ("original")


def write_scalar(tag, value, step):
    """A TensorBoard scalar in the default summary writer (the `tensorboard` package's op)."""
    tf.summary.scalar(tag, tf.cast(value, tf.float32), step=step)


def read_scalars(logdir):
    """`{tag: (steps, values)}` from the TensorBoard event files in `logdir`, steps ascending.

    A resumed run writes some steps twice; the later value wins.
    """
    from tensorflow.core.util import event_pb2

    series = {}
    files = sorted(f for f in os.listdir(logdir) if "tfevents" in f) if os.path.isdir(logdir) else []
    for name in files:
        for record in tf.data.TFRecordDataset(os.path.join(logdir, name)):
            event = event_pb2.Event.FromString(record.numpy())
            for value in event.summary.value:
                arr = tf.make_ndarray(value.tensor)
                if arr.ndim == 0 and arr.dtype.kind == "f":  # scalars only: images are string tensors
                    series.setdefault(value.tag, {})[event.step] = float(arr)
    return {tag: (sorted(pts), [pts[k] for k in sorted(pts)]) for tag, pts in series.items()}


def make_optimizer(learning_rate):
    """Adam as TF1's AdamOptimizer: beta1 0.9, beta2 0.999, epsilon 1e-8 and its kernel's rounding."""
    return TF1Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


MIXED_PRECISION = {None: None, "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


def _build_in_policy(scope, policy):
    """The stage network, its layers built under the Keras dtype `policy` (None: float32).

    The global policy is restored afterwards: only this network computes in reduced precision.
    """
    if policy is None:
        return models.build_network(scope)
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(policy)
    try:
        return models.build_network(scope)
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def create_strategy(name):
    """`default` (one device), `mirrored` (all local GPUs) or `multi_worker` (from TF_CONFIG)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"--strategy={name}: expected default, mirrored or multi_worker")


def _worker_role(strategy):
    """(is_chief, worker_id) under MultiWorkerMirroredStrategy; (True, 0) otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    task_type, task_id = resolver.task_type, resolver.task_id or 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0)
    return is_chief, task_id


class Trainer:
    """Trains one stage's network; every variable is created under `strategy.scope()`.

    `train_step(batch)` runs one Adam step on a global batch (a dict of tensors, or a distributed
    batch) through `strategy.run` inside a `tf.function`, and returns the losses of that batch
    computed before the update, averaged over the global batch.
    """

    def __init__(self, stage, config, strategy=None, log=print):
        self.stage, self.config, self.log = stage, config, log
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise ValueError(
                f"--batch_size={config.batch_size} is not divisible by the {self.replicas} replicas"
            )
        if config.nan_policy not in faults.NAN_POLICIES:
            raise ValueError(f"--nan_policy={config.nan_policy}: expected one of {', '.join(faults.NAN_POLICIES)}")
        if (config.lr_schedule or "original") not in schedules.SCHEDULES:
            raise ValueError(f"--lr_schedule={config.lr_schedule}: expected one of {', '.join(schedules.SCHEDULES)}")
        if config.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"--mixed_precision={config.mixed_precision}: expected none, bf16 or fp16")
        # Parsed and checked before anything is built: a bad spec stops here with one line.
        self.objective = stage.objective(config.loss, config.patch_size, config.vgg_weights)
        with self.strategy.scope():
            self.objective.build()
            self.model = _build_in_policy(stage.scope, MIXED_PRECISION[config.mixed_precision])
            self.optimizer = make_optimizer(config.learning_rate)
            if config.mixed_precision == "fp16":
                # fp16 gradients underflow without loss scaling; bf16 has float32's exponent range.
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
            # The NaN guard's state, kept in the graph so that no step waits for the host. Not
            # checkpointed: a resumed run counts its own skips.
            self.first_bad_step = tf.Variable(0, dtype=tf.int64, trainable=False, name="first_bad_step")
            # Bit i set: the i-th of `bad_names` (the loss components, then "gradients") went bad.
            self.bad_terms = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_terms")
            self.skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, epoch=self.epoch
        )
        self.bad_names = None  # set when the step is traced
        self._write_scalars = None  # set by `fit` on the chief: the step then writes its TensorBoard scalars
        # XLA fuses the many small element-wise ops of the losses; results then differ from the
        # original by float rounding (about 2e-6), so it is opt-in.
        self._grads_fn = (tf.function(self._replica_grads, jit_compile=True, autograph=False)
                          if config.jit_compile else self._replica_grads)
        # No autograph: the step has no tensor-dependent Python control flow, and converting the
        # model and loss code costs about 1.8 s of every run's start-up.
        self._step_fn = tf.function(self._distributed_step, autograph=False)

    def _replica_grads(self, batch):
        """One replica: `(parts, grads, bad)`, bad an int32 flag per loss component then one for the gradients."""
        with tf.GradientTape() as tape:
            total, parts = self.stage.loss(self.model, batch, self.objective)
            # Each replica's loss is its local mean; the optimizer sums gradients over replicas,
            # so dividing by the replica count gives the gradient of the global-batch mean.
            scaled = total / self.replicas
            if self.config.mixed_precision == "fp16":
                scaled = self.optimizer.scale_loss(scaled)
        grads = tape.gradient(scaled, self.model.trainable_variables)
        # One fused reduction per tensor: is_finite is false for NaN and for +-Inf.
        flags = [tf.logical_not(tf.math.is_finite(v)) for v in parts.values()]
        grads_finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
        if self.config.mixed_precision == "fp16":
            # Overflowing scaled gradients are the loss scaler's business: it skips them and lowers
            # the scale. The guard watches the losses.
            grads_finite = tf.constant(True)
        flags.append(tf.logical_not(grads_finite))
        return parts, grads, tf.cast(tf.stack(flags), tf.int32)

    def _replica_apply(self, grads):
        self.optimizer.apply_gradients(zip(grads, self.model.trainable_variables))

    def _distributed_step(self, batch, step=None):
        parts, grads, bad = self.strategy.run(self._grads_fn, args=(batch,))
        bad = self.strategy.reduce(tf.distribute.ReduceOp.SUM, bad, axis=None)
        finite = tf.reduce_all(tf.equal(bad, 0))
        parts = {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in parts.items()}
        if self.bad_names is None:
            self.bad_names = [*parts, "gradients"]
        bits = tf.bitwise.left_shift(tf.constant(1, tf.int64), tf.range(tf.size(bad, out_type=tf.int64)))
        bad_bits = tf.reduce_sum(tf.where(bad > 0, bits, tf.zeros_like(bits)))
        if self.config.nan_policy == "stop":
            # After the first bad step nothing moves: the step counter and the weights stay at the
            # last finite step until the host notices (at the next log line or epoch end) and stops.
            apply = tf.logical_and(finite, tf.equal(self.first_bad_step, 0))
            first = tf.logical_and(tf.logical_not(finite), tf.equal(self.first_bad_step, 0))
            self.first_bad_step.assign(tf.where(first, self.step + 1, self.first_bad_step))
            self.bad_terms.assign(tf.where(first, bad_bits, self.bad_terms))
            self.step.assign_add(tf.cast(apply, tf.int64))
        else:
            # skip_step: the batch is used up and the step counted, so a resume stays on schedule.
            apply = finite
            self.skipped.assign_add(tf.cast(tf.logical_not(finite), tf.int64))
            self.step.assign_add(1)
        # strategy.run inside the branch: the optimizer's cross-replica merge_call then happens
        # in the graph it was entered from, which MirroredStrategy requires.
        tf.cond(apply, lambda: self.strategy.run(self._replica_apply, args=(grads,)), lambda: None)
        if step is not None and self._write_scalars is not None:
            # In the step's own graph: a second compiled call per step cost about 0.5 ms (4 % of an
            # illumination step), and its first call 0.08 s of every run's start.
            self._write_scalars(parts, self.optimizer.learning_rate, step, self.skipped)
        return parts

    def train_step(self, batch, step=None):
        """One step; `step` (int64 scalar tensor, the global step taken), given by `fit`, also writes the scalars."""
        return self._step_fn(batch) if step is None else self._step_fn(batch, step)

    def set_learning_rate(self, value):
        self.optimizer.learning_rate = value

    # ---- the full run: the loop, and the actions around it ------------------------------------

    def fit(self, data, release_data=False):
        """Train for `config.epochs` epochs (resuming from the checkpoint folder); returns the model.

        data: the stage's StageData. release_data: move its training arrays into the input
        pipeline (`data.arrays` is None afterwards) instead of keeping a second copy for reuse.

        Raises FolderLockedError when a live run uses the checkpoint folder, TrainingDiverged when a
        step is not finite under --nan_policy=stop, WriteFailed when a save fails, and Preempted
        (after saving the current step) on SIGTERM or SIGINT.
        """
        lock = FolderLock(self.config.checkpoint_dir)
        if _worker_role(self.strategy)[0]:
            lock.acquire(self.log)
        try:
            return self._fit_locked(data, release_data)
        finally:
            lock.release()

    def _fit_locked(self, data, release_data):
        run = self._open_run(data, release_data)
        iterator = iter(self.strategy.distribute_datasets_from_function(
            lambda ctx: run.sampler.dataset(run.start_step, run.total_steps, self.stage.transform, ctx)
        ))
        spe = run.steps_per_epoch
        with self._preemption(run) as preemption:
            for epoch in range(run.start_epoch, self.config.epochs):
                lr = schedules.learning_rate(self.config.lr_schedule, self.stage, epoch, self.config.epochs,
                                             self.config.learning_rate)
                self.set_learning_rate(lr)
                # A run preempted mid-epoch resumes at the step it saved.
                first = max(0, run.start_step - epoch * spe)
                t0 = time.time()
                for b in range(first, spe):
                    parts = self.train_step(next(iterator), tf.constant(epoch * spe + b + 1, tf.int64))
                    self._after_step(run, parts, epoch, b, first, lr, t0)
                    if b + 1 < spe:  # at an epoch's last step, after its checkpoint and samples
                        preemption.check(epoch * spe + b + 1)
                self._check_finite(run)
                self._end_epoch(run, data, epoch)
                preemption.check((epoch + 1) * spe)
        # Stop the input pipeline's threads and close the event file now: left to the
        # interpreter's exit, their teardown sometimes holds the process for 1.5 s.
        del iterator
        if run.writer is not None:
            run.writer.close()
        self._finish(run)
        return self.model

    def _open_run(self, data, release_data):
        """Checkpoint manager, resume or fresh start, patch sampler, summary writer, config.json."""
        cfg, stage, log = self.config, self.stage, self.log
        is_chief, worker_id = _worker_role(self.strategy)
        n = len(data.names)
        # The original: an epoch is len(train) // batch steps; at least one on a tiny data set.
        steps_per_epoch = max(1, n // cfg.batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        ckpt_dir = cfg.checkpoint_dir if is_chief else os.path.join(cfg.checkpoint_dir, f".worker_{worker_id}")
        # Checkpoints are numbered by step (ckpt-<step>): a preempted run saves mid-epoch.
        manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=cfg.max_keep)
        if manager.checkpoints:
            self._check_same_objective()
            restored = faults.restore_newest_readable(self.checkpoint, manager, log)
            if restored != manager.latest_checkpoint:  # the state file was rewritten without the broken ones
                manager = tf.train.CheckpointManager(self.checkpoint, ckpt_dir, max_to_keep=cfg.max_keep)
            log(f"Resuming from {restored} at epoch {int(self.epoch.numpy())} "
                f"(step {int(self.step.numpy())} of {total_steps})")
        else:
            if cfg.init_weights:
                log(f"initial weights from {checkpoints.load_network_weights(self.model, cfg.init_weights)}")
            log(f"Starting {stage.name} from scratch: {n} training images, {steps_per_epoch} steps per "
                f"epoch, {cfg.epochs} epochs, global batch {cfg.batch_size} on {self.replicas} replica(s)")
        log(f"objective ({stage.total_name}): {self.objective.spec}")
        for note in self.objective.notes():
            log(note)
        start_epoch, start_step = int(self.epoch.numpy()), int(self.step.numpy())
        if start_step // steps_per_epoch != start_epoch:
            raise ValueError(
                f"{ckpt_dir}: checkpoint at step {start_step} does not fit epoch {start_epoch} with "
                f"{steps_per_epoch} steps per epoch (was --batch_size or the data changed?)"
            )
        sampler = PatchSampler(
            data.arrays, data.sizes, cfg.batch_size, cfg.patch_size, stage.num_modes, cfg.seed,
            reshuffle=stage.reshuffle, names=data.names, scales=data.scales,
        )
        if release_data:
            # The sampler holds the training images now (the same memory for `channel_stack`
            # slices, else a copy in TF memory); the variable keeps what it needs alive.
            data.arrays = None
        sample_dir = os.path.join(cfg.checkpoint_dir, "samples")
        writer = tf.summary.create_file_writer(os.path.join(cfg.checkpoint_dir, "logs")) if is_chief else None
        if is_chief:
            with faults.writing("samples folder", sample_dir):
                os.makedirs(sample_dir, exist_ok=True)
            config = dict(dataclasses.asdict(cfg), stage=stage.name, loss=self.objective.spec)
            path = os.path.join(cfg.checkpoint_dir, "config.json")
            with faults.writing("run configuration", path):
                image_ops.atomic_write_text(path, json.dumps(config, indent=1))
        saved_step = start_step if manager.latest_checkpoint else None
        self._write_scalars = writer and _scalar_writer(writer, skips=cfg.nan_policy == "skip_step")
        # Traced anew for this run: the step writes with this run's summary writer.
        self._step_fn = tf.function(self._distributed_step, autograph=False)
        return _Run(is_chief, ckpt_dir, manager, steps_per_epoch, total_steps, start_epoch, start_step,
                    sampler, writer, sample_dir, saved_step)

    @contextlib.contextmanager
    def _preemption(self, run):
        """SIGTERM/SIGINT: save the current step and raise Preempted (see `_Preemption`)."""
        if self.config.strategy == "multi_worker":
            # TF's own handler: the workers agree on the step, the chief saves, all exit together.
            def leave():
                raise faults.Preempted(self._preempted_message("SIGTERM", run), signal.SIGTERM)

            handler = tf.distribute.experimental.PreemptionCheckpointHandler(
                self.strategy.cluster_resolver, run.manager,
                termination_config=tf.distribute.experimental.TerminationConfig(exit_fn=leave),
            )
            try:
                yield _Preemption(self, run, None, handler)
            finally:
                # What its __del__ does, which never runs: the scripts skip the final collection.
                # Unstopped, a worker's watcher thread dies noisily once the chief is gone.
                handler._stop_cluster_wise_termination_watcher_thread()
                handler._stop_poll_termination_signal_thread()
            return
        with faults.SignalWatcher() as watcher:
            yield _Preemption(self, run, watcher, None)

    def _preempted_message(self, name, run):
        step, spe = int(self.step.numpy()), run.steps_per_epoch
        where = f"end of epoch {step // spe}" if step % spe == 0 else f"epoch {step // spe + 1}, step {step % spe} of {spe}"
        return (f"{name}: saved step {step} ({where}) to {run.manager.latest_checkpoint} and stopped; "
                f"run the same command to resume")

    def _save(self, run, weights=True):
        """Checkpoint `ckpt-<step>` (unless this step is saved already) and `<net>.weights.h5`."""
        step = int(self.step.numpy())
        if run.saved_step != step:
            prefix = os.path.join(run.ckpt_dir, f"ckpt-{step}")
            with faults.writing("checkpoint", prefix):
                run.manager.save(checkpoint_number=step)
            run.saved_step = step
        if weights and run.is_chief:
            path = checkpoints.weights_file(self.config.checkpoint_dir, self.stage.scope)
            with faults.writing("weights file", path):
                self.model.save_weights(path)

    def _check_finite(self, run):
        """Under --nan_policy=stop: if a step went bad, save the last finite state and raise TrainingDiverged.

        One read of a variable, done where the loop waits for the device anyway (log lines, epoch end).
        """
        bad = int(self.first_bad_step.numpy())
        if not bad:
            return
        spe = run.steps_per_epoch
        mask = int(self.bad_terms.numpy())
        terms = [name for i, name in enumerate(self.bad_names) if mask >> i & 1]
        self.epoch.assign(int(self.step.numpy()) // spe)
        self._save(run)
        if run.is_chief and self.config.export_tf1:
            self._export_tf1()
        raise faults.TrainingDiverged(
            f"step {bad} (epoch {(bad - 1) // spe + 1}, step {(bad - 1) % spe + 1} of {spe}) is not finite: "
            f"{', '.join(terms)}; stopped (--nan_policy=stop). Nothing of that step was saved: "
            f"{run.manager.latest_checkpoint} holds step {bad - 1}, the last finite one "
            f"(--nan_policy=skip_step drops such steps instead)"
        )

    def _check_same_objective(self):
        """Refuse to resume a run that was trained with another objective."""
        path = os.path.join(self.config.checkpoint_dir, "config.json")
        if not os.path.isfile(path):
            return
        with open(path) as f:
            stored = json.load(f).get("loss")
        # Runs written before --loss existed trained the original objective.
        stored = stored or self.stage.objective(None).spec
        if stored != self.objective.spec:
            raise ValueError(
                f"{self.config.checkpoint_dir} was trained with --loss={stored!r}; this run asks for "
                f"--loss={self.objective.spec!r}. Resume with the same --loss, or start a new run in "
                f"another --checkpoint_dir"
            )

    def _after_step(self, run, parts, epoch, b, first, lr, t0):
        """A progress line every `log_every` steps (the step itself wrote its TensorBoard scalars)."""
        cfg = self.config
        if (b + 1) % cfg.log_every == 0 or b + 1 == run.steps_per_epoch:
            rate = (b + 1 - first) / (time.time() - t0)
            total = float(parts[self.stage.total_name])
            self._check_finite(run)  # the line above waited for the step: this read is free
            terms = " ".join(f"{k} {float(v):.4g}" for k, v in parts.items() if k != self.stage.total_name)
            skipped = int(self.skipped.numpy()) if cfg.nan_policy == "skip_step" else 0
            self.log(f"{self.stage.name} epoch [{epoch + 1}/{cfg.epochs}] step [{b + 1}/{run.steps_per_epoch}] "
                     f"loss {total:.6f} ({terms}) lr {lr:g} ({rate:.2f} steps/s)"
                     + (f" [skipped {skipped} non-finite step(s)]" if skipped else ""))

    def _end_epoch(self, run, data, epoch):
        """Checkpoint, `<net>.weights.h5` and, every `eval_every` epochs, the sample images."""
        cfg = self.config
        self.epoch.assign(epoch + 1)
        self._save(run)
        if run.is_chief:
            if (epoch + 1) % cfg.eval_every == 0 and data.eval_items:
                self.log(f"[*] writing samples for epoch {epoch + 1} to {run.sample_dir}")
                with faults.writing("samples of epoch", f"{epoch + 1} in {run.sample_dir}"):
                    shown = self.stage.write_samples(self.model, data, run.sample_dir, epoch + 1, cfg.seed)
                if run.writer is not None:
                    with run.writer.as_default():
                        step = (epoch + 1) * run.steps_per_epoch
                        for tag, pixels in (shown or {}).items():
                            img = pixels if pixels.ndim == 3 else pixels[:, :, None]
                            tf.summary.image(f"samples/{tag}", img[None], step=step)
        if run.writer is not None:
            run.writer.flush()

    def _export_tf1(self):
        folder = os.path.join(self.config.checkpoint_dir, "tf1")
        with faults.writing("TF1 checkpoint", folder):
            prefix = checkpoints.write_tf1(folder, checkpoints.network_tensors(self.model))
        self.log(f"TF1 checkpoint (original variable names) written to {prefix}")

    def _finish(self, run):
        """The TF1 export on the chief; other workers remove their scratch checkpoints."""
        if run.is_chief:
            if self.config.export_tf1:
                self._export_tf1()
        else:
            shutil.rmtree(run.ckpt_dir, ignore_errors=True)
        if self.config.nan_policy == "skip_step":
            self.log(f"[*] --nan_policy=skip_step: skipped {int(self.skipped.numpy())} non-finite step(s) "
                     f"of {int(self.step.numpy()) - run.start_step} in this run")
        self.log(f"[*] Finish training for phase {self.stage.name}.")


@dataclasses.dataclass
class _Run:
    """State of one `Trainer.fit` call, shared by the loop and its actions."""

    is_chief: bool
    ckpt_dir: str
    manager: tf.train.CheckpointManager
    steps_per_epoch: int
    total_steps: int
    start_epoch: int
    start_step: int
    sampler: PatchSampler
    writer: object
    sample_dir: str
    saved_step: int = None  # the step of the newest checkpoint in ckpt_dir (None: none yet)


class _Preemption:
    """Polled after every step: on a SIGTERM/SIGINT, save this step and raise Preempted.

    Single host: our SignalWatcher. multi_worker: TF's PreemptionCheckpointHandler, which syncs
    the workers so that they all save the same step, then calls our exit function.
    """

    def __init__(self, trainer, run, watcher, handler):
        self.trainer, self.run, self.watcher, self.handler = trainer, run, watcher, handler

    def check(self, step):
        """step: the global step just taken, counted on the host (reading the variable would sync)."""
        trainer, run = self.trainer, self.run
        if self.handler is not None:
            from tensorflow.python.util import deprecation

            # Every worker calls this at the same points; the handler decides together whether to save.
            with deprecation.silence():  # it reads its own deprecated run counter
                self.handler.save_checkpoint_if_preempted(checkpoint_number=step)
            return
        if self.watcher.signum is None:
            return
        name = signal.Signals(self.watcher.signum).name
        trainer.log(f"[*] {name} received: saving step {int(trainer.step.numpy())}")
        trainer._check_finite(run)  # a diverged run saves its last finite step instead
        trainer._save(run)
        raise faults.Preempted(trainer._preempted_message(name, run), self.watcher.signum)


def _scalar_writer(writer, skips):
    """`write(parts, lr, step, skipped)`: every loss component, the learning rate and (skips) the skipped steps.

    Called inside the compiled step (`Trainer._distributed_step`), in its cross-replica part; the
    ops are bound to `writer`, which is default while the step traces.
    """

    def write(parts, lr, step, skipped):
        with writer.as_default():
            for k, v in parts.items():
                write_scalar(f"loss/{k}", v, step)
            write_scalar("learning_rate", lr, step)
            if skips:
                write_scalar("nan_guard/skipped_steps", skipped, step)

    return write


# ---- command line -----------------------------------------------------------------------------


def define_flags(stage):
    """The shared flags, with this stage's defaults (the original's hyper-parameters)."""
    d = stage.defaults
    flags.DEFINE_string("data_dir", "./LOLdataset", "LOL layout: our485/ and eval15/, each with low/ and high/.")
    flags.DEFINE_string("checkpoint_dir", os.path.join("./checkpoint", checkpoints.TF1_SUBDIR[stage.scope]),
                        "Checkpoints, weights, samples and TensorBoard logs of this stage; resumed if present.")
    if stage.needs_decom:
        flags.DEFINE_string("decom_cache", "default",
                            "Keep the frozen DecomNet's outputs on the training images here, keyed by its weights, "
                            "the image bytes and the TensorFlow runtime, and reuse them in later runs (the "
                            "same float32 values). default: $XDG_CACHE_HOME/kind_tf2/decomposed "
                            "(~/.cache/...); none: decompose every run.")
        flags.DEFINE_string("decom_checkpoint", "./checkpoint/decom_net_train",
                            "Stage-1 output folder or an original TF1 DecomNet checkpoint (frozen).")
    flags.DEFINE_integer("epochs", d["epochs"], "Epochs of len(train) // batch_size steps.")
    flags.DEFINE_integer("batch_size", d["batch_size"], "Global batch size (split over replicas).")
    flags.DEFINE_integer("patch_size", d["patch_size"], "Square training patch side.")
    flags.DEFINE_float("learning_rate", d["learning_rate"], "Adam learning rate (base of the schedule).")
    flags.DEFINE_enum("lr_schedule", "original", list(schedules.SCHEDULES),
                      "Learning rate per epoch from --learning_rate: original (the original script's) or "
                      "cosine (decay to ~0 at the last epoch, for short runs).")
    flags.DEFINE_integer("seed", 0, "Seed of the patch sampling and augmentation; same seed, same run.")
    flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker"], "tf.distribute strategy.")
    flags.DEFINE_integer("eval_every", d["eval_every"], "Write sample images every N epochs.")
    flags.DEFINE_integer("log_every", 10, "Progress line every N steps.")
    flags.DEFINE_bool("deterministic", False, "tf.config.experimental.enable_op_determinism (slower).")
    flags.DEFINE_enum("mixed_precision", "none", ["none", "bf16", "fp16"],
                      "Compute the network in bfloat16 or float16 with float32 variables (Keras mixed "
                      "precision; fp16 adds loss scaling). Faster on GPUs and bf16-capable CPUs; results "
                      "drift from the original's float32 ones. none: float32, the original.")
    flags.DEFINE_enum("nan_policy", "stop", list(faults.NAN_POLICIES),
                      "A step whose loss or gradients are not finite: stop the run, naming the step (the last "
                      "finite state stays saved), or skip_step: drop that update, count it and go on.")
    flags.DEFINE_bool("export_tf1", True, "Also write the final weights as a TF1 checkpoint in <checkpoint_dir>/tf1.")
    if stage.name == "decomposition":
        flags.DEFINE_string("loss", None, "Re-weight the six decomposition terms, e.g. 'equal_R_loss:0.05,"
                            "i_mutual_loss:0.1'; unnamed terms keep the original weights.")
    else:
        flags.DEFINE_string("loss", None, f"Objective as 'term:weight,...', terms from kind_tf2.losses.TERMS, "
                            f"parameters as 'huber(delta=0.5):1'. Default: the original, '{stage.default_loss}'.")
        flags.DEFINE_string("vgg_weights", None, "Keras VGG19 weights file for the `perceptual` term (never downloaded).")


def _decom_cache_dir(value):
    """--decom_cache: `default` → the user cache folder, `none` → None, else the folder given."""
    from kind_tf2.data import decomposed

    return {"default": decomposed.default_cache_dir(), "none": None}.get(value.lower(), value)


def main(stage, argv):
    """Entry point of a stage script; reads FLAGS only here."""
    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)  # keep TF's checkpoint chatter out of the progress lines
    cfg = TrainConfig(
        data_dir=F.data_dir, checkpoint_dir=F.checkpoint_dir,
        decom_checkpoint=F.decom_checkpoint if stage.needs_decom else None,
        decom_cache=_decom_cache_dir(F.decom_cache) if stage.needs_decom else None,
        epochs=F.epochs, batch_size=F.batch_size, patch_size=F.patch_size, learning_rate=F.learning_rate,
        seed=F.seed, strategy=F.strategy, eval_every=F.eval_every, log_every=F.log_every,
        deterministic=F.deterministic, export_tf1=F.export_tf1, nan_policy=F.nan_policy,
        mixed_precision=None if F.mixed_precision == "none" else F.mixed_precision,
        loss=F.loss, vgg_weights=F.vgg_weights if "vgg_weights" in F else None,
        lr_schedule=None if F.lr_schedule == "original" else F.lr_schedule,
    )
    return process.end_quickly(run(stage, cfg))


def run(stage, cfg, log=None, strategy=None):
    """Create the strategy (unless given), prepare the data and train; returns a process exit status."""
    log = log or (lambda line: print(line, flush=True))
    try:
        # A bad --loss stops before any TensorFlow work, with one line.
        stage.objective(cfg.loss, cfg.patch_size, cfg.vgg_weights)
        # First: MultiWorkerMirroredStrategy must precede other TF work. `reproduce` creates it
        # once for its three stages and passes it in.
        strategy = strategy or create_strategy(cfg.strategy)
        if cfg.deterministic:
            tf.config.experimental.enable_op_determinism()
        keras.utils.set_random_seed(cfg.seed)  # seeds the Glorot initialisation: same seed, same run
        trainer = Trainer(stage, cfg, strategy, log)
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, decom_cache=cfg.decom_cache)
        trainer.fit(data, release_data=True)
    except faults.Preempted as stop:
        log(f"[*] preempted by {stop}")
        return stop.status
    except (DatasetError, FileNotFoundError, checkpoints.CheckpointMismatchError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        return 1
    return 0
