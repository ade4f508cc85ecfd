"""Network structure: names, shapes and parameter counts equal the TF1 checkpoints; any image size."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from kind_tf2 import checkpoints, models


@pytest.mark.parametrize("scope", list(models.NETWORKS))
def test_weight_names_and_shapes_equal_tf1_checkpoint(ref, scope):
    prefix = checkpoints.resolve_prefix(os.path.join(ref, "checkpoints", checkpoints.TF1_SUBDIR[scope]))
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    net = models.build_network(scope)
    ours = {k: list(v.shape) for k, v in models.tf1_variable_map(net).items()}
    assert ours == {k: list(v) for k, v in shapes.items()}
    assert net.count_params() == sum(int(np.prod(s)) for s in shapes.values())


def test_layer_names_are_tf1_scopes():
    names = {layer.name for layer in models.build_network("Restoration_net").layers}
    assert {"de_conv1_1", "de_conv5_2", "up_6", "up_9", "de_conv10"} <= names
    names = {layer.name for layer in models.build_network("DecomNet").layers}
    assert {"g_conv1_1", "g_up_1", "g_up_2", "l_conv1_2", "l_conv1_4", "g_conv10"} <= names
    names = {layer.name for layer in models.build_network("Illumination_adjust_net").layers}
    assert {"en_conv_1", "en_conv_4"} <= names


@pytest.mark.parametrize("cls", [models.DecomNet, models.RestorationNet, models.IlluminationAdjustNet])
def test_get_config_round_trip(cls):
    net = cls()
    clone = cls.from_config(net.get_config())
    assert clone.name == net.tf1_scope and type(clone) is cls
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(net))
    assert type(restored) is cls


def test_fresh_weights_follow_slim_initialisers():
    net = models.build_network("DecomNet")
    conv = net.get_layer("g_conv3_1")
    assert np.all(conv.bias.numpy() == 0)
    limit = np.sqrt(6.0 / (9 * 64 + 9 * 128))  # Glorot uniform on a 3x3x64x128 kernel
    kernel = conv.kernel.numpy()
    # float32 samples may round a hair past the float64 limit
    assert np.abs(kernel).max() <= limit * (1 + 1e-6) and np.abs(kernel).max() > 0.9 * limit


@pytest.mark.parametrize("h,w", [(1, 1), (2, 2), (5, 3), (7, 13), (77, 101)])
def test_any_size_and_odd_sizes(h, w):
    x = tf.random.stateless_uniform([2, h, w, 3], seed=[h, w])
    r, i = models.build_network("DecomNet")(x)
    assert r.shape == (2, h, w, 3) and i.shape == (2, h, w, 1)
    out = models.build_network("Restoration_net")(r, i)
    assert out.shape == (2, h, w, 3)
    adj = models.build_network("Illumination_adjust_net")(i, tf.ones_like(i))
    assert adj.shape == (2, h, w, 1)
    assert float(tf.reduce_min(out)) > 0 and float(tf.reduce_max(out)) < 1


def test_lrelu_is_max_of_0p2x_and_x():
    x = tf.constant([-2.0, -0.5, 0.0, 0.3, 4.0])
    np.testing.assert_array_equal(models.lrelu(x).numpy(), np.float32([-2.0 * 0.2, -0.5 * 0.2, 0.0, 0.3, 4.0]))
