"""Export: the SavedModel's `enhance` in a process without kind_tf2 equals the original's PNGs; TFLite within 2/255."""

import os
import subprocess
import sys
import textwrap

import pytest

from kind_tf2.deploy import export

IMAGES = (("4", "4.bmp"), ("22", "22.png"), ("04", "04.JPG"))


def _fresh_python(code, tmp_path):
    # Run outside the repository so that `import kind_tf2` could not even be found by accident.
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=tmp_path, capture_output=True,
                          text=True, check=False, env=dict(os.environ, PYTHONPATH=""))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def _compare_code(ref, load_and_run):
    return f"""
        import sys
        import numpy as np
        from PIL import Image
        {load_and_run}
        for stem, name in {IMAGES!r}:
            img = np.asarray(Image.open({ref!r} + "/images/" + name).convert("RGB"))
            out = run(img).astype(int)
            want = np.asarray(Image.open({ref!r} + "/outputs/png_test/" + stem + "_kindle.png")).astype(int)
            diff = np.abs(out - want)
            print(stem, diff.max(), (diff == 0).mean())
        print("kind_tf2 imported:", "kind_tf2" in sys.modules)
    """


def _check(stdout, max_off, min_equal):
    lines = stdout.strip().splitlines()
    assert lines[-1] == "kind_tf2 imported: False"
    for line in lines[:-1]:
        stem, worst, equal = line.split()
        assert int(worst) <= max_off and float(equal) >= min_equal, line


def test_saved_model_in_a_fresh_process_equals_the_original_pngs(ref, kind, tmp_path):
    path = export.export_saved_model(kind, str(tmp_path / "saved_model"))
    code = _compare_code(ref, f"""
        import tensorflow as tf
        enhance = tf.saved_model.load({path!r}).signatures["enhance"]
        def run(img):
            return enhance(image=tf.constant(img[None]), ratio=tf.constant(5.0))["output"][0].numpy()
    """)
    _check(_fresh_python(code, tmp_path), max_off=1, min_equal=0.999)


@pytest.mark.slow
def test_tflite_in_a_fresh_process_is_within_two_levels(ref, kind, tmp_path):
    path = export.export_tflite(kind, str(tmp_path / "kind.tflite"))
    code = _compare_code(ref, f"""
        import tensorflow as tf
        interp = tf.lite.Interpreter(model_path={path!r})
        image, ratio = sorted(interp.get_input_details(), key=lambda d: len(d["shape_signature"]), reverse=True)
        def run(img):
            x = img.astype(np.float32) / 255.0
            x = (x - x.min()) / max(x.max() - x.min(), 0.001)  # the per-image stretch of load_images
            interp.resize_tensor_input(image["index"], (1,) + x.shape)
            interp.allocate_tensors()
            interp.set_tensor(image["index"], x[None].astype(np.float32))
            interp.set_tensor(ratio["index"], np.array(5.0, np.float32))
            interp.invoke()
            out = interp.get_tensor(interp.get_output_details()[0]["index"])[0]
            return np.clip(out * 255.0, 0, 255).astype(np.uint8)
    """)
    # Measured here (TF 2.21, CPU): at most 1 level off, and 1.0 / 0.999992 / 0.999996 of the values
    # equal on 4.bmp / 22.png / 04.JPG; 0.999 leaves room for another CPU's kernels.
    _check(_fresh_python(code, tmp_path), max_off=2, min_equal=0.999)
