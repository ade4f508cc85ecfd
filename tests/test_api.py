"""The public Python API: KinD.from_checkpoint and its refusal to run with missing weights."""

import os
import shutil

import numpy as np
import pytest

import kind_tf2
from kind_tf2 import convert, models


def test_attributes_are_the_keras_models(kind):
    assert isinstance(kind.decom, models.DecomNet)
    assert isinstance(kind.restoration, models.RestorationNet)
    assert isinstance(kind.illumination, models.IlluminationAdjustNet)
    x = np.random.default_rng(0).random((1, 9, 7, 3)).astype(np.float32)
    r, i = kind.decom(x)
    assert kind.restoration(r, i).shape == (1, 9, 7, 3)
    assert kind.illumination(i, np.full((1, 9, 7, 1), 2.0, np.float32)).shape == (1, 9, 7, 1)


def test_missing_network_is_an_error_not_random_weights(ref, tmp_path):
    partial = tmp_path / "ckpt"
    for sub in ("decom_net_train", "illumination_adjust_net_train"):
        shutil.copytree(os.path.join(ref, "checkpoints", sub), partial / sub)
    with pytest.raises(FileNotFoundError, match="Restoration_net"):
        kind_tf2.KinD.from_checkpoint(str(partial))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        kind_tf2.KinD.from_checkpoint(str(tmp_path / "nope"))


def test_port_layout_and_overrides_load_the_same_weights(kind, ref, tmp_path):
    convert.tf1_to_tf2(os.path.join(ref, "checkpoints"), str(tmp_path / "port"), log=lambda *_: None)
    own = kind_tf2.KinD.from_checkpoint(str(tmp_path / "port"))
    mixed = kind_tf2.KinD.from_checkpoint(
        str(tmp_path / "port"), restoration=os.path.join(ref, "checkpoints", "Restoration_net_train")
    )
    x = np.random.default_rng(1).random((1, 16, 12, 3)).astype(np.float32)
    want = kind.enhance(x).numpy()
    np.testing.assert_array_equal(own.enhance(x).numpy(), want)
    np.testing.assert_array_equal(mixed.enhance(x).numpy(), want)
