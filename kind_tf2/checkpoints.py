"""Reading and writing network weights: TF1 name-based checkpoints, Keras weight files, training folders."""

import hashlib
import os

import numpy as np
import tensorflow as tf

from kind_tf2 import errors, models

# Per network: the port's weight-file stem and the original code's checkpoint sub-folder.
WEIGHT_STEM = {
    models.DECOM_SCOPE: "decom",
    models.RESTORATION_SCOPE: "restoration",
    models.ILLUMINATION_SCOPE: "illumination",
}
TF1_SUBDIR = {
    models.DECOM_SCOPE: "decom_net_train",
    models.RESTORATION_SCOPE: "Restoration_net_train",
    models.ILLUMINATION_SCOPE: "illumination_adjust_net_train",
}
_OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


class CheckpointMismatchError(errors.CheckpointError):
    """A checkpoint's variables do not match a network: names the offending variables."""


def sha256_file(path):
    """Hex sha256 of a file, read in 1 MiB blocks (checkpoints can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_file(folder, scope):
    """Path of the port's Keras weight file for a network inside `folder`."""
    return os.path.join(folder, f"{WEIGHT_STEM[scope]}.weights.h5")


def resolve_prefix(path):
    """The checkpoint prefix (`.../model.ckpt`) for a folder with a `checkpoint` file, or a prefix.

    A `checkpoint` file written elsewhere may hold an absolute path that no longer exists (the
    reference Restoration checkpoint does); the prefix is then looked up beside the file by its base
    name. Raises FileNotFoundError naming `path` when neither exists.
    """
    if os.path.isfile(path + ".index"):
        return path
    if os.path.isdir(path):
        state = tf.train.get_checkpoint_state(path)
        if state is not None and state.model_checkpoint_path:
            recorded = state.model_checkpoint_path
            for candidate in (recorded, os.path.join(path, os.path.basename(recorded))):
                if os.path.isfile(candidate + ".index"):
                    return candidate
            raise errors.CheckpointNotFound(
                f"{path}/checkpoint names {recorded!r}, but neither it nor "
                f"{os.path.join(path, os.path.basename(recorded))!r} has an .index file"
            )
    raise errors.CheckpointNotFound(f"{path}: no TF checkpoint (no 'checkpoint' file, no '{path}.index')")


def read_tensors(prefix):
    """All tensors of a checkpoint as `{name: np.ndarray}`, read without a session."""
    reader = tf.train.load_checkpoint(prefix)
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


def is_object_checkpoint(tensors_or_names):
    """True for a TF2 object-based checkpoint (tf.train.Checkpoint), False for a TF1 name-based one."""
    return _OBJECT_GRAPH_KEY in tensors_or_names


def detect_networks(names):
    """The network scopes present in TF1 variable names, in the order DecomNet, Restoration, Illumination."""
    found = {name.split("/", 1)[0] for name in names}
    return [scope for scope in models.NETWORKS if scope in found]


def assign_tf1(model, tensors, shapes=None):
    """Assign a network's variables from TF1 tensors `{name: array}`; every weight must be used.

    tensors: any mapping from names to arrays; with `shapes` ({name: shape}) given, it is only
    indexed, once per weight, after every check has passed (a checkpoint reader's lazy view).
    Only names under `model.tf1_scope` are considered. Raises CheckpointMismatchError naming each
    missing, unused or mis-shaped variable; nothing is assigned unless all match.
    """
    scope = model.tf1_scope
    expected = models.tf1_variable_map(model)
    if shapes is None:
        shapes = {k: np.shape(v) for k, v in tensors.items()}
    present = {k: v for k, v in shapes.items() if k.startswith(scope + "/")}
    missing = sorted(set(expected) - set(present))
    unused = sorted(set(present) - set(expected))
    misshaped = [
        f"{k} (checkpoint {list(present[k])}, network {list(expected[k].shape)})"
        for k in sorted(set(present) & set(expected))
        if tuple(present[k]) != tuple(expected[k].shape)
    ]
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if unused:
        problems.append("unused: " + ", ".join(unused))
    if misshaped:
        problems.append("mis-shaped: " + ", ".join(misshaped))
    if problems:
        raise CheckpointMismatchError(f"{scope}: " + "; ".join(problems))
    for name, var in expected.items():
        # One weight at a time (no second copy of the network next to it), cast only when the
        # checkpoint is not float32 already.
        var.assign(tf.cast(tensors[name], tf.float32))


def network_tensors(model):
    """`{TF1 name: np.ndarray}` of a network's current weights."""
    return {name: var.numpy() for name, var in models.tf1_variable_map(model).items()}


def write_tf1(folder, tensors, basename="model.ckpt"):
    """Write a TF1 name-based checkpoint (`folder/model.ckpt.*` + `checkpoint` file).

    A `tf.compat.v1.train.Saver` over variables with these names restores it. Returns the prefix.
    """
    os.makedirs(folder, exist_ok=True)
    prefix = os.path.join(folder, basename)
    names = sorted(tensors)
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * len(names),
        tensors=[tf.constant(tensors[n]) for n in names],
    )
    # The checkpoint-state file the TF1 code looks for, with a relative path so the folder can move.
    with open(os.path.join(folder, "checkpoint"), "w") as f:
        f.write(f'model_checkpoint_path: "{basename}"\nall_model_checkpoint_paths: "{basename}"\n')
    return prefix


class _RestoreView:
    """A TF1 checkpoint's tensors read on indexing, by the op TF1's Saver restores with.

    `view[name]` is that tensor, in TensorFlow's memory. Reading the whole checkpoint into NumPy
    first, as before, left two copies of Restoration_net's 31 MB in the process's heap after the
    weights were assigned: evaluate.py on six 600x400 images peaked at 879 MiB instead of 800.
    """

    def __init__(self, prefix, dtypes):
        self._prefix, self._dtypes = prefix, dtypes

    def __getitem__(self, name):
        return tf.raw_ops.RestoreV2(prefix=self._prefix, tensor_names=[name], shape_and_slices=[""],
                                    dtypes=[self._dtypes[name]])[0]


def load_network_weights(model, path):
    """Load a built network's weights from any supported location; returns a description of the source.

    `path` may be: a `.weights.h5` file; a folder holding `<stem>.weights.h5` (the port's layout and
    every training folder); a TF1 checkpoint folder or prefix (original names); or a TF2
    object checkpoint written by the training engine. Raises FileNotFoundError or
    CheckpointMismatchError naming the path; never leaves random weights silently.
    """
    scope = model.tf1_scope
    if path.endswith(".weights.h5"):
        if not os.path.isfile(path):
            raise errors.CheckpointNotFound(f"{path}: no such weight file")
        model.load_weights(path)
        return path
    if os.path.isdir(path) and os.path.isfile(weights_file(path, scope)):
        model.load_weights(weights_file(path, scope))
        return weights_file(path, scope)
    prefix = resolve_prefix(path)
    reader = tf.train.load_checkpoint(prefix)
    names = reader.get_variable_to_shape_map()
    if is_object_checkpoint(names):
        status = tf.train.Checkpoint(model=model).read(prefix)
        status.expect_partial().assert_existing_objects_matched()
        return prefix
    if scope not in detect_networks(names):
        raise CheckpointMismatchError(
            f"{prefix}: holds no {scope} variables (found scopes: {detect_networks(names) or 'none'})"
        )
    try:
        assign_tf1(model, _RestoreView(prefix, reader.get_variable_to_dtype_map()), shapes=names)
    except CheckpointMismatchError as err:
        raise CheckpointMismatchError(f"{prefix}: {err}") from None
    return prefix


def find_network_source(folder, scope):
    """Where a network's weights live inside a KinD checkpoint folder, or None.

    Looked for, in order: `folder/<stem>.weights.h5` (port layout), `folder/<tf1 subdir>/` (the
    original `./checkpoint/` layout, holding either TF1 files or a port training folder).
    """
    own = weights_file(folder, scope)
    if os.path.isfile(own):
        return own
    sub = os.path.join(folder, TF1_SUBDIR[scope])
    if os.path.isdir(sub):
        return sub
    return None
