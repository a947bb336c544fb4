"""PostgreSQL: the busiest tables' foreign keys checked once per statement

PostgreSQL checks a foreign key with a trigger and a query for every inserted row. For a live
batch of 200 device messages (400 readings) that was 3.3 of the 7.4 ms of backend CPU the
readings' COPY took (measured on this project's machines). In a run where every message opens
or resolves an alert, dropping these keys and the engine state's (kept) saved about 4 ms more
per batch of 200. These four keys are replaced by triggers that do the same work once per
statement:

- an insert into the child checks that every new key exists in the parent and locks those
  parent rows ``FOR KEY SHARE``, as the built-in check does, so a concurrent delete of the
  parent waits for the inserting transaction;
- changing the key of a child row checks that row the same way (nothing does so today);
- deleting parent rows deletes their child rows (``ON DELETE CASCADE``);
- changing a parent's key while children refer to it is refused (``NO ACTION``).

A violation raises SQLSTATE 23503 (``foreign_key_violation``) like the built-in check. SQLite
keeps its built-in foreign keys (checked in the process, and cheap there).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 23:45:00
"""
from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

#: (child table, its column, parent table): each parent key is its ``pk`` column
KEYS = (
    ("observations", "person_pk", "persons"),
    ("alerts", "person_pk", "persons"),
    ("alert_events", "alert_pk", "alerts"),
    ("notifications", "alert_pk", "alerts"),
)


def _name(child: str, col: str) -> str:
    return f"hh_fk_{child}_{col}"


def _create(child: str, col: str, parent: str) -> list[str]:
    n = _name(child, col)
    return [
        # child rows inserted by a statement: their keys exist, and stay until we commit
        f"""CREATE FUNCTION {n}_check() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            wanted bigint;
            locked bigint;
            missing bigint;
        BEGIN
            SELECT count(DISTINCT c.{col}) INTO wanted FROM new_rows c;
            SELECT count(*) INTO locked FROM (
                SELECT 1 FROM {parent} p WHERE p.pk IN (SELECT c.{col} FROM new_rows c)
                FOR KEY SHARE OF p) s;
            IF locked < wanted THEN
                SELECT c.{col} INTO missing FROM new_rows c WHERE c.{col} IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.pk = c.{col}) LIMIT 1;
                RAISE foreign_key_violation USING
                    MESSAGE = 'insert or update on table "{child}" violates foreign key '
                              '"{n}"',
                    DETAIL = format('Key ({col})=(%s) is not present in table "{parent}".',
                                    missing);
            END IF;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {n}_insert AFTER INSERT ON {child} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {n}_check()",
        # a child row's key changed (nothing does so): the same check for that row
        f"""CREATE FUNCTION {n}_recheck() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM 1 FROM {parent} p WHERE p.pk = NEW.{col} FOR KEY SHARE OF p;
            IF NOT FOUND THEN
                RAISE foreign_key_violation USING
                    MESSAGE = 'insert or update on table "{child}" violates foreign key '
                              '"{n}"',
                    DETAIL = format('Key ({col})=(%s) is not present in table "{parent}".',
                                    NEW.{col});
            END IF;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {n}_update AFTER UPDATE OF {col} ON {child} FOR EACH ROW "
        f"WHEN (NEW.{col} IS DISTINCT FROM OLD.{col} AND NEW.{col} IS NOT NULL) "
        f"EXECUTE FUNCTION {n}_recheck()",
        # parent rows deleted: their children go too (ON DELETE CASCADE)
        f"""CREATE FUNCTION {n}_cascade() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM {child} WHERE {col} IN (SELECT pk FROM gone);
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {n}_cascade AFTER DELETE ON {parent} REFERENCING OLD TABLE AS gone "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {n}_cascade()",
        # a parent's key changes while children refer to it: refused (NO ACTION)
        f"""CREATE FUNCTION {n}_rekey() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM {child} WHERE {col} = OLD.pk) THEN
                RAISE foreign_key_violation USING
                    MESSAGE = 'update on table "{parent}" violates foreign key "{n}" on '
                              'table "{child}"',
                    DETAIL = format('Key (pk)=(%s) is still referenced from table "{child}".',
                                    OLD.pk);
            END IF;
            RETURN NULL;
        END $$""",
        f"CREATE TRIGGER {n}_rekey AFTER UPDATE OF pk ON {parent} FOR EACH ROW "
        f"WHEN (OLD.pk IS DISTINCT FROM NEW.pk) EXECUTE FUNCTION {n}_rekey()",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, col, parent in KEYS:
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT fk_{child}_{col}_{parent}")
        for sql in _create(child, col, parent):
            op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, col, parent in KEYS:
        n = _name(child, col)
        for trigger, table in ((f"{n}_insert", child), (f"{n}_update", child),
                               (f"{n}_cascade", parent), (f"{n}_rekey", parent)):
            op.execute(f"DROP TRIGGER {trigger} ON {table}")
        for fn in ("check", "recheck", "cascade", "rekey"):
            op.execute(f"DROP FUNCTION {n}_{fn}()")
        op.execute(f"ALTER TABLE {child} ADD CONSTRAINT fk_{child}_{col}_{parent} FOREIGN KEY "
                   f"({col}) REFERENCES {parent} (pk) ON DELETE CASCADE")
