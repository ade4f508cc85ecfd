"""`python -m kind_tf2.studies.anatomy`: the anatomy command (as `kind-tf2 anatomy`)."""

from kind_tf2.cli import run_command

run_command("anatomy")
