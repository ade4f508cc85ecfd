"""Training steps against the original's: Adam (TF1 semantics) on the reference batches, and replicas."""

import os

import keras
import numpy as np
import tensorflow as tf

from kind_tf2 import checkpoints, models
from kind_tf2.training import engine, stages


def _trainer(ref, stage, strategy=None):
    cfg = engine.TrainConfig(batch_size=4, learning_rate=1e-4)
    trainer = engine.Trainer(stage, cfg, strategy)
    path = os.path.join(ref, "checkpoints", checkpoints.TF1_SUBDIR[stage.scope])
    checkpoints.load_network_weights(trainer.model, path)
    return trainer


def _weights(trainer):
    return checkpoints.network_tensors(trainer.model)


# Weights after 3 steps: the decomposition loss's gradient is discontinuous (L1 signs, the argmax
# of gradient()'s normalisation), and Adam turns a flipped sign on a weight with a tiny gradient
# into a step of about lr. The reference was made on an AVX-512 machine; on an AVX2 one (CI's AMD
# EPYC, oneDNN on) the *original code itself* lands 2.8e-5 from it after step 3 (0 run to run,
# 2.9e-7 after step 1). 1e-6 holds only on the reference's own hardware (measured 4.1e-8 there).
STEP_TOLERANCE = {1: 1e-6, 3: 5e-5}


def _check_steps(trainer, batch, d):
    """Three Adam steps on the reference batch: step losses within 1e-5 relative, weights after
    step 1 within 1e-6 absolute and after step 3 within `STEP_TOLERANCE[3]`."""
    for k in (1, 2, 3):
        parts = trainer.train_step(batch)
        total = float(list(parts.values())[-1])
        want = float(d[f"step_loss/{k}"])
        assert abs(total - want) <= 1e-5 * abs(want), f"step_loss/{k}: {total} vs {want}"
        if k in (1, 3):
            for name, value in _weights(trainer).items():
                err = float(np.abs(value - d[f"after_step{k}/{name}"]).max())
                assert err <= STEP_TOLERANCE[k], f"after_step{k}/{name}: max abs diff {err}"


def test_decomposition_adam_steps(ref, ref_npz):
    d = ref_npz("losses_decomposition.npz")
    trainer = _trainer(ref, stages.Decomposition())
    for name, value in _weights(trainer).items():
        np.testing.assert_array_equal(value, d[f"init/{name}"])
    _check_steps(trainer, {"low": d["input_low"], "high": d["input_high"]}, d)


def test_illumination_adam_steps(ref, ref_npz):
    d = ref_npz("losses_illumination.npz")
    trainer = _trainer(ref, stages.Illumination())
    batch = {"input_i": d["input_low_i"], "ratio": d["input_low_i_ratio"], "target_i": d["input_high_i"]}
    _check_steps(trainer, batch, d)


def test_restoration_two_adam_steps(ref, ref_npz):
    d = ref_npz("losses_restoration.npz")
    trainer = _trainer(ref, stages.Restoration())
    before = _weights(trainer)
    batch = {"low_r": d["input_low_r"], "low_i": d["input_low_i"], "high_r": d["input_high_r"]}
    for k in (1, 2):
        parts = trainer.train_step(batch)
        want = float(d[f"step_loss/{k}"])
        assert abs(float(parts["loss_restoration"]) - want) <= 1e-5 * want
    for name, value in _weights(trainer).items():
        got = float(np.linalg.norm((value - before[name]).ravel()))
        want = float(d[f"delta_norm_after2/{name}"])
        # The bar is 1e-4 relative; measured worst 1.5e-6 (de_conv8_1/biases).
        assert abs(got - want) <= 1e-4 * want, f"{name}: {got} vs {want}"
    out = trainer.model(d["input_low_r"], d["input_low_i"])
    from kind_tf2 import losses

    total, _ = losses.restoration_loss(out, d["input_high_r"])
    assert abs(float(total) - float(d["loss_after2"])) <= 1e-5 * float(d["loss_after2"])


def test_optimizer_is_tf1_adam():
    opt = engine.make_optimizer(1e-4)
    assert (opt.beta_1, opt.beta_2, opt.epsilon) == (0.9, 0.999, 1e-8)


def test_tf1_adam_matches_the_formula_and_keeps_float32_powers():
    # TF1 AdamOptimizer, written out in float64 from its documented update (lr_t = lr *
    # sqrt(1 - b2^t) / (1 - b1^t); m, v moving averages; var -= lr_t * m / (sqrt(v) + eps)),
    # with b^t the float32 running product TF1 keeps in beta1_power / beta2_power.
    rng = np.random.default_rng(3)
    w0 = rng.normal(size=(5,)).astype(np.float32)
    grads = [rng.normal(size=(5,)).astype(np.float32) * s for s in (1.0, 1e-3, 10.0)]
    var = keras.Variable(w0)
    opt = engine.make_optimizer(1e-2)
    w, m, v = w0.astype(np.float64), 0.0, 0.0
    p1, p2 = np.float32(0.9), np.float32(0.999)
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
        lr_t = 1e-2 * np.sqrt(1 - float(p2)) / (1 - float(p1))
        m = m + (g - m) * (1 - float(np.float32(0.9)))
        v = v + (g.astype(np.float64) ** 2 - v) * (1 - float(np.float32(0.999)))
        w = w - lr_t * m / (np.sqrt(v) + 1e-8)
        p1, p2 = np.float32(p1 * np.float32(0.9)), np.float32(p2 * np.float32(0.999))
    np.testing.assert_allclose(var.numpy(), w, rtol=0, atol=1e-6)
    assert float(opt._beta_1_power.numpy()) == float(p1) and float(opt._beta_2_power.numpy()) == float(p2)


def test_two_replicas_equal_one_device(ref, ref_npz, two_cpu_strategy):
    # Same global batch of 4: one device, then 2 logical CPUs with 2 images each. The gradient()
    # normalisation inside the loss must use extrema of the global batch for the results to agree.
    d = ref_npz("losses_decomposition.npz")
    low, high = d["input_low"].copy(), d["input_high"].copy()
    high[2:] *= 0.5  # make the halves differ in their gradient extrema
    single = _trainer(ref, stages.Decomposition())
    mirrored = _trainer(ref, stages.Decomposition(), two_cpu_strategy)
    batch = {"low": low, "high": high}
    dist = two_cpu_strategy.experimental_distribute_values_from_function(
        lambda ctx: {k: v[2 * ctx.replica_id_in_sync_group : 2 * ctx.replica_id_in_sync_group + 2]
                     for k, v in batch.items()}
    )
    for _ in range(2):
        a = single.train_step(batch)
        b = mirrored.train_step(dist)
        for k in a:
            assert abs(float(a[k]) - float(b[k])) <= 1e-6 * max(1.0, abs(float(a[k]))), k
    wa, wb = _weights(single), _weights(mirrored)
    for name in wa:
        assert float(np.abs(wa[name] - wb[name]).max()) <= 1e-6, name
    # A replica that saw only its half would normalise differently: check the test can fail.
    assert not np.allclose(
        models.tf1_variable_map(single.model)["DecomNet/g_conv1_1/weights"].numpy(), d["init/DecomNet/g_conv1_1/weights"]
    )


def test_mixed_precision_computes_in_reduced_precision_and_drifts_little(ref, ref_npz):
    """bf16 / fp16 compute, float32 variables and outputs; the first step's loss near the original's.

    Not parity: bf16 keeps 8 bits of mantissa, and on the reference's trained weights the
    decomposition loss (0.092) is mostly small residuals, which that rounding moves by 5.8 % (bf16);
    from scratch, 40 steps end 0.1 % apart. The bound is 10 %.
    """
    d = ref_npz("losses_decomposition.npz")
    batch = {"low": d["input_low"], "high": d["input_high"]}
    for mode, compute in (("bf16", "bfloat16"), ("fp16", "float16")):
        cfg = engine.TrainConfig(batch_size=4, learning_rate=1e-4, mixed_precision=mode)
        trainer = engine.Trainer(stages.Decomposition(), cfg)
        assert keras.mixed_precision.dtype_policy().name == "float32"  # only this network changed
        checkpoints.load_network_weights(trainer.model, os.path.join(ref, "checkpoints", "decom_net_train"))
        assert trainer.model.compute_dtype == compute
        assert all(v.dtype == "float32" for v in trainer.model.trainable_variables)
        r, i = trainer.model(d["input_low"])
        assert r.dtype == tf.float32 and i.dtype == tf.float32
        total = float(trainer.train_step(batch)["loss_Decom"])
        want = float(d["step_loss/1"])
        assert abs(total - want) <= 1e-1 * want, f"{mode}: {total} vs {want}"
        assert int(trainer.step.numpy()) == 1
        for name, value in _weights(trainer).items():
            assert np.isfinite(value).all(), name
