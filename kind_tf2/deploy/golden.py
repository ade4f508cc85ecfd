"""Golden outputs for regression tests: `record` a KinD's float outputs, `check` a KinD against them (the `golden` command)."""

import dataclasses
import datetime
import glob
import json
import os
import shutil

import numpy as np

from kind_tf2 import errors, files, image_io
from kind_tf2.checkpoints import sha256_file
from kind_tf2.reporting.report import versions

# The float outputs of every stage, as `KinD.enhance(..., return_all=True)` names them.
OUTPUTS = ("R", "I", "restored_R", "adjusted_I", "output")
MANIFEST = "golden.json"
DEFAULT_ATOL = 1e-5  # the parity bar of this project: float outputs within 1e-5


class GoldenError(errors.DataError):
    """A problem with a golden folder or its inputs; the message names the file."""


def checkpoint_files(source):
    """The files behind a loaded network: a `.weights.h5` file, or a TF1 prefix's index and data."""
    if source.endswith(".h5"):
        return [source]
    return sorted(glob.glob(glob.escape(source) + ".*"))


def checkpoint_digests(kind):
    """`{scope: {file: sha256}}` of the files `kind` was loaded from (empty when built in memory)."""
    out = {}
    for scope, source in (getattr(kind, "sources", None) or {}).items():
        out[scope] = {os.path.basename(p): sha256_file(p) for p in checkpoint_files(source)}
    return out


def _stage_outputs(kind, path, ratio):
    """`{output: float32 [H, W, C]}` of every stage for one image file (evaluate.py semantics)."""
    x = image_io.load_image(path)[None]
    result = kind.enhance(x, ratio=ratio, return_all=True)
    return {k: np.asarray(result[k][0], np.float32) for k in OUTPUTS}


@dataclasses.dataclass
class Recorded:
    """What `record` wrote: the manifest (as in golden.json) and the images it could not record."""

    manifest: dict
    failures: list  # [(image path, message)], each also in the manifest's "failed" and said through `warn`

    @property
    def ok(self):
        return not self.failures


def record(kind, input_dir, out, ratio=5.0, atol=DEFAULT_ATOL, log=print, warn=None):
    """Write the golden folder `out`: `inputs/` (copies), `<image>.npz` per image and `golden.json`.

    kind: a loaded `KinD`. Every image of `input_dir` (read as `evaluate` reads them, `image_io`) is
    enhanced with a constant ratio map of `ratio` (evaluate.py semantics). The manifest holds the
    checkpoint sha256s, versions and `atol`. An image that cannot be read is said through `warn`
    (default: log), listed under "failed" in the manifest with its message, and the others are
    recorded. Returns a `Recorded`.
    """
    warn = warn or log
    paths, skipped = image_io.list_images(input_dir, "input_dir")
    if not paths:
        raise GoldenError(f"input_dir={input_dir}: no images", fields=("input_dir",))
    if skipped:
        log(f"skipping {len(skipped)} file(s) without an image extension: {', '.join(skipped)}")
    os.makedirs(os.path.join(out, "inputs"), exist_ok=True)
    images, failed = {}, {}
    for k, path in enumerate(paths, 1):
        name = os.path.basename(path)
        try:
            arrays = _stage_outputs(kind, path, ratio)
        except errors.KindError as err:  # this file alone: unreadable or not an image
            message = errors.about_file(path, err)
            warn(message)
            failed[name] = message
            continue
        stored = f"{name}.npz"
        files.atomic_write(os.path.join(out, stored), lambda tmp, arrays=arrays: np.savez_compressed(tmp, **arrays))
        shutil.copyfile(path, os.path.join(out, "inputs", name))
        images[name] = {"file": stored, "input_sha256": sha256_file(path),
                        "shapes": {key: list(v.shape) for key, v in arrays.items()}}
        log(f"[{k}/{len(paths)}] {name}: {', '.join(OUTPUTS)} recorded")
    manifest = {
        "format": 1, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "ratio": ratio, "atol": atol, "outputs": list(OUTPUTS), "images": images, "failed": failed,
        "checkpoints": checkpoint_digests(kind), "versions": versions(),
    }
    files.atomic_write_text(os.path.join(out, MANIFEST), json.dumps(manifest, indent=1) + "\n")
    log(f"golden outputs of {len(images)} image(s) written to {out} ({MANIFEST}: checkpoints, versions, atol "
        f"{atol:g})" + (f"; {len(failed)} not recorded: {', '.join(failed)}" if failed else ""))
    return Recorded(manifest, [(os.path.join(input_dir, n), m) for n, m in failed.items()])


def read_manifest(golden_dir):
    path = os.path.join(golden_dir, MANIFEST)
    if not os.path.isfile(path):
        raise GoldenError(f"golden={golden_dir}: no {MANIFEST} (write one with `record`)", fields=("golden",))
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise GoldenError(f"{path}: not valid JSON ({e})") from None


def compare(kind, golden_dir, atol=None):
    """Re-run `kind` on the golden inputs; returns `(rows, notes)`.

    rows: one dict per image and output: image, output, max_abs (worst |new - golden|), where
    (index of the worst value, `[y, x, c]`), atol and ok. notes: differences of checkpoints and
    versions from the recorded ones (information, not failures).
    """
    manifest = read_manifest(golden_dir)
    atol = manifest["atol"] if atol is None else atol
    rows = []
    for name, entry in manifest["images"].items():
        path = os.path.join(golden_dir, "inputs", name)
        npz = os.path.join(golden_dir, entry["file"])
        for p in (path, npz):
            if not os.path.isfile(p):
                raise GoldenError(f"{p}: missing from the golden folder")
        with np.load(npz) as stored:
            want = {k: stored[k] for k in manifest["outputs"]}
        got = _stage_outputs(kind, path, manifest["ratio"])
        for key in manifest["outputs"]:
            if got[key].shape != want[key].shape:
                rows.append(dict(image=name, output=key, max_abs=float("inf"), where=None, atol=atol, ok=False,
                                 shape=(list(got[key].shape), list(want[key].shape))))
                continue
            diff = np.abs(got[key].astype(np.float64) - want[key])
            worst = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
            max_abs = float(diff.max()) if diff.size else 0.0
            rows.append(dict(image=name, output=key, max_abs=max_abs, where=[int(i) for i in worst], atol=atol,
                             ok=bool(max_abs <= atol)))
    notes = [f"not recorded: {message}" for message in manifest.get("failed", {}).values()]
    now = checkpoint_digests(kind)
    for scope, recorded in manifest["checkpoints"].items():
        if scope in now and now[scope] != recorded:
            notes.append(f"{scope}: checkpoint files differ from the recorded ones")
    old, new = manifest["versions"], versions()
    changed = [f"{k} {old.get(k)} -> {new[k]}" for k in new if old.get(k) != new[k]]
    if changed:
        notes.append("versions changed since recording: " + ", ".join(changed))
    return rows, notes


def format_report(rows):
    """One line per image: the worst |difference| of each output; failures marked and named."""
    images = list(dict.fromkeys(r["image"] for r in rows))
    outputs = list(dict.fromkeys(r["output"] for r in rows))
    lines = [f"{'image':<24}" + "".join(f"{o:>13}" for o in outputs)]
    for name in images:
        cells = {r["output"]: r for r in rows if r["image"] == name}
        lines.append(f"{name:<24}" + "".join(
            f"{cells[o]['max_abs']:>12.2e}{' ' if cells[o]['ok'] else '!'}" for o in outputs))
    for r in rows:
        if not r["ok"]:
            detail = (f"shape {r['shape'][0]} != golden {r['shape'][1]}" if r.get("shape")
                      else f"max |diff| {r['max_abs']:.3g} > atol {r['atol']:g} at [y, x, c] = {r['where']}")
            lines.append(f"FAIL {r['image']} {r['output']}: {detail}")
    return "\n".join(lines)


def check(kind, golden_dir, atol=None, log=print):
    """Compare and print; returns True when every output of every image is within `atol`."""
    rows, notes = compare(kind, golden_dir, atol)
    for note in notes:
        log(f"note: {note}")
    log(format_report(rows))
    bad = [r for r in rows if not r["ok"]]
    if bad:
        log(f"golden check FAILED: {len(bad)} of {len(rows)} outputs exceed the tolerance")
    else:
        log(f"golden check passed: {len(rows)} outputs of {len(rows) // max(1, len(OUTPUTS))} image(s) "
            f"within atol {rows[0]['atol']:g}" if rows else "golden check: no images")
    return not bad
