"""alerts: index on (person, status) for the active alerts of a batch's persons

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 19:30:00
"""
from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index('ix_alerts_person_status', ['person_pk', 'status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index('ix_alerts_person_status')
