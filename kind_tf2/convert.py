"""TF1 <-> TF2 weight converter: `tf1_to_tf2(src, dst)` and `tf2_to_tf1(src, dst)` (the `convert` command)."""

import os

from kind_tf2 import checkpoints, errors, models


def tf1_sources(src):
    """`[prefix]` for a TF1 checkpoint folder/prefix, or each network's prefix in an original layout."""
    try:
        return [checkpoints.resolve_prefix(src)]
    except FileNotFoundError:
        subdirs = [os.path.join(src, d) for d in checkpoints.TF1_SUBDIR.values()]
        found = [checkpoints.resolve_prefix(d) for d in subdirs if os.path.isdir(d)]
        if not found:
            raise
        return found


def tf1_to_tf2(src, dst, log=print):
    """Convert TF1 checkpoint(s) under `src` to `dst/<stem>.weights.h5`; returns the files written.

    Every variable must belong to a network and be used; otherwise CheckpointMismatchError names it.
    """
    written = []
    for prefix in tf1_sources(src):
        tensors = checkpoints.read_tensors(prefix)
        if checkpoints.is_object_checkpoint(tensors):
            raise checkpoints.CheckpointMismatchError(f"{prefix}: a TF2 object checkpoint, not a TF1 one")
        scopes = checkpoints.detect_networks(tensors)
        stray = sorted(n for n in tensors if n.split("/", 1)[0] not in scopes)
        if stray:
            raise checkpoints.CheckpointMismatchError(
                f"{prefix}: unused variables outside any KinD network: {', '.join(stray)}"
            )
        if not scopes:
            raise checkpoints.CheckpointMismatchError(f"{prefix}: no KinD network variables")
        for scope in scopes:
            net = models.build_network(scope)
            try:
                checkpoints.assign_tf1(net, tensors)
            except checkpoints.CheckpointMismatchError as err:
                raise checkpoints.CheckpointMismatchError(f"{prefix}: {err}") from None
            os.makedirs(dst, exist_ok=True)
            out = checkpoints.weights_file(dst, scope)
            net.save_weights(out)
            log(f"{prefix}: {scope} ({len(models.tf1_variable_map(net))} variables, "
                f"{net.count_params()} parameters) -> {out}")
            written.append(out)
    return written


def tf2_to_tf1(src, dst, log=print):
    """Write the networks found in `src` as TF1 checkpoints in the original layout under `dst`.

    src: a folder holding `<stem>.weights.h5` files (or training folders in the original layout),
    or one `.weights.h5` file. Output: `dst/<decom_net_train|...>/model.ckpt`, restorable by a
    `tf.compat.v1.train.Saver` over the original variable names. Returns the prefixes written.
    """
    if src.endswith(".weights.h5"):
        stem = os.path.basename(src)[: -len(".weights.h5")]
        by_stem = {v: k for k, v in checkpoints.WEIGHT_STEM.items()}
        if stem not in by_stem:
            raise errors.ConfigError(f"{src}: file name must be one of {sorted(f'{s}.weights.h5' for s in by_stem)}")
        sources = {by_stem[stem]: src}
    else:
        sources = {s: checkpoints.find_network_source(src, s) for s in models.NETWORKS}
        sources = {s: p for s, p in sources.items() if p is not None}
    if not sources:
        raise errors.CheckpointNotFound(f"{src}: no KinD weights (expected decom/restoration/illumination.weights.h5)")
    written = []
    for scope, path in sources.items():
        net = models.build_network(scope)
        checkpoints.load_network_weights(net, path)
        prefix = checkpoints.write_tf1(
            os.path.join(dst, checkpoints.TF1_SUBDIR[scope]), checkpoints.network_tensors(net)
        )
        log(f"{path}: {scope} -> {prefix}")
        written.append(prefix)
    return written


if __name__ == "__main__":  # a library module: the command line is kind-tf2's, not this file's
    raise SystemExit("run `kind-tf2 convert` (or `python -m kind_tf2 convert`) with the same flags")
