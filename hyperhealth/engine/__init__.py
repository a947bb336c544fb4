"""Stream processing: per-person state and detectors, live and in replay on one code path."""

from hyperhealth.engine._engine import Engine, EngineStats
from hyperhealth.engine._live import LiveMonitor

__all__ = ["Engine", "EngineStats", "LiveMonitor"]
