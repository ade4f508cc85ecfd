"""`python -m kind_tf2.reproduce`: the reproduce command (as `kind-tf2 reproduce`)."""

from kind_tf2.cli import run_command

run_command("reproduce")
