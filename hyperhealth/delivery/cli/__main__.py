"""``python -m hyperhealth.delivery.cli`` runs the CLI (used by tests and when not installed)."""

from hyperhealth.delivery.cli import main

main()
