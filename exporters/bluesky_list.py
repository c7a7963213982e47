"""`audience export follows --platform bluesky --create-list NAME [--starter-pack]`: a Bluesky
list (and a starter pack) of the people in the follow list, written to the user's repository.

AT Protocol records, written with ``com.atproto.repo.createRecord`` through an app-password
session (``backup.connectors.bluesky``: one ``createSession``, its token reused and
refreshed): one ``app.bsky.graph.list`` (purpose ``curatelist``, or ``referencelist`` when a
starter pack points at it, as the Bluesky app makes them), one ``app.bsky.graph.listitem``
per member (``subject`` = the member's DID), and for ``--starter-pack`` one
``app.bsky.graph.starterpack`` naming the list (lexicons ``app/bsky/graph/{list,listitem,
starterpack}.json``). Handles without a known DID are resolved with
``com.atproto.identity.resolveHandle``; those that do not resolve are skipped and counted.

Running it again never duplicates: a list of this name already in the repository is reused
(``com.atproto.repo.listRecords``), members already in it are skipped, and so is an
existing starter pack for it. A run cut short (the rate limit: each list item costs 3 of the
5,000 write points per hour) therefore continues where it stopped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backup.config import secret
from backup.connectors import get as get_connector
from backup.connectors.http import NotFound, RequestRefused
from backup.db.models import Account
from backup.errors import AccountSuspended, ConfigError, UsageError

from .follows import Follow

log = logging.getLogger(__name__)

MAX_LIST_NAME = 64  # app.bsky.graph.list name: maxLength 64 (graphemes)
MAX_PACK_NAME = 50  # app.bsky.graph.starterpack name: maxGraphemes 50
LIST_PAGE = 100  # listRecords limit: 1-100
CREATE = "/xrpc/com.atproto.repo.createRecord"


@dataclass
class BlueskyListResult:
    list_uri: str
    list_url: str
    created: bool  # False: an existing list of that name was reused
    added: int = 0
    already: int = 0
    unresolved: list[str] = field(default_factory=list)
    starter_pack_uri: str | None = None
    starter_pack_url: str | None = None


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _rkey(uri: str) -> str:
    return uri.rstrip("/").rpartition("/")[2]


class _Repo:
    def __init__(self, connector, did: str):
        self.c = connector
        self.did = did

    def records(self, collection: str) -> Iterator[dict]:
        cursor = None
        while True:
            params: dict[str, Any] = {"repo": self.did, "collection": collection, "limit": LIST_PAGE}
            if cursor:
                params["cursor"] = cursor
            body = self.c.http.get_json("/xrpc/com.atproto.repo.listRecords", params=params)
            records = body.get("records") if isinstance(body, dict) else None
            if not isinstance(records, list):
                return
            for r in records:
                if isinstance(r, dict) and isinstance(r.get("value"), dict) and isinstance(r.get("uri"), str):
                    yield r
            cursor = body.get("cursor")
            if not cursor or not records:
                return

    def create(self, collection: str, record: dict) -> str:
        body = self.c.http.json(self.c.http.request("POST", CREATE, json={
            "repo": self.did, "collection": collection, "record": {"$type": collection, **record},
        }, bucket="write"))
        uri = body.get("uri") if isinstance(body, dict) else None
        if not isinstance(uri, str) or not uri.startswith("at://"):
            from backup.connectors.http import BadResponse

            raise BadResponse(f"bluesky: createRecord of {collection} returned no record URI")
        return uri

    def resolve(self, handle: str) -> str | None:
        try:
            body = self.c.http.get_json("/xrpc/com.atproto.identity.resolveHandle", params={"handle": handle})
        except (NotFound, RequestRefused):
            return None
        did = body.get("did") if isinstance(body, dict) else None
        return did if isinstance(did, str) and did.startswith("did:") else None


def connect(account: Account, *, client_options: dict | None = None):
    """The Bluesky connector of one of my accounts, logged in with its app password."""
    if account.platform != "bluesky":
        raise UsageError(f"{account.ref} is not a Bluesky account")
    if not account.token_env:
        raise ConfigError(
            f"{account.ref} has no app password configured, and creating a list needs one",
            hint=f"create an app password on Bluesky, then: audience accounts remove {account.ref} && "
                 f"audience accounts add bluesky {account.handle} --token-env BLUESKY_APP_PASSWORD",
        )
    connector = get_connector("bluesky")(
        handle=account.handle, platform_id=account.platform_id, server=account.server,
        secret=secret(account.token_env), client_options=client_options,
    )
    own = connector.own_account()
    if own.status in ("suspended", "deactivated"):
        raise AccountSuspended(f"{account.ref} is {own.status} on Bluesky ({own.detail or 'no detail'}); no list was created")
    if own.status != "active" or not own.platform_id:
        raise ConfigError(f"{account.ref}: Bluesky did not accept the app password ({own.detail or own.status})",
                          hint=f"check the app password in ${account.token_env}")
    return connector, own


def create_list(
    account: Account, name: str, entries: list[Follow], *, starter_pack: bool = False,
    description: str | None = None, client_options: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> BlueskyListResult:
    """Create (or continue) the list ``name`` in ``account``'s repository with ``entries``."""
    name = " ".join((name or "").split())
    if not name:
        raise UsageError("--create-list needs a list name")
    list_name = name[:MAX_LIST_NAME]
    connector, own = connect(account, client_options=client_options)
    repo = _Repo(connector, own.platform_id)
    profile_ref = own.handle or own.platform_id

    existing = next((r for r in repo.records("app.bsky.graph.list") if r["value"].get("name") == list_name), None)
    if existing is not None:
        list_uri, created = existing["uri"], False
    else:
        record = {"purpose": "app.bsky.graph.defs#referencelist" if starter_pack else "app.bsky.graph.defs#curatelist",
                  "name": list_name, "createdAt": _now()}
        if description:
            record["description"] = description[:300]
        list_uri, created = repo.create("app.bsky.graph.list", record), True
    result = BlueskyListResult(list_uri, f"https://bsky.app/profile/{profile_ref}/lists/{_rkey(list_uri)}", created)

    members = set()
    if not created:
        members = {r["value"].get("subject") for r in repo.records("app.bsky.graph.listitem") if r["value"].get("list") == list_uri}
    wanted: list[str] = []
    for e in entries:
        did = e.platform_id if e.platform_id and e.platform_id.startswith("did:") else None
        if did is None and e.handle:
            did = repo.resolve(e.handle)
        if did is None:
            result.unresolved.append(e.handle or "?")
            continue
        if did not in wanted:
            wanted.append(did)
    for i, did in enumerate(wanted, 1):
        if did in members:
            result.already += 1
            continue
        repo.create("app.bsky.graph.listitem", {"subject": did, "list": list_uri, "createdAt": _now()})
        members.add(did)
        result.added += 1
        if progress:
            progress(i, len(wanted))
    if starter_pack:
        pack = next((r for r in repo.records("app.bsky.graph.starterpack") if r["value"].get("list") == list_uri), None)
        uri = pack["uri"] if pack else repo.create("app.bsky.graph.starterpack", {
            "name": name[:MAX_PACK_NAME], "list": list_uri, "createdAt": _now(),
            **({"description": description[:300]} if description else {}),
        })
        result.starter_pack_uri = uri
        result.starter_pack_url = f"https://bsky.app/starter-pack/{profile_ref}/{_rkey(uri)}"
    log.info("bluesky list %s: %d added, %d already in it, %d unresolved", list_uri, result.added, result.already, len(result.unresolved))
    return result
