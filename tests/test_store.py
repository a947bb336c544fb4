from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hyperhealth.errors import NotFound
from hyperhealth.model import Condition, Location, Observation, Person, Quality
from hyperhealth.store import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _hr(pid: str, n: int, src: str = "test") -> list[Observation]:
    return [Observation(pid, "8867-4", T0 + timedelta(minutes=i), 60.0 + i % 30, "/min",
                        source=src) for i in range(n)]


def test_person_roundtrip_and_links(store: Store) -> None:
    p = Person(id="p-1", birth_date=date(1970, 5, 2), sex_at_birth="female", tz="Europe/Madrid",
               home=Location(40.4, -3.7, "28001"), identity={"name": "Ana"})
    with store.transaction() as w:
        pid, created = w.resolve_person("fhir", "abc", p)
        again, created2 = w.resolve_person("fhir", "abc")
    assert (pid, created, again, created2) == ("p-1", True, "p-1", False)
    assert store.person("p-1") == p
    assert store.find_person("fhir", "abc") == "p-1"
    with pytest.raises(NotFound):
        store.person("nobody")


def test_observations_are_idempotent(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        assert w.add_observations(_hr("p-1", 1000)) == 1000
    with store.transaction() as w:
        assert w.add_observations(_hr("p-1", 1200)) == 200
    assert store.counts()["observations"] == 1200
    # another source at the same time is another reading
    with store.transaction() as w:
        assert w.add_observations(_hr("p-1", 10, src="other")) == 10


def test_observations_twice_in_one_transaction(store: Store) -> None:
    """PostgreSQL stages rows in a temp table that its commit empties: a second call in the
    same transaction, and the next transaction, see only their own rows."""
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        assert w.add_observations(_hr("p-1", 100)) == 100
        assert w.add_observations(_hr("p-1", 150)) == 50
        if store.dialect == "postgresql":  # only the second call's rows are staged
            assert w.conn.exec_driver_sql("SELECT count(*) FROM _obs_stage").scalar() == 150
        assert w.add_observations(_hr("p-1", 10, src="other")) == 10
    with store.transaction() as w:
        if store.dialect == "postgresql":  # the pool hands back the same connection
            assert w.conn.exec_driver_sql("SELECT count(*) FROM _obs_stage").scalar() == 0
        assert w.add_observations(_hr("p-1", 160)) == 10
    assert store.counts()["observations"] == 170


def test_failed_transaction_leaves_nothing(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
    with pytest.raises(RuntimeError), store.transaction() as w:
        w.add_observations(_hr("p-1", 500))
        raise RuntimeError("crash mid-file")
    assert store.counts()["observations"] == 0


def test_series_downsampling_preserves_mean_and_extremes(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        w.add_observations(_hr("p-1", 3000))
    raw = store.series("p-1", "8867-4")
    ds = store.series("p-1", "8867-4", max_points=100)
    assert len(raw) == 3000 and raw.bucket_us == 0
    assert 0 < len(ds) <= 100 and ds.n.sum() == 3000
    assert ds.vmin.min() == raw.value.min() and ds.vmax.max() == raw.value.max()
    assert abs((ds.value * ds.n).sum() / ds.n.sum() - raw.value.mean()) < 1e-9
    window = store.series("p-1", "8867-4", T0 + timedelta(minutes=10), T0 + timedelta(minutes=20))
    assert len(window) == 10


def test_latest_and_streams(store: Store) -> None:
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        w.add_observations(_hr("p-1", 50))
        w.add_observations([Observation("p-1", "59408-5", T0, 97.0, "%", source="t",
                                        flags=Quality.CONVERTED)])
        w.add_conditions([Condition("p-1", "44054006", "Diabetes", onset=date(2010, 1, 1),
                                    source="fhir", record_id="c1")] * 2)
    latest = {o.code: o for o in store.latest_observations("p-1")}
    assert latest["8867-4"].t == T0 + timedelta(minutes=49)
    assert latest["59408-5"].flags == Quality.CONVERTED
    assert {s.code: s.count for s in store.streams("p-1")} == {"8867-4": 50, "59408-5": 1}
    assert len(store.conditions("p-1")) == 1


def test_migration_matches_schema(sqlite_store: Store) -> None:
    """The Alembic revision creates exactly the tables and columns of the schema module."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from hyperhealth.store._schema import metadata

    with sqlite_store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_insert_counts_are_real_on_both_backends(store: Store) -> None:
    """Redelivery detection depends on the insert count (PostgreSQL once returned -1)."""
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        assert w.claim_message("watch-1", "m-1", 3) is True
        assert w.claim_message("watch-1", "m-1", 3) is False
        assert w.claim_message("watch-2", "m-1", 3) is True
        c = Condition("p-1", "38341003", "Hypertension", onset=date(2015, 1, 1), source="t",
                      record_id="c1")
        assert w.add_conditions([c]) == 1
        assert w.add_conditions([c]) == 0


def test_person_created_in_a_rolled_back_transaction_is_forgotten(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as w:
        w.upsert_person(Person(id="p-ghost"))
        w.add_observations(_hr("p-ghost", 3))
        raise RuntimeError("crash")
    with pytest.raises(NotFound), store.transaction() as w:
        w.add_observations(_hr("p-ghost", 3))


@pytest.mark.parametrize("call", ["claim_messages", "device_owners"])
def test_a_refused_value_is_a_data_error(store: Store, call: str) -> None:
    """PostgreSQL refuses NUL characters in text; the API answers SQLAlchemy's DataError with a
    422, so the driver's own error must not escape from the live path's raw statements."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite stores NUL characters")
    import sqlalchemy as sa

    with pytest.raises(sa.exc.DataError), store.transaction() as w:
        if call == "claim_messages":
            w.claim_messages([("watch-1", "m-\x00", 1)])
        else:
            w.device_owners(["\x00watch"])


def test_claims_and_device_owners_in_bulk(store: Store) -> None:
    """The live path's one-statement lookups on both backends: repeats within a batch, ids
    claimed before, unknown devices, and ids with quotes and non-ASCII characters."""
    odd = 'cuff "ü" \\ 1'
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
        w.register_device(odd, "p-1", "cuff")
        w.register_device("watch-1", "p-1", "watch")
        assert w.claim_messages([(odd, "m-1", 2), ("watch-1", "m-1", 1)]) == [True, True]
    fresh = Store(store.url)  # remembers no owner: the lookup goes to the database
    with fresh.transaction() as w:
        assert w.device_owners([odd, "watch-1", "nobody", odd]) == {odd: "p-1", "watch-1": "p-1"}
    fresh.close()
    with store.transaction() as w:
        assert w.claim_messages([(odd, "m-1", 2), (odd, "m-2", 2), (odd, "m-2", 2),
                                 ("watch-1", "m-ü", 1)]) == [False, True, False, True]
        assert w.claim_messages([]) == []


def test_device_owners_are_remembered_once_committed(store: Store) -> None:
    """A live batch from known devices asks the database nothing; a registration that was
    rolled back is not remembered, and an unregistered device is asked again."""
    import sqlalchemy as sa

    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
    with pytest.raises(RuntimeError), store.transaction() as w:
        w.register_device("cuff-1", "p-1", "cuff")
        assert w.device_owners(["cuff-1"]) == {"cuff-1": "p-1"}
        raise RuntimeError("crash")
    with store.transaction() as w:
        assert w.device_owners(["cuff-1"]) == {}
        w.register_device("cuff-1", "p-1", "cuff")
    other = Store(store.url)  # another process registers a device meanwhile
    with other.transaction() as w:
        w.register_device("watch-1", "p-1", "watch")
    other.close()
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute",
                    lambda _c, _cur, sql, *_a: statements.append(sql))
    with store.transaction() as w:
        assert w.device_owners(["cuff-1", "cuff-1"]) == {"cuff-1": "p-1"}
        assert statements == []
        assert w.device_owners(["cuff-1", "watch-1"]) == {"cuff-1": "p-1", "watch-1": "p-1"}
        assert len(statements) == 1


def test_staging_table_after_a_rolled_back_transaction(store: Store) -> None:
    """PostgreSQL: the connection remembers its staging table only once a transaction that
    made it committed (a rolled-back transaction takes the table with it)."""
    with store.transaction() as w:
        w.upsert_person(Person(id="p-1"))
    with pytest.raises(RuntimeError), store.transaction() as w:
        assert w.add_observations(_hr("p-1", 5)) == 5
        raise RuntimeError("crash")
    for n, new in ((7, 7), (9, 2)):  # makes the table again, then uses the one it made
        with store.transaction() as w:
            assert w.add_observations(_hr("p-1", n)) == new
    assert store.counts()["observations"] == 9
