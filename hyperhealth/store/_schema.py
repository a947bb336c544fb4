"""The one schema, for SQLite and PostgreSQL alike.

High-volume series (observations, exposures) keep time as ``BIGINT`` microseconds since the Unix
epoch (UTC): identical arithmetic on both backends (time buckets for downsampling are integer
division), compact indexes and no driver-specific timestamp parsing on the hot path. Clinical
records keep FHIR's precision (a date stays a date) as ISO-8601 text.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# an integer primary key that is SQLite's rowid (fast) and a BIGINT identity on PostgreSQL
PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME_US = sa.BigInteger  # microseconds since 1970-01-01T00:00:00Z


def _person_fk() -> sa.Column[int]:
    return sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE"),
                     nullable=False)


persons = sa.Table(
    "persons", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("id", sa.String(64), nullable=False, unique=True),
    sa.Column("birth_date", sa.String(10)),
    sa.Column("sex_at_birth", sa.String(16), nullable=False, server_default="unknown"),
    sa.Column("race", sa.Text, nullable=False, server_default=""),
    sa.Column("ethnicity", sa.Text, nullable=False, server_default=""),
    sa.Column("tz", sa.String(64), nullable=False, server_default="UTC"),
    sa.Column("home_lat", sa.Float),
    sa.Column("home_lon", sa.Float),
    sa.Column("home_label", sa.Text, nullable=False, server_default=""),
    sa.Column("identity", sa.JSON, nullable=False),
    sa.Column("deceased", sa.String(40)),
    sa.Column("created_us", TIME_US, nullable=False),
)

person_links = sa.Table(
    "person_links", metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("external_id", sa.String(200), primary_key=True),
    _person_fk(),
)

devices = sa.Table(
    "devices", metadata,
    sa.Column("device_id", sa.String(200), primary_key=True),
    _person_fk(),
    sa.Column("kind", sa.Text, nullable=False, server_default=""),
    sa.Column("registered_us", TIME_US, nullable=False),
)

# The natural key is the primary key and there is no surrogate id: one B-tree per row instead of
# a table plus a unique index. On SQLite the table is clustered by that key (WITHOUT ROWID), so a
# timeline (person, code, t range) reads neighbouring rows of one tree with their values;
# ingest and re-import maintain one tree. Measured in benchmarks/bench_store.py.
observations = sa.Table(
    "observations", metadata,
    _person_fk(),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("t", TIME_US, nullable=False),
    sa.Column("system", sa.String(120), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("device", sa.String(200), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("t_end", TIME_US),
    sa.Column("value", sa.Float),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.Column("value_text", sa.Text, nullable=False),
    sa.Column("value_code", sa.String(120), nullable=False),
    sa.Column("display", sa.Text, nullable=False),
    sa.Column("category", sa.String(40), nullable=False),
    sa.Column("flags", sa.Integer, nullable=False),
    # natural key; its prefix (person, code, t) is the timeline index
    sa.PrimaryKeyConstraint("person_pk", "code", "t", "system", "source", "device", "record_id",
                            name="pk_observations"),
    sqlite_with_rowid=False,
)

def _clinical_table(name: str, *columns: sa.Column[object], key: tuple[str, ...]) -> sa.Table:
    """A clinical-record table: who, from which source record, which code, plus ``columns``.

    The natural key is ``(person_pk, source, record_id, *key)``.
    """
    return sa.Table(
        name, metadata,
        sa.Column("pk", PK, primary_key=True, autoincrement=True),
        _person_fk(),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("system", sa.String(120), nullable=False),
        sa.Column("code", sa.String(64), nullable=False),
        sa.Column("display", sa.Text, nullable=False),
        *columns,
        sa.UniqueConstraint("person_pk", "source", "record_id", *key,
                            name=f"uq_{name}_natural"),
    )


conditions = _clinical_table(
    "conditions",
    sa.Column("onset", sa.String(40), nullable=False),
    sa.Column("abatement", sa.String(40)),
    sa.Column("clinical_status", sa.String(32), nullable=False),
    sa.Column("verification_status", sa.String(32), nullable=False),
    key=("code", "onset"),
)

medications = _clinical_table(
    "medications",
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("end", sa.String(40)),
    sa.Column("dosage", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    key=("code", "start"),
)

allergies = _clinical_table(
    "allergies",
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("criticality", sa.String(32), nullable=False),
    sa.Column("clinical_status", sa.String(32), nullable=False),
    sa.Column("onset", sa.String(40), nullable=False),
    key=("code", "onset"),
)

encounters = _clinical_table(
    "encounters",
    sa.Column("start", sa.String(40), nullable=False),
    sa.Column("end", sa.String(40)),
    sa.Column("class_code", sa.String(32), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    key=("start",),
)


lifestyle_events = sa.Table(
    "lifestyle_events", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    _person_fk(),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("start", TIME_US, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("record_id", sa.String(200), nullable=False),
    sa.Column("end", TIME_US),
    sa.Column("details", sa.JSON, nullable=False),
    sa.UniqueConstraint("person_pk", "kind", "start", "source", "record_id",
                        name="uq_lifestyle_events_natural"),
)

locations = sa.Table(
    "locations", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("lon", sa.Float, nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.UniqueConstraint("lat", "lon", "label", name="uq_locations_natural"),
)

exposures = sa.Table(
    "exposures", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("location_pk", PK, sa.ForeignKey("locations.pk", ondelete="CASCADE"),
              nullable=False),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("t", TIME_US, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("t_end", TIME_US),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("unit", sa.String(40), nullable=False),
    sa.UniqueConstraint("location_pk", "code", "t", "source", name="uq_exposures_natural"),
)

location_visits = sa.Table(
    "location_visits", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    _person_fk(),
    sa.Column("start", TIME_US, nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("end", TIME_US),
    sa.Column("location_pk", PK, sa.ForeignKey("locations.pk", ondelete="CASCADE"),
              nullable=False),
    sa.UniqueConstraint("person_pk", "start", "source", name="uq_location_visits_natural"),
)

genotype_uploads = sa.Table(
    "genotype_uploads", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="SET NULL")),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("samples", sa.JSON, nullable=False),
    sa.Column("build", sa.String(16), nullable=False),
    sa.Column("chr_prefix", sa.Boolean, nullable=False),
    sa.Column("contigs", sa.Integer, nullable=False),
    sa.Column("registered_us", TIME_US, nullable=False),
    sa.UniqueConstraint("sha256", "person_pk", name="uq_genotype_uploads_natural"),
)

ingest_messages = sa.Table(
    "ingest_messages", metadata,
    sa.Column("device", sa.String(200), primary_key=True),
    sa.Column("message_id", sa.String(200), primary_key=True),
    sa.Column("received_us", TIME_US, nullable=False),
    sa.Column("readings", sa.Integer, nullable=False),
)

ingest_files = sa.Table(
    "ingest_files", metadata,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("format", sa.String(40), nullable=False),
    sa.Column("imported_us", TIME_US, nullable=False),
    sa.Column("report", sa.JSON, nullable=False),
)

# -- monitoring (engine state, alerts and their delivery) ---------------------------------------

# Saved per-person detector state: a restart resumes from here instead of recomputing history.
engine_state = sa.Table(
    "engine_state", metadata,
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("state", sa.LargeBinary, nullable=False),  # zlib-compressed JSON
    sa.Column("updated_us", TIME_US, nullable=False),
)

#: alerts that can still change or notify; the batch's read (``_lifecycle``) states it word
#: for word, so that both databases see that it implies the partial index's condition
ACTIVE_ALERT = "status IN ('open', 'acknowledged', 'suppressed')"

alerts = sa.Table(
    "alerts", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    _person_fk(),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("key", sa.String(120), nullable=False),
    sa.Column("rule_version", sa.String(16), nullable=False),
    sa.Column("level", sa.Integer, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # open, acknowledged, resolved
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=False),
    sa.Column("citation", sa.Text, nullable=False),
    sa.Column("opened_us", TIME_US, nullable=False),  # data time of the first finding
    sa.Column("last_seen_us", TIME_US, nullable=False),  # data time of the newest finding
    sa.Column("resolved_us", TIME_US),
    sa.Column("acknowledged_by", sa.String(200)),
    sa.Column("acknowledged_us", TIME_US),
    sa.Column("last_notified_us", TIME_US),  # data time of the last notification
    sa.Column("notifications", sa.Integer, nullable=False),
    sa.Column("escalation", sa.Integer, nullable=False),  # 0 none, 1 re-notified, 2 care team
    sa.Column("created_us", TIME_US, nullable=False),  # wall clock when stored
    sa.Index("ix_alerts_person_rule_key", "person_pk", "rule", "key", "status"),
    # a batch's active alerts, person by person; resolved ones (most of them) are left out
    sa.Index("ix_alerts_active", "person_pk", "status", postgresql_where=sa.text(ACTIVE_ALERT),
             sqlite_where=sa.text(ACTIVE_ALERT)),
    sa.Index("ix_alerts_status_level", "status", "level"),
)

alert_events = sa.Table(
    "alert_events", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("alert_pk", PK, sa.ForeignKey("alerts.pk", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("at_us", TIME_US, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
)

alert_snoozes = sa.Table(
    "alert_snoozes", metadata,
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("max_level", sa.Integer, nullable=False),
    sa.Column("until_us", TIME_US, nullable=False),
    sa.Column("by", sa.String(200), nullable=False),
)

# Clinician adjustments of a rule's parameters for one person (person_pk NULL: everyone).
rule_settings = sa.Table(
    "rule_settings", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE")),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_us", TIME_US, nullable=False),
    sa.UniqueConstraint("person_pk", "rule", name="uq_rule_settings_natural"),
)

webhooks = sa.Table(
    "webhooks", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE")),
    sa.Column("min_level", sa.Integer, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),  # HMAC-SHA256 key for the signature header
    sa.Column("care_team", sa.Boolean, nullable=False),  # receives escalations
    sa.Column("active", sa.Boolean, nullable=False),
)

# Outbox: a notification is stored with the alert change in one transaction and delivered later,
# so a crash between the two can neither lose nor invent a notification.
notifications = sa.Table(
    "notifications", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("alert_pk", PK, sa.ForeignKey("alerts.pk", ondelete="CASCADE"), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),  # mqtt, webhook
    sa.Column("target", sa.Text, nullable=False),  # topic or webhook pk
    sa.Column("reason", sa.String(32), nullable=False),  # opened, repeat, escalated, care-team...
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("created_us", TIME_US, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_us", TIME_US, nullable=False),
    sa.Column("delivered_us", TIME_US),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Index("ix_notifications_pending", "delivered_us", "next_attempt_us"),
)

# -- security (identity, consent, audit) ---------------------------------------------------------

users = sa.Table(
    "users", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(120), nullable=False, unique=True),
    sa.Column("role", sa.String(32), nullable=False),  # security.Role
    # the person a patient is (or a device belongs to); NULL for staff
    sa.Column("person_pk", PK, sa.ForeignKey("persons.pk", ondelete="CASCADE")),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("password_hash", sa.Text, nullable=False),  # argon2id
    sa.Column("totp_secret", sa.Text),  # envelope-encrypted base32 secret; NULL: not enrolled
    sa.Column("totp_last_step", sa.BigInteger),  # last accepted TOTP time step (no replay)
    sa.Column("preferences", sa.JSON, nullable=False),  # language, units
    sa.Column("failed_logins", sa.Integer, nullable=False),
    sa.Column("locked_until_us", TIME_US),
    sa.Column("disabled", sa.Boolean, nullable=False),
    sa.Column("created_us", TIME_US, nullable=False),
)

# Opaque bearer tokens; only their SHA-256 is stored, so a database reader cannot use them.
auth_tokens = sa.Table(
    "auth_tokens", metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # access, refresh, device
    sa.Column("user_pk", PK, sa.ForeignKey("users.pk", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("family", sa.String(64), nullable=False, index=True),  # one login's token chain
    sa.Column("issued_us", TIME_US, nullable=False),
    sa.Column("expires_us", TIME_US, nullable=False),
    sa.Column("last_used_us", TIME_US, nullable=False),
    sa.Column("revoked_us", TIME_US),
)

care_teams = sa.Table(
    "care_teams", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(120), nullable=False, unique=True),
)

care_team_members = sa.Table(
    "care_team_members", metadata,
    sa.Column("team_pk", PK, sa.ForeignKey("care_teams.pk", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("user_pk", PK, sa.ForeignKey("users.pk", ondelete="CASCADE"), primary_key=True),
)

# A patient's permit provision (FHIR Consent.provision): who, which data categories, for which
# purpose, during which period. No row: no access (deny by default).
consents = sa.Table(
    "consents", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    _person_fk(),
    sa.Column("grantee_kind", sa.String(16), nullable=False),  # user, team
    sa.Column("grantee", sa.String(120), nullable=False),  # username or team name
    sa.Column("categories", sa.JSON, nullable=False),  # list of security.Category values
    sa.Column("purpose", sa.String(32), nullable=False),  # security.Purpose
    sa.Column("start_us", TIME_US, nullable=False),
    sa.Column("end_us", TIME_US),  # NULL: until revoked
    sa.Column("created_us", TIME_US, nullable=False),
    sa.Column("created_by", sa.String(120), nullable=False),
    sa.Column("revoked_us", TIME_US),
    sa.Column("revoked_by", sa.String(120)),
    sa.Index("ix_consents_person_grantee", "person_pk", "grantee_kind", "grantee"),
)

# Emergency access without consent: a reason, a time limit and a review afterwards.
break_glass = sa.Table(
    "break_glass", metadata,
    sa.Column("pk", PK, primary_key=True, autoincrement=True),
    sa.Column("user_pk", PK, sa.ForeignKey("users.pk", ondelete="CASCADE"), nullable=False),
    _person_fk(),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("start_us", TIME_US, nullable=False),
    sa.Column("end_us", TIME_US, nullable=False),
    sa.Column("reviewed_us", TIME_US),
    sa.Column("reviewed_by", sa.String(120)),
    sa.Column("review_note", sa.Text, nullable=False),
)

device_credentials = sa.Table(
    "device_credentials", metadata,
    sa.Column("device_id", sa.String(200), sa.ForeignKey("devices.device_id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("secret_hash", sa.Text, nullable=False),  # argon2id of the device secret
    sa.Column("created_us", TIME_US, nullable=False),
    sa.Column("revoked_us", TIME_US),
)

# Append-only and hash-chained: each entry's ``hash`` covers its content and the previous hash,
# keyed so that someone who can write the table cannot recompute the chain.
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", PK, primary_key=True, autoincrement=True),
    sa.Column("t_us", TIME_US, nullable=False),
    sa.Column("actor", sa.String(120), nullable=False),
    sa.Column("role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(16), nullable=False),  # read, write, login, ...
    sa.Column("resource", sa.Text, nullable=False),  # route or object
    sa.Column("person_id", sa.String(64)),  # whose data (pseudonymous id)
    sa.Column("purpose", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),  # permit, deny, break-glass, error
    sa.Column("source", sa.String(120), nullable=False),  # client address, "cli", "engine"
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_person", "person_id", "t_us"),
)

# Credentials for the MQTT broker (Mosquitto's own PBKDF2-SHA512 format, written to its password
# file by ``hyperhealth mqtt-acl``): one per device and per user who subscribes to alerts.
broker_credentials = sa.Table(
    "broker_credentials", metadata,
    sa.Column("username", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),  # device, user, service
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("created_us", TIME_US, nullable=False),
    sa.Column("revoked_us", TIME_US),
)
