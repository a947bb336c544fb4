"""The ``hyperhealth`` command line (typer + rich). Every command has ``--json``."""

from hyperhealth.delivery.cli._app import app, main

__all__ = ["app", "main"]
