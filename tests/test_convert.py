"""The TF1 <-> TF2 converter: bit-exact round trip, strict refusal, restore by a compat.v1 Saver."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO

from kind_tf2 import checkpoints, convert, models


def _quiet(*_):
    pass


def test_round_trip_tf1_tf2_tf1_is_bit_exact(ref, tmp_path):
    src = os.path.join(ref, "checkpoints")
    written = convert.tf1_to_tf2(src, str(tmp_path / "tf2"), log=_quiet)
    assert sorted(os.path.basename(p) for p in written) == sorted(
        ["decom.weights.h5", "restoration.weights.h5", "illumination.weights.h5"]
    )
    prefixes = convert.tf2_to_tf1(str(tmp_path / "tf2"), str(tmp_path / "tf1"), log=_quiet)
    assert len(prefixes) == 3
    for sub in checkpoints.TF1_SUBDIR.values():
        original = checkpoints.read_tensors(checkpoints.resolve_prefix(os.path.join(src, sub)))
        back = checkpoints.read_tensors(checkpoints.resolve_prefix(str(tmp_path / "tf1" / sub)))
        assert sorted(back) == sorted(original)
        for name, value in original.items():
            assert back[name].dtype == value.dtype and back[name].tobytes() == value.tobytes(), name


def _write_modified(ref, tmp_path, edit):
    tensors = checkpoints.read_tensors(
        checkpoints.resolve_prefix(os.path.join(ref, "checkpoints", "illumination_adjust_net_train"))
    )
    edit(tensors)
    return checkpoints.write_tf1(str(tmp_path / "bad"), tensors)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda t: t.pop("Illumination_adjust_net/en_conv_2/biases"), "missing: Illumination_adjust_net/en_conv_2/biases"),
        (lambda t: t.update({"Illumination_adjust_net/en_conv_9/weights": np.zeros((1,), np.float32)}),
         "unused: Illumination_adjust_net/en_conv_9/weights"),
        (lambda t: t.update({"Illumination_adjust_net/en_conv_1/weights": np.zeros((3, 3, 3, 32), np.float32)}),
         "mis-shaped: Illumination_adjust_net/en_conv_1/weights"),
        (lambda t: t.update({"beta1_power": np.float32(0.9)}), "beta1_power"),
    ],
)
def test_mismatched_checkpoint_is_refused(ref, tmp_path, edit, message):
    bad = _write_modified(ref, tmp_path, edit)
    with pytest.raises(checkpoints.CheckpointMismatchError, match=message):
        convert.tf1_to_tf2(bad, str(tmp_path / "out"), log=_quiet)
    assert not (tmp_path / "out" / "illumination.weights.h5").exists()
    net = models.build_network("Illumination_adjust_net")
    if "beta1_power" not in message:
        with pytest.raises(checkpoints.CheckpointMismatchError, match="Illumination_adjust_net"):
            checkpoints.load_network_weights(net, bad)


def test_to_tf1_restores_in_a_compat_v1_graph_with_a_saver(ref, tmp_path):
    convert.tf1_to_tf2(os.path.join(ref, "checkpoints", "decom_net_train"), str(tmp_path / "tf2"), log=_quiet)
    prefix, = convert.tf2_to_tf1(str(tmp_path / "tf2" / "decom.weights.h5"), str(tmp_path / "tf1"), log=_quiet)
    net = models.build_network("DecomNet")
    net.load_weights(str(tmp_path / "tf2" / "decom.weights.h5"))
    expected = checkpoints.network_tensors(net)
    graph = tf.Graph()
    with graph.as_default():
        variables = [
            tf.compat.v1.get_variable(name, shape=value.shape, dtype=tf.float32) for name, value in expected.items()
        ]
        saver = tf.compat.v1.train.Saver(var_list=variables)
        with tf.compat.v1.Session(graph=graph) as sess:
            saver.restore(sess, tf.compat.v1.train.latest_checkpoint(str(tmp_path / "tf1" / "decom_net_train")))
            for var, value in zip(variables, sess.run(variables)):
                np.testing.assert_array_equal(value, expected[var.op.name])
    assert prefix.endswith(os.path.join("decom_net_train", "model.ckpt"))


def test_cli_converts_and_fails_with_message(ref, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    ok = subprocess.run(
        [sys.executable, "-m", "kind_tf2", "convert", f"--src={os.path.join(ref, 'checkpoints', 'decom_net_train')}",
         f"--dst={tmp_path / 'out'}"], capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "out" / "decom.weights.h5").is_file()
    bad = subprocess.run(
        [sys.executable, "-m", "kind_tf2", "convert", f"--src={tmp_path / 'nothing'}", f"--dst={tmp_path / 'x'}"],
        capture_output=True, text=True, cwd=REPO, env=env,
    )
    assert bad.returncode != 0 and "nothing" in bad.stderr


def test_tf1_weights_load_bit_exact_and_float64_ones_are_rounded_once(ref, tmp_path):
    # The loader reads each variable with RestoreV2 (no NumPy copy); the values must be the
    # checkpoint's bytes, and a float64 checkpoint (another tool's) must give np.float32(x).
    src = checkpoints.resolve_prefix(os.path.join(ref, "checkpoints", "illumination_adjust_net_train"))
    stored = checkpoints.read_tensors(src)
    net = models.build_network("Illumination_adjust_net")
    checkpoints.load_network_weights(net, src)
    loaded = checkpoints.network_tensors(net)
    assert sorted(loaded) == sorted(k for k in stored if k.startswith("Illumination_adjust_net/"))
    for name, value in loaded.items():
        assert value.tobytes() == stored[name].tobytes(), name
    rng = np.random.default_rng(7)
    wide = {k: rng.normal(size=v.shape) for k, v in loaded.items()}  # float64
    prefix = checkpoints.write_tf1(str(tmp_path / "f64"), wide)
    assert checkpoints.read_tensors(prefix)[next(iter(wide))].dtype == np.float64
    checkpoints.load_network_weights(net, prefix)
    for name, value in checkpoints.network_tensors(net).items():
        assert value.dtype == np.float32
        np.testing.assert_array_equal(value, wide[name].astype(np.float32))
