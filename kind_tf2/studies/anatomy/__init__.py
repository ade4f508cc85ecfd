"""Loss anatomy: what every registered loss term responds to, under controlled distortions of clean images, no training.

`run(AnatomyConfig(images="LOL/eval15/high", out=...))`; the `anatomy` command, or
`python -m kind_tf2.studies.anatomy`.
"""

from kind_tf2.studies.anatomy.distortions import DISTORTIONS, Distortion, register_distortion
from kind_tf2.studies.anatomy.measure import AnatomyConfig, changes, choose_terms, mean_response, spearman
from kind_tf2.studies.anatomy.run import AnatomyResult, run

__all__ = ["DISTORTIONS", "AnatomyConfig", "AnatomyResult", "Distortion", "changes", "choose_terms", "mean_response",
           "register_distortion", "run", "spearman"]
