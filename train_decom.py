"""Train KinD's decomposition stage (DecomNet): `python train_decom.py --help`, the original's layout; installed, the same is `kind-tf2 train-decom`."""

from kind_tf2.cli import run_command

if __name__ == "__main__":
    run_command("train-decom")
