"""Process-level helpers of the command-line scripts."""

import gc
import importlib.abc
import sys

# Imported by Keras, when installed, for notebook display and its image-gallery plots; a script
# uses neither. Together about 0.3-0.7 s and 30 MiB of every run (Jupyter + matplotlib installed).
OPTIONAL_KERAS_IMPORTS = ("IPython", "matplotlib.pyplot")


class _Skip(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in OPTIONAL_KERAS_IMPORTS):
            raise ModuleNotFoundError(f"{name} is skipped while TensorFlow is imported", name=name)
        return None


def import_tensorflow():
    """Import TensorFlow (and Keras) for a command-line script, without Keras' optional display modules.

    Keras tries `import IPython` and `import matplotlib.pyplot` and lives without them; they are
    hidden only during this import, so the script can still import matplotlib itself later.
    Call it before anything imports TensorFlow.
    """
    skip = _Skip()
    sys.meta_path.insert(0, skip)
    try:
        import tensorflow  # noqa: F401
    finally:
        sys.meta_path.remove(skip)


def one_inter_op_thread():
    """Run independent graph ops one at a time (each op still uses every core): for inference scripts.

    Call before TensorFlow runs its first op. KinD's inference chain is a sequence of convolutions
    with little to run side by side, so a second inter-op thread bought no speed in evaluate.py
    (0.35 s per 600x400 image either way). It cost 46 MiB of peak RSS there, growing image by
    image (glibc gives each thread that allocates tensors its own arena, and they fragment).
    Once TensorFlow is running (a script's `main` called from a process that already used it),
    its thread pools are fixed: the setting is then left as it is, which changes no result.
    """
    import tensorflow as tf

    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def end_quickly(status):
    """Return `status` after exempting every live object from the interpreter's last collections.

    At exit CPython garbage-collects everything still alive; with TensorFlow loaded that is about
    0.7 s of a 6 s evaluate.py run, spent proving that objects the OS is about to free are
    unreachable. `gc.freeze` moves them to the permanent generation, which the final collections
    skip; atexit handlers, file closing and module teardown still run as usual.
    """
    gc.freeze()
    return status
