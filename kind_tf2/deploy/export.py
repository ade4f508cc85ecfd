"""Export KinD for serving: `export(kind, out, ["saved_model", "tflite"])` (the `export` command)."""

import os

import tensorflow as tf

from kind_tf2 import errors, files, image_ops
from kind_tf2.registry import Registry

_UINT8_IMAGE = tf.TensorSpec([1, None, None, 3], tf.uint8, name="image")
_FLOAT_IMAGE = tf.TensorSpec([1, None, None, 3], tf.float32, name="image")
_RATIO = tf.TensorSpec([], tf.float32, name="ratio")


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

    files.atomic_write(path, write)
    return path


# Export formats by name: fn(kind, out_folder, log) -> the path written.
FORMATS = Registry("export format", field="format")


@FORMATS.register("saved_model")
def _saved_model(kind, out, log):
    path = export_saved_model(kind, os.path.join(out, "saved_model"))
    log(f"SavedModel (signatures enhance, enhance_float, enhance_stretched) written to {path}")
    return path


@FORMATS.register("tflite")
def _tflite(kind, out, log):
    path = export_tflite(kind, os.path.join(out, "kind.tflite"))
    log(f"TFLite model ({os.path.getsize(path) / 2**20:.1f} MiB, float32, dynamic H and W) written to {path}")
    return path


def parse_formats(value):
    """`format` ("saved_model,tflite") -> [names]; ConfigError naming the field if one is unknown or none given."""
    formats = [f.strip() for f in value.split(",") if f.strip()]
    if not formats or any(f not in FORMATS for f in formats):
        raise errors.ConfigError(f"format={value}: expected a comma list of {', '.join(FORMATS)}", fields=("format",))
    return formats


def export(kind, out, formats, log=print):
    """Write `kind` in each of `formats` (names in FORMATS) under `out`; returns `{format: path}`."""
    os.makedirs(out, exist_ok=True)
    return {name: FORMATS[name](kind, out, log) for name in formats}
