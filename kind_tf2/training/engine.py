"""The one training engine behind the three stages: `train(stage, config)` sets up tf.distribute and the data, then runs the loop."""

import os
import time

import keras
import tensorflow as tf

from kind_tf2 import errors
from kind_tf2.training import budget
from kind_tf2.training.config import MIXED_PRECISION, STRATEGIES, TrainConfig  # noqa: F401 (the engine's API)
from kind_tf2.training.loop import TrainResult, fit  # noqa: F401
from kind_tf2.training.trainer import Trainer, build_in_policy, make_optimizer, write_scalar  # noqa: F401


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


def create_strategy(name):
    """`default` (one device), `mirrored` (all local GPUs) or `multi_worker` (from TF_CONFIG)."""
    if name not in STRATEGIES:
        raise errors.ConfigError(f"strategy={name}: expected {', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}",
                                 fields=("strategy",))
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise errors.ConfigError("strategy=multi_worker needs the TF_CONFIG environment variable",
                                     fields=("strategy",))
        return tf.distribute.MultiWorkerMirroredStrategy()


def train(stage, cfg, log=None, strategy=None, annotate=None, objective=None):
    """Create the strategy (unless given), prepare the data and train; returns the loop's TrainResult.

    With `cfg.time_budget` (and no `cfg.steps`) the data come first, then the step time is measured
    and `steps` chosen to fit (`budget.plan`). Raises a KindError (bad config or spec, data,
    checkpoints, a locked folder, a diverged run, a failed write) naming the field or file at fault,
    and faults.Preempted after saving on SIGTERM or SIGINT. log: a callable taking one line
    (default: print). annotate: see `loop.Progress`. objective: the stage's objective for `cfg.loss`
    when the caller built it already (reproduce, the lab); built here otherwise.
    """
    started = time.time()
    log = log or (lambda line: print(line, flush=True))
    # Built once, before any TensorFlow work: a bad `loss` spec stops here with one line.
    objective = objective or stage.objective(cfg.loss, cfg.patch_size, cfg.vgg_weights)
    # First: MultiWorkerMirroredStrategy must precede other TF work. `reproduce` creates it
    # once for its three stages and passes it in.
    strategy = strategy or create_strategy(cfg.strategy)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    data = None
    if cfg.time_budget and not cfg.steps:  # the step is timed on the real data, so they come first
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, decom_cache=cfg.decom_cache)
        cfg = budget.plan(stage, cfg, strategy, data, started, log, objective)
    keras.utils.set_random_seed(cfg.seed)  # seeds the Glorot initialisation: same seed, same run
    trainer = Trainer(stage, cfg, strategy, log, objective)
    if data is None:  # otherwise after the trainer: a bad setting stops before the data's minutes
        data = stage.prepare(cfg.data_dir, cfg.decom_checkpoint, log, decom_cache=cfg.decom_cache)
    return fit(trainer, data, release_data=True, annotate=annotate)
