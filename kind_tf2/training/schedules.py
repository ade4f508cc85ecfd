"""Learning-rate schedules by name: the original's per stage, or a cosine decay over the run."""

import math

from kind_tf2.registry import Registry

SCHEDULES = Registry("learning-rate schedule", field="lr_schedule")


def register_schedule(name):
    """Decorator adding `fn(stage, epoch, epochs, base) -> lr` to `SCHEDULES` under `name` (once).

    epoch, epochs: whole numbers for a run of epochs (the rate changes per epoch); for a run of
    `steps` the fractional epoch of the step and steps / steps_per_epoch (the rate changes per step).
    """
    return SCHEDULES.register(name)


@register_schedule("original")
def original(stage, epoch, epochs, base):
    """The original script's schedule of the stage (`Stage.learning_rate`: constant, or restoration's steps).

    Per whole epoch, as the original, also in a run of `steps`.
    """
    return stage.learning_rate(math.floor(epoch), base)


@register_schedule("cosine")
def cosine(stage, epoch, epochs, base):
    """Cosine decay: lr_e = base * (1 + cos(pi * e / E)) / 2 for the 0-based epoch e of E (per step: e = t / spe).

    Starts at `base` and reaches base * (1 - cos(pi / E)) / 2 (about base * 2.5 / E**2) in the last
    epoch; a short run then ends at a small step size, which a fixed budget needs (an abandoned
    schedule of the original never decays before epoch 800).
    """
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / max(1, epochs)))


def learning_rate(name, stage, epoch, epochs, base):
    """The learning rate of 0-based `epoch` of `epochs` under schedule `name` (None: `original`); see `register_schedule`."""
    return SCHEDULES.get_or_raise(name or "original")(stage, epoch, epochs, base)
