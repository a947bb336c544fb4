"""Rich rendering of environment advisories (for the profile view and an advisories command).

>>> import io
>>> from rich.console import Console
>>> c = Console(width=80, record=True, file=io.StringIO())
>>> c.print(render_advisories([]))
>>> "No environment advisories" in c.export_text()
True
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from hyperhealth.actions.advisories import SUPPORT_NOTE, Advisory
from hyperhealth.actions.levels import Level

_STYLE = {Level.URGENT: "bold red", Level.WARN: "yellow", Level.INFO: "cyan"}


def render_advisories(advisories: Sequence[Advisory]) -> RenderableType:
    """One panel per advisory (level, title, what to do, why, what was missing, source), most
    urgent first, and the note that the advice supports rather than replaces a clinician's."""
    if not advisories:
        return Text("No environment advisories.", style="green")
    panels: list[RenderableType] = []
    for a in sorted(advisories, key=lambda a: -a.level):
        style = _STYLE[a.level]
        body = [escape(a.text)]
        if a.why:
            body.append("[bold]Why this applies to you[/]")
            body += [f"  • {escape(w)}" for w in a.why]
        if a.missing:
            body.append("[bold]Not known[/]")
            body += [f"  • {escape(m)}" for m in a.missing]
        if a.citation:
            body.append(f"[dim]Source: {escape(a.citation)}[/]")
        panels.append(Panel("\n".join(body), title=f"[{style}]{a.level.label.upper()}[/] "
                            f"{escape(a.title)}", title_align="left", border_style=style))
    panels.append(Text(SUPPORT_NOTE, style="dim italic"))
    return Group(*panels)
