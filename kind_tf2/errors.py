"""The one family of domain errors: a `KindError` is the user's to fix, and its message names the file or config field."""

import copy
import os


class KindError(Exception):
    """Base of every error a user can act on: bad input, settings, checkpoints, folders.

    The message names the file, or the config field at fault as `field=value` (`input_dir=/x: folder
    does not exist`); `fields` lists the config fields it names, the one at fault first, so that the
    command line, which owns the flags, can say them as flags (`--input_dir=/x: ...`). `section`: the
    part of a larger config the fields belong to (reproduce's stage, e.g. "restoration").

    The command line (`kind_tf2.cli`) prints a KindError as one `error: <message>` line and exits
    with status 1; any other exception is a bug and keeps its traceback. Each subclass also derives
    from the built-in exception it replaced, so `except ValueError` / `except FileNotFoundError` in
    callers written before the family existed still catch it.
    """

    def __init__(self, message="", *, fields=(), section=None):
        super().__init__(message)
        self.message, self.fields, self.section = str(message), tuple(fields), section

    def __str__(self):
        return f"{self.section}: {self.message}" if self.section else self.message

    def in_section(self, section):
        """A copy of this error (same class) whose fields belong to `section`; unchanged if it has one."""
        if self.section is not None:
            return self
        other = copy.copy(self)
        other.section = section
        return other


class ConfigError(KindError, ValueError):
    """A flag, config field, preset, schedule or registry name cannot be used; the message names it."""


class DataError(KindError, ValueError):
    """A data folder or image is missing, empty, unreadable or inconsistent; the message names the files."""


class CheckpointError(KindError, ValueError):
    """A checkpoint's variables do not match a network; the message names the offending variables."""


class CheckpointNotFound(KindError, FileNotFoundError):
    """A checkpoint folder or weights file does not exist or holds no weights; the message names the path."""


class ResumeError(KindError, ValueError):
    """A run cannot start or resume in its folder (locked, unreadable checkpoints, another objective)."""


class TrainingError(KindError, ValueError):
    """A training run stopped on its own terms (a non-finite step, a failed write); the message says where."""


class RegistryError(ConfigError):
    """A name is registered twice, or looked up and not registered."""


def about_file(path, err):
    """The one line that says why the file at `path` failed: `err`'s message when it names the file, else `path: err`.

    The jobs that go on past a bad file (evaluate, golden record, anatomy, baselines) report it this way.
    """
    return str(err) if os.path.basename(path) in str(err) else f"{path}: {err}"
