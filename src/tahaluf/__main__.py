"""``python -m tahaluf`` runs the CLI."""

from tahaluf.cli.main import run

run()
