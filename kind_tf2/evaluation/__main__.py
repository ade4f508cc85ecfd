"""`python -m kind_tf2.evaluation`: the evaluate command (as `python evaluate.py` and `kind-tf2 evaluate`)."""

from kind_tf2.cli import run_command

run_command("evaluate")
