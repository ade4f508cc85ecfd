"""Process-level helpers of the command-line scripts."""

import gc


def end_quickly(status):
    """Return `status` after exempting every live object from the interpreter's last collections.

    At exit CPython garbage-collects everything still alive; with TensorFlow loaded that is about
    0.7 s of a 6 s evaluate.py run, spent proving that objects the OS is about to free are
    unreachable. `gc.freeze` moves them to the permanent generation, which the final collections
    skip; atexit handlers, file closing and module teardown still run as usual.
    """
    gc.freeze()
    return status
