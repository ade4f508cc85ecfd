"""Objectives: weighted sums of registered loss terms, built from a `loss` spec."""

import tensorflow as tf

from kind_tf2.losses.spec import SpecError, format_spec, parse_spec
from kind_tf2.losses.terms import TERMS
from kind_tf2.losses.vgg import vgg19_features


def component_name(term):
    """Logged name of a term: `loss_<term>`, except KinD's own keep the original's names."""
    return {"l2": "loss_square"}.get(term, f"loss_{term}")


class Objective:
    """A weighted sum of registered terms: `objective(pred, target, low) -> (total, parts)`.

    spec: a spec string (`parse_spec`); total_name: the key of the total in `parts` (the stage's
    original name, e.g. `loss_restoration`). channels: the stage's output channels; patch_size:
    the training patch side (checked against each term's minimum). vgg_weights: the file
    `perceptual` reads unless its spec names one. Every term is computed, weight 0 included (it
    is then logged, not trained); weights of 1 multiply nothing, so the original objectives are
    the same graph as the original's.
    """

    def __init__(self, spec, total_name, channels=3, patch_size=None, vgg_weights=None):
        self.items, written = [], parse_spec(spec)
        for name, params, weight in written:
            term = TERMS[name]
            if name == "perceptual" and not params.get("weights"):
                params = dict(params, weights=vgg_weights)
                if not vgg_weights:
                    raise SpecError("perceptual needs vgg_weights=FILE (Keras VGG19 ImageNet weights, e.g. "
                                    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is downloaded",
                                    fields=("vgg_weights",))
                term.check(params)
            if channels not in term.channels:
                raise SpecError(f"{name} needs {' or '.join(map(str, term.channels))}-channel images; "
                                f"this stage's have {channels}")
            if patch_size is not None and patch_size < term.min_size(params):
                raise SpecError(f"{name} needs patches of at least {term.min_size(params)} px; "
                                f"patch_size={patch_size} is too small", fields=("patch_size",))
            self.items.append((name, params, weight))
        self.total_name, self.patch_size = total_name, patch_size
        self.spec = format_spec(written)  # as written: vgg_weights is a setting of its own

    def notes(self):
        """Lines to log once: how terms adapt to the patch size."""
        if self.patch_size is None:
            return []
        return [n for n in (TERMS[name].note(p, self.patch_size) for name, p, _ in self.items) if n]

    def build(self):
        """Create what terms hold (the VGG19 of `perceptual`); call under the strategy's scope."""
        for name, params, _ in self.items:
            if name == "perceptual":
                vgg19_features(params["weights"], params.get("layer", TERMS[name].defaults["layer"]))

    def __call__(self, pred, target, low=None):
        parts, total = {}, None
        for name, params, weight in self.items:
            value = TERMS[name](pred, target, low, **params)
            parts[component_name(name)] = value
            if weight == 0:
                continue
            term = value if weight == 1 else weight * value
            total = term if total is None else total + term
        parts[self.total_name] = tf.zeros([]) if total is None else total
        return parts[self.total_name], parts
