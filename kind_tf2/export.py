"""Export KinD for serving: `python -m kind_tf2.export --checkpoint_dir=C --out=DIR --format=saved_model,tflite`."""

import os
import sys

import tensorflow as tf

from kind_tf2 import image_ops

_UINT8_IMAGE = tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")
_FLOAT_IMAGE = tf.TensorSpec([1, None, None, 3], tf.float32, name="image")
_RATIO = tf.TensorSpec([], tf.float32, name="ratio")
FORMATS = ("saved_model", "tflite")


class ServingModule(tf.Module):
    """The three networks and evaluate.py's post-processing, as graph functions with fixed signatures.

    `enhance(image, ratio)`: uint8 `[1, H, W, 3]` (any H, W >= 1) and a scalar ratio (usually 0..5) ->
    uint8 `[1, H, W, 3]`: RGB / 255, the per-image min-max stretch, KinD at a constant ratio map, the
    denoise weight, the fusion with the input, then the original's truncation to uint8.
    `enhance_float(image, ratio)`: the same from uint8, returning every stage's float32 output in [0, 1]:
    `input`, `R`, `I`, `restored_R`, `adjusted_I`, `denoise_weight`, `output`.
    `enhance_stretched(image, ratio)`: float32 `[1, H, W, 3]` already stretched -> float32 output (the
    TFLite entry point, which has no uint8 pre-processing of its own).
    """

    def __init__(self, kind, blur_dtype=tf.float64):
        super().__init__()
        # The networks as attributes, so that tf.Module tracks (and saves) their variables.
        self.decom, self.restoration, self.illumination = kind.decom, kind.restoration, kind.illumination
        self._kind = kind
        self._blur_dtype = blur_dtype  # TFLite has no float64 convolution

    def _stages(self, x, ratio):
        return dict(self._kind.stages(x, ratio, blur_dtype=self._blur_dtype), input=x)

    @staticmethod
    def _prepare(image):
        return image_ops.stretch(tf.cast(image, tf.float32) / 255.0)

    @tf.function(input_signature=[_UINT8_IMAGE, _RATIO], autograph=False)
    def enhance(self, image, ratio):
        return {"output": image_ops.to_uint8(self._stages(self._prepare(image), ratio)["output"])}

    @tf.function(input_signature=[_UINT8_IMAGE, _RATIO], autograph=False)
    def enhance_float(self, image, ratio):
        return self._stages(self._prepare(image), ratio)

    @tf.function(input_signature=[_FLOAT_IMAGE, _RATIO], autograph=False)
    def enhance_stretched(self, image, ratio):
        return {"output": self._stages(image, ratio)["output"]}


def export_saved_model(kind, path):
    """Write a SavedModel with the `enhance` and `enhance_float` signatures; returns its folder."""
    module = ServingModule(kind)
    tf.saved_model.save(module, path, signatures={
        "enhance": module.enhance.get_concrete_function(),
        "enhance_float": module.enhance_float.get_concrete_function(),
        "enhance_stretched": module.enhance_stretched.get_concrete_function(),
    })
    return path


def export_tflite(kind, path):
    """Write a float32 TFLite model of `enhance_stretched` with dynamic H and W; returns the file.

    Inputs `image` float32 `[1, H, W, 3]` (stretched, see `ServingModule`) and `ratio` float32 `[]`;
    output float32 `[1, H, W, 3]`. The denoise weight's blur accumulates in float32 (TFLite has no
    float64 convolution), which moves saved pixels by at most 1/255.
    """
    # The converter leaves Keras 3 variables out of the flatbuffer when it reads them from a
    # SavedModel or a tracked function (a 66 KB model of NaNs); freezing them first keeps them.
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    module = ServingModule(kind, blur_dtype=tf.float32)
    frozen = convert_variables_to_constants_v2(module.enhance_stretched.get_concrete_function())
    data = tf.lite.TFLiteConverter.from_concrete_functions([frozen]).convert()

    def write(tmp_path):
        with open(tmp_path, "wb") as f:
            f.write(data)

    image_ops.atomic_write(path, write)
    return path


def main(argv):
    from absl import flags, logging

    from kind_tf2.pipeline import KinD

    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)
    formats = [f.strip() for f in F.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        print(f"error: --format={F.format}: expected a comma list of {', '.join(FORMATS)}", file=sys.stderr)
        return 1
    try:
        kind = KinD.from_checkpoint(F.checkpoint_dir, decom=F.decom_checkpoint, restoration=F.restoration_checkpoint,
                                    illumination=F.illumination_checkpoint, log=print)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    os.makedirs(F.out, exist_ok=True)
    if "saved_model" in formats:
        path = export_saved_model(kind, os.path.join(F.out, "saved_model"))
        print(f"SavedModel (signatures enhance, enhance_float, enhance_stretched) written to {path}")
    if "tflite" in formats:
        path = export_tflite(kind, os.path.join(F.out, "kind.tflite"))
        print(f"TFLite model ({os.path.getsize(path) / 2**20:.1f} MiB, float32, dynamic H and W) written to {path}")
    return 0


if __name__ == "__main__":
    from absl import app, flags

    from kind_tf2.evaluation import define_network_flags

    define_network_flags()
    flags.DEFINE_string("out", "./export", "Output folder: saved_model/ and kind.tflite.")
    flags.DEFINE_string("format", "saved_model,tflite", f"Comma list of {', '.join(FORMATS)}.")
    app.run(main)
