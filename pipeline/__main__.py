from pipeline.cli.entry import run

raise SystemExit(run())
