"""The paper's whole pipeline in one call: train the three stages (resumable), evaluate every protocol, report.

`reproduce(ReproduceConfig(data_dir="LOLdataset", out="runs/kind"))`; the `reproduce` command, or
`python -m kind_tf2.reproduce`. `plan` settles every stage's settings first; `run` trains and
evaluates; `report` writes report.md / report.html; `quickstart` does it all on synthetic data.
"""

from kind_tf2.data.lol import VALIDATION_SPLIT
from kind_tf2.reproduce.plan import (
    GIVEN_STAGES,
    NO_RESTORATION_LABEL,
    STAGE_ORDER,
    VALIDATION_KEY,
    ReproduceConfig,
    ReproduceError,
    StagePlan,
    plan,
    stage_folder,
    train_config,
)
from kind_tf2.reproduce.run import STATE_FILE, ReproduceResult, reproduce

__all__ = ["GIVEN_STAGES", "NO_RESTORATION_LABEL", "STAGE_ORDER", "STATE_FILE", "VALIDATION_KEY", "VALIDATION_SPLIT",
           "ReproduceConfig", "ReproduceError", "ReproduceResult", "StagePlan", "plan", "reproduce", "stage_folder",
           "train_config"]
