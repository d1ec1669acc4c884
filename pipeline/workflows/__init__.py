"""run, watch, compare: thin orchestration of the stages."""
