"""One `Registry` (name -> object) for loss terms, protocols, stages, models, schedules and presets."""

import collections.abc
import inspect
import sys

from kind_tf2.errors import RegistryError


def _defined_at(obj, depth):
    """Where `obj` was defined, for the duplicate-name error: `module.qualname` of a function or class,
    else the file:line of the registering call `depth` frames up."""
    if inspect.isroutine(obj) or inspect.isclass(obj):
        return f"{obj.__module__}.{obj.__qualname__}"
    frame = sys._getframe(depth + 1)
    return f"{frame.f_code.co_filename}:{frame.f_lineno}"


class Registry(collections.abc.Mapping):
    """A mapping from names to objects, filled by `register` / `add`; a name can be registered once.

    `kind` says what the entries are ("loss term", "protocol", ...) and `field` which config field
    picks one (used in messages: `protocol=x: expected one of a, b`; the command line says the flag).

        TERMS = Registry("loss term", field="loss")

        @TERMS.register("l1")
        def l1(pred, target): ...

        TERMS.add("l2", l2_fn)          # the same without a decorator
        TERMS.get_or_raise("l3")         # RegistryError: loss=l3: expected one of l1, l2
    """

    def __init__(self, kind, field=None):
        self.kind, self.field = kind, field
        self._items, self._where = {}, {}

    def add(self, name, obj, where=None):
        """Register `obj` under `name` and return it; a name already taken raises RegistryError naming both."""
        where = where or _defined_at(obj, 1)
        if name in self._items:
            raise RegistryError(f"{self.kind} {name!r} is defined twice: {self._where[name]} and {where}")
        self._items[name] = obj
        self._where[name] = where
        return obj

    def register(self, name, wrap=None):
        """Decorator: `@REG.register(name)` adds the function or class; `wrap(obj)` (optional) is stored instead."""

        def add(obj):
            stored = wrap(obj) if wrap else obj
            self.add(name, stored, where=_defined_at(obj, 1))
            return stored

        return add

    def get_or_raise(self, name):
        """The entry `name`, or RegistryError `field=name: expected one of ...` (the kind when there is no field)."""
        if name not in self._items:
            what = f"{self.field}={name}" if self.field else f"{self.kind} {name!r}"
            raise RegistryError(f"{what}: expected one of {', '.join(self._items)}",
                                fields=(self.field,) if self.field else ())
        return self._items[name]

    def __getitem__(self, name):
        return self._items[name]

    def __setitem__(self, name, obj):
        """`REG[name] = obj` is `add`: a name already taken is an error, never overwritten."""
        self.add(name, obj, where=_defined_at(obj, 1))

    def __delitem__(self, name):
        """Remove an entry (a plugin unloaded, a test's temporary entry); KeyError if absent."""
        del self._items[name]
        del self._where[name]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)

    def __repr__(self):
        return f"Registry({self.kind!r}: {', '.join(self._items)})"
