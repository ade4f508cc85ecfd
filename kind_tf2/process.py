"""Process-level helpers of the command-line scripts."""

import gc
import importlib.abc
import sys

# Tried, inside `try: ... except ImportError`, while TensorFlow is imported, and never used by
# the scripts: IPython and matplotlib by Keras (notebook display, its image-gallery plots), scipy
# by TensorFlow's legacy tf.keras (scipy.sparse inputs of its v1 `fit`). When installed they cost
# every run about 0.1 s (matplotlib, scipy.sparse) to 0.7 s (with Jupyter) and 30 MiB.
OPTIONAL_IMPORTS = ("IPython", "matplotlib", "scipy")


class _Skip(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == m or name.startswith(m + ".") for m in OPTIONAL_IMPORTS):
            raise ModuleNotFoundError(f"{name} is skipped while TensorFlow is imported", name=name)
        return None


def import_tensorflow():
    """Import TensorFlow (and Keras) for a command-line script, without the optional modules above.

    Their importers live without them; they are hidden only during this import, so the script can
    still import matplotlib or scipy itself later.
    Call it before anything imports TensorFlow.
    """
    skip = _Skip()
    sys.meta_path.insert(0, skip)
    # The import makes about a million objects, none of them garbage: a collection there only
    # walks them (0.3-0.4 s of full collections per process). Collect nothing while importing,
    # then move what the import made to the permanent generation, where later full collections
    # (during tracing, at exit) do not walk it again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        import tensorflow  # noqa: F401
    finally:
        sys.meta_path.remove(skip)
        gc.freeze()
        if was_enabled:
            gc.enable()


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
