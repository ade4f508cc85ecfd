"""The Trainer of one stage: its network, optimizer and compiled step, and nothing of the loop around it."""

import dataclasses

import keras
import tensorflow as tf

from kind_tf2 import errors, hardware, models
from kind_tf2.training.config import MIXED_PRECISION
from kind_tf2.training.optimizer import TF1Adam


def make_optimizer(learning_rate):
    """Adam as TF1's AdamOptimizer: beta1 0.9, beta2 0.999, epsilon 1e-8 and its kernel's rounding."""
    return TF1Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def build_in_policy(scope, policy):
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


def write_scalar(tag, value, step):
    """A TensorBoard scalar in the default summary writer (the `tensorboard` package's op)."""
    tf.summary.scalar(tag, tf.cast(value, tf.float32), step=step)


class Trainer:
    """Steps one stage's network; every variable is created under `strategy.scope()`.

    `train_step(batch)` runs one Adam step on a global batch (a dict of tensors, or a distributed
    batch) through `strategy.run` inside a `tf.function`, and returns the losses of that batch
    computed before the update, averaged over the global batch. Epochs, checkpoints, logs, samples
    and signals are the loop's (`training.loop`), which drives the Trainer through this interface:
    `train_step`, `set_learning_rate`, `bind_summaries`, `nan_state`, `skipped_steps` and the
    attributes `model`, `optimizer`, `objective`, `checkpoint`, `step`, `epoch`.
    """

    def __init__(self, stage, config, strategy=None, log=print, objective=None):
        """objective: the stage's objective for `config.loss` if the caller built it; else built here."""
        # mixed_precision "auto" becomes what this machine computes fastest (bf16 where native, else
        # float32); `config` holds the choice from here on, so config.json records it.
        self.precision = hardware.resolve_precision(config.mixed_precision)
        config = dataclasses.replace(config, mixed_precision=self.precision.value)
        self.stage, self.config, self.log = stage, config, log
        log(f"precision: {self.precision.name} ({self.precision.reason})")
        if self.precision.warning:
            log(f"warning: {self.precision.warning}")
        self.strategy = strategy or tf.distribute.get_strategy()
        self.replicas = self.strategy.num_replicas_in_sync
        if config.batch_size % self.replicas:
            raise errors.ConfigError(
                f"batch_size={config.batch_size} is not divisible by the {self.replicas} replicas",
                fields=("batch_size",))
        # Parsed and checked before anything is built: a bad spec stops here with one line.
        self.objective = objective or stage.objective(config.loss, config.patch_size, config.vgg_weights)
        with self.strategy.scope():
            self.objective.build()
            self.model = build_in_policy(stage.scope, MIXED_PRECISION[config.mixed_precision])
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
        self._write_scalars = None  # set by `bind_summaries`: the step then writes its TensorBoard scalars
        # XLA fuses the many small element-wise ops of the losses; results then differ from the
        # original by float rounding (about 2e-6), so it is opt-in.
        self._grads_fn = (tf.function(self._replica_grads, jit_compile=True, autograph=False)
                          if config.jit_compile else self._replica_grads)
        self._trace()

    def _trace(self):
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

    # ---- the interface the loop drives --------------------------------------------------------

    def train_step(self, batch, step=None):
        """One step; `step` (int64 scalar tensor, the global step taken), given by the loop, also writes the scalars."""
        return self._step_fn(batch) if step is None else self._step_fn(batch, step)

    def set_learning_rate(self, value):
        self.optimizer.learning_rate = value

    def bind_summaries(self, writer):
        """Write every loss component, the learning rate (and the skipped steps) to `writer` from the step.

        writer: a `tf.summary` writer, or None for no scalars. The step is traced anew: its summary
        ops are bound to the writer that is default while it traces.
        """
        skips = self.config.nan_policy == "skip_step"

        def write(parts, lr, step, skipped):
            with writer.as_default():
                for k, v in parts.items():
                    write_scalar(f"loss/{k}", v, step)
                write_scalar("learning_rate", lr, step)
                if skips:
                    write_scalar("nan_guard/skipped_steps", skipped, step)

        self._write_scalars = write if writer is not None else None
        self._trace()

    def nan_state(self):
        """`(first_bad_step, bad_terms)`: the first non-finite step under nan_policy=stop (0: none yet)
        and the names of the loss components (or "gradients") that went bad there. One device read."""
        bad = int(self.first_bad_step.numpy())
        if not bad:
            return 0, []
        mask = int(self.bad_terms.numpy())
        return bad, [name for i, name in enumerate(self.bad_names) if mask >> i & 1]

    def skipped_steps(self):
        """Steps dropped under nan_policy=skip_step in this process."""
        return int(self.skipped.numpy())
