"""The edge agent's local HTTP endpoint: the server's device route, answered from the edge.

Devices post to the edge exactly what they would post to the server (``POST /api/ingest/device``,
``hyperhealth.device/1`` JSON, optionally gzip-compressed, with the same ``device_id`` and
``person`` query parameters). The answer comes only after the messages are on the edge's disk:
200 when all were kept (``outcome: stored``), 207 when some records were rejected (the server
would reject them too), 422 when nothing could be kept, 400/413/415 as on the server, and 503
when the queue cannot be written (send again).

``GET /api/edge/status`` shows the queue, the persons served, the forwarder's state and the
alerts raised here; ``GET /healthz`` answers while the agent runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from hyperhealth.delivery.api._deps import DEVICE_BODY_LIMIT
from hyperhealth.delivery.api._errors import ApiError, install_error_handlers
from hyperhealth.delivery.api._ingest import read_device_body
from hyperhealth.errors import InputError

if TYPE_CHECKING:
    from hyperhealth.engine.edge._agent import EdgeAgent
    from hyperhealth.engine.edge._forward import Forwarder


def create_edge_app(agent: EdgeAgent, forwarder: Forwarder | None = None, *,
                    body_limit: int = DEVICE_BODY_LIMIT) -> FastAPI:
    """The edge's HTTP app over ``agent`` (``forwarder`` only feeds the status page)."""
    from starlette.concurrency import run_in_threadpool

    app = FastAPI(title="hyperhealth edge", docs_url="/docs", redoc_url=None)
    app.state.device_body_limit = body_limit
    install_error_handlers(app)

    @app.post("/api/ingest/device", summary="Keep device messages for the server")
    async def ingest_device(
        request: Request,
        device_id: Annotated[str | None, Query(description=(
            "the device this request comes from; messages that name another device are "
            "rejected"))] = None,
        person: Annotated[str | None, Query(
            description="attach every message to this person id")] = None,
    ) -> JSONResponse:
        payload = await read_device_body(request, request.app.state.device_body_limit,
                                         "device message")
        try:
            answer = await run_in_threadpool(agent.accept, payload, device_id=device_id,
                                             person=person)
        except InputError as exc:
            raise ApiError(400, "Not a device payload", exc.message, where="body",
                           fix=exc.hint) from None
        except OSError as exc:  # the disk: nothing was kept, the device must send again
            raise ApiError(503, "Edge queue unavailable", f"the message could not be kept "
                           f"({exc})", where="edge queue",
                           fix="send again later; the edge keeps nothing it did not answer "
                               "with 200/207") from None
        return JSONResponse(answer.to_dict(), status_code=answer.status)

    @app.get("/api/edge/status", summary="Queue, forwarder and alerts of this edge")
    async def status() -> dict[str, Any]:
        out = await run_in_threadpool(agent.status)
        out["forwarder"] = None if forwarder is None else {
            "server": forwarder.server, "compress": forwarder.compress,
            **forwarder.stats.to_dict()}
        out["alerts"] = await run_in_threadpool(agent.queue.alerts)
        return out

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "edge": agent.edge_id}

    return app
