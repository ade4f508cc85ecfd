"""Random training patches as a pure function of (seed, step), served by `tf.data`.

The original draws patches with Python's `random` while cycling through the images in order,
reshuffling after each full pass. Here the same scheme is a stateless function of the global
step: patch j of step s is patch p = s * batch + j of the cycle, image `order(p // N)[p % N]`,
where pass 0 is the sorted order and later passes are seeded permutations. A run resumed at any
step therefore sees exactly the batches an uninterrupted run sees.
"""

import numpy as np
import tensorflow as tf

from kind_tf2 import image_ops


class PatchSampler:
    """Samples aligned patches from several image stacks.

    arrays: `{key: [N, H, W, C_key] float32}` stacks that share N, H, W (e.g. low, high); images
    smaller than the stack (LOL is uniform) are given by `sizes` `[N, 2]` and padded.
    patch_size: P; batch_size: B; num_modes: augmentation modes drawn from 0..num_modes-1 (the
    original: 8 for decomposition and restoration, 7 for illumination); reshuffle: permute the
    images after each pass (the illumination script never does).
    `batch(step)` returns `{key: [B, P, P, C_key]}` plus `index`, `mode` `[B]` int32 and `coin`
    `[B]` float32 in [0, 1) for stage-specific draws.
    """

    def __init__(self, arrays, sizes, batch_size, patch_size, num_modes, seed, reshuffle=True, names=None):
        self.keys = list(arrays)
        self.channels = [int(arrays[k].shape[-1]) for k in self.keys]
        self.stack = tf.constant(np.concatenate([arrays[k] for k in self.keys], axis=-1))
        self.sizes = tf.constant(np.asarray(sizes, np.int32))
        self.num_images = int(self.stack.shape[0])
        self.batch_size, self.patch_size = batch_size, patch_size
        self.num_modes, self.seed, self.reshuffle = num_modes, seed, reshuffle
        small = [
            (names[k] if names else str(k)) + f" {tuple(s)}"
            for k, s in enumerate(np.asarray(sizes))
            if s[0] < patch_size or s[1] < patch_size
        ]
        if small:
            raise ValueError(f"images smaller than --patch_size={patch_size}: {', '.join(small)}")

    def _seed(self, step, purpose):
        return tf.stack([tf.constant(self.seed, tf.int64), tf.cast(step, tf.int64) * 16 + purpose])

    def _image_index(self, patch):
        n = self.num_images
        pass_id, pos = patch // n, patch % n
        if not self.reshuffle:
            return tf.cast(pos, tf.int32)

        def shuffled():
            # argsort of uniform keys: stateless_shuffle is visibly biased for small n.
            keys = tf.random.stateless_uniform([n], seed=tf.stack([tf.constant(self.seed, tf.int64) + 7919, pass_id]))
            return tf.gather(tf.argsort(keys), pos)

        return tf.cond(pass_id == 0, lambda: tf.cast(pos, tf.int32), shuffled)

    def batch(self, step):
        step = tf.cast(step, tf.int64)
        b, p = self.batch_size, self.patch_size
        patches = step * b + tf.range(b, dtype=tf.int64)
        index = tf.stack([self._image_index(patches[j]) for j in range(b)])
        hw = tf.gather(self.sizes, index)
        # Offsets uniform over [0, h - P] x [0, w - P], like random.randint(0, h - patch_size).
        u = tf.random.stateless_uniform([b, 2], seed=self._seed(step, 1))
        offsets = tf.minimum(tf.cast(u * tf.cast(hw - p + 1, tf.float32), tf.int32), hw - p)
        mode = tf.random.stateless_uniform([b], seed=self._seed(step, 2), maxval=self.num_modes, dtype=tf.int32)
        coin = tf.random.stateless_uniform([b], seed=self._seed(step, 3))
        crops = []
        for j in range(b):
            crop = tf.slice(self.stack[index[j]], [offsets[j, 0], offsets[j, 1], 0], [p, p, -1])
            crop = image_ops.augment(crop, mode[j])
            crops.append(tf.ensure_shape(crop, [p, p, sum(self.channels)]))
        stacked = tf.stack(crops)
        out = dict(zip(self.keys, tf.split(stacked, self.channels, axis=-1)))
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
        ds = ds.map(fn, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
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
        return ds.prefetch(tf.data.AUTOTUNE)
