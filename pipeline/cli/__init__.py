"""The command line: argument parsing, logging, exit codes."""
