"""The evaluate job: enhance a folder with KinD, score it under a protocol, write metrics and a comparison grid."""

from kind_tf2.evaluation.job import METRIC_NAMES, EvalConfig, EvalError, EvalResult, evaluate
from kind_tf2.evaluation.outputs import format_table, mean_metrics, metric_keys, write_metrics
from kind_tf2.evaluation.protocols import PROTOCOLS, Protocol, anchor_line, register_protocol, resolve_protocol

__all__ = ["METRIC_NAMES", "PROTOCOLS", "EvalConfig", "EvalError", "EvalResult", "Protocol", "anchor_line", "evaluate",
           "format_table", "mean_metrics", "metric_keys", "register_protocol", "resolve_protocol", "write_metrics"]
