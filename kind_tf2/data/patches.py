"""Random training patches as a pure function of (seed, step), served by `tf.data`.

The original draws patches with Python's `random` while cycling through the images in order,
reshuffling after each full pass. Here the same scheme is a stateless function of the global
step: patch j of step s is patch p = s * batch + j of the cycle, image `order(p // N)[p % N]`,
where pass 0 is the sorted order and later passes are seeded permutations. A run resumed at any
step therefore sees exactly the batches an uninterrupted run sees.
"""

import numpy as np
import tensorflow as tf

from kind_tf2 import errors


class PatchSampler:
    """Samples aligned patches from several image stacks.

    arrays: `{key: [N, H, W, C_key] float32}` stacks that share N, H, W (e.g. low, high); images
    smaller than the stack (LOL is uniform) are given by `sizes` `[N, 2]` and padded.
    patch_size: P; batch_size: B; num_modes: augmentation modes drawn from 0..num_modes-1 (the
    original: 8 for decomposition and restoration, 7 for illumination); reshuffle: permute the
    images after each pass (the illumination script never does).
    scales: `{key: [N, 2]}` for uint8 arrays: (lo, range) of `image_ops.stretch_parameters` of
    each image, which the patches of that key are stretched with (the stack stays 8-bit).
    `batch(step)` returns `{key: [B, P, P, C_key]}` plus `index`, `mode` `[B]` int32 and `coin`
    `[B]` float32 in [0, 1) for stage-specific draws.
    """

    def __init__(self, arrays, sizes, batch_size, patch_size, num_modes, seed, reshuffle=True, names=None,
                 scales=None):
        self.keys = list(arrays)
        self.scales = {k: tf.constant(v, tf.float32) for k, v in (scales or {}).items()}
        self.channels = [int(arrays[k].shape[-1]) for k in self.keys]
        self.stack = _host_stack([arrays[k] for k in self.keys])
        self.sizes = tf.constant(np.asarray(sizes, np.int32))
        self.num_images = int(self.stack.shape[0])
        # gather_nd refuses int32 indices into more than 2**31 - 1 elements ("too large for int32
        # indexing"): 1300 pairs of 600x400 with restoration's 7 channels are 2.2e9.
        elements = int(np.prod([int(d) for d in self.stack.shape], dtype=object))
        self._index_dtype = tf.int64 if elements > np.iinfo(np.int32).max else tf.int32
        self._source = _augmented_positions(patch_size)
        self.batch_size, self.patch_size = batch_size, patch_size
        self.num_modes, self.seed, self.reshuffle = num_modes, seed, reshuffle
        small = [
            (names[k] if names else str(k)) + f" {tuple(s)}"
            for k, s in enumerate(np.asarray(sizes))
            if s[0] < patch_size or s[1] < patch_size
        ]
        if small:
            raise errors.DataError(f"images smaller than patch_size={patch_size}: {', '.join(small)}",
                                   fields=("patch_size",))

    def _seed(self, step, purpose):
        return tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64) * 16 + purpose])

    def _image_index(self, patches):
        """Image of each patch `[b]` int64 of the cycle: `[b]` int32."""
        n = self.num_images
        pass_id, pos = patches // n, patches % n
        in_order = tf.cast(pos, tf.int32)
        if not self.reshuffle:
            return in_order

        def shuffled(args):
            pid, k = args
            # argsort of uniform keys: stateless_shuffle is visibly biased for small n.
            keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(self.seed, tf.int64) + 7919, pid]))
            return tf.gather(tf.argsort(keys), k)

        # One traced body for all patches: a per-patch Python loop made the pipeline's graph (and
        # its tracing and optimisation at start-up) grow with the batch size.
        later = tf.map_fn(shuffled, (pass_id, pos), fn_output_signature=tf.int32)
        return tf.where(pass_id == 0, in_order, later)

    def batch(self, step):
        step = tf.cast(step, tf.int64)
        b, p = self.batch_size, self.patch_size
        index = self._image_index(step * b + tf.range(b, dtype=tf.int64))
        hw = tf.gather(self.sizes, index)
        # Offsets uniform over [0, h - P] x [0, w - P], like random.randint(0, h - patch_size).
        u = tf.random.stateless_uniform([b, 2], seed=self._seed(step, 1))
        offsets = tf.minimum(tf.cast(u * tf.cast(hw - p + 1, tf.float32), tf.int32), hw - p)
        mode = tf.random.stateless_uniform([b], seed=self._seed(step, 2), maxval=self.num_modes, dtype=tf.int32)
        coin = tf.random.stateless_uniform([b], seed=self._seed(step, 3))
        # Crop and augmentation in one gather: output pixel q of a patch in `mode` is pixel
        # `_source[mode, q]` (row, col) of its crop, so the batch is exact copies of the pixels
        # `image_ops.augment(crop, mode)` would give.
        rows = offsets[:, 0, None] + tf.gather(self._source[0], mode)  # [b, P * P]
        cols = offsets[:, 1, None] + tf.gather(self._source[1], mode)
        images = tf.broadcast_to(index[:, None], tf.shape(rows))
        where = tf.cast(tf.stack([images, rows, cols], axis=-1), self._index_dtype)
        stacked = tf.gather_nd(self.stack, where)
        stacked = tf.reshape(stacked, [b, p, p, sum(self.channels)])
        out = dict(zip(self.keys, tf.split(stacked, self.channels, axis=-1)))
        for key, lo_range in self.scales.items():
            # 8-bit pixels to the floats of `image_io.load_image`, with its operations in its order.
            lo, spread = (tf.reshape(v, [b, 1, 1, 1]) for v in tf.unstack(tf.gather(lo_range, index), axis=1))
            out[key] = (tf.cast(out[key], tf.float32) / 255.0 - lo) / spread
        out.update(index=index, mode=mode, coin=coin)
        return out

    def dataset(self, start_step, stop_step, transform=None, input_context=None):
        """Batches for steps [start_step, stop_step), optionally mapped by `transform`.

        With an `input_context` (from `strategy.distribute_datasets_from_function`) each global
        batch is cut into per-replica slices and this input pipeline yields the slices of its own
        replicas, in replica order, so the replicas together see exactly the global batch.
        """
        ds = tf.data.Dataset.range(start_step, stop_step)
        fn = self.batch if transform is None else (lambda s: transform(self.batch(s)))
        # Not autograph-converted: the body has no tensor-dependent Python control flow.
        fn = tf.autograph.experimental.do_not_convert(fn)
        ds = ds.map(fn, num_parallel_calls=2, deterministic=True)
        if input_context is not None and input_context.num_replicas_in_sync > 1:
            replicas = input_context.num_replicas_in_sync
            local = replicas // input_context.num_input_pipelines
            first = input_context.input_pipeline_id * local
            per = self.batch_size // replicas

            def slices(batch):
                cut = {
                    k: tf.reshape(v, tf.concat([[replicas, per], tf.shape(v)[1:]], 0))[first : first + local]
                    for k, v in batch.items()
                }
                return tf.data.Dataset.from_tensor_slices(cut)

            ds = ds.flat_map(slices)
        # Fixed parallelism, no autotuning: a batch costs a few ms, and the autotuner's background
        # thread made tearing the iterator down take 1.7 s in a third of the runs.
        options = tf.data.Options()
        options.autotune.enabled = False
        return ds.prefetch(2).with_options(options)


def _augmented_positions(p):
    """`[2, 8, P * P]` int32: (row, col) in a P x P crop of output pixel q under each augmentation mode.

    Mode m is `np.rot90(crop, m // 2)`, then `np.flipud` when m is odd (the original
    `data_augmentation`); applying it to a grid of positions gives where each pixel comes from.
    """
    grid = np.arange(p * p, dtype=np.int32).reshape(p, p)
    table = []
    for m in range(8):
        moved = np.rot90(grid, m // 2)
        table.append((np.flipud(moved) if m % 2 else moved).ravel())
    table = np.stack(table)
    return tf.constant(np.stack([table // p, table % p]))


# TensorFlow's CPU kernels assume buffers aligned to EIGEN_MAX_ALIGN_BYTES (64 bytes with AVX-512)
# and abort on others; numpy aligns large arrays to 16 bytes only.
ALIGN_BYTES = 64


def channel_stack(n, h, w, channels, dtype):
    """Zeroed channel slices `{key: [N, H, W, C_key]}` of one `[N, H, W, sum C]` array in 64-byte aligned memory.

    channels: `{key: C_key}`, in the order of the last axis. Filled in place and given to
    `PatchSampler` as they are, the slices become its variable without a copy (`_host_stack`).
    """
    # Python ints: sizes often arrive as numpy int32 (a `sizes.max()`), whose product overflows
    # past 2**31 bytes (466 LOL pairs of 600x400 with 7 float32 channels are 3.1 GB).
    n, h, w = int(n), int(h), int(w)
    total = sum(int(c) for c in channels.values())
    nbytes = n * h * w * total * np.dtype(dtype).itemsize
    raw = np.zeros(nbytes + ALIGN_BYTES, np.uint8)  # calloc: pages are zeroed when first written
    start = -raw.ctypes.data % ALIGN_BYTES
    whole = raw[start:start + nbytes].view(dtype).reshape(n, h, w, total)
    views, first = {}, 0
    for key, c in channels.items():
        views[key] = whole[..., first:first + c]
        first += c
    return views


def stack_padded(groups):
    """Each key's images, zero-padded, in channel slices of one stack (`channel_stack`).

    groups: `{key: [N arrays [H_n, W_n, C_key]]}`, image n of every key of the same size. Returns
    `({key: [N, Hmax, Wmax, C_key] float32}, sizes [N, 2] int32)`; the sampler takes the slices as
    its variable without a copy.
    """
    first = next(iter(groups.values()))
    sizes = np.array([im.shape[:2] for im in first], np.int32)
    h, w = (int(v) for v in sizes.max(axis=0))
    arrays = channel_stack(len(first), h, w, {key: images[0].shape[2] for key, images in groups.items()}, np.float32)
    for key, images in groups.items():
        for k, im in enumerate(images):
            arrays[key][k, : im.shape[0], : im.shape[1]] = im
    return arrays, sizes


def _memory_owner(a):
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _whole_of_views(parts):
    """The `[N, H, W, sum C]` array whose last axis `parts` (numpy views) tile in order, exactly; None if they do not.

    Found from the views' addresses and strides, so it works whatever chain of views made them
    (`channel_stack` slices an aligned part of a raw buffer). The result is a view of their memory.
    """
    first = parts[0]
    if not all(isinstance(p, np.ndarray) and p.ndim == 4 for p in parts):
        return None
    n, h, w = first.shape[:3]
    total = sum(p.shape[-1] for p in parts)
    item = first.itemsize
    strides = (h * w * total * item, w * total * item, total * item, item)
    owner = _memory_owner(first)
    origin = first.__array_interface__["data"][0]
    offset = 0
    for p in parts:
        if (p.shape[:3] != first.shape[:3] or p.dtype != first.dtype or p.strides != strides
                or _memory_owner(p) is not owner or p.__array_interface__["data"][0] != origin + offset * item):
            return None
        offset += p.shape[-1]
    low = owner.__array_interface__["data"][0]
    if not owner.flags.c_contiguous or origin < low or origin + n * strides[0] > low + owner.nbytes:
        return None
    return np.lib.stride_tricks.as_strided(first, (n, h, w, total), strides)


def _host_stack(parts):
    """The training images as one `[N, H, W, sum C]` variable in host memory.

    A variable, not a constant: tf.data would copy a captured constant into its graph (and again
    when it optimises that graph at `iter`), three copies of the data set in all. Pinned to the
    CPU: the input pipeline runs there, also on GPU machines.
    """
    n, h, w = parts[0].shape[:3]
    whole = _whole_of_views(parts)
    if whole is not None:
        with tf.device("/cpu:0"):
            if whole.ctypes.data % ALIGN_BYTES == 0 and whole.flags.c_contiguous:
                # Channel slices of one aligned array (`channel_stack`): the variable takes its
                # memory as it is, through DLPack. On 40 pairs of 600x400 a copy took 0.1 s (8-bit
                # LOL, 57 MiB) and, assembled from stage 3's three float32 stacks, 1.5 s. The
                # sampler only reads the images, and its callers do not write them afterwards.
                value = tf.experimental.dlpack.from_dlpack(whole.__dlpack__())
            else:
                value = whole  # one copy
            return tf.Variable(value, trainable=False, name="training_images")
    with tf.device("/cpu:0"):
        stack = tf.Variable(tf.zeros([n, h, w, sum(int(a.shape[-1]) for a in parts)], parts[0].dtype),
                            trainable=False, name="training_images")
        start = 0
        for a in parts:
            # One part at a time: no concatenated copy of the whole set next to the variable.
            stack[..., start:start + a.shape[-1]].assign(a)
            start += a.shape[-1]
    return stack
