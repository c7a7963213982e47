"""The schema: SQLAlchemy 2 typed models, one `DeclarativeBase` with a naming convention.

Changes to this file always come with an Alembic migration in `migrations/versions/`;
`tests/test_migrations.py` fails when the two disagree.

Stable platform ids are strings (X ids exceed 2**53). Times are stored as naive UTC and
returned as aware UTC datetimes (`UTCDateTime`), the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Account health (SPEC §2).
ACCOUNT_STATUSES = ("active", "suspended", "deactivated", "auth_failed", "unknown")
# Snapshot lifecycle (SPEC §2, §5). Only `complete` (and accepted `suspect`) change relationships.
SNAPSHOT_STATUSES = ("running", "partial", "complete", "suspect", "failed")
RELATIONSHIP_KINDS = ("follower", "following", "connection", "subscriber")
CONSENT_STATUSES = ("opted_in", "unsubscribed", "unknown")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware UTC datetimes in, aware UTC datetimes out; stored naive UTC everywhere."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect) -> dt.datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite may hand back the stored text
            value = dt.datetime.fromisoformat(value)
        return value.replace(tzinfo=dt.timezone.utc)


# SQLite wants INTEGER PRIMARY KEY (a rowid alias) for autoincrementing ids; PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSON()}


class Account(Base):
    """One of the user's own accounts on a platform."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("platform", "handle"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    handle: Mapped[str] = mapped_column(String(255))
    platform_id: Mapped[str | None] = mapped_column(String(255))  # X accountId, Bluesky DID, ...
    label: Mapped[str | None] = mapped_column(String(255), unique=True)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_env: Mapped[str | None] = mapped_column(String(255))  # the NAME of the variable, never the secret
    server: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[str] = mapped_column(String(16), default="unknown")
    status_since: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def ref(self) -> str:
        return f"{self.platform}:{self.handle}"


class Person(Base):
    """One human or organisation behind profiles and contact points (filled by identity linking)."""

    __tablename__ = "persons"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Profile(Base):
    """Someone's account on a platform, keyed by (platform, stable platform id) as SPEC §2 says.

    A natural key, WITHOUT ROWID on SQLite: relationships and contact points refer to the same
    key, so applying a snapshot never has to map a million platform ids to surrogate ids (that
    mapping alone was a quarter of a 1M-follower import).
    """

    __tablename__ = "profiles"
    __table_args__ = (
        Index("ix_profiles_person_id", "person_id", sqlite_where=text("person_id IS NOT NULL"),
              postgresql_where=text("person_id IS NOT NULL")),
        {"sqlite_with_rowid": False},
    )

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    handle: Mapped[str | None] = mapped_column(String(512))
    display_name: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    followers_count: Mapped[int | None] = mapped_column(BigInteger)
    following_count: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[str | None] = mapped_column(Text)  # JSON text of platform-specific extras
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"))
    first_seen_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Snapshot(Base):
    """One read of one kind of relationship of one account from one source at one time."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_account_kind", "account_id", "kind", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(1024))  # "api" or the imported file's name
    status: Mapped[str] = mapped_column(String(16), default="running")
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]
    # The time the data describes: the fetch time for the API, the export's date for files.
    as_of: Mapped[dt.datetime]
    # Order in which complete snapshots of one (account, kind) were applied; NULL until applied.
    seq: Mapped[int | None] = mapped_column(Integer)
    cursor: Mapped[str | None] = mapped_column(Text)  # resumable position of an API snapshot
    pages: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(BigInteger, default=0)  # records staged so far
    count: Mapped[int | None] = mapped_column(BigInteger)
    gained: Mapped[int | None] = mapped_column(BigInteger)
    lost: Mapped[int | None] = mapped_column(BigInteger)
    bad_records: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    error: Mapped[str | None] = mapped_column(Text)


class SnapshotItem(Base):
    """Members of a snapshot that is not applied yet (staging).

    Append-only with a sequential key, so ingestion never does random index inserts; the
    rows are deleted when the snapshot is applied, so storage grows with change, not size.
    """

    __tablename__ = "snapshot_items"
    __table_args__ = {"sqlite_with_rowid": False}

    snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    platform_id: Mapped[str] = mapped_column(String(512))
    handle: Mapped[str | None] = mapped_column(String(512))
    display_name: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    bio: Mapped[str | None] = mapped_column(Text)
    website: Mapped[str | None] = mapped_column(Text)
    followers_count: Mapped[int | None] = mapped_column(BigInteger)
    following_count: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[str | None] = mapped_column(Text)
    contacts: Mapped[str | None] = mapped_column(Text)  # JSON list of [kind, value, consent] found in the record
    # NULL for a member of the snapshot; false for a record that only carries a profile and its
    # contacts (an unsubscribed newsletter reader, a vCard): stored, but no relationship.
    member: Mapped[bool | None] = mapped_column(Boolean)


class Relationship(Base):
    """account <-> profile of one kind, as an interval of snapshots.

    `since_snapshot_id` is the first complete snapshot that had it, `until_snapshot_id` the first
    complete snapshot that did not (NULL while current); their times are those snapshots'
    `as_of`. Leaving and coming back makes two rows. The profile is (platform, platform_id);
    `platform` is always the account's own.
    """

    __tablename__ = "relationships"
    __table_args__ = (
        ForeignKeyConstraint(["platform", "platform_id"], ["profiles.platform", "profiles.platform_id"], ondelete="CASCADE"),
        # At most one current interval per (account, kind, profile).
        Index(
            "uq_relationships_current",
            "account_id",
            "kind",
            "platform_id",
            unique=True,
            sqlite_where=text("until_snapshot_id IS NULL"),
            postgresql_where=text("until_snapshot_id IS NULL"),
        ),
        # "Who left in snapshot S": only closed intervals, so current ones cost no index entries.
        Index(
            "ix_relationships_until_snapshot_id",
            "until_snapshot_id",
            sqlite_where=text("until_snapshot_id IS NOT NULL"),
            postgresql_where=text("until_snapshot_id IS NOT NULL"),
        ),
        {"sqlite_with_rowid": False},
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    platform_id: Mapped[str] = mapped_column(String(512), primary_key=True)
    since_snapshot_id: Mapped[int] = mapped_column(ForeignKey("snapshots.id"), primary_key=True, index=True)
    platform: Mapped[str] = mapped_column(String(32))
    until_snapshot_id: Mapped[int | None] = mapped_column(ForeignKey("snapshots.id"))


class ContactPoint(Base):
    """An email, phone, website or handle elsewhere, normalized, with where it came from."""

    __tablename__ = "contact_points"
    __table_args__ = (
        ForeignKeyConstraint(["platform", "platform_id"], ["profiles.platform", "profiles.platform_id"], ondelete="CASCADE"),
        UniqueConstraint("platform", "platform_id", "kind", "value"),
        Index("ix_contact_points_kind_value", "kind", "value"),  # identity linking joins on it
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id", ondelete="SET NULL"), index=True)
    # The profile it was found on; NULL for contacts of a person alone (a vCard, say).
    platform: Mapped[str | None] = mapped_column(String(32))
    platform_id: Mapped[str | None] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16))  # email | phone | website | handle
    value: Mapped[str] = mapped_column(Text)  # normalized
    source: Mapped[str] = mapped_column(Text)  # which profile field or file it came from
    consent: Mapped[str | None] = mapped_column(String(16))  # email only: opted_in | unsubscribed | unknown
    # A link the platform verified (Mastodon's rel=me check: the profile field's `verified_at`).
    verified: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Suppression(Base):
    """An address or handle that is never exported to a mailing list and never messaged (SPEC §4 `optout`).

    Filled by hand (`audience optout`) and by imports: every address a newsletter export lists
    as unsubscribed or cleaned. An entry an import made (`account_id` set, reason
    `unsubscribed`) is lifted only when a later export of the same newsletter lists the address
    as subscribed again; a manual one only by hand. Entries outlive the account they came from.
    """

    __tablename__ = "suppressions"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email | handle
    value: Mapped[str] = mapped_column(Text)  # normalized (emails lower-cased)
    reason: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)  # the file or command it came from
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def _profile_pair_fks() -> tuple:
    return (
        ForeignKeyConstraint(["a_platform", "a_platform_id"], ["profiles.platform", "profiles.platform_id"], ondelete="CASCADE"),
        ForeignKeyConstraint(["b_platform", "b_platform_id"], ["profiles.platform", "profiles.platform_id"], ondelete="CASCADE"),
    )


class IdentityLink(Base):
    """Evidence that two profiles are the same person, found by `audience link` (SPEC §7).

    One row per pair and kind of evidence; the pair is stored in key order (a < b).
    """

    __tablename__ = "identity_links"
    __table_args__ = (
        *_profile_pair_fks(),
        UniqueConstraint("a_platform", "a_platform_id", "b_platform", "b_platform_id", "evidence"),
        Index("ix_identity_links_b", "b_platform", "b_platform_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    a_platform: Mapped[str] = mapped_column(String(32))
    a_platform_id: Mapped[str] = mapped_column(String(512))
    b_platform: Mapped[str] = mapped_column(String(32))
    b_platform_id: Mapped[str] = mapped_column(String(512))
    evidence: Mapped[str] = mapped_column(String(32))  # same_email | verified_link | mentions_both | ...
    matched: Mapped[str] = mapped_column(Text)  # the values that matched (JSON list)
    confidence: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class IdentityDecision(Base):
    """A manual identity decision that every later `link` run respects.

    `merge`: a and b are the same person (`people merge`). `split`: a and b are not
    (`people split` stores one for the profile split off and each profile it was with).
    """

    __tablename__ = "identity_decisions"
    __table_args__ = (*_profile_pair_fks(), UniqueConstraint("a_platform", "a_platform_id", "b_platform", "b_platform_id"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # merge | split
    a_platform: Mapped[str] = mapped_column(String(32))
    a_platform_id: Mapped[str] = mapped_column(String(512))
    b_platform: Mapped[str] = mapped_column(String(32))
    b_platform_id: Mapped[str] = mapped_column(String(512))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class PersonTag(Base):
    """A segment label on a person: set by hand (`source` = manual) or by a tag rule (`rule:<id>`)."""

    __tablename__ = "person_tags"

    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class TagRule(Base):
    """`tag rule add TAG --platform P | --account A | --kind K`: applied on every link run."""

    __tablename__ = "tag_rules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tag: Mapped[str] = mapped_column(String(64))
    platform: Mapped[str | None] = mapped_column(String(32))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class LinkRun(Base):
    """One `audience link` run: what it saw and found; the next run re-reads only newer profiles."""

    __tablename__ = "link_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    profiles_read: Mapped[int] = mapped_column(BigInteger, default=0)
    persons: Mapped[int] = mapped_column(BigInteger, default=0)
    links: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[str | None] = mapped_column(Text)  # JSON: values shared by too many profiles, clusters refused
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


# Invite campaigns (SPEC §8). Message states: planned -> sending -> sent | failed | skipped;
# `sending` found after a crash becomes `unknown` (it may or may not have gone out).
CAMPAIGN_STATUSES = ("active", "paused")
MESSAGE_STATES = ("planned", "sending", "sent", "failed", "skipped", "unknown")


class Campaign(Base):
    """An invite campaign: who (filters), through which channel, which template, at which pace.

    `target` is what the campaign invites to (the link without its query, or the name): a
    person reached by another campaign for the same target recently is left out. `budget_key`
    names the sending budget shared by every campaign that sends through the same account or
    email domain (the platform's limits are per account, not per campaign). `settings` holds
    channel settings (SMTP URL without password, the *name* of the password variable, footer,
    unsubscribe addresses); never a secret.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(1024), index=True)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    sender: Mapped[str | None] = mapped_column(String(512))  # account ref or From address
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"))
    budget_key: Mapped[str] = mapped_column(String(512))
    per_day: Mapped[int] = mapped_column(Integer)
    per_hour: Mapped[int] = mapped_column(Integer)
    min_interval: Mapped[float] = mapped_column(Float)  # seconds between two sends, before jitter
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    pause_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CampaignMessage(Base):
    """One recipient of a campaign and what happened to their message.

    `person_id` has no foreign key on purpose: a merge deletes the person it folds in, and the
    record that someone was messaged must outlive that (the unique address per campaign keeps
    "never twice" across merges). `ref` is the code appended to the campaign's link, so a later
    import of sign-ups can credit the campaign.
    """

    __tablename__ = "campaign_messages"
    __table_args__ = (
        UniqueConstraint("campaign_id", "person_id"),
        UniqueConstraint("campaign_id", "address"),
        Index("ix_campaign_messages_campaign_id_state", "campaign_id", "state", "seq"),
        Index("ix_campaign_messages_claimed_at", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(BigInteger)
    seq: Mapped[int] = mapped_column(Integer)  # send order: by the recipient's own reach
    recipient: Mapped[str | None] = mapped_column(Text)  # a display name, for status
    channel: Mapped[str] = mapped_column(String(16))  # the campaign's, or for `manual` the row's
    address: Mapped[str] = mapped_column(String(1024))  # email, user@host, handle or DID
    platform_id: Mapped[str | None] = mapped_column(String(512))  # DID, X id, Mastodon URI
    reach: Mapped[int | None] = mapped_column(BigInteger)  # the recipient's own followers_count
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="planned")
    variant: Mapped[int | None] = mapped_column(Integer)
    text: Mapped[str | None] = mapped_column(Text)  # what went (or was going) out
    provider_id: Mapped[str | None] = mapped_column(String(512))  # Message-ID, status id, message id
    reason: Mapped[str | None] = mapped_column(Text)  # why skipped, failed or unknown
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    planned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[dt.datetime | None]  # when it went to `sending`
    finished_at: Mapped[dt.datetime | None]
