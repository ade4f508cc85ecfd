"""The LOL dataset layout (`our485/`, `eval15/`, each with `low/` and `high/`): pairing, loading, splits."""

import os


from kind_tf2 import image_ops

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
# Size of LOL's training folder, against which the original hard-codes its split indices.
LOL_TRAIN_SIZE = 485


class DatasetError(ValueError):
    """A data folder is missing, empty or inconsistent; the message names the files."""


def list_images(folder):
    """Sorted image paths in a folder (by file name)."""
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: folder does not exist")
    return sorted(
        os.path.join(folder, f) for f in os.listdir(folder) if f.lower().endswith(IMAGE_EXTENSIONS)
    )


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
    for k, (name, low_path, high_path) in enumerate(pairs):
        low, high = image_ops.load_image(low_path), image_ops.load_image(high_path)
        if low.shape != high.shape:
            bad.append(f"{name} (low {low.shape[:2]}, high {high.shape[:2]})")
        lows.append(low)
        highs.append(high)
        if log and (k + 1) % 100 == 0:
            log(f"loaded {k + 1}/{len(pairs)} pairs")
    if bad:
        raise DatasetError("low/high sizes differ: " + ", ".join(bad))
    return lows, highs


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
