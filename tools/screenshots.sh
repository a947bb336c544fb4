#!/usr/bin/env bash
# Write the README's screenshots (docs/screenshots/*.png): runs the dashboard's browser tests on
# the demo cohort with Debian's Chromium, which save each main page at desktop and phone width.
set -euo pipefail
cd "$(dirname "$0")/.."
HYPERHEALTH_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/python -m pytest -q \
  tests/delivery/test_dashboard_browser.py
ls -1 docs/screenshots
