"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 04:04:28.109411
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ingest_files',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('imported_us', sa.BigInteger(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_ingest_files'))
    )
    op.create_table('ingest_messages',
    sa.Column('device', sa.String(length=200), nullable=False),
    sa.Column('message_id', sa.String(length=200), nullable=False),
    sa.Column('received_us', sa.BigInteger(), nullable=False),
    sa.Column('readings', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('device', 'message_id', name=op.f('pk_ingest_messages'))
    )
    op.create_table('locations',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('lat', sa.Float(), nullable=False),
    sa.Column('lon', sa.Float(), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_locations')),
    sa.UniqueConstraint('lat', 'lon', 'label', name='uq_locations_natural')
    )
    op.create_table('persons',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('birth_date', sa.String(length=10), nullable=True),
    sa.Column('sex_at_birth', sa.String(length=16), server_default='unknown', nullable=False),
    sa.Column('race', sa.Text(), server_default='', nullable=False),
    sa.Column('ethnicity', sa.Text(), server_default='', nullable=False),
    sa.Column('tz', sa.String(length=64), server_default='UTC', nullable=False),
    sa.Column('home_lat', sa.Float(), nullable=True),
    sa.Column('home_lon', sa.Float(), nullable=True),
    sa.Column('home_label', sa.Text(), server_default='', nullable=False),
    sa.Column('identity', sa.JSON(), nullable=False),
    sa.Column('deceased', sa.String(length=40), nullable=True),
    sa.Column('created_us', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_persons')),
    sa.UniqueConstraint('id', name=op.f('uq_persons_id'))
    )
    op.create_table('allergies',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('system', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('criticality', sa.String(length=32), nullable=False),
    sa.Column('clinical_status', sa.String(length=32), nullable=False),
    sa.Column('onset', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_allergies_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_allergies')),
    sa.UniqueConstraint('person_pk', 'source', 'record_id', 'code', 'onset', name='uq_allergies_natural')
    )
    op.create_table('conditions',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('system', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('onset', sa.String(length=40), nullable=False),
    sa.Column('abatement', sa.String(length=40), nullable=True),
    sa.Column('clinical_status', sa.String(length=32), nullable=False),
    sa.Column('verification_status', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_conditions_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_conditions')),
    sa.UniqueConstraint('person_pk', 'source', 'record_id', 'code', 'onset', name='uq_conditions_natural')
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=200), nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.Text(), server_default='', nullable=False),
    sa.Column('registered_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_devices_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('device_id', name=op.f('pk_devices'))
    )
    op.create_table('encounters',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('start', sa.String(length=40), nullable=False),
    sa.Column('end', sa.String(length=40), nullable=True),
    sa.Column('class_code', sa.String(length=32), nullable=False),
    sa.Column('system', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_encounters_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_encounters')),
    sa.UniqueConstraint('person_pk', 'source', 'record_id', 'start', name='uq_encounters_natural')
    )
    op.create_table('exposures',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('location_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('t', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('t_end', sa.BigInteger(), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['location_pk'], ['locations.pk'], name=op.f('fk_exposures_location_pk_locations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_exposures')),
    sa.UniqueConstraint('location_pk', 'code', 't', 'source', name='uq_exposures_natural')
    )
    op.create_table('genotype_uploads',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('samples', sa.JSON(), nullable=False),
    sa.Column('build', sa.String(length=16), nullable=False),
    sa.Column('chr_prefix', sa.Boolean(), nullable=False),
    sa.Column('contigs', sa.Integer(), nullable=False),
    sa.Column('registered_us', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_genotype_uploads_person_pk_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_genotype_uploads')),
    sa.UniqueConstraint('sha256', 'person_pk', name='uq_genotype_uploads_natural')
    )
    op.create_table('lifestyle_events',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('end', sa.BigInteger(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_lifestyle_events_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_lifestyle_events')),
    sa.UniqueConstraint('person_pk', 'kind', 'start', 'source', 'record_id', name='uq_lifestyle_events_natural')
    )
    op.create_table('location_visits',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('start', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('end', sa.BigInteger(), nullable=True),
    sa.Column('location_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['location_pk'], ['locations.pk'], name=op.f('fk_location_visits_location_pk_locations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_location_visits_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_location_visits')),
    sa.UniqueConstraint('person_pk', 'start', 'source', name='uq_location_visits_natural')
    )
    op.create_table('medications',
    sa.Column('pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('system', sa.String(length=120), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('start', sa.String(length=40), nullable=False),
    sa.Column('end', sa.String(length=40), nullable=True),
    sa.Column('dosage', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_medications_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('pk', name=op.f('pk_medications')),
    sa.UniqueConstraint('person_pk', 'source', 'record_id', 'code', 'start', name='uq_medications_natural')
    )
    op.create_table('observations',
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('t', sa.BigInteger(), nullable=False),
    sa.Column('system', sa.String(length=120), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('device', sa.String(length=200), nullable=False),
    sa.Column('record_id', sa.String(length=200), nullable=False),
    sa.Column('t_end', sa.BigInteger(), nullable=True),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('value_text', sa.Text(), nullable=False),
    sa.Column('value_code', sa.String(length=120), nullable=False),
    sa.Column('display', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('flags', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_observations_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_pk', 'code', 't', 'system', 'source', 'device', 'record_id', name='pk_observations'),
    sqlite_with_rowid=False
    )
    op.create_table('person_links',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('person_pk', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.ForeignKeyConstraint(['person_pk'], ['persons.pk'], name=op.f('fk_person_links_person_pk_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('source', 'external_id', name=op.f('pk_person_links'))
    )


def downgrade() -> None:
    op.drop_table('person_links')
    op.drop_table('observations')
    op.drop_table('medications')
    op.drop_table('location_visits')
    op.drop_table('lifestyle_events')
    op.drop_table('genotype_uploads')
    op.drop_table('exposures')
    op.drop_table('encounters')
    op.drop_table('devices')
    op.drop_table('conditions')
    op.drop_table('allergies')
    op.drop_table('persons')
    op.drop_table('locations')
    op.drop_table('ingest_messages')
    op.drop_table('ingest_files')
