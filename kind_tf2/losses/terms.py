"""The registry of loss terms: `Term`, `TERMS` and the `register` decorator."""

import inspect

from kind_tf2.registry import Registry


class Term:
    """A registered loss term: `term(pred, target, low=None, **params) -> scalar tensor`.

    pred, target: `[N, H, W, C]` in [0, 1]; low: the stage's low-light input of the same shape
    (R_low for restoration, the input illumination for illumination), used only by terms with
    `needs_low`. `defaults` are the keyword parameters and their default values (from the
    signature); `channels` the channel counts the term accepts; `min_size(params)` the smallest
    patch side it works on.
    """

    def __init__(self, fn, name, channels=(1, 3), needs_low=False, min_size=None, check=None, note=None):
        self.fn, self.name, self.channels, self.needs_low = fn, name, channels, needs_low
        self._min_size, self._check, self._note = min_size, check, note
        sig = inspect.signature(fn)
        self.defaults = {k: p.default for k, p in sig.parameters.items() if k not in ("pred", "target", "low")}
        self.__doc__ = fn.__doc__

    def __call__(self, pred, target, low=None, **params):
        return self.fn(pred, target, low, **params)

    def min_size(self, params):
        return self._min_size(dict(self.defaults, **params)) if self._min_size else 1

    def check(self, params):
        """Raise SpecError when a parameter value is out of its range."""
        if self._check:
            self._check(dict(self.defaults, **params))

    def note(self, params, patch_size):
        """A line for the log about how the term adapts to `patch_size`, or None."""
        return self._note(dict(self.defaults, **params), patch_size) if self._note else None


# Terms are listed (and named in messages) in registration order: the import order of
# `kind_tf2.losses`' modules.
TERMS = Registry("loss term", field="loss")


def register(name, **meta):
    """Decorator: add `fn(pred, target, low=None, **params)` to `TERMS` under `name`.

    A name registered twice raises RegistryError naming both definitions.
    """

    def wrap(fn):
        return TERMS.add(name, Term(fn, name, **meta), where=f"{fn.__module__}.{fn.__qualname__}")

    return wrap
