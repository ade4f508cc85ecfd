"""Perceptual loss on VGG19 features, the weights read from a local file."""

import os
import re

import tensorflow as tf

from kind_tf2.losses.spec import SpecError
from kind_tf2.losses.terms import register

_VGG_CACHE = {}


def vgg19_features(weights, layer):
    """A frozen VGG19 (ImageNet layout, no top) truncated at `layer`, weights read from a file.

    weights: a Keras VGG19 weights file (e.g. `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`
    or a `.weights.h5`); never downloaded. One model per (file, layer), built on first use.
    """
    if not weights:
        raise SpecError("perceptual needs vgg_weights=FILE (Keras VGG19 ImageNet weights, e.g. "
                        "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5); nothing is downloaded",
                        fields=("vgg_weights",))
    key = (os.path.abspath(weights), layer)
    if key not in _VGG_CACHE:
        import keras

        vgg = keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))
        try:
            vgg.load_weights(weights)
        except Exception as err:  # h5py and Keras raise many types for a wrong file
            raise SpecError(f"vgg_weights={weights}: not VGG19 weights ({err})", fields=("vgg_weights",)) from None
        model = keras.Model(vgg.input, vgg.get_layer(layer).output, name=f"vgg19_{layer}")
        model.trainable = False
        _VGG_CACHE[key] = model
    return _VGG_CACHE[key]


# VGG19's stages: blockK needs 2^(K-1) pixels to have one after its K-1 poolings.
_VGG_LAYER = re.compile(r"^block([1-5])_conv([1-4])$")


def _perceptual_check(params):
    if not _VGG_LAYER.match(str(params["layer"])):
        raise SpecError(f"parameter layer={params['layer']} is not a VGG19 conv layer (block1_conv1 .. block5_conv4)")
    if params["weights"] and not os.path.isfile(params["weights"]):
        raise SpecError(f"vgg_weights={params['weights']}: file does not exist", fields=("vgg_weights",))


def _perceptual_min_size(params):
    m = _VGG_LAYER.match(str(params["layer"]))
    return 2 ** (int(m.group(1)) - 1) if m else 1


@register("perceptual", min_size=_perceptual_min_size, check=_perceptual_check)
def perceptual(pred, target, low=None, layer="block5_conv4", weights=None):
    """Perceptual (feature reconstruction) loss (Johnson et al. 2016; report eq. 8): mean squared
    difference of VGG19 `layer` features of pred and target (caffe preprocessing of x * 255;
    one channel is repeated to RGB)."""
    import keras

    net = vgg19_features(weights, layer)

    def features(x):
        x = tf.tile(x, [1, 1, 1, 3]) if x.shape[-1] == 1 else x
        return net(keras.applications.vgg19.preprocess_input(x * 255.0), training=False)

    return tf.reduce_mean(tf.square(features(pred) - features(target)))
