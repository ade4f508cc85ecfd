"""kind_tf2: a native TensorFlow 2 / Keras 3 port of KinD (Zhang, Zhang & Guo, ACM MM 2019)."""

from kind_tf2.models import DecomNet, IlluminationAdjustNet, RestorationNet
from kind_tf2.pipeline import KinD

__all__ = ["KinD", "DecomNet", "RestorationNet", "IlluminationAdjustNet"]
__version__ = "0.1.0"
