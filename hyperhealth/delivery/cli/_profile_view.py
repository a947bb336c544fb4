"""Human-readable rendering of a profile with rich."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hyperhealth.insights.profile import Profile


def render_profile(out: Console, p: Profile) -> None:
    person = p.person
    out.rule(f"[bold]{person.id}")
    home = f"{person.home.label or ''} ({person.home.lat:.3f}, {person.home.lon:.3f})" \
        if person.home else "—"
    out.print(f"born {person.birth_date or '—'} · sex at birth {person.sex_at_birth} · "
              f"time zone {person.tz} · home {home}")
    if person.race or person.ethnicity:
        out.print(f"self-reported race/ethnicity: {person.race or '—'} / {person.ethnicity or '—'}")
    _list(out, "Active conditions", [f"{c.display} ({c.code}) since {c.onset or '?'}"
                                     for c in p.active_conditions])
    _list(out, "Active medications", [f"{m.display}" + (f" — {m.dosage}" if m.dosage else "")
                                      for m in p.active_medications])
    _list(out, "Allergies", [f"{a.display} ({a.criticality or 'criticality unknown'})"
                             for a in p.allergies])
    latest = p.latest_vitals + p.latest_labs
    if latest:
        t = Table(title="Latest vitals and labs", title_justify="left")
        for col in ("what", "value", "when (UTC)"):
            t.add_column(col)
        for o in latest:
            val = f"{o.value:g} {o.unit}" if o.value is not None else (o.value_text or "—")
            # UCUM units such as mm[Hg] and [ppb] must not be read as rich markup
            t.add_row(escape(o.display or o.code), escape(val), o.t.strftime("%Y-%m-%d %H:%M"))
        out.print(t)
    if p.coverage:
        t = Table(title="Data coverage", title_justify="left")
        for col in ("stream", "readings", "first", "last", "gaps > 1 h"):
            t.add_column(col)
        for c in p.coverage:
            gaps = f"{len(c.gaps)} ({c.gap_hours:g} h)" if c.continuous else "n/a (sparse)"
            t.add_row(escape(c.display[:48]), f"{c.count:,}", c.first.strftime("%Y-%m-%d"),
                      c.last.strftime("%Y-%m-%d"), gaps)
        out.print(t)
    for code, days in p.daily.items():
        if not days:
            continue
        name = next((c.display for c in p.coverage if c.code == code), code)
        t = Table(title=f"Daily — {name}", title_justify="left")
        for col in ("day", "n", "mean", "min", "max", "total"):
            t.add_column(col)
        for d in days[-7:]:
            t.add_row(str(d.day), str(d.n), f"{d.mean:g}", f"{d.min:g}", f"{d.max:g}",
                      f"{d.total:g}" if d.total is not None else "")
        out.print(t)
    env = p.environment
    if env.get("values"):
        vals = ", ".join(f"{k} {v['exposure']['value']:g} {v['exposure']['unit']}"
                         for k, v in sorted(env["values"].items()))
        aqi = f"AQI {env['aqi']} ({env['aqi_category']})" if env.get("aqi") is not None else ""
        heat = f"heat index {env['heat_index_c']:.1f} Cel ({env['heat_level'] or 'no caution'})" \
            if env.get("heat_index_c") is not None else ""
        where = (env.get("location") or {}).get("label", "")
        out.print(f"[bold]Environment[/] at {where} ({env['basis']}), {env['at'][:16]} UTC: "
                  + escape("; ".join(x for x in (aqi, heat, vals) if x)))
    if p.lifestyle:
        out.print("Logged: " + ", ".join(f"{k} {v}" for k, v in p.lifestyle.items()))
    if p.genotypes:
        out.print("Genotype files: " + ", ".join(f"{g.path} ({g.build})" for g in p.genotypes))
    if p.missing:
        out.print("[yellow]Missing:[/] " + "; ".join(p.missing))


def _list(out: Console, title: str, items: list[str]) -> None:
    out.print(f"[bold]{title}:[/] " + ("; ".join(items) if items else "none recorded"))
