"""The registry's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

The rule "at most one production version per spec" lives in the database as a partial unique index,
so no code path (nor a hand-written UPDATE) can break it; the API's locking only decides who waits.
"""

from __future__ import annotations

import sqlalchemy as sa

from batch_training.registry.versions import PRODUCTION, STATUSES

metadata = sa.MetaData()

_STATUS_LIST = ", ".join(f"'{s}'" for s in STATUSES)

model_versions = sa.Table(
    "model_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("spec", sa.String(200), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("data_window", sa.JSON, nullable=False),
    sa.Column("data_version", sa.Text, nullable=False),
    sa.Column("code_version", sa.Text, nullable=False),
    sa.Column("metrics", sa.JSON, nullable=False),
    sa.Column("artifact_uri", sa.Text, nullable=False),
    sa.Column("bundle_uri", sa.Text),
    sa.Column("bundle_hash", sa.Text),
    sa.Column("image_ref", sa.Text),
    sa.Column("image_digest", sa.Text),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("spec", "version", name="uq_model_versions_spec_version"),
    sa.CheckConstraint(f"status IN ({_STATUS_LIST})", name="ck_model_versions_status"),
)

sa.Index(
    "uq_model_versions_one_production",
    model_versions.c.spec,
    unique=True,
    sqlite_where=model_versions.c.status == PRODUCTION,
    postgresql_where=model_versions.c.status == PRODUCTION,
)

# Append-only: the API inserts rows and never updates or deletes them.
promotions = sa.Table(
    "promotions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("spec", sa.String(200), nullable=False),
    sa.Column("version", sa.String(200), nullable=False),
    sa.Column("from_status", sa.String(20)),  # NULL: the version was registered with to_status
    sa.Column("to_status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(["spec", "version"], ["model_versions.spec", "model_versions.version"],
                            name="fk_promotions_model_version"),
    sa.CheckConstraint(f"to_status IN ({_STATUS_LIST})", name="ck_promotions_to_status"),
    sa.CheckConstraint("length(trim(reason)) > 0", name="ck_promotions_reason"),
    sa.Index("ix_promotions_spec", "spec", "id"),
)
