"""Enhance a folder of low-light images with KinD and, given ground truth, score them: `python evaluate.py --help`."""

from absl import app, flags, logging

from kind_tf2 import process

process.import_tensorflow()  # first: no collections while importing, optional modules left out

from kind_tf2 import evaluation  # noqa: E402


def define_flags():
    flags.DEFINE_string("input_dir", None, "Folder of low-light images (.png .jpg .jpeg .bmp .tif .tiff).")
    flags.DEFINE_string("output_dir", "./results/test", "Where <name>_kindle.png, metrics and the grid go.")
    evaluation.define_network_flags()
    flags.DEFINE_float("ratio", 5.0, "Fixed illumination ratio (evaluate.py semantics), usually 0..5.")
    flags.DEFINE_string("high_dir", None, "Ground truth, matched by file name: the ratio comes from its "
                        "decomposition (evaluate_LOLdataset.py) and metrics are written.")
    flags.DEFINE_enum("protocol", "auto", ["auto"] + list(evaluation.PROTOCOLS),
                      "auto: gt_ratio when --high_dir is given, else fixed_ratio. fixed_ratio with "
                      "--high_dir scores the evaluate.py output; gt_mean scales that output to the ground "
                      "truth's mean grey level before scoring (needs --high_dir).")
    flags.DEFINE_bool("grid", True, "Write comparison_grid.png (input | output | ground truth).")
    flags.DEFINE_string("tile", "auto", "Run the networks on tiles of N px (a multiple of 16) with margins wider "
                        "than their receptive fields: the same outputs (within 1e-5) in memory bounded by N. "
                        "auto: 512-px tiles for images above 0.6 megapixels; none: never tile.")
    flags.mark_flag_as_required("input_dir")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    F = flags.FLAGS
    logging.set_verbosity(logging.WARNING)
    process.one_inter_op_thread()
    cfg = evaluation.EvalConfig(
        input_dir=F.input_dir, output_dir=F.output_dir, checkpoint_dir=F.checkpoint_dir,
        decom_checkpoint=F.decom_checkpoint, illumination_checkpoint=F.illumination_checkpoint,
        restoration_checkpoint=F.restoration_checkpoint, ratio=F.ratio, high_dir=F.high_dir,
        protocol=F.protocol, grid=F.grid, tile=F.tile,
    )
    return process.end_quickly(evaluation.run(cfg))


if __name__ == "__main__":
    define_flags()
    app.run(main)
