"""The package's public surface is exactly what ``__all__`` says, and importing has no effects."""

from __future__ import annotations

import subprocess
import sys

import hyperhealth


def test_exports_resolve() -> None:
    for name in hyperhealth.__all__:
        assert getattr(hyperhealth, name) is not None, name


def test_exports_are_the_intended_ones() -> None:
    assert set(hyperhealth.__all__) == {
        "HyperhealthError", "IngestOptions", "IngestReport", "InputError", "NotFound", "Profile",
        "Settings", "Store", "__version__", "build_profile", "ingest_paths", "open_store",
    }


def test_import_has_no_side_effects(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Importing creates no data directory and opens no database."""
    code = "import hyperhealth, hyperhealth.delivery.cli; import os; print(os.listdir('.'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "[]"
