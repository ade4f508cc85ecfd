"""Train KinD's illumination stage: `python train_illumination.py --data_dir=./LOLdataset` (see --help)."""

from absl import app

from kind_tf2 import process

process.import_tensorflow()  # first: no collections while importing, optional modules left out

from kind_tf2.training import engine, stages  # noqa: E402

STAGE = stages.Illumination()


def main(argv):
    return engine.main(STAGE, argv)


if __name__ == "__main__":
    engine.define_flags(STAGE)
    app.run(main)
