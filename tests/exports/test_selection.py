"""exporters.selection on SQLite and PostgreSQL: every filter alone and combined, the views
iter_people builds (consent merged, suppression marked), batching, and the option parsing."""

from __future__ import annotations

import pytest
import typer
from sqlalchemy import Engine, select

from backup.db.engine import write
from backup.db.models import Suppression
from backup.errors import UsageError
from exporters.selection import (
    AccountOpt,
    Filters,
    KindOpt,
    NotOnOpt,
    PersonView,
    PlatformOpt,
    ReachableOnlyOpt,
    TagOpt,
    count_people,
    filters_from,
    is_suppressed,
    iter_people,
    person_ids,
    person_ids_query,
    suppressed_values,
)

from .world import DID_ED, HOSTILE, T0, T1, build

ALL = [1, 2, 3, 4, 5, 6, 7, 8]


@pytest.fixture
def world(engine: Engine) -> Engine:
    build(engine)
    return engine


def ids(engine: Engine, **kwargs) -> list[int]:
    with engine.connect() as conn:
        return person_ids(conn, filters_from(**kwargs))


def test_each_filter_selects_exactly(world: Engine):
    assert ids(world) == ALL
    assert ids(world, tag=["personal"]) == [2, 7]
    assert ids(world, tag=["personal", "professional"]) == [1, 2, 7]
    assert ids(world, tag=["personal,professional"]) == [1, 2, 7]  # a comma separates values too
    assert ids(world, tag=["nobody"]) == []
    assert ids(world, platform=["x"]) == [1, 3, 8]
    assert ids(world, platform=["mastodon", "bluesky"]) == [2, 5, 7]
    # --account: a CURRENT relationship (Cy left x:ana)
    assert ids(world, account=["x:ana"]) == [1, 8]
    assert ids(world, account=["ana-x"]) == [1, 8]  # by label
    assert ids(world, account=["2"]) == [2]  # by id
    assert ids(world, kind=["follower"]) == [1, 2, 8]
    assert ids(world, kind=["subscriber"]) == [1]
    assert ids(world, kind=["following"]) == [2]
    # --account with --kind: one relationship that is both
    assert ids(world, account=["x:ana"], kind=["subscriber"]) == []
    assert ids(world, account=["newsletter:letters"], kind=["subscriber"]) == [1]
    # --not-on: no current relationship with any of my accounts there
    assert ids(world, not_on=["x"]) == [2, 3, 4, 5, 6, 7]
    assert ids(world, not_on=["mastodon"]) == [1, 3, 4, 5, 6, 7, 8]
    assert ids(world, not_on=["bluesky"]) == ALL  # my Bluesky account has no relationships yet
    # --reachable-only: a usable email/phone, or a current relationship
    # Cy: unsubscribed and left; Ed: his only address was unsubscribed somewhere; Fay: a profile, no relationship
    assert ids(world, reachable_only=True) == [1, 2, 4, 6, 8]


def test_filters_combine_with_and(world: Engine):
    assert ids(world, tag=["personal"], not_on=["mastodon"]) == [7]
    assert ids(world, platform=["x"], reachable_only=True) == [1, 8]
    assert ids(world, platform=["x"], not_on=["x"]) == [3]
    with world.connect() as conn:
        f = filters_from(tag=["personal"], platform=["mastodon"])
        assert count_people(conn, f) == 2
        # usable inside IN (...)
        from backup.db.models import Person

        names = conn.execute(select(Person.name).where(Person.id.in_(person_ids_query(conn, f))).order_by(Person.id)).scalars().all()
        assert names == ["Bo Lindqvist", "Fay"]


def test_bad_values_are_usage_errors(world: Engine):
    with pytest.raises(UsageError, match="unknown platform"):
        filters_from(platform=["myspace"])
    with pytest.raises(UsageError, match="unknown platform"):
        filters_from(not_on=["nowhere"])
    with pytest.raises(UsageError, match="unknown kind"):
        filters_from(kind=["fan"])
    with pytest.raises(UsageError, match="longer than"):
        filters_from(tag=["t" * 65])
    with world.connect() as conn, pytest.raises(UsageError, match="no account"):
        person_ids(conn, filters_from(account=["x:nobody"]))
    assert filters_from(platform=["X", " mastodon "]).platforms == ("x", "mastodon")
    assert filters_from(kind=["Follower"]).kinds == ("follower",)


def test_describe():
    assert Filters().describe() == "everyone"
    assert Filters().empty and not Filters(reachable_only=True).empty
    f = filters_from(tag=["professional"], not_on=["mastodon"])
    assert f.describe() == "tag=professional, not on mastodon"
    assert filters_from(account=["x:ana"], kind=["follower"]).describe() == "follower of x:ana"
    assert "reachable only" in filters_from(reachable_only=True, platform=["x"]).describe()


def people(engine: Engine, batch: int = 3, **kwargs) -> dict[int, PersonView]:
    with engine.connect() as conn:
        return {p.id: p for p in iter_people(conn, filters_from(**kwargs), batch=batch)}


def test_views_carry_profiles_relationships_contacts_tags(world: Engine):
    got = people(world)
    assert list(got) == ALL
    ada = got[1]
    assert ada.name == "Ada Lovelace" and ada.tags == ["professional"]
    assert [(p.platform, p.platform_id) for p in ada.profiles] == [("newsletter", "ada@example.org"), ("x", "101")]
    x = ada.profiles[1]
    assert x.handle == "ada" and x.url == "https://twitter.com/intent/user?user_id=101"
    assert x.relationships == [("x:ana", "follower", T0, None)] and x.relationships[0].current
    assert x.first_seen == T0
    # the profile's own handle (source self) is not a contact; the bio address is, unknown
    assert [(c.kind, c.value, c.consent) for c in ada.contacts] == [
        ("email", "ada.work@example.org", None), ("email", "ada@example.org", "opted_in")]
    assert [c.value for c in ada.emails()] == ["ada@example.org"]
    assert [c.value for c in ada.emails(include_unconsented=True)] == ["ada@example.org", "ada.work@example.org"]
    assert ada.best_email().value == "ada@example.org"

    cy = got[3]
    assert cy.profiles[1].relationships == [("x:ana", "follower", T0, T1)] and not cy.current_relationships()
    assert cy.contacts[0].consent == "unsubscribed" and cy.contacts[0].suppressed and cy.best_email(include_unconsented=True) is None

    di = got[4]
    assert [(c.kind, c.suppressed) for c in di.contacts] == [("email", True), ("phone", False)]
    assert di.best_email(include_unconsented=True) is None

    ed = got[5]
    (email,) = [c for c in ed.contacts if c.kind == "email"]
    assert email.consent == "unsubscribed" and email.source == "old-letters.csv" and not email.usable
    assert [c.value for c in ed.handles_on("mastodon")] == ["mastodon:ed@social.example"]
    assert ed.handles_on("mastodon")[0].ident == "ed@social.example"
    assert ed.profiles[0].platform_id == DID_ED

    hostile = got[6]
    assert hostile.name == HOSTILE and hostile.profiles == [] and hostile.tags == ["=HYPERLINK(1)"]
    assert [(c.kind, c.value) for c in hostile.contacts] == [("email", "hostile@example.org"), ("handle", "x:hostile")]
    assert hostile.label == HOSTILE

    gus = got[8]
    assert gus.profiles[0].suppressed and not got[1].profiles[1].suppressed
    bo = got[2]
    assert bo.first_seen == T1 and {r.kind for r in bo.current_relationships()} == {"follower", "following"}


@pytest.mark.parametrize("batch", [1, 2, 5, 1000])
def test_batches_give_the_same_people(world: Engine, batch: int):
    with world.connect() as conn:
        whole = list(iter_people(conn, Filters(), batch=1000))
        parts = list(iter_people(conn, Filters(), batch=batch))
        filtered = [p.id for p in iter_people(conn, filters_from(tag=["personal"], platform=["mastodon"]), batch=batch)]
    assert parts == whole
    assert filtered == [2, 7]


def test_sparse_ids_use_the_in_list(world: Engine):
    """Persons 1 and 8 only: far apart ids in one batch, fetched by id list, not by range."""
    with world.connect() as conn:
        got = [p.id for p in iter_people(conn, filters_from(account=["x:ana"]), batch=10)]
        assert got == [1, 8]
        (gus,) = [p for p in iter_people(conn, filters_from(account=["x:ana"]), batch=10) if p.id == 8]
        assert [p.platform_id for p in gus.profiles] == ["108"]


def test_suppression_lookups(world: Engine):
    with world.connect() as conn:
        assert suppressed_values(conn) == {("email", "di@example.net"), ("email", "cy@example.com"), ("handle", "x:gus")}
        assert is_suppressed(conn, "email", " DI@Example.NET ")
        assert is_suppressed(conn, "handle", "x:@Gus")
        assert not is_suppressed(conn, "email", "ada@example.org")
    with write(world) as conn:
        conn.execute(Suppression.__table__.insert().values(kind="handle", value="mastodon:fay@mastodon.social", reason="manual", created_at=T0))
    with world.connect() as conn:
        assert is_suppressed(conn, "handle", "@fay@Mastodon.Social")
        fay = next(p for p in iter_people(conn, Filters()) if p.id == 7)
        assert fay.profiles[0].suppressed


def test_option_types_parse_on_a_command():
    """The Annotated option types work on a real Typer command, repeatable."""
    from typer.testing import CliRunner

    app = typer.Typer()
    seen = {}

    @app.command()
    def cmd(tag: TagOpt = None, platform: PlatformOpt = None, account: AccountOpt = None, kind: KindOpt = None,
            not_on: NotOnOpt = None, reachable_only: ReachableOnlyOpt = False) -> None:
        seen["f"] = filters_from(tag, platform, account, kind, not_on, reachable_only)

    result = CliRunner().invoke(app, ["--tag", "a", "--tag", "b", "--platform", "x", "--account", "x:ana", "--kind", "follower",
                                      "--not-on", "mastodon", "--reachable-only"])
    assert result.exit_code == 0, result.output
    assert seen["f"] == Filters(("a", "b"), ("x",), ("x:ana",), ("follower",), ("mastodon",), True)


@pytest.mark.parametrize("key", ["101", "1000000000000000001", "12345678901234567890"])
def test_the_fast_x_link_is_profile_url(key: str):
    """iter_people builds an X id's link itself (a million of them); it must be profile_url's."""
    from backup.profiles import profile_url
    from exporters.selection import _X_INTENT

    assert _X_INTENT + key == profile_url("x", key)
