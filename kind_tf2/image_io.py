"""Image files: decoding any mode to RGB, the original's loading (stretched) and saving (PNG), image folders."""

import os

import numpy as np
from PIL import Image

from kind_tf2 import errors, image_ops
from kind_tf2.files import atomic_write

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def pil_to_rgb_array(im):
    """A PIL image as a uint8/uint16 `[H, W, 3]` array, whatever its mode.

    RGB comes out untouched (the original's path). Grayscale, palette, RGBA (alpha dropped),
    CMYK and 16-bit images are converted; the original crashed or mis-read these.
    Returns (array, max_value) where max_value is 255 or 65535.
    """
    if im.mode == "RGB":
        return np.asarray(im), 255
    if im.mode.startswith("I"):  # 16-bit ("I;16*") or 32-bit integer grayscale
        arr = np.asarray(im).astype(np.float64)
        peak = 65535 if im.mode.startswith("I;16") or arr.max() > 255 else 255
        arr = np.clip(arr, 0, peak)
        return np.repeat(arr[:, :, None], 3, axis=2), peak
    if im.mode == "F":
        arr = np.clip(np.asarray(im, dtype=np.float64), 0, 255)
        return np.repeat(arr[:, :, None], 3, axis=2), 255
    return np.asarray(im.convert("RGB")), 255


def read_raw(path, orient=False):
    """Decode an image file to `(pixels [H, W, 3], peak)` as `pil_to_rgb_array` gives them.

    orient: turn the pixels as the file's EXIF orientation tag says (a phone photo taken upright
    but stored sideways), with PIL's `ImageOps.exif_transpose`. Off by default: the original
    (scipy / PIL) read the stored pixels and ignored the tag, and parity keeps that.
    Raises DataError (a ValueError) naming the file when it is empty, truncated or not an image.
    """
    if os.path.getsize(path) == 0:
        raise errors.DataError(f"{path}: empty file (0 bytes)")
    try:
        with Image.open(path) as im:
            im.load()
            if orient:
                from PIL import ImageOps

                turned = ImageOps.exif_transpose(im)
                return pil_to_rgb_array(turned if turned is not None else im)
            return pil_to_rgb_array(im)
    except (OSError, SyntaxError, ValueError) as err:
        raise errors.DataError(f"{path}: not a readable image ({err})") from None


def raw_to_float(pixels, peak):
    """`read_raw`'s `(pixels, peak)` as float32 `[H, W, 3]` in [0, 1] (pixels / peak, no stretch)."""
    return np.asarray(pixels, dtype=np.float32) / np.float32(peak)


def read_rgb(path, orient=False):
    """Decode an image file to float32 `[H, W, 3]` in [0, 1] (RGB / 255, no stretch); orient: see `read_raw`."""
    return raw_to_float(*read_raw(path, orient))


def stretch(rgb):
    """`image_ops.stretch` of a decoded image, as numpy float32 (the original `load_images` after decoding)."""
    return image_ops.stretch(rgb).numpy()


def load_image(path):
    """The original `load_images`: float32 `[H, W, 3]`, RGB / 255 then min-max stretched to [0, 1]."""
    return stretch(read_rgb(path))


def as_uint8(rgb):
    """Decoded float RGB in [0, 1] back at the 0..255 scale as stored, rounded: uint8 `[H, W, 3]`."""
    return np.rint(np.asarray(rgb, np.float64) * 255.0).astype(np.uint8)


def save_image(path, *images):
    """Write images side by side as a PNG, like the original `save_images`.

    images: arrays `[H, W, C]` or `[1, H, W, C]` with C in {1, 3}, values in [0, 1]; single-channel
    images next to RGB ones are repeated to 3 channels. The file is written to a temporary name in
    the same folder and renamed, so a partial PNG never exists under `path`.
    Returns the written pixels, uint8 `[H, W]` or `[H, W, 3]`.
    """
    parts = []
    for img in images:
        arr = np.asarray(img)
        if arr.ndim == 4:
            arr = arr[0]
        if arr.ndim == 2:
            arr = arr[:, :, None]
        parts.append(arr)
    if any(p.shape[2] == 3 for p in parts):
        parts = [np.repeat(p, 3, axis=2) if p.shape[2] == 1 else p for p in parts]
    cat = np.concatenate(parts, axis=1)
    pixels = image_ops.to_uint8(cat).numpy()
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    save_png(path, pixels)
    return pixels


def read_uint8(path):
    """An image file as stored, uint8 `[H, W, 3]` (16-bit files rounded to 0..255): what metrics score against."""
    return as_uint8(read_rgb(path))


def save_png(path, pixels, optimize=False):
    """Write uint8 `pixels` (`[H, W]` or `[H, W, 3]`, or a PIL image) as a PNG through a temporary name.

    optimize=False: zlib level 1 (the outputs: 6x faster to encode than PIL's default, ~15 % larger);
    True: the smallest file (thumbnails and grids kept in reports and docs).
    """
    image = pixels if isinstance(pixels, Image.Image) else Image.fromarray(np.asarray(pixels))
    options = {"optimize": True} if optimize else {"compress_level": 1}
    atomic_write(path, lambda tmp: image.save(tmp, "png", **options))


def list_images(folder, field=None):
    """`(image paths, skipped names)` of a folder: files with an image extension sorted by name, and the others.

    The one reader of image folders: every job lists its images here, so that all take the same
    files in the same order (hidden files and sub-folders left out). field: the config field that
    named the folder, for the error when it does not exist.
    """
    if not os.path.isdir(folder):
        raise errors.DataError(f"{field}={folder}: folder does not exist" if field else f"{folder}: folder does not exist",
                               fields=(field,) if field else ())
    images, skipped = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        if name.lower().endswith(IMAGE_EXTENSIONS):
            images.append(path)
        else:
            skipped.append(name)
    return images, skipped


def find_ground_truth(high_dir, low_path):
    """The ground-truth file for a low image: the same file name in `high_dir`, else the same stem."""
    name = os.path.basename(low_path)
    exact = os.path.join(high_dir, name)
    if os.path.isfile(exact):
        return exact
    stem = os.path.splitext(name)[0]
    for cand in sorted(os.listdir(high_dir)):
        if os.path.splitext(cand)[0] == stem and cand.lower().endswith(IMAGE_EXTENSIONS):
            return os.path.join(high_dir, cand)
    raise errors.DataError(f"{low_path}: no ground truth named {stem}.* in {high_dir}")


def output_name(path):
    """The original's output name: text before the first '.' of the file name, plus `_kindle.png`."""
    name = os.path.basename(path)
    return name[: name.find(".")] + "_kindle.png" if "." in name else name + "_kindle.png"
