"""Enhance a folder of low-light images with KinD and, given ground truth, score them: `python evaluate.py --help`, the original's layout; installed, the same is `kind-tf2 evaluate`."""

from kind_tf2.cli import run_command

if __name__ == "__main__":
    run_command("evaluate")
