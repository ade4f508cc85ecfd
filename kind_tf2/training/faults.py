"""What a training run does when things go wrong: divergence, preemption, unreadable checkpoints, failed writes."""

import contextlib
import os
import re
import signal

import tensorflow as tf

from kind_tf2 import errors
from kind_tf2.training.config import NAN_POLICIES  # noqa: F401 (faults.NAN_POLICIES: the values of nan_policy)


class TrainingDiverged(errors.TrainingError):
    """A step's loss or gradients were not finite under nan_policy=stop; the message names the step."""


class WriteFailed(errors.TrainingError):
    """Saving a checkpoint, weights, samples or the TF1 export failed; the message names the path."""


class NoReadableCheckpoint(errors.ResumeError):
    """Every checkpoint of a folder that has some is unreadable; the run refuses to start from scratch."""


class Preempted(Exception):
    """SIGTERM or SIGINT arrived; the run saved its current step. `status` is 128 + the signal number."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.status = 128 + signum


def _reason(err):
    """One line for an OSError or a TensorFlow error (whose messages can run to many lines)."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    text = getattr(err, "message", None) or str(err)
    # TF prefixes the op's device ({{function_node ...}}) and appends [Op:Name]: noise to a user.
    text = re.sub(r"\{\{function_node [^}]*\}\}\s*|\s*\[Op:\w+\]", "", text)
    return (text.strip().splitlines() or [type(err).__name__])[0]


@contextlib.contextmanager
def writing(what, path):
    """Turn a failed write (full disk, read-only folder, a file in the way) into one WriteFailed line."""
    try:
        yield
    except (OSError, tf.errors.OpError) as err:
        raise WriteFailed(f"cannot write the {what} {path}: {_reason(err)}") from None


class SignalWatcher:
    """Records SIGTERM and SIGINT instead of dying, so the loop can save at the step it is on.

    The loop polls `signum` after each step, a Python attribute read, so watching costs nothing.
    A second signal while the save is under way restores the default behaviour and re-raises it:
    a user pressing Ctrl-C twice gets out at once.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signum = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signum is not None:
            self.__exit__()
            signal.raise_signal(signum)
            return
        self.signum = signum

    def __enter__(self):
        for s in self.SIGNALS:
            self._previous[s] = signal.signal(s, self._handle)
        return self

    def __exit__(self, *exc):
        for s, handler in self._previous.items():
            signal.signal(s, handler)
        self._previous = {}
        return False


def _broken_file(prefix):
    """The file of checkpoint `prefix` that is at fault: a missing index, else its data file(s)."""
    index = prefix + ".index"
    if not os.path.isfile(index):
        return index
    folder, stem = os.path.split(prefix)
    data = sorted(f for f in os.listdir(folder or ".") if f.startswith(os.path.basename(stem) + ".data-"))
    return ", ".join(os.path.join(folder, f) for f in data) or prefix + ".data-*"


def _forget(folder, broken):
    """Rewrite `folder/checkpoint` without the `broken` prefixes; their files stay for the user to inspect."""
    from tensorflow.python.checkpoint import checkpoint_management  # the writer CheckpointManager itself uses

    state = tf.train.get_checkpoint_state(folder)
    names = {os.path.basename(p) for p in broken}
    kept = [(p, t) for p, t in zip(state.all_model_checkpoint_paths, state.all_model_checkpoint_timestamps)
            if os.path.basename(p) not in names]
    checkpoint_management.update_checkpoint_state_internal(
        save_dir=folder, model_checkpoint_path=kept[-1][0],
        all_model_checkpoint_paths=[p for p, _ in kept],
        all_model_checkpoint_timestamps=[t for _, t in kept],
        last_preserved_timestamp=state.last_preserved_timestamp, save_relative_paths=True,
    )


def restore_newest_readable(checkpoint, manager, log):
    """Restore the newest checkpoint of `manager` that reads whole; returns its prefix (None: there is none).

    A truncated data file or a missing index is named in a warning and the one before is tried. The
    folder's `checkpoint` state file is then rewritten to list only the readable ones, so the next
    save and any other reader (TF's preemption handler) agree on what "latest" is. Raises
    NoReadableCheckpoint when checkpoints exist and none of them reads.
    """
    prefixes = list(reversed(manager.checkpoints))
    for i, prefix in enumerate(prefixes):
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except (tf.errors.OpError, IndexError) as err:  # IndexError: TF's reader on a truncated file
            broken = _broken_file(prefix)
            why = "missing" if broken.endswith(".index") else _reason(err)
            log(f"warning: checkpoint {prefix} cannot be read ({broken}: {why}); trying the one before it")
            continue
        if i:
            _forget(manager.directory, prefixes[:i])
            log(f"warning: resuming from {prefix}, the newest readable checkpoint; "
                f"{i} newer one(s) skipped")
        return prefix
    if prefixes:
        raise NoReadableCheckpoint(
            f"{manager.directory}: none of its checkpoints can be read ({', '.join(map(os.path.basename, prefixes))}); "
            f"move them away to start from scratch"
        )
    return None
