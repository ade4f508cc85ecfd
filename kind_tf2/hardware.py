"""What this machine can do: its CPU (model, AVX-512 / AVX2 / native bf16), oneDNN, GPUs, and the precision `auto` picks."""

import dataclasses
import functools
import os
import platform
import subprocess

# /proc/cpuinfo flags that make bfloat16 convolutions native in oneDNN (TensorFlow's CPU kernels):
# AVX512_BF16 (Intel Cooper Lake and later, AMD Zen 4 and later) and the AMX tiles (Sapphire Rapids).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")
# What a figure names besides the model: the vector width and the bf16 support, in this order.
SHOWN_FLAGS = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx512_bf16", "AVX512_BF16"), ("amx_bf16", "AMX"))
# NVIDIA GPUs compute bfloat16 natively from Ampere (compute capability 8.0) on.
GPU_BF16_CAPABILITY = (8, 0)


@dataclasses.dataclass(frozen=True)
class CPU:
    """The host CPU: `model` (e.g. "AMD EPYC"), `cores` (logical CPUs), `flags` (lower-case feature names)."""

    model: str
    cores: int
    flags: frozenset
    machine: str  # platform.machine(): x86_64, AMD64, arm64, aarch64

    @property
    def native_bf16(self):
        return any(f in self.flags for f in BF16_FLAGS)

    def features(self):
        """The features a figure names, e.g. ["AVX-512", "AVX512_BF16"] or ["AVX2", "no native bf16"]."""
        shown = [label for flag, label in SHOWN_FLAGS if flag in self.flags]
        if "AVX-512" in shown and "AVX2" in shown:
            shown.remove("AVX2")  # AVX-512 machines all have AVX2: the wider one says more
        if not self.native_bf16:
            shown.append("no native bf16")
        return shown

    def describe(self):
        """One line for a figure: `AMD EPYC, 2 cores, x86_64: AVX-512, AVX512_BF16`."""
        return f"{self.model}, {self.cores} cores, {self.machine}: {', '.join(self.features())}"


def _proc_cpuinfo(path="/proc/cpuinfo"):
    model, flags, ids = None, set(), {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key in ("cpu family", "model") and key not in ids:
                    ids[key] = value.strip()
                elif key in ("flags", "features") and not flags:  # x86 "flags", arm "Features"
                    flags = set(value.split())
    except OSError:
        pass
    # A VM may show only "AMD EPYC": family and model tell a Zen 4 (25, 17) from an AVX2-only Zen 2/3.
    if model and len(ids) == 2 and ids["model"].isdigit():
        model += f" (family {ids['cpu family']}, model {ids['model']})"
    return model, flags


def _sysctl(name):
    try:
        return subprocess.run(["sysctl", "-n", name], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


@functools.lru_cache(maxsize=None)
def cpu():
    """This machine's `CPU` (read once): /proc/cpuinfo on Linux, sysctl on macOS, the platform module elsewhere."""
    model, flags = _proc_cpuinfo()
    if platform.system() == "Darwin":
        model = model or _sysctl("machdep.cpu.brand_string")
        flags |= {f.lower() for f in _sysctl("machdep.cpu.features").split()}
        flags |= {f.lower().replace(".", "_") for f in _sysctl("machdep.cpu.leaf7_features").split()}
    model = model or platform.processor() or "unknown CPU"
    return CPU(model=" ".join(model.split()), cores=os.cpu_count() or 1, flags=frozenset(flags),
               machine=platform.machine())


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (its default depends on the CPU)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def gpus():
    """`[(name, (major, minor) compute capability or None)]` of the GPUs TensorFlow sees."""
    import tensorflow as tf

    found = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        found.append((details.get("device_name", device.name), details.get("compute_capability")))
    return found


def describe():
    """The machine in one line for a figure's header: the CPU, oneDNN on or off, and any GPU."""
    line = f"CPU: {cpu().describe()}; oneDNN {'on' if onednn_enabled() else 'off'}"
    found = gpus()
    if found:
        line += "; GPU: " + ", ".join(f"{name} (compute capability {'.'.join(map(str, cc or ()))})"
                                      for name, cc in found)
    return line


@dataclasses.dataclass(frozen=True)
class Precision:
    """A resolved `mixed_precision`: `value` (None = float32, "bf16", "fp16"), why, and a warning or None."""

    value: str
    reason: str
    warning: str = None

    @property
    def name(self):
        return self.value or "float32"


def bf16_support():
    """`(native, why)`: whether bfloat16 is native for training on this machine, and in words why (or why not)."""
    found = gpus()
    if found:
        name, cc = found[0]
        if cc and tuple(cc) >= GPU_BF16_CAPABILITY:
            return True, f"GPU {name} (compute capability {cc[0]}.{cc[1]}) computes bf16 natively"
        return False, (f"GPU {name} (compute capability {'.'.join(map(str, cc or ('?',)))}) has no native bf16 "
                       f"(from {GPU_BF16_CAPABILITY[0]}.{GPU_BF16_CAPABILITY[1]} on)")
    c = cpu()
    if not c.native_bf16:
        return False, (f"CPU {c.model} has no AVX512_BF16 or AMX ({', '.join(c.features())}): bf16 is emulated "
                       "there, several times slower than float32")
    if not onednn_enabled():
        return False, (f"CPU {c.model} has {'AMX' if 'amx_bf16' in c.flags else 'AVX512_BF16'}, but TensorFlow's "
                       "oneDNN kernels are off (TF_ENABLE_ONEDNN_OPTS=0): bf16 falls back to slow Eigen kernels")
    return True, f"CPU {c.model} has {'AMX' if 'amx_bf16' in c.flags else 'AVX512_BF16'} and oneDNN is on"


def resolve_precision(requested):
    """The `Precision` a run computes in, for a requested `mixed_precision` (None, "auto", "bf16", "fp16").

    auto: bf16 where it is native (`bf16_support`), float32 elsewhere. An explicit bf16 where it is
    not native still runs, with a warning naming what is missing; fp16 on a CPU likewise.
    """
    if requested == "auto":
        native, why = bf16_support()
        return Precision("bf16" if native else None, f"auto: {why}")
    if requested == "bf16":
        native, why = bf16_support()
        return Precision("bf16", "requested", None if native else
                         f"mixed_precision=bf16 without native bf16: {why}; auto or none trains in float32")
    if requested == "fp16" and not gpus():
        return Precision("fp16", "requested", "mixed_precision=fp16 on a CPU: float16 is emulated there, "
                         "much slower than float32 (it is for GPUs)")
    return Precision(requested, "requested" if requested else "the original's arithmetic")
