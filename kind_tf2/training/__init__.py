"""Training: the stage definitions and the shared engine."""
