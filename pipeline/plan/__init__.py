"""Pure planning: which scenes, which orbit."""
