"""The README's quickstart chain: synthetic data -> three stages -> evaluate with metrics and grid."""

import os
import subprocess
import sys

import pytest

from kind_tf2 import quickstart

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_quickstart_chain_with_a_few_steps(tmp_path):
    lines = []
    few = {"decomposition": {"epochs": 2}, "illumination": {"epochs": 2}, "restoration": {"epochs": 1}}
    status = quickstart.quickstart(str(tmp_path), log=lines.append, schedule=few)
    assert status == 0
    text = "\n".join(lines)
    assert "protocol: gt_ratio" in text and "mean (3 images)" in text and "paper anchor" in text
    results = tmp_path / "results"
    for f in ("13_kindle.png", "14_kindle.png", "15_kindle.png", "metrics.csv", "metrics.json", "comparison_grid.png"):
        assert (results / f).is_file(), f
    for sub in ("decom_net_train", "illumination_adjust_net_train", "Restoration_net_train"):
        assert (tmp_path / "checkpoint" / sub / "tf1" / "checkpoint").is_file()


@pytest.mark.slow
def test_readme_quickstart_command(tmp_path):
    # The README's command exactly, in a fresh folder (about 70 s on 2 cores).
    proc = subprocess.run([sys.executable, "-m", "kind_tf2.quickstart", f"--out={tmp_path}"],
                          capture_output=True, text=True, check=False, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "mean (3 images)" in proc.stdout and "finished in" in proc.stdout
