"""What ships and what guards it: `export` (SavedModel, TFLite) and `golden` (record and check reference outputs)."""
