"""The loss laboratory: train one KinD stage under several objectives from one start and compare them, with uncertainty.

`run_lab(LabConfig(stage="restoration", data_dir=..., decom_checkpoint=..., out=...))`; the `lab`
command, or `python -m kind_tf2.studies.lab`.
"""

from kind_tf2.studies.lab.config import (
    DEFAULT_MARGINS,
    LAB_METRICS,
    LAB_STAGES,
    LabConfig,
    Variant,
    parse_margins,
    parse_variants,
    train_config,
)
from kind_tf2.studies.lab.run import LabResult, run_lab, score_variant
from kind_tf2.studies.lab.summary import summarize

__all__ = ["DEFAULT_MARGINS", "LAB_METRICS", "LAB_STAGES", "LabConfig", "LabResult", "Variant", "parse_margins",
           "parse_variants", "run_lab", "score_variant", "summarize", "train_config"]
