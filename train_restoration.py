"""Train KinD's restoration stage (Restoration_net): `python train_restoration.py --help`, the original's layout; installed, the same is `kind-tf2 train-restoration`."""

from kind_tf2.cli import run_command

if __name__ == "__main__":
    run_command("train-restoration")
