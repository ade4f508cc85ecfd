"""The KinD inference pipeline: load the three networks, decompose, restore, adjust, fuse."""

import os

import tensorflow as tf

from kind_tf2 import checkpoints, errors, image_ops, models, tiling

_IMG = tf.TensorSpec([None, None, None, 3], tf.float32)
_MAP = tf.TensorSpec([None, None, None, 1], tf.float32)
_PER_IMAGE = tf.TensorSpec([None, 1, 1, 1], tf.float32)


NO_RESTORATION = "none"  # `restoration="none"`: R_hat = R, the pipeline without its third network


class NoRestoration:
    """Stands in for Restoration_net when it is left out on purpose: returns the decomposed R as it is.

    Asked for by name only (`restoration="none"`; on the command line `--restoration_checkpoint=none`), never as a fallback
    for missing weights. It shows what the released DecomNet and Illumination_adjust_net give alone,
    i.e. what the restoration stage must add. r: `[N, H, W, 3]`, i: `[N, H, W, 1]`; returns r.
    """

    name = "no_restoration"
    receptive_margin = 0
    weights = ()

    def __call__(self, r, i, training=False):
        return r


class KinD:
    """The three KinD networks and the original evaluate scripts' post-processing.

    Attributes `decom`, `restoration` and `illumination` are the Keras models themselves:
    `R, L = kind.decom(x)`, `R_hat = kind.restoration(R, L)`, `L_hat = kind.illumination(L, ratio_map)`.
    """

    def __init__(self, decom, restoration, illumination):
        self.decom = decom
        self.restoration = restoration
        self.illumination = illumination
        self.sources = {}  # {scope: the file or TF1 prefix each network was loaded from}
        # autograph off: the bodies have no tensor-dependent Python control flow, and tracing
        # them is then ~0.4 s quicker, which evaluate.py pays once per run.
        self._enhance_ratio = tf.function(
            self._enhance_ratio_impl, input_signature=[_IMG, tf.TensorSpec([], tf.float32)], autograph=False
        )
        self._enhance_high = tf.function(self._enhance_high_impl, input_signature=[_IMG, _IMG], autograph=False)
        # The tiled path's steps; dynamic H, W so that the edge tiles' sizes trace nothing new.
        self._decom_tile = tf.function(
            lambda x: dict(zip(("R", "I"), self.decom(x, training=False))), input_signature=[_IMG], autograph=False
        )
        self._fuse_tile = tf.function(self._fuse_tile_impl, input_signature=[_IMG, _IMG, _MAP, _MAP, _PER_IMAGE],
                                      autograph=False)
        self._product_tile = tf.function(self._product_tile_impl, input_signature=[_IMG, _MAP, _PER_IMAGE],
                                         autograph=False)

    @classmethod
    def from_checkpoint(cls, path=None, *, decom=None, restoration=None, illumination=None, log=None):
        """Build KinD from checkpoints; fails (never random weights) when any network is missing.

        path: a folder in the original layout (`decom_net_train/`, `illumination_adjust_net_train/`,
        `Restoration_net_train/`, TF1 files or training folders inside) or the port's own
        (`decom.weights.h5`, `restoration.weights.h5`, `illumination.weights.h5`).
        decom / restoration / illumination: per-network sources (any form
        `checkpoints.load_network_weights` takes); they override `path`. restoration="none": no
        Restoration_net at all (`NoRestoration`, R_hat = R).
        log: optional callable taking one line per loaded network.
        """
        overrides = {
            models.DECOM_SCOPE: decom,
            models.RESTORATION_SCOPE: restoration,
            models.ILLUMINATION_SCOPE: illumination,
        }
        nets, sources, problems = {}, {}, []
        if isinstance(restoration, str) and restoration.lower() == NO_RESTORATION:
            nets[models.RESTORATION_SCOPE], sources[models.RESTORATION_SCOPE] = NoRestoration(), NO_RESTORATION
            del overrides[models.RESTORATION_SCOPE]
            if log:
                log(f"no {models.RESTORATION_SCOPE}: the decomposed R is used as it is (restoration=none)")
        for scope, source in overrides.items():
            if source is None and path is not None:
                if not os.path.isdir(path):
                    raise errors.CheckpointNotFound(f"{path}: checkpoint folder does not exist")
                source = checkpoints.find_network_source(path, scope)
            if source is None:
                where = (
                    f"{checkpoints.weights_file(path, scope)} or "
                    f"{os.path.join(path, checkpoints.TF1_SUBDIR[scope])}/"
                    if path
                    else "no path given"
                )
                problems.append(f"{scope}: no weights found ({where})")
                continue
            net = models.build_network(scope)
            loaded = checkpoints.load_network_weights(net, source)
            if log:
                log(f"loaded {scope} from {loaded}")
            nets[scope], sources[scope] = net, loaded
        if problems:
            raise errors.CheckpointNotFound("cannot build KinD: " + "; ".join(problems))
        kind = cls(nets[models.DECOM_SCOPE], nets[models.RESTORATION_SCOPE], nets[models.ILLUMINATION_SCOPE])
        kind.sources = sources
        return kind

    def _restore_and_adjust(self, r, i, ratio):
        r_hat = self.restoration(r, i, training=False)
        i_hat = self.illumination(i, tf.ones_like(i) * ratio, training=False)
        return r_hat, i_hat

    def stages(self, x, ratio, blur_dtype=tf.float64):
        """evaluate.py's chain on stretched `x` `[N, H, W, 3]` at a constant `ratio`; every stage's output.

        blur_dtype: accumulation of the denoise weight's Gaussian (tf.float32 for TFLite, see
        `image_ops.gaussian_blur_nearest`). Returns a dict of float32 tensors in [0, 1].
        """
        r, i = self.decom(x, training=False)
        r_hat, i_hat = self._restore_and_adjust(r, i, ratio)
        # expand_dims, not [..., None]: TFLite has no strided slice with a new axis.
        weight = tf.expand_dims(image_ops.denoise_weight(r, accumulate=blur_dtype), -1)
        out = image_ops.fuse_with_input(x, i, r_hat, weight, i_hat)
        return {"R": r, "I": i, "restored_R": r_hat, "adjusted_I": i_hat, "denoise_weight": weight, "output": out}

    def _enhance_ratio_impl(self, x, ratio):
        return self.stages(x, ratio)

    def _enhance_high_impl(self, x, high):
        _, i_high = self.decom(high, training=False)
        r, i = self.decom(x, training=False)
        # evaluate_LOLdataset.py: ratio = mean(I_high / (I_low + 1e-4)), one per image.
        ratio = tf.reduce_mean(i_high / (i + 0.0001), axis=[1, 2, 3], keepdims=True)
        r_hat, i_hat = self._restore_and_adjust(r, i, ratio)
        return {"R": r, "I": i, "restored_R": r_hat, "adjusted_I": i_hat, "ratio": ratio[:, 0, 0, 0],
                "output": r_hat * i_hat}

    def _fuse_tile_impl(self, x, r, i, weight, ratio):
        r_hat, i_hat = self._restore_and_adjust(r, i, ratio)
        return {"restored_R": r_hat, "adjusted_I": i_hat,
                "output": image_ops.fuse_with_input(x, i, r_hat, weight, i_hat)}

    def _product_tile_impl(self, r, i, ratio):
        r_hat, i_hat = self._restore_and_adjust(r, i, ratio)
        return {"restored_R": r_hat, "adjusted_I": i_hat, "output": r_hat * i_hat}

    def enhance(self, x, ratio=5.0, high=None, return_all=False, tile=None, progress=None):
        """Enhance low-light images.

        x: float32 `[N, H, W, 3]` in [0, 1] (as `image_io.load_image` gives: already min-max
        stretched over the whole image), any H, W >= 1.
        Without `high`: evaluate.py semantics, a constant ratio map (`ratio`, usually 0..5), the
        denoise weight on the decomposed reflectance, then fusion with the input.
        With `high` (`[N, H, W, 3]`, the normal-light images): evaluate_LOLdataset.py semantics,
        ratio = mean(I_high / (I_low + 1e-4)) per image and output `R_hat * L_hat`.
        tile: None (the whole image at once), "auto" (tiles of `tiling.AUTO_TILE` px above
        `tiling.AUTO_MAX_PIXELS`) or a multiple of 16: the networks then run on tiles of that size
        plus margins wider than their receptive fields, so every output equals the whole-image one
        (within 1e-5) while memory follows the tile, not the image. progress(done, total) is called
        after each tile.
        Returns the output `[N, H, W, 3]` in [0, 1], or with `return_all` a dict of every stage.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        tile = tiling.resolve_tile(tile, x.shape[1], x.shape[2])
        if tile is not None:
            high = None if high is None else tf.convert_to_tensor(high, tf.float32)
            return self._enhance_tiled(x.numpy(), ratio, high, tile, return_all, progress)
        if high is None:
            result = self._enhance_ratio(x, tf.constant(ratio, tf.float32))
        else:
            result = self._enhance_high(x, tf.convert_to_tensor(high, tf.float32))
        return result if return_all else result["output"]

    def _enhance_tiled(self, x, ratio, high, tile, return_all, progress):
        # Two passes. DecomNet runs tile by tile into whole-image R and I; what needs the whole
        # image is then computed on it as the untiled chain does (the denoise weight's Gaussian,
        # the ratio's mean); then Restoration_net and Illumination_adjust_net run tile by tile.
        n, h, w = x.shape[:3]
        decom_margin = tiling.aligned_margin(self.decom.receptive_margin)
        second_margin = tiling.aligned_margin(max(self.restoration.receptive_margin,
                                                  self.illumination.receptive_margin))
        per_pass = tiling.count_tiles(h, w, tile)
        total, done = per_pass * (2 if high is None else 3), [0]

        def tick():
            done[0] += 1
            if progress:
                progress(done[0], total)

        first = tiling.map_tiles(self._decom_tile, [x], tile, decom_margin, progress=tick)
        r, i = first["R"], first["I"]
        keep = None if return_all else ("output",)
        if high is None:
            weight = tf.expand_dims(image_ops.denoise_weight(r), -1).numpy()
            ratio = tf.fill([n, 1, 1, 1], tf.constant(ratio, tf.float32))
            second = tiling.map_tiles(lambda *t: self._fuse_tile(*t, ratio), [x, r, i, weight], tile,
                                      second_margin, keep=keep, progress=tick)
            extra = {"denoise_weight": weight}
        else:
            i_high = tiling.map_tiles(self._decom_tile, [high], tile, decom_margin, keep=("I",), progress=tick)["I"]
            # The untiled chain's reduction, on the same whole-image tensors.
            ratio = tf.reduce_mean(i_high / (i + 0.0001), axis=[1, 2, 3], keepdims=True)
            del i_high
            second = tiling.map_tiles(lambda *t: self._product_tile(*t, ratio), [r, i], tile, second_margin,
                                      keep=keep, progress=tick)
            extra = {"ratio": ratio[:, 0, 0, 0]}
        if not return_all:
            return tf.convert_to_tensor(second["output"])
        result = {"R": r, "I": i, **second, **extra}
        return {k: tf.convert_to_tensor(v) for k, v in result.items()}
