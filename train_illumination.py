"""Train KinD's illumination-adjustment stage (Illumination_adjust_net): `python train_illumination.py --help`, the original's layout; installed, the same is `kind-tf2 train-illumination`."""

from kind_tf2.cli import run_command

if __name__ == "__main__":
    run_command("train-illumination")
