"""The three KinD networks as Keras 3 models whose layer names are the TF1 variable scopes."""

import keras
import tensorflow as tf

from kind_tf2.registry import Registry

# TF1 scope of each network; checkpoint variables are `<scope>/<layer>/{weights,biases}`.
DECOM_SCOPE = "DecomNet"
RESTORATION_SCOPE = "Restoration_net"
ILLUMINATION_SCOPE = "Illumination_adjust_net"


@keras.saving.register_keras_serializable(package="kind_tf2")
def lrelu(x):
    """The original's leaky ReLU, `max(0.2 x, x)` (not `tf.nn.leaky_relu`, to keep op-level parity)."""
    return tf.maximum(x * 0.2, x)


def _conv(filters, kernel, name, activation=lrelu):
    # slim.conv2d defaults: SAME padding, Glorot-uniform kernel, zero bias.
    return keras.layers.Conv2D(
        filters,
        kernel,
        padding="same",
        activation=activation,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )


def _pool():
    return keras.layers.MaxPooling2D(pool_size=2, strides=2, padding="same")


@keras.saving.register_keras_serializable(package="kind_tf2")
class UpsampleConcat(keras.layers.Layer):
    """2x2 stride-2 transposed convolution sized like the skip tensor, then concat with it.

    Mirrors the original `upsample_and_concat`: the output size is `shape(skip)`, so odd sizes
    round-trip through the SAME max-pools (a `Conv2DTranspose(padding='same')` would give 2x).
    Kernel `[2, 2, out_channels, in_channels]` with no bias, named `weights` in TF1.

    Inputs: x `[N, h, w, in_channels]`, skip `[N, H, W, out_channels]` with h = ceil(H / 2).
    Output: `[N, H, W, 2 * out_channels]`.
    """

    def __init__(self, out_channels, in_channels, **kwargs):
        super().__init__(**kwargs)
        self.out_channels = out_channels
        self.in_channels = in_channels

    def build(self, input_shape=None):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(2, 2, self.out_channels, self.in_channels),
            initializer="glorot_uniform",  # tf.get_variable's default in the original
        )

    def call(self, x, skip):
        out_shape = tf.shape(skip)
        deconv = tf.nn.conv2d_transpose(
            x, self.kernel, out_shape, strides=[1, 2, 2, 1], padding="SAME"
        )
        return tf.concat([deconv, skip], axis=3)

    def get_config(self):
        config = super().get_config()
        config.update(out_channels=self.out_channels, in_channels=self.in_channels)
        return config


class _KinDNet(keras.Model):
    """Shared plumbing: TF1 scope name, explicit build, and a config with no arguments."""

    tf1_scope = None
    # How far (px) the inputs of a GRID-aligned 16x16 block of outputs reach beyond it: measured with
    # `tiling.measure_receptive_margin` (tests/test_tiling.py measures it again, on the reference
    # weights and on random ones, and checks it against the architecture's interval arithmetic).
    receptive_margin = None

    def __init__(self, name=None, **kwargs):
        super().__init__(name=name or self.tf1_scope, **kwargs)

    def build(self, input_shape=None):
        for layer, channels in self._build_plan():
            if not layer.built:
                layer.build((None, None, None, channels))
        self.built = True

    def _build_plan(self):
        raise NotImplementedError

    def _outputs(self, *tensors):
        """The outputs in float32 whatever the compute dtype (a mixed-precision policy computes in
        bf16/fp16; losses, metrics and saved images stay float32). Under float32: no op added."""
        if self.compute_dtype != "float32":
            tensors = tuple(tf.cast(t, tf.float32) for t in tensors)
        return tensors if len(tensors) > 1 else tensors[0]

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable}


@keras.saving.register_keras_serializable(package="kind_tf2")
class DecomNet(_KinDNet):
    """Layer decomposition net (`DecomNet_simple`).

    Input: image `[N, H, W, 3]` in [0, 1] (after the per-image min-max stretch), any H, W >= 1.
    Output: `(R, I)`: reflectance `[N, H, W, 3]` and illumination `[N, H, W, 1]`, both in (0, 1).
    """

    tf1_scope = DECOM_SCOPE
    receptive_margin = 11

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.g_conv1_1 = _conv(32, 3, "g_conv1_1")
        self.g_conv2_1 = _conv(64, 3, "g_conv2_1")
        self.g_conv3_1 = _conv(128, 3, "g_conv3_1")
        self.g_up_1 = UpsampleConcat(64, 128, name="g_up_1")
        self.g_conv8_1 = _conv(64, 3, "g_conv8_1")
        self.g_up_2 = UpsampleConcat(32, 64, name="g_up_2")
        self.g_conv9_1 = _conv(32, 3, "g_conv9_1")
        # 1x1 final convolutions, as the released code (the paper says 3x3).
        self.g_conv10 = _conv(3, 1, "g_conv10", activation=None)
        self.l_conv1_2 = _conv(32, 3, "l_conv1_2")
        self.l_conv1_4 = _conv(1, 1, "l_conv1_4", activation=None)
        self.pool = _pool()

    def _build_plan(self):
        return [
            (self.g_conv1_1, 3), (self.g_conv2_1, 32), (self.g_conv3_1, 64), (self.g_up_1, 128),
            (self.g_conv8_1, 128), (self.g_up_2, 64), (self.g_conv9_1, 64), (self.g_conv10, 32),
            (self.l_conv1_2, 32), (self.l_conv1_4, 64),
        ]

    def call(self, x):
        conv1 = self.g_conv1_1(x)
        conv2 = self.g_conv2_1(self.pool(conv1))
        conv3 = self.g_conv3_1(self.pool(conv2))
        conv8 = self.g_conv8_1(self.g_up_1(conv3, conv2))
        conv9 = self.g_conv9_1(self.g_up_2(conv8, conv1))
        r = tf.sigmoid(self.g_conv10(conv9))
        l_conv2 = self.l_conv1_2(conv1)
        i = tf.sigmoid(self.l_conv1_4(tf.concat([l_conv2, conv9], axis=3)))
        return self._outputs(r, i)


@keras.saving.register_keras_serializable(package="kind_tf2")
class RestorationNet(_KinDNet):
    """Reflectance restoration U-Net (`Restoration_net`).

    Inputs: R `[N, H, W, 3]` and I `[N, H, W, 1]` from DecomNet, any H, W >= 1.
    Output: restored reflectance `[N, H, W, 3]` in (0, 1).
    """

    tf1_scope = RESTORATION_SCOPE
    receptive_margin = 94
    _ENCODER = [(1, 32), (2, 64), (3, 128), (4, 256), (5, 512)]
    _DECODER = [(6, 256), (7, 128), (8, 64), (9, 32)]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        for level, ch in self._ENCODER + self._DECODER:
            setattr(self, f"de_conv{level}_1", _conv(ch, 3, f"de_conv{level}_1"))
            setattr(self, f"de_conv{level}_2", _conv(ch, 3, f"de_conv{level}_2"))
        for level, ch in self._DECODER:
            setattr(self, f"up_{level}", UpsampleConcat(ch, 2 * ch, name=f"up_{level}"))
        self.de_conv10 = _conv(3, 3, "de_conv10", activation=None)
        self.pool = _pool()

    def _build_plan(self):
        plan, prev = [], 4
        for level, ch in self._ENCODER:
            plan += [(getattr(self, f"de_conv{level}_1"), prev), (getattr(self, f"de_conv{level}_2"), ch)]
            prev = ch
        for level, ch in self._DECODER:
            plan += [
                (getattr(self, f"up_{level}"), 2 * ch),
                (getattr(self, f"de_conv{level}_1"), 2 * ch),
                (getattr(self, f"de_conv{level}_2"), ch),
            ]
        return plan + [(self.de_conv10, 32)]

    def call(self, r, i):
        x = tf.concat([r, i], axis=3)
        skips = []
        for level, _ in self._ENCODER:
            if level > 1:
                x = self.pool(x)
            x = getattr(self, f"de_conv{level}_2")(getattr(self, f"de_conv{level}_1")(x))
            skips.append(x)
        skips.pop()  # the bottleneck is not a skip
        for level, _ in self._DECODER:
            x = getattr(self, f"up_{level}")(x, skips.pop())
            x = getattr(self, f"de_conv{level}_2")(getattr(self, f"de_conv{level}_1")(x))
        return self._outputs(tf.sigmoid(self.de_conv10(x)))


@keras.saving.register_keras_serializable(package="kind_tf2")
class IlluminationAdjustNet(_KinDNet):
    """Illumination adjustment net (`Illumination_adjust_net`).

    Inputs: I `[N, H, W, 1]` in (0, 1) and a ratio map `[N, H, W, 1]` (any positive value).
    Output: adjusted illumination `[N, H, W, 1]` in [0.5, 1): the last conv has lrelu *then* sigmoid.
    """

    tf1_scope = ILLUMINATION_SCOPE
    receptive_margin = 4

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.en_conv_1 = _conv(32, 3, "en_conv_1")
        self.en_conv_2 = _conv(32, 3, "en_conv_2")
        self.en_conv_3 = _conv(32, 3, "en_conv_3")
        self.en_conv_4 = _conv(1, 3, "en_conv_4")  # lrelu here, as the original

    def _build_plan(self):
        return [(self.en_conv_1, 2), (self.en_conv_2, 32), (self.en_conv_3, 32), (self.en_conv_4, 32)]

    def call(self, i, ratio):
        x = tf.concat([i, ratio], axis=3)
        x = self.en_conv_4(self.en_conv_3(self.en_conv_2(self.en_conv_1(x))))
        return self._outputs(tf.sigmoid(x))


# The networks by their TF1 scope (the registry's name is the original's variable scope).
NETWORKS = Registry("network", field="scope")
for _cls in (DecomNet, RestorationNet, IlluminationAdjustNet):
    NETWORKS.add(_cls.tf1_scope, _cls)


def build_network(scope):
    """A built (weights created) network for a TF1 scope name."""
    model = NETWORKS[scope]()
    model.build()
    return model


def tf1_variable_map(model):
    """`{TF1 variable name: Keras variable}` for a built network.

    `<scope>/<layer>/weights` is a layer's kernel and `<scope>/<layer>/biases` its bias.
    """
    mapping = {}
    for layer in model.layers:
        for var in layer.weights:
            leaf = {"kernel": "weights", "bias": "biases"}[var.name]
            mapping[f"{model.tf1_scope}/{layer.name}/{leaf}"] = var
    return mapping
