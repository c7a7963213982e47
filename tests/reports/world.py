"""A constructed store whose report numbers are known by hand, one person per rule.

Rows are written directly (persons assigned by hand, no linking), so each expectation in the
tests follows from the table below, not from the code under test.

Accounts: 1 ``x:ana`` (active), 2 ``mastodon:ana@social.example`` (active),
3 ``newsletter:letters`` (active), 4 ``bluesky:ana.example.com`` (**suspended**),
5 ``contacts:address-book`` (no audience).

Followers of ``x:ana`` (current unless said), one person each unless said:

====  =========================================================================  ===================
P1    also follows mastodon:ana                                                  following_elsewhere
P2    a newsletter subscriber (opted in, subscriber of letters)                  following_elsewhere
P3    an opted-in address from an import, no relationship                         following_elsewhere
P4    also follows bluesky:ana, which is suspended: that is no refuge            known_elsewhere
P5    an address in the bio (consent unknown)                                    contactable
P6    a phone number in the address book                                         contactable
P7    an address on the suppression list                                         unreachable
P8    an address someone else's newsletter lists as unsubscribed                 unreachable
P9    opted in on one newsletter, unsubscribed on another (unsubscribe wins)     unreachable
P10   a Mastodon handle named in the bio                                          known_elsewhere
P11   an X handle in the bio (same platform: no refuge)                           unreachable
P12   a Bluesky handle in the bio that is suppressed                             unreachable
P13   two X profiles, both following (two members, one person)                    unreachable ×2
P14   left (interval closed): not in the audience                                 –
P15   followed by x:ana only (kind following): not in the audience                –
P16   a Mastodon profile that mastodon:ana follows (not a follower)               known_elsewhere
P17   5,000 followers of their own                                                unreachable
P18   100 followers of their own                                                  unreachable
P19   a Bluesky profile whose own handle is suppressed                            unreachable
P20   an address held by the person alone (no profile)                            contactable
====  =========================================================================  ===================

``x:ana``: audience 19 = 3 following_elsewhere + 3 contactable + 3 known_elsewhere +
10 unreachable; by channel email 4 (P2, P3, P5, P20), newsletter 2 (P2, P3), phone 1 (P6),
mastodon 3 (P1, P10, P16), bluesky 1 (P4). Top unreachable: P17, P18, then the rest by id.

``mastodon:ana``: audience 1 (P1, following_elsewhere). ``newsletter:letters``: 1 (P2,
following_elsewhere). ``bluesky:ana`` (suspended): 2, P4 following_elsewhere (x:ana stands),
P21 unreachable. Overall 12 of 23; 19 people.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert

from backup.db.engine import write
from backup.db.models import (
    Account,
    ContactPoint,
    LinkRun,
    Person,
    Profile,
    Relationship,
    Snapshot,
    Suppression,
    utcnow,
)

T0 = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
T2 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
X_AUDIENCE = 19
EXPECTED_X_TIERS = {"following_elsewhere": 3, "contactable": 3, "known_elsewhere": 3, "unreachable": 10}
EXPECTED_X_CHANNELS = {"email": 4, "newsletter": 2, "phone": 1, "mastodon": 3, "bluesky": 1}


def _profile(platform, platform_id, person, *, handle=None, name=None, followers=None, bio=None, url=None):
    return {"platform": platform, "platform_id": platform_id, "handle": handle, "display_name": name, "url": url,
            "bio": bio, "followers_count": followers, "person_id": person, "first_seen_at": T0, "updated_at": T0}


def _contact(platform, platform_id, kind, value, source="profile:bio", consent=None, person=None):
    return {"platform": platform, "platform_id": platform_id, "kind": kind, "value": value, "source": source,
            "consent": consent, "person_id": person, "verified": None, "created_at": T0}


def _rel(account, kind, platform, platform_id, since, until=None):
    return {"account_id": account, "kind": kind, "platform": platform, "platform_id": platform_id,
            "since_snapshot_id": since, "until_snapshot_id": until}


def build(engine: Engine, *, names: dict[int, str] | None = None, bios: dict[int, str] | None = None,
          urls: dict[int, str] | None = None) -> None:
    """The store above; ``names``/``bios``/``urls`` replace the X profile's display name, bio or
    URL of person N (the hostile-input tests)."""
    names, bios, urls = names or {}, bios or {}, urls or {}
    with write(engine) as conn:
        conn.execute(insert(Account), [
            {"id": 1, "platform": "x", "handle": "ana", "label": "ana-x", "tags": [], "status": "active",
             "status_since": T0, "created_at": T0},
            {"id": 2, "platform": "mastodon", "handle": "ana@social.example", "label": None, "tags": [], "status": "active",
             "status_since": T0, "created_at": T0},
            {"id": 3, "platform": "newsletter", "handle": "letters", "label": None, "tags": [], "status": "active",
             "status_since": T0, "created_at": T0},
            {"id": 4, "platform": "bluesky", "handle": "ana.example.com", "label": None, "tags": [], "status": "suspended",
             "status_since": T2, "created_at": T0},
            {"id": 5, "platform": "contacts", "handle": "address-book", "label": None, "tags": [], "status": "unknown", "status_since": None,
             "created_at": T0},
        ])
        snap = {"source": "api", "status": "complete"}
        conn.execute(insert(Snapshot), [
            {"id": 1, "account_id": 1, "kind": "follower", "as_of": T0, "started_at": T0, "finished_at": T0, "seq": 1, "count": 15, **snap},
            {"id": 2, "account_id": 1, "kind": "follower", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 2, "count": 17, **snap},
            {"id": 3, "account_id": 1, "kind": "follower", "as_of": T2, "started_at": T2, "finished_at": T2, "seq": 3, "count": X_AUDIENCE, **snap},
            {"id": 4, "account_id": 2, "kind": "follower", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 1, "count": 1, **snap},
            {"id": 5, "account_id": 2, "kind": "following", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 1, "count": 1, **snap},
            {"id": 6, "account_id": 3, "kind": "subscriber", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 1, "count": 1, **snap},
            {"id": 7, "account_id": 4, "kind": "follower", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 1, "count": 2, **snap},
            {"id": 8, "account_id": 1, "kind": "following", "as_of": T1, "started_at": T1, "finished_at": T1, "seq": 1, "count": 1, **snap},
            # a snapshot that never completed: not in the history
            {"id": 9, "account_id": 1, "kind": "follower", "as_of": T2, "started_at": T2, "finished_at": None, "seq": None,
             "count": None, "source": "api", "status": "partial"},
        ])
        conn.execute(insert(Person), [{"id": i, "name": f"Person {i}", "created_at": T0} for i in range(1, 23)])

        def x(n: int, **kw):
            kw.setdefault("handle", f"p{n}")
            kw.setdefault("name", names.get(n, f"Person {n}"))
            if n in bios:
                kw["bio"] = bios[n]
            if n in urls:
                kw["url"] = urls[n]
            return _profile("x", str(1000 + n), n, **kw)

        conn.execute(insert(Profile), [
            *[x(n) for n in range(1, 17) if n != 13],
            x(13, handle="p13a"), _profile("x", "1013b", 13, handle="p13b", name="Person 13 (2nd)"),
            x(17, followers=5000), x(18, followers=100), x(19), x(20),
            _profile("mastodon", "p1@social.example", 1, handle="p1@social.example"),
            _profile("newsletter", "p2@example.org", 2),
            _profile("contacts", "uid-3", 3, name="Person 3"),
            _profile("bluesky", "did:plc:p4", 4, handle="p4.bsky.social"),
            _profile("contacts", "uid-6", 6, name="Person 6"),
            _profile("newsletter", "p8-other@example.org", 22),
            _profile("newsletter", "p9@example.org", 9),
            _profile("contacts", "uid-9", 9),
            _profile("mastodon", "p16@social.example", 16, handle="p16@social.example"),
            _profile("bluesky", "did:plc:p19", 19, handle="p19.bsky.social"),
            _profile("bluesky", "did:plc:p21", 21, handle="p21.bsky.social"),
        ])
        followers = [n for n in range(1, 21) if n not in (13, 14, 15)]
        conn.execute(insert(Relationship), [
            *[_rel(1, "follower", "x", str(1000 + n), 1 if n < 17 else 3) for n in followers],
            _rel(1, "follower", "x", "1013", 1), _rel(1, "follower", "x", "1013b", 2),
            _rel(1, "follower", "x", "1014", 1, until=2),
            _rel(1, "following", "x", "1015", 8),
            _rel(2, "follower", "mastodon", "p1@social.example", 4),
            _rel(2, "following", "mastodon", "p16@social.example", 5),
            _rel(3, "subscriber", "newsletter", "p2@example.org", 6),
            _rel(4, "follower", "bluesky", "did:plc:p4", 7),
            _rel(4, "follower", "bluesky", "did:plc:p21", 7),
        ])
        conn.execute(insert(ContactPoint), [
            _contact("newsletter", "p2@example.org", "email", "p2@example.org", "letters.csv", "opted_in"),
            _contact("contacts", "uid-3", "email", "p3@example.org", "signups.csv", "opted_in"),
            _contact("x", "1005", "email", "p5@example.org", consent="unknown"),
            _contact("contacts", "uid-6", "phone", "+442079460958", "contacts.vcf"),
            _contact("x", "1007", "email", "p7@example.org", consent="unknown"),
            _contact("x", "1008", "email", "p8@example.org", consent="unknown"),
            _contact("newsletter", "p8-other@example.org", "email", "p8@example.org", "other-letters.csv", "unsubscribed"),
            _contact("newsletter", "p9@example.org", "email", "p9@example.org", "letters.csv", "opted_in"),
            _contact("contacts", "uid-9", "email", "p9@example.org", "old-letters.csv", "unsubscribed"),
            _contact("x", "1010", "handle", "mastodon:p10@social.example"),
            _contact("x", "1011", "handle", "x:someone_else"),
            _contact("x", "1012", "handle", "bluesky:p12.bsky.social"),
            _contact("bluesky", "did:plc:p19", "handle", "bluesky:p19.bsky.social", "self"),
            _contact(None, None, "email", "p20@example.org", "manual.csv", "unknown", person=20),
        ])
        conn.execute(insert(Suppression), [
            {"kind": "email", "value": "p7@example.org", "reason": "manual", "source": "optout", "created_at": T0},
            {"kind": "handle", "value": "bluesky:p12.bsky.social", "reason": "manual", "source": "optout", "created_at": T0},
            {"kind": "handle", "value": "bluesky:p19.bsky.social", "reason": "manual", "source": "optout", "created_at": T0},
        ])
        if conn.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for table in ("persons", "contact_points", "suppressions", "accounts", "snapshots"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")


def mark_linked(engine: Engine) -> None:
    """Record a finished link run after the rows above, so that the report commands
    (``ensure_linked``) keep the persons as assigned here instead of linking them anew."""
    now = utcnow()
    with write(engine) as conn:
        conn.execute(insert(LinkRun).values(started_at=now, finished_at=now, created_at=now))
