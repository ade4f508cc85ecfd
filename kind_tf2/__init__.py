"""kind_tf2: a native TensorFlow 2 / Keras 3 port of KinD (Zhang, Zhang & Guo, ACM MM 2019)."""

__all__ = ["KinD", "DecomNet", "RestorationNet", "IlluminationAdjustNet"]
__version__ = "0.1.0"

_LAZY = {"KinD": "kind_tf2.pipeline", "DecomNet": "kind_tf2.models", "RestorationNet": "kind_tf2.models",
         "IlluminationAdjustNet": "kind_tf2.models"}


def __getattr__(name):
    # Importing the package imports no TensorFlow: the scripts arrange TF's import first
    # (process.import_tensorflow), and `kind_tf2.KinD` still works as before.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'kind_tf2' has no attribute {name!r}")
