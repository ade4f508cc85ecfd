"""How a command turns a library job into an exit status: one `error:` line for a KindError, a traceback for a bug."""

import sys

from kind_tf2.errors import KindError


def _stdout(line):
    print(line, flush=True)


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


def exit_status(job, *args, err=None, **kwargs):
    """Run `job(*args, **kwargs)` and return the process exit status.

    0: the job returned (a result whose `ok` is False, or False itself, gives 1: some items failed
    and were reported as they went). 1: the job raised a KindError, printed as one `error: <message>`
    line through `err` (default: stderr). 128 + n: the run was preempted by signal n after saving
    (`faults.Preempted`), said on the job's `log`. Any other exception is a bug: it propagates with
    its traceback.
    """
    from kind_tf2.training.faults import Preempted

    err = err or _stderr
    try:
        result = job(*args, **kwargs)
    except KindError as e:
        err(f"error: {e}")
        return 1
    except Preempted as stop:
        (kwargs.get("log") or _stdout)(f"[*] preempted by {stop}")
        return stop.status
    return 1 if result is False or getattr(result, "ok", True) is False else 0


def error_lines(err=None):
    """A `warn(message)` callable for jobs that report per-item failures: each one an `error:` line."""
    err = err or _stderr
    return lambda message: err(f"error: {message}")
