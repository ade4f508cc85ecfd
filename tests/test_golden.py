"""Golden outputs: record on the reference checkpoints, check passes; one changed weight fails, named."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO

from kind_tf2 import checkpoints, models, testing
from kind_tf2.deploy import golden


def _cli(*args):
    proc = subprocess.run([sys.executable, "-m", "kind_tf2", "golden", *args], capture_output=True, text=True,
                          check=False, cwd=REPO)
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="module")
def recorded(ref, tmp_path_factory):
    """A golden folder of `4.bmp` recorded by the CLI on the reference checkpoints."""
    root = tmp_path_factory.mktemp("golden")
    (root / "in").mkdir()
    shutil.copy(os.path.join(ref, "images", "4.bmp"), root / "in")
    rc, out, err = _cli("record", f"--checkpoint_dir={ref}/checkpoints", f"--input_dir={root / 'in'}",
                        f"--out={root / 'g'}")
    assert rc == 0, err
    return root / "g"


@pytest.fixture(scope="module")
def nudged_checkpoints(ref, tmp_path_factory):
    """The reference checkpoints with one Restoration_net weight changed by 1e-3 (TF1 layout)."""
    root = tmp_path_factory.mktemp("nudged")
    for sub in ("decom_net_train", "illumination_adjust_net_train"):
        shutil.copytree(os.path.join(ref, "checkpoints", sub), root / sub)
    net = models.build_network(models.RESTORATION_SCOPE)
    checkpoints.load_network_weights(net, os.path.join(ref, "checkpoints", "Restoration_net_train"))
    tensors = checkpoints.network_tensors(net)
    name = sorted(k for k in tensors if k.endswith("/weights"))[0]
    tensors[name].flat[0] += 1e-3
    checkpoints.write_tf1(str(root / "Restoration_net_train"), tensors)
    return root


def test_record_matches_the_original_outputs(ref, recorded, ref_npz):
    manifest = json.loads((recorded / "golden.json").read_text())
    assert manifest["atol"] == 1e-5 and manifest["ratio"] == 5.0 and list(manifest["images"]) == ["4.bmp"]
    assert set(manifest["checkpoints"]) == {"DecomNet", "Restoration_net", "Illumination_adjust_net"}
    index = os.path.join(ref, "checkpoints", "Restoration_net_train", "model.ckpt.index")
    assert manifest["checkpoints"]["Restoration_net"]["model.ckpt.index"] == golden.sha256_file(index)
    assert manifest["versions"]["tensorflow"] and (recorded / "inputs" / "4.bmp").is_file()
    # The golden values themselves are the original code's outputs (reference 4.npz, ratio 5).
    want = ref_npz("4.npz")
    with np.load(recorded / "4.bmp.npz") as got:
        for key in golden.OUTPUTS:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, err_msg=key)


def test_check_passes_on_the_same_checkpoints(ref, recorded):
    rc, out, err = _cli("check", f"--checkpoint_dir={ref}/checkpoints", f"--golden={recorded}")
    assert rc == 0, out + err
    assert "golden check passed: 5 outputs of 1 image(s)" in out and "FAIL" not in out


def test_check_fails_naming_the_output_after_one_weight_changes(recorded, nudged_checkpoints):
    rc, out, err = _cli("check", f"--checkpoint_dir={nudged_checkpoints}", f"--golden={recorded}")
    assert rc == 1, out + err
    failed = {line.split()[2].rstrip(":") for line in out.splitlines() if line.startswith("FAIL 4.bmp")}
    # A restoration weight moves restored_R and the fused output; DecomNet and the adjustment do not.
    assert failed == {"restored_R", "output"}, out
    assert "Restoration_net: checkpoint files differ from the recorded ones" in out


def test_assert_matches_golden(kind, recorded, nudged_checkpoints):
    import kind_tf2

    testing.assert_matches_golden(kind, str(recorded))
    nudged = kind_tf2.KinD.from_checkpoint(str(nudged_checkpoints))
    with pytest.raises(AssertionError, match="FAIL 4.bmp restored_R"):
        testing.assert_matches_golden(nudged, str(recorded))


def test_check_without_manifest_names_it(tmp_path):
    rc, _, err = _cli("check", f"--golden={tmp_path}")
    assert rc == 1 and f"--golden={tmp_path}: no golden.json" in err
