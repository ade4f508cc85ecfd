"""Learning-rate schedules by name: the original's per stage, or a cosine decay over the run."""

import math

SCHEDULES = {}


def register_schedule(name):
    """Decorator adding `fn(stage, epoch, epochs, base) -> lr` to `SCHEDULES` under `name`."""

    def add(fn):
        if name in SCHEDULES:
            raise ValueError(f"learning-rate schedule {name!r} is defined twice ({SCHEDULES[name].__qualname__} "
                             f"and {fn.__qualname__})")
        SCHEDULES[name] = fn
        return fn

    return add


@register_schedule("original")
def original(stage, epoch, epochs, base):
    """The original script's schedule of the stage (`Stage.learning_rate`: constant, or restoration's steps)."""
    return stage.learning_rate(epoch, base)


@register_schedule("cosine")
def cosine(stage, epoch, epochs, base):
    """Cosine decay per epoch: lr_e = base * (1 + cos(pi * e / E)) / 2 for the 0-based epoch e of E.

    Starts at `base` and reaches base * (1 - cos(pi / E)) / 2 (about base * 2.5 / E**2) in the last
    epoch; a short run then ends at a small step size, which a fixed budget needs (an abandoned
    schedule of the original never decays before epoch 800).
    """
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))


def learning_rate(name, stage, epoch, epochs, base):
    """The learning rate of 0-based `epoch` of `epochs` under schedule `name` (None: `original`)."""
    name = name or "original"
    if name not in SCHEDULES:
        raise ValueError(f"--lr_schedule={name}: expected one of {', '.join(SCHEDULES)}")
    return SCHEDULES[name](stage, epoch, epochs, base)
