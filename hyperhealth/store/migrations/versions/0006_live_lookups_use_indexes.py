"""The live path's lookups go through indexes, whatever the tables' statistics say

PostgreSQL chooses a plan from its statistics, and a PL/pgSQL function keeps the plan it made
first for the rest of the connection. On a new database, or wherever statistics lag (this
project's machines run PostgreSQL with autovacuum off, so tables are never analyzed), the
live path read whole tables. In-process runs on a new database, every message opening or
resolving an alert, measured with auto_explain:

- **Key checks** (migration 0005) found a statement's parent rows with ``pk IN (SELECT ...
  FROM new_rows)``: planned while ``alerts`` was small, each insert into ``alert_events`` or
  ``notifications`` went on scanning every alert, 1.35 ms a check at 5,000 alerts. Each
  check now probes the parent's primary-key index once per distinct key: the keys go in as an
  array, and sequential scans are off while the check function plans
  (``SET enable_seqscan = off``), so the index is the only way to the rows. 43 µs a check.
- **A batch's active alerts** were read through the index on ``(status, level)``, across all
  persons; until a vacuum that index still lists every resolved alert as open, and the bitmap
  scan PostgreSQL used never marks such entries dead: 0.8 ms a batch at 5,000 resolved
  alerts, growing. The index on ``(person, status)`` (0004) becomes a partial index
  over active alerts only (open, acknowledged, suppressed), so a person's resolved alerts,
  years of them, are not in it, and the batch's read looks each person up in it
  (``hyperhealth/actions/alerts/_lifecycle.py``). SQLite gets the same index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 02:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

#: alerts that can still change or notify (``hyperhealth.store._schema.ACTIVE_ALERT``)
ACTIVE = "status IN ('open', 'acknowledged', 'suppressed')"
#: (child table, its column, parent table), as in 0005
KEYS = (
    ("observations", "person_pk", "persons"),
    ("alerts", "person_pk", "persons"),
    ("alert_events", "alert_pk", "alerts"),
    ("notifications", "alert_pk", "alerts"),
)


def _check(child: str, col: str, parent: str, lookup: str, settings: str) -> str:
    n = f"hh_fk_{child}_{col}"
    return f"""CREATE OR REPLACE FUNCTION {n}_check() RETURNS trigger LANGUAGE plpgsql
        {settings} AS $$
        DECLARE
            wanted bigint[];
            locked bigint;
            missing bigint;
        BEGIN
            SELECT array_agg(DISTINCT c.{col}) INTO wanted FROM new_rows c
                WHERE c.{col} IS NOT NULL;
            SELECT count(*) INTO locked FROM (
                SELECT 1 FROM {parent} p WHERE {lookup} FOR KEY SHARE OF p) s;
            IF locked < coalesce(cardinality(wanted), 0) THEN
                SELECT k INTO missing FROM unnest(wanted) k
                    WHERE NOT EXISTS (SELECT 1 FROM {parent} p WHERE p.pk = k) LIMIT 1;
                RAISE foreign_key_violation USING
                    MESSAGE = 'insert or update on table "{child}" violates foreign key '
                              '"{n}"',
                    DETAIL = format('Key ({col})=(%s) is not present in table "{parent}".',
                                    missing);
            END IF;
            RETURN NULL;
        END $$"""


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_active', ['person_pk', 'status'], unique=False,
                              postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE))
        batch_op.drop_index('ix_alerts_person_status')
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, col, parent in KEYS:
        op.execute(_check(child, col, parent, "p.pk = ANY (wanted)", "SET enable_seqscan = off"))


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_person_status', ['person_pk', 'status'], unique=False)
        batch_op.drop_index('ix_alerts_active')
    if op.get_bind().dialect.name != "postgresql":
        return
    for child, col, parent in KEYS:
        op.execute(_check(child, col, parent, "p.pk IN (SELECT c.{col} FROM new_rows c)"
                          .format(col=col), ""))
