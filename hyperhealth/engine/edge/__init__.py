"""The edge agent (``hyperhealth edge``): near the devices, urgent rules locally, store-and-forward.

:class:`EdgeAgent` keeps each device message in a durable SQLite queue before answering the
device and evaluates the urgent rules on it with the server's own engine code;
:class:`Forwarder` sends alerts, then urgent messages, then the rest to the server in gzip batches
whose message ids make a replay harmless; :class:`EdgeService` runs both with a local HTTP
endpoint and an optional MQTT subscriber. On the server, :func:`apply_edge_alerts` (behind
``POST /api/edge/alerts``) merges the edge's alerts with those the server derives.
"""

from hyperhealth.engine.edge._agent import EdgeAgent, EdgeAnswer
from hyperhealth.engine.edge._forward import ForwardConfig, Forwarder, ForwardStats, Unreachable
from hyperhealth.engine.edge._map import EdgeMap, EdgePerson, load_map, parse_map
from hyperhealth.engine.edge._merge import EdgeAlert, EdgeAlertResult, apply_edge_alerts
from hyperhealth.engine.edge._queue import EdgeQueue
from hyperhealth.engine.edge._service import EdgeService

__all__ = [
    "EdgeAgent",
    "EdgeAlert",
    "EdgeAlertResult",
    "EdgeAnswer",
    "EdgeMap",
    "EdgePerson",
    "EdgeQueue",
    "EdgeService",
    "ForwardConfig",
    "ForwardStats",
    "Forwarder",
    "Unreachable",
    "apply_edge_alerts",
    "load_map",
    "parse_map",
]
