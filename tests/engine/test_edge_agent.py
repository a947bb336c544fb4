"""The edge agent on its own: what it keeps, what it evaluates, restarts, the queue and map."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hyperhealth.actions.alerts._registry import URGENT_RULES, RuleConfig
from hyperhealth.actions.alerts.glucose import Glucose
from hyperhealth.engine import Engine
from hyperhealth.engine.edge import EdgeAgent, EdgeQueue, load_map, parse_map
from hyperhealth.engine.edge._queue import Incoming
from hyperhealth.errors import ConfigError, InputError
from hyperhealth.ingest.device_json import SCHEMA, ingest_messages
from hyperhealth.model import Person
from hyperhealth.store import Store
from tests.engine.edge_helpers import LOW, MAP, T0, cgm


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("ERROR", logger="hyperhealth.edge")


@pytest.fixture
def agent(tmp_path: Path) -> Any:
    with EdgeAgent(tmp_path / "edge", edge_map=parse_map(MAP)) as a:
        yield a


def hr(i: int, value: float = 60, dev: str = "watch-a", **extra: Any) -> dict[str, Any]:
    return {"schema": SCHEMA, "message_id": f"{dev}/{i}", "device": {"id": dev},
            "readings": [{"metric": "heart_rate", "value": value, "unit": "bpm",
                          "t": (T0 + timedelta(minutes=i)).isoformat()}], **extra}


def kept(agent: EdgeAgent) -> dict[tuple[str, str], tuple[str, str]]:
    return agent.queue.message_states()


def bodies(agent: EdgeAgent) -> dict[str, dict[str, Any]]:
    return {orjson.loads(q.body)["message_id"]: orjson.loads(q.body)
            for q in agent.queue.next_batch(10_000, 1 << 30)}


def test_keeps_each_message_once_and_fills_in_the_person(agent: EdgeAgent) -> None:
    a = agent.accept([hr(0), hr(1)])
    assert (a.status, a.queued, a.repeated, a.evaluated) == (200, 2, 0, 2)
    a = agent.accept(orjson.dumps([hr(1), hr(2)]))  # bytes, one repeat
    assert (a.status, a.queued, a.repeated) == (200, 1, 1)
    assert a.to_dict()["outcome"] == "stored"
    # the mapped person is written into the message, so the server needs no registration
    assert {b["person"] for b in bodies(agent).values()} == {"p-edge-a"}
    # readings are stored locally once
    assert len(agent.store.observations("p-edge-a")) == 3


def test_rejects_what_it_cannot_keep_once(agent: EdgeAgent) -> None:
    no_id = {k: v for k, v in hr(5).items() if k != "message_id"}
    a = agent.accept([hr(3), no_id, {**hr(4), "schema": "other/1"}, 7,
                      {**hr(6), "device": {}}])
    assert (a.status, a.queued) == (207, 1)
    assert [(r.where, r.field) for r in a.rejects] == [
        ("message #1", "message_id"), ("message watch-a/4", "schema"), ("message #3", ""),
        ("message watch-a/6", "device.id")]
    a = agent.accept(hr(7), device_id="watch-b")  # another device's message
    assert a.status == 422 and a.rejects[0].field == "device.id"
    assert agent.accept([]).status == 200  # nothing to keep, as on the server
    with pytest.raises(InputError):
        agent.accept(b"not json")
    with pytest.raises(InputError):
        agent.accept(b'"a string"')
    assert set(kept(agent)) == {("watch-a", "watch-a/3")}


def test_bad_readings_are_kept_for_the_server_and_reported(agent: EdgeAgent) -> None:
    a = agent.accept(hr(8, value=0))  # an impossible heart rate
    assert a.status == 207 and a.queued == 1
    assert a.rejects[0].field == "value" and "reading 0" in a.rejects[0].where
    assert kept(agent)[("watch-a", "watch-a/8")] == ("queued", "evaluated")


def test_persons_and_devices_it_does_not_serve(agent: EdgeAgent) -> None:
    a = agent.accept([hr(0, dev="stranger"), hr(1, dev="stranger", person="p-elsewhere"),
                      hr(2, dev="watch-b", person="p-edge-a")])
    assert (a.status, a.queued, a.evaluated) == (200, 3, 0)
    reasons = [n["reason"] for n in a.not_evaluated]
    assert reasons == ["the device is not mapped to a person at this edge",
                       "person 'p-elsewhere' is not served by this edge",
                       "device 'watch-b' belongs to 'p-edge-b' at this edge"]
    states = kept(agent)
    assert states[("stranger", "stranger/0")][1].startswith("skipped: ")
    # kept for the server all the same, and forwardable
    assert len(agent.queue.next_batch(100, 1 << 20)) == 3


def test_a_message_naming_a_served_person_registers_its_device(agent: EdgeAgent) -> None:
    a = agent.accept(hr(0, dev="new-watch", person="p-edge-b"))
    assert a.evaluated == 1
    a = agent.accept(hr(1, dev="new-watch"))  # no person: the edge now knows the owner
    assert a.evaluated == 1
    assert bodies(agent)["new-watch/1"]["person"] == "p-edge-b"


def test_urgent_class_follows_the_codes_urgent_rules_read(agent: EdgeAgent) -> None:
    assert agent.urgent_codes == {"99504-3", "8480-6", "8462-4", "59408-5"}
    bp = {"schema": SCHEMA, "message_id": "cuff/1", "device": {"id": "cuff"},
          "person": "p-edge-a", "readings": [
              {"code": "8480-6", "value": 130, "unit": "mmHg", "t": T0.isoformat()},
              {"code": "8462-4", "value": 85, "unit": "mmHg", "t": T0.isoformat()}]}
    agent.accept([hr(0), bp, *cgm([100])])
    order = [q.message_id for q in agent.queue.next_batch(100, 1 << 20)]
    assert order == ["cuff/1", "cgm-a/0"]  # urgent first; the rest once they are gone


def test_alerts_raised_here_are_queued_with_their_evidence(agent: EdgeAgent) -> None:
    seen: list[dict[str, Any]] = []
    agent.on_alert = seen.append
    raised = []
    for m in cgm(LOW):
        raised += agent.accept(m).alerts
    assert [a["key"] for a in raised] == ["low", "urgent-low"] == [a["key"] for a in seen]
    urgent = raised[1]
    assert urgent["level"] == "urgent" and urgent["rule_version"] == Glucose.version
    assert urgent["evidence"]["threshold_mg_dl"] == 54.0
    assert "doi:10.2337/dci19-0028" in urgent["citation"]
    assert urgent["id"] == f"{agent.edge_id}/p-edge-a/glucose/urgent-low/" + str(
        int((T0 + timedelta(minutes=40)).timestamp() * 1_000_000))
    assert [a["state"] for a in agent.queue.alerts()] == ["queued", "queued"]


def test_restart_evaluates_what_was_kept_but_not_evaluated(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    with EdgeAgent(folder, edge_map=parse_map(MAP)) as a:
        edge_id = a.edge_id
    # the agent stopped right after keeping these (before evaluating them)
    q = EdgeQueue(folder / "queue.sqlite")
    q.put([Incoming("cgm-a", m["message_id"], orjson.dumps(m), 1, True) for m in cgm(LOW)])
    assert q.next_batch(100, 1 << 20) == []  # not forwardable before evaluation
    q.close()
    with EdgeAgent(folder, edge_map=parse_map(MAP)) as a:
        assert a.edge_id == edge_id  # kept across restarts
        assert [x["key"] for x in a.queue.alerts()] == ["low", "urgent-low"]
        assert {s for s, _ in a.queue.message_states().values()} == {"queued"}
        assert len(a.queue.next_batch(100, 1 << 20)) == len(LOW)


def test_restart_queues_alerts_raised_just_before_a_stop(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    with EdgeAgent(folder, edge_map=parse_map(MAP)):
        pass
    # the agent stopped after the local engine stored the alert, before queueing it
    local = Store(f"sqlite:///{folder / 'local.sqlite'}")
    engine = Engine(local, RuleConfig(only=URGENT_RULES))
    engine.attach()
    ingest_messages(local, cgm(LOW))
    engine.detach()
    local.close()
    q = EdgeQueue(folder / "queue.sqlite")
    q.put([Incoming("cgm-a", m["message_id"], orjson.dumps(m), 1, True) for m in cgm(LOW)])
    q.close()
    with EdgeAgent(folder, edge_map=parse_map(MAP)) as a:
        assert [x["key"] for x in a.queue.alerts()] == ["low", "urgent-low"]
        # re-evaluating the kept messages added nothing: their ids were claimed locally
        assert len(a.store.observations("p-edge-a")) == len(LOW)
    with EdgeAgent(folder, edge_map=parse_map(MAP)) as a:  # and a further restart adds none
        assert len(a.queue.alerts()) == 2


def test_map_files_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "edge.toml"
    f.write_text('edge_id = "ward-3"\n[[persons]]\nid = "p-1"\ntz = "Europe/Madrid"\n'
                 'devices = ["cgm-1"]\nbirth_date = 1961-04-02\nsex_at_birth = "female"\n')
    m = load_map(f)
    assert m.edge_id == "ward-3" and m.owner("cgm-1") == "p-1"
    assert m.persons[0].person().birth_date.year == 1961  # type: ignore[union-attr]
    j = tmp_path / "edge.json"
    j.write_text(orjson.dumps({"persons": [{"id": "p-1"}]}).decode())
    assert load_map(j).persons[0].tz == "UTC"
    for doc, words in [
        ({"persons": [{"id": "p-1", "tz": "Mars/Olympus"}]}, "not an IANA time zone"),
        ({"persons": [{"id": "p-1", "devices": ["d"]}, {"id": "p-2", "devices": ["d"]}]},
         "already mapped"),
        ({"persons": [{"id": "p-1"}, {"id": "p-1"}]}, "listed twice"),
        ({"persons": [{"id": "p-1", "colour": "red"}]}, "unknown key(s) colour"),
        ({"people": []}, "unknown key(s) people"),
        ({"persons": [{"id": "p-1", "sex_at_birth": "f"}]}, "sex_at_birth"),
        ({"persons": [{"id": "p-1", "birth_date": "1961-13-01"}]}, "not a date"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(words)):
            parse_map(doc)
    bad = tmp_path / "bad.toml"
    bad.write_text("[[persons]\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML"):
        load_map(bad)


def test_a_device_that_moved_to_another_person(tmp_path: Path) -> None:
    folder = tmp_path / "edge"
    with EdgeAgent(folder, edge_map=parse_map(MAP)):
        pass
    moved = {"persons": [{"id": "p-edge-b", "devices": ["cgm-a"]}]}
    with pytest.raises(ConfigError, match=r"cgm-a.*give the device a new id"):
        EdgeAgent(folder, edge_map=parse_map(moved))


def test_prune_forgets_only_what_the_server_has(tmp_path: Path) -> None:
    q = EdgeQueue(tmp_path / "q.sqlite")
    q.put([Incoming("d", str(i), b"{}", 1, False) for i in range(4)])
    q.finish_evaluation([("d", str(i), "evaluated") for i in range(4)], [])
    q.mark_messages([1, 2], "sent", [{}, {}])
    q.mark_messages([3], "refused", [{"status": 422}])
    assert q.prune(older_than_us=0) == 0  # sent just now: kept for a while
    from hyperhealth.engine.edge._queue import now_us

    assert q.prune(older_than_us=now_us() + 1) == 2
    assert {s for s, _ in q.message_states().values()} == {"refused", "queued"}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=30),
       st.integers(1, 7))
def test_forwarding_order(flags: list[tuple[bool, bool]], size: int) -> None:
    """Urgent first, arrival order within a class, never past an unevaluated message."""
    q = EdgeQueue(":memory:")
    q.put([Incoming("d", str(i), b"{}", 1, urgent) for i, (urgent, _) in enumerate(flags)])
    done = [("d", str(i), "evaluated") for i, (_, ev) in enumerate(flags) if ev]
    q.finish_evaluation(done, [])
    sent: list[int] = []
    while batch := q.next_batch(size, 1 << 20):
        assert len(batch) <= size
        q.mark_messages([m.seq for m in batch], "sent", [{}] * len(batch))
        sent += [m.seq - 1 for m in batch]
    urgent = [i for i, (u, _) in enumerate(flags) if u]
    other = [i for i, (u, _) in enumerate(flags) if not u]

    def prefix(idx: list[int]) -> list[int]:  # up to the first not evaluated
        out = []
        for i in idx:
            if not flags[i][1]:
                break
            out.append(i)
        return out

    expected = prefix(urgent)
    if len(expected) == len(urgent):  # other messages only once no urgent one waits
        expected += prefix(other)
    assert sent == expected
    q.close()


def test_person_template_stays_local(agent: EdgeAgent) -> None:
    """The map's persons exist in the edge's own store, with their time zones."""
    assert {p.id: p.tz for p in agent.store.persons()} == {
        "p-edge-a": "Europe/Madrid", "p-edge-b": "America/New_York"}
    assert isinstance(agent.store.person("p-edge-a"), Person)


def test_agent_prune_keeps_state_and_unsent_work(agent: EdgeAgent) -> None:
    for m in cgm(LOW):
        agent.accept(m)
    seqs = [q.seq for q in agent.queue.next_batch(100, 1 << 20)]
    agent.queue.mark_messages(seqs[:20], "sent", [{}] * 20)
    import time

    time.sleep(0.01)
    done = agent.prune(retain_s=0)
    assert done["queue"] == 20 and done["readings"] == len(LOW)  # 2024 data: old
    assert done["message_ids"] == len(LOW) and done["notifications"] >= 2
    assert agent.queue.counts() == {"messages": {"queued": 4, "queued_urgent": 4},
                                    "alerts": {"queued": 2}}
    # the detectors go on from their saved state: a second episode is still found
    raised = []
    for m in cgm(LOW, start=len(LOW)):
        raised += agent.accept(m).alerts
    assert [a["key"] for a in raised] == ["low", "urgent-low"]
