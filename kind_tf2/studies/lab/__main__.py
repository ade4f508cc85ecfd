"""`python -m kind_tf2.studies.lab`: the lab command (as `kind-tf2 lab`)."""

from kind_tf2.cli import run_command

run_command("lab")
