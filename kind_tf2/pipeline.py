"""The KinD inference pipeline: load the three networks, decompose, restore, adjust, fuse."""

import os

import tensorflow as tf

from kind_tf2 import checkpoints, image_ops, models

_IMG = tf.TensorSpec([None, None, None, 3], tf.float32)


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

    @classmethod
    def from_checkpoint(cls, path=None, *, decom=None, restoration=None, illumination=None, log=None):
        """Build KinD from checkpoints; fails (never random weights) when any network is missing.

        path: a folder in the original layout (`decom_net_train/`, `illumination_adjust_net_train/`,
        `Restoration_net_train/`, TF1 files or training folders inside) or the port's own
        (`decom.weights.h5`, `restoration.weights.h5`, `illumination.weights.h5`).
        decom / restoration / illumination: per-network sources (any form
        `checkpoints.load_network_weights` takes); they override `path`.
        log: optional callable taking one line per loaded network.
        """
        overrides = {
            models.DECOM_SCOPE: decom,
            models.RESTORATION_SCOPE: restoration,
            models.ILLUMINATION_SCOPE: illumination,
        }
        nets, sources, problems = {}, {}, []
        for scope, source in overrides.items():
            if source is None and path is not None:
                if not os.path.isdir(path):
                    raise FileNotFoundError(f"{path}: checkpoint folder does not exist")
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
            raise FileNotFoundError("cannot build KinD: " + "; ".join(problems))
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

    def enhance(self, x, ratio=5.0, high=None, return_all=False):
        """Enhance low-light images.

        x: float32 `[N, H, W, 3]` in [0, 1] (as `image_ops.load_image` gives), any H, W >= 1.
        Without `high`: evaluate.py semantics, a constant ratio map (`ratio`, usually 0..5), the
        denoise weight on the restored reflectance, then fusion with the input.
        With `high` (`[N, H, W, 3]`, the normal-light images): evaluate_LOLdataset.py semantics,
        ratio = mean(I_high / (I_low + 1e-4)) per image and output `R_hat * L_hat`.
        Returns the output `[N, H, W, 3]` in [0, 1], or with `return_all` a dict of every stage.
        """
        x = tf.convert_to_tensor(x, tf.float32)
        if high is None:
            result = self._enhance_ratio(x, tf.constant(ratio, tf.float32))
        else:
            result = self._enhance_high(x, tf.convert_to_tensor(high, tf.float32))
        return result if return_all else result["output"]
