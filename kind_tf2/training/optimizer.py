"""Adam with the arithmetic of TF1's `tf.train.AdamOptimizer`, as a Keras 3 optimizer."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="kind_tf2")
class TF1Adam(keras.optimizers.Adam):
    """Keras Adam whose update is TF1's fused `ApplyAdam` kernel, bit for bit.

    Keras' own Adam is the same formula but rounds differently (`1 - beta` folded in float64,
    `beta ** t` by `pow`, separate ops); after one step weights then differ in the last bit, and
    the decomposition loss turns that into 3e-5 after three steps. Like TF1, the bias-correction
    powers are float32 variables multiplied by beta after every step (`beta1_power`,
    `beta2_power`, checkpointed with the slots). Defaults are TF1's: epsilon 1e-8.
    """

    def __init__(self, learning_rate=1e-4, beta_1=0.9, beta_2=0.999, epsilon=1e-8, name="TF1Adam", **kwargs):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=False, name=name, **kwargs)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._beta_1_power = self.add_variable((), keras.initializers.Constant(self.beta_1), "float32",
                                               name="beta1_power")
        self._beta_2_power = self.add_variable((), keras.initializers.Constant(self.beta_2), "float32",
                                               name="beta2_power")

    def update_step(self, gradient, variable, learning_rate):
        """One variable's update; `variable` is a tf.Variable (one replica's copy under a strategy)."""
        i = self._get_variable_index(variable)
        dtype = variable.dtype
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[i].value.handle,
            v=self._velocities[i].value.handle,
            beta1_power=tf.cast(self._beta_1_power.value, dtype),
            beta2_power=tf.cast(self._beta_2_power.value, dtype),
            lr=tf.cast(learning_rate, dtype),
            beta1=tf.constant(self.beta_1, dtype),
            beta2=tf.constant(self.beta_2, dtype),
            epsilon=tf.constant(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
            use_locking=False,
        )

    def _distributed_tf_update_step(self, distribution, grads_and_vars, learning_rate):
        super()._distributed_tf_update_step(distribution, grads_and_vars, learning_rate)
        # TF1's `_finish`: advance the powers once per step, after every variable has used them.
        for power, beta in ((self._beta_1_power, self.beta_1), (self._beta_2_power, self.beta_2)):
            distribution.extended.update(
                power.value, lambda p, b=beta: p.assign(p * tf.constant(b, tf.float32)), group=False
            )
