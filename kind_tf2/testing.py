"""Assertions for users' regression tests: `assert_matches_golden(kind, golden_dir)` in pytest."""

from kind_tf2.deploy import golden


def assert_matches_golden(kind, golden_dir, atol=1e-5):
    """Fail unless `kind` reproduces the golden outputs recorded in `golden_dir`.

    kind: a loaded `kind_tf2.KinD`. golden_dir: a folder written by `golden.record`
    (`kind-tf2 golden record`). atol: absolute tolerance on every float output (R, I, restored_R, adjusted_I, output,
    all in [0, 1]). Raises AssertionError naming each image and output over the tolerance, with the
    worst difference and where it is.
    """
    rows, notes = golden.compare(kind, golden_dir, atol=atol)
    bad = [r for r in rows if not r["ok"]]
    if bad:
        lines = [f"{len(bad)} of {len(rows)} golden outputs in {golden_dir} exceed atol {atol:g}:",
                 golden.format_report(rows)] + [f"note: {n}" for n in notes]
        raise AssertionError("\n".join(lines))
