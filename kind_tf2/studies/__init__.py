"""Studies of what the losses do: the loss laboratory, the loss anatomy, the released networks' baselines, statistics."""
