"""A disk cache of the frozen DecomNet's outputs on the training images, keyed by what determines them."""

import hashlib
import os

import numpy as np

PARTS = ("r_low", "i_low", "r_high", "i_high")


def default_cache_dir():
    """`$XDG_CACHE_HOME/kind_tf2/decomposed` (`~/.cache/kind_tf2/decomposed` when unset)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "kind_tf2", "decomposed")


def cache_key(network_tensors, pairs, runtime):
    """sha256 (first 20 hex digits) of the DecomNet weights, the image files' bytes and `runtime`.

    network_tensors: `{name: array}` of the frozen DecomNet. pairs: `[(name, low_path, high_path)]`.
    runtime: what else changes the float outputs (TensorFlow version, oneDNN on/off, GPU or not).
    """
    h = hashlib.sha256(repr(runtime).encode())
    for name in sorted(network_tensors):
        h.update(name.encode())
        h.update(np.ascontiguousarray(network_tensors[name]).tobytes())
    for name, *paths in pairs:
        h.update(name.encode())
        for path in paths:
            with open(path, "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:20]


class DecompositionCache:
    """`<root>/<key>/<part>.npz`, one file per part of PARTS, each a list of float32 `[H, W, C]` arrays.

    Entries are written whole (a temporary file renamed into place), so a killed run leaves no
    half-written entry. An unreadable entry is reported and recomputed, never trusted.
    """

    def __init__(self, root, key, log):
        self.folder, self.log = os.path.join(root, key), log

    def _path(self, part):
        return os.path.join(self.folder, f"{part}.npz")

    def load(self, parts):
        """`{part: [arrays]}` for those of `parts` that are cached and readable."""
        found = {}
        for part in parts:
            path = self._path(part)
            if not os.path.isfile(path):
                continue
            try:
                with np.load(path) as z:
                    found[part] = [z[f"arr_{k}"] for k in range(len(z.files))]
            except (OSError, ValueError, KeyError) as err:
                self.log(f"warning: cached decomposition {path} is unreadable ({err}); recomputing it")
        return found

    def save(self, parts):
        """Write `{part: [arrays]}`; a failed write only costs the next run the recomputation."""
        try:
            os.makedirs(self.folder, exist_ok=True)
            for part, arrays in parts.items():
                tmp = self._path(part) + f".tmp{os.getpid()}.npz"
                np.savez(tmp, *arrays)
                os.replace(tmp, self._path(part))
        except OSError as err:
            self.log(f"warning: could not cache the decomposition in {self.folder} ({err})")
            return
        size = sum(a.nbytes for arrays in parts.values() for a in arrays) / 2**20
        self.log(f"decomposition cached in {self.folder} ({', '.join(parts)}: {size:.0f} MiB; "
                 f"decom_cache=None to skip)")
