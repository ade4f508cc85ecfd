"""How a command turns a library job into an exit status: one `error:` line for a KindError, a traceback for a bug."""

import re
import sys

from kind_tf2.errors import KindError


def _stdout(line):
    print(line, flush=True)


def _stderr(line):
    print(line, file=sys.stderr, flush=True)


def defined_flag(field, section=None):
    """`--field` when this process defines a flag of that name (the command's flags), else None."""
    from absl import flags

    return f"--{field}" if field in flags.FLAGS else None


def flag_message(error, flag=defined_flag):
    """A KindError's message as the command line says it: each config field it names spelled as its flag.

    flag(field, section) -> the flag's spelling, or None to leave the field as it is. The error's
    section (a reproduce stage) is said in front unless a flag already says it: `flag` marks a
    spelling that does by returning `(spelling, True)`.
    """
    text, said = error.message, False
    for field in error.fields:
        spelling = flag(field, error.section)
        if isinstance(spelling, tuple):
            spelling, said = spelling[0], said or spelling[1]
        if spelling:
            # The field as a word of its own: not inside a path, a file name, another name or a flag
            # already written (`golden` in "golden.json" stays).
            text = re.sub(rf"(?<![\w./-]){re.escape(field)}(?![\w/-]|\.\w)", lambda m, spelling=spelling: spelling,
                          text)
    return text if said or not error.section else f"{error.section}: {text}"


def exit_status(job, *args, err=None, flag=defined_flag, **kwargs):
    """Run `job(*args, **kwargs)` and return the process exit status.

    0: the job returned (a result whose `ok` is False, or False itself, gives 1: some items failed
    and were reported as they went). 1: the job raised a KindError, printed as one `error: <message>`
    line through `err` (default: stderr), the config fields it names said as flags (`flag`, see
    `flag_message`). 128 + n: the run was preempted by signal n after saving (`faults.Preempted`),
    said on the job's `log`. Any other exception is a bug: it propagates with its traceback.
    """
    from kind_tf2.training.faults import Preempted

    err = err or _stderr
    try:
        result = job(*args, **kwargs)
    except KindError as e:
        err(f"error: {flag_message(e, flag)}")
        return 1
    except Preempted as stop:
        (kwargs.get("log") or _stdout)(f"[*] preempted by {stop}")
        return stop.status
    return 1 if result is False or getattr(result, "ok", True) is False else 0


def error_lines(err=None):
    """A `warn(message)` callable for jobs that report per-item failures: each one an `error:` line."""
    err = err or _stderr
    return lambda message: err(f"error: {message}")
