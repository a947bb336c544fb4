"""Run the API and web app with uvicorn."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from hyperhealth.store import Store


def run_server(store: Store, host: str, port: int, *, as_json: bool, console: Console) -> None:
    import uvicorn

    from hyperhealth.delivery.api import create_app

    url = f"http://{host}:{port}/"
    if as_json:
        print(f'{{"url": "{url}"}}', flush=True)
    else:
        console.print(f"[bold]hyperhealth[/] is serving at [link={url}]{url}[/link] "
                      f"(API docs: {url}docs) — Ctrl-C to stop")
    from hyperhealth.config import Settings
    from hyperhealth.delivery.cli._audit_log import CHECKPOINT_NAME as AUDIT_CHECKPOINT
    from hyperhealth.delivery.cli._live import monitoring

    settings = Settings.load()
    app = create_app(store, audit_checkpoint=settings.data_dir / AUDIT_CHECKPOINT)
    config: Any = uvicorn.Config(app, host=host, port=port, log_level="warning")
    # readings posted to the API are monitored as they are stored; alerts go out via the outbox
    with monitoring(store, settings.mqtt_url):
        uvicorn.Server(config).run()
