"""hyperhealth: one health profile per person, acted on continuously.

The public surface is small: open a store, ingest files, build a profile. Everything else lives in
the stage packages (``model``, ``ingest``, ``store``, ``insights``, ``delivery``, ``synth``).

>>> import hyperhealth
>>> 'open_store' in hyperhealth.__all__
True
"""

from hyperhealth.config import Settings
from hyperhealth.errors import HyperhealthError, InputError, NotFound
from hyperhealth.ingest import IngestOptions, IngestReport, ingest_paths
from hyperhealth.insights.profile import Profile, build_profile
from hyperhealth.store import Store, open_store

__version__ = "0.1.0"

__all__ = [
    "HyperhealthError",
    "IngestOptions",
    "IngestReport",
    "InputError",
    "NotFound",
    "Profile",
    "Settings",
    "Store",
    "__version__",
    "build_profile",
    "ingest_paths",
    "open_store",
]
