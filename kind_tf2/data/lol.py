"""The LOL dataset layout (`our485/`, `eval15/`, each with `low/` and `high/`): pairing, loading, splits."""

import collections
import concurrent.futures
import os

import numpy as np
from PIL import Image

from kind_tf2 import errors, image_io, image_ops
from kind_tf2.data.patches import channel_stack, stack_padded

# Size of LOL's training folder, against which the original hard-codes its split indices.
LOL_TRAIN_SIZE = 485
# The validation split of our485: sorted pairs 466..484, after Restoration_net's training range [0:466] and
# never trained on by it. Objectives and schedules are chosen on it, never on eval15.
VALIDATION_SPLIT = (466, 485)


class DatasetError(errors.DataError):
    """A data folder is missing, empty or inconsistent; the message names the files."""


def list_images(folder):
    """Sorted image paths in a folder (by file name): `image_io.list_images`, the reader of every job."""
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: folder does not exist")
    return image_io.list_images(folder)[0]


def pair_files(split_dir):
    """`[(name, low_path, high_path)]` for `split_dir/low` and `split_dir/high`, paired by file name.

    The original pairs two independently sorted lists by position, which silently mis-pairs when a
    file is missing on one side; here every name must exist on both sides, else DatasetError lists
    the offenders.
    """
    low = {os.path.basename(p): p for p in list_images(os.path.join(split_dir, "low"))}
    high = {os.path.basename(p): p for p in list_images(os.path.join(split_dir, "high"))}
    only_low, only_high = sorted(set(low) - set(high)), sorted(set(high) - set(low))
    if only_low or only_high:
        raise DatasetError(
            f"{split_dir}: low/high file names differ; only in low/: {only_low or 'none'}; "
            f"only in high/: {only_high or 'none'}"
        )
    if not low:
        raise DatasetError(f"{split_dir}: no images in low/ and high/")
    return [(name, low[name], high[name]) for name in sorted(low)]


def load_pairs(pairs, log=None):
    """Load `(low, high)` float32 `[H, W, 3]` arrays (original `load_images` semantics) for pairs.

    Raises DatasetError listing every pair whose low and high sizes differ.
    """
    lows, highs, bad = [], [], []
    # Decoded and stretched in the threads: 80 LOL images take about 0.2 s instead of 0.3.
    paths = (path for _, low_path, high_path in pairs for path in (low_path, high_path))
    loaded = _in_threads(image_io.load_image, paths)
    for k, (name, _, _) in enumerate(pairs):
        low, high = next(loaded), next(loaded)
        if low.shape != high.shape:
            bad.append(f"{name} (low {low.shape[:2]}, high {high.shape[:2]})")
        lows.append(low)
        highs.append(high)
        if log and (k + 1) % 100 == 0:
            log(f"loaded {k + 1}/{len(pairs)} pairs")
    if bad:
        raise DatasetError("low/high sizes differ: " + ", ".join(bad))
    return lows, highs


def iter_pair_images(pairs):
    """The pairs' low images, then their high images, each `image_io.load_image` float32 `[H, W, 3]`, decoded as
    they are taken.

    For a consumer that needs one image at a time (the frozen DecomNet of stages 2 and 3): only
    the few being decoded ahead are in memory, not the whole set as with `load_pairs` (92 LOL
    images of 600x400 are 253 MiB of float32). Raises DatasetError listing every pair whose low
    and high sizes differ (`check_pair_sizes`), before anything is decoded.
    """
    check_pair_sizes(pairs)
    paths = [p[1] for p in pairs] + [p[2] for p in pairs]
    return _in_threads(image_io.load_image, paths, ahead=1)


def check_pair_sizes(pairs):
    """`[N, 2]` int32 (H, W) of the pairs from the files' headers; DatasetError listing every pair whose low and
    high sizes differ, DataError naming the first empty, truncated or unreadable file: before any decoding, so a
    training run stops on its data in seconds, not after minutes of decomposing the pairs before it."""
    sizes, bad = [], []
    for name, low_path, high_path in pairs:
        (lw, lh), (hw, hh) = (_header_size(p) for p in (low_path, high_path))
        if (lw, lh) != (hw, hh):
            bad.append(f"{name} (low {(lh, lw)}, high {(hh, hw)})")
        sizes.append((lh, lw))
    if bad:
        raise DatasetError("low/high sizes differ: " + ", ".join(bad))
    return np.array(sizes, np.int32)


def _in_threads(fn, items, workers=None, ahead=4):
    """`fn(item)` of each item, in order, computed by a few threads at a time.

    PIL releases the GIL while it inflates a PNG, and numpy while it copies, so two cores decode
    LOL's 600x400 images in about half the time (40 pairs: 0.14 s instead of 0.25 s). At most
    `ahead` items per thread wait done, so memory does not grow with the data set.
    """
    workers = workers or min(4, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        pending = collections.deque()
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= workers * ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def load_pair_stack(pairs, log=None):
    """The pairs as channel slices `{"low", "high"}` `[N, Hmax, Wmax, 3]` of one array (`patches.channel_stack`).

    Returns `(arrays, sizes [N, 2] int32, scales)`. When every image is 8-bit (LOL) the arrays
    are the uint8 pixels, a quarter of float32's memory, and `scales` is `{"low": [N, 2], "high":
    [N, 2]}` float32 of `image_ops.stretch_parameters`, with which the sampler stretches each
    patch to exactly the floats of `image_io.load_image`. Otherwise the arrays are those floats
    and `scales` is None. Smaller images are zero-padded. Raises DatasetError listing every pair
    whose low and high sizes differ, before anything is decoded.
    """
    sizes = check_pair_sizes(pairs)
    h, w = sizes.max(axis=0)
    n = len(pairs)
    pixels8 = channel_stack(n, h, w, {"low": 3, "high": 3}, np.uint8)
    scales = {"low": np.zeros((n, 2), np.float32), "high": np.zeros((n, 2), np.float32)}

    def fill(job):
        # In the decoding thread: the image goes straight into its slot, nothing waits decoded.
        k, key, path = job
        pixels, peak = image_io.read_raw(path)
        if pixels.dtype != np.uint8 or peak != 255:
            return path
        pixels8[key][k, : pixels.shape[0], : pixels.shape[1]] = pixels
        scales[key][k] = image_ops.stretch_parameters(pixels)
        return None

    jobs = ((k, key, path) for k, (_, low_path, high_path) in enumerate(pairs)
            for key, path in (("low", low_path), ("high", high_path)))
    filled = _in_threads(fill, jobs)
    for j, not_8bit in enumerate(filled):
        if not_8bit:
            filled.close()  # waits for the threads' last jobs, into the 8-bit stack that is dropped
            if log:
                log(f"{not_8bit} is not 8-bit RGB: training images are kept as float32")
            lows, highs = load_pairs(pairs, log)
            return stack_padded({"low": lows, "high": highs})[0], sizes, None
        if log and (j + 1) % 200 == 0:
            log(f"loaded {(j + 1) // 2}/{n} pairs")
    return pixels8, sizes, scales


def _header_size(path):
    """(width, height) from the file's header, its data checked without decoding (PIL `verify`: a PNG's chunks and
    their CRCs, so a truncated file is found here); DataError naming an empty or unreadable file."""
    if os.path.getsize(path) == 0:
        raise errors.DataError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            size = im.size
            im.verify()
            return size
    except (OSError, SyntaxError, ValueError) as err:
        raise errors.DataError(f"{path}: not a readable image ({err})") from None


def original_split(n, start, stop, full=LOL_TRAIN_SIZE):
    """Indices `[start, stop)` of the original's hard-coded split on `n` images.

    With n >= stop (the full LOL our485) the original indices are used unchanged, including the
    images they skip. On a smaller set both bounds are scaled by n / 485 (floored), and the range
    keeps at least one image, so e.g. illumination's train [0:450] / eval [451:480] become
    [0:5] / [5:6] on 6 images. On 1 image train and eval are that image.
    """
    if n >= stop:
        return list(range(start, stop))
    lo = min(start * n // full, n - 1)
    hi = min(max(stop * n // full, lo + 1), n)
    return list(range(lo, hi))


def validation_split(n):
    """The indices of `VALIDATION_SPLIT` in a sorted our485 of `n` pairs; DatasetError unless it is the full set."""
    lo, hi = VALIDATION_SPLIT
    if n < hi:
        raise DatasetError(f"our485 has {n} pairs: the validation split (sorted pairs {lo}..{hi - 1}) needs the "
                           f"full {LOL_TRAIN_SIZE}")
    return list(range(lo, hi))
