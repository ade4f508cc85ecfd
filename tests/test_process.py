"""process.import_tensorflow: the optional modules hidden only while TensorFlow imports, no collections there."""

import json
import subprocess
import sys

PROBE = """
import gc, importlib.util, json, sys
from kind_tf2 import process
installed = [m for m in process.OPTIONAL_IMPORTS if importlib.util.find_spec(m)]
process.import_tensorflow()
out = dict(tf="tensorflow" in sys.modules, keras="keras" in sys.modules, installed=installed,
           loaded=[m for m in process.OPTIONAL_IMPORTS if m in sys.modules],
           gc=gc.isenabled(), frozen=gc.get_freeze_count(), collections=[s["collections"] for s in gc.get_stats()])
for m in installed:  # a script may still import them itself
    __import__(m)
out["after"] = [m for m in installed if m in sys.modules]
print(json.dumps(out))
"""


def test_import_tensorflow_skips_optional_modules_and_collects_nothing():
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["tf"] and out["keras"]
    assert out["loaded"] == []  # none of them was imported along with TensorFlow
    assert out["after"] == out["installed"]
    # The collector is on again, no full collection ran during the import, and what the import
    # made is in the permanent generation (hundreds of thousands of objects).
    assert out["gc"] and out["collections"][2] == 0
    assert out["frozen"] > 100_000
