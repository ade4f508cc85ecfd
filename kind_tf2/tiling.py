"""Exact tiled inference: 16-px aligned tiles whose margins cover the networks' measured receptive fields."""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from kind_tf2 import errors

# Restoration_net max-pools 4 times: a window that starts on a multiple of 16 sees the same pooling
# cells (and the same transposed-convolution phases) as the whole image does there.
GRID = 16
# tile="auto": images up to AUTO_MAX_PIXELS run whole (800x600 does), larger ones in AUTO_TILE tiles
# (windows of 704x704 at most). With TensorFlow's default CPU kernels 512-px tiles cost no time
# (1000x1500: 13.0 s against 12.9 s whole); with oneDNN on (TF_ENABLE_ONEDNN_OPTS=1, needed for bit
# parity) convolutions over about 1 MP or more take minutes on AMD CPUs, and 0.5 MP windows avoid that.
AUTO_TILE = 512
AUTO_MAX_PIXELS = 600_000


def parse_tile(value, name="tile"):
    """`tile` as given by a caller or flag -> None (whole image), "auto" or a positive multiple of GRID.

    Accepts None, "auto", "none" / "0" / 0 (never tile) and ints or digit strings. Raises ValueError
    starting `<name>=<value>:` (name: the config field, said as its flag by the command line).
    """
    if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "0", "off")):
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    try:
        tile = int(value)
    except (TypeError, ValueError):
        raise errors.ConfigError(f"{name}={value}: expected auto, none or a multiple of {GRID} (pixels)",
                                 fields=(name,)) from None
    if tile == 0:
        return None
    if tile < 0 or tile % GRID or tile != float(value):
        raise errors.ConfigError(f"{name}={value}: expected a positive multiple of {GRID}, the networks' pooling grid",
                                 fields=(name,))
    return tile


def resolve_tile(value, height, width):
    """The tile size to use for one `height` x `width` image: None (run it whole) or an int."""
    tile = parse_tile(value)
    if tile == "auto":
        return AUTO_TILE if height * width > AUTO_MAX_PIXELS else None
    if tile is not None and tile >= height and tile >= width:
        return None  # one tile would be the whole image
    return tile


def aligned_margin(receptive_margin):
    """The smallest multiple of GRID >= a network's receptive margin (px)."""
    return GRID * math.ceil(receptive_margin / GRID)


@dataclasses.dataclass(frozen=True)
class Span:
    """One tile along one axis: `core` is written to the output, `window` is read from the input.

    `crop` selects the core inside the window's result.
    """

    core: slice
    window: slice

    @property
    def crop(self):
        return slice(self.core.start - self.window.start, self.core.stop - self.window.start)


def spans(length, tile, margin):
    """Tiles covering [0, length): cores of `tile` px, windows `margin` px wider on each side, clipped.

    tile and margin must be multiples of GRID, so every window starts on the pooling grid.
    """
    if tile % GRID or margin % GRID:
        raise errors.ConfigError(f"tile {tile} and margin {margin} must be multiples of {GRID}")
    out = []
    for start in range(0, length, tile):
        stop = min(start + tile, length)
        out.append(Span(slice(start, stop), slice(max(0, start - margin), min(length, stop + margin))))
    return out


def map_tiles(fn, inputs, tile, margin, keep=None, progress=None):
    """Run `fn` on overlapping windows of `inputs` and assemble the cores of its outputs.

    fn: takes one window of each input (float32 `[N, h, w, C]`) and returns a dict of tensors
    `[N, h, w, C_k]` computed pixel by pixel from the windows (any receptive field <= margin).
    inputs: arrays `[N, H, W, C_i]`, all of the same N, H, W. keep: output keys to assemble (all
    when None). progress: called with no argument after each tile.
    Returns {key: float32 numpy `[N, H, W, C_k]`}; peak memory of `fn` is that of one window.
    """
    inputs = [np.asarray(a, np.float32) for a in inputs]
    n, h, w = inputs[0].shape[:3]
    out = {}
    for rows in spans(h, tile, margin):
        for cols in spans(w, tile, margin):
            result = fn(*(a[:, rows.window, cols.window] for a in inputs))
            for key, value in result.items():
                if keep is not None and key not in keep:
                    continue
                value = np.asarray(value)
                if key not in out:
                    out[key] = np.empty((n, h, w, value.shape[3]), value.dtype)
                out[key][:, rows.core, cols.core] = value[:, rows.crop, cols.crop]
            if progress:
                progress()
    return out


def count_tiles(height, width, tile):
    """How many tiles `map_tiles` runs for one image."""
    return math.ceil(height / tile) * math.ceil(width / tile)


def measure_receptive_margin(fn, channels, size, batch=4, seed=0):
    """How far outside a GRID-aligned GRID x GRID block of outputs `fn`'s inputs reach, in px.

    fn: takes tensors `[batch, size, size, c]` for c in `channels` and returns one tensor
    `[batch, size, size, C]`. The gradient of the block's sum (the block sits on the grid near the
    centre) is taken with respect to random inputs; the return value is the largest distance, over
    the four sides, from the block to a non-zero gradient. Max-pooling passes gradient to one
    element per window, so a random batch is used: every phase of every pool is then hit.
    `size` must leave room around the block: the result is checked to stay inside the image.
    """
    rng = np.random.default_rng(seed)
    c = (size // 2) // GRID * GRID
    x = tf.Variable(rng.random((batch, size, size, sum(channels)), dtype=np.float32))
    with tf.GradientTape() as tape:
        out = fn(*tf.split(x, channels, axis=3))
        total = tf.reduce_sum(out[:, c:c + GRID, c:c + GRID])
    support = tf.reduce_sum(tf.abs(tape.gradient(total, x)), axis=[0, 3]).numpy() > 0
    ys, xs = np.nonzero(support)
    reach = max(c - ys.min(), ys.max() - (c + GRID - 1), c - xs.min(), xs.max() - (c + GRID - 1))
    if ys.min() == 0 or xs.min() == 0 or ys.max() == size - 1 or xs.max() == size - 1:
        raise errors.ConfigError(f"size {size} is too small: the receptive field reaches the border ({reach} px)")
    return int(reach)
