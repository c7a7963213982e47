"""The two "Done means" stories of issue 8, end to end through the command line, on SQLite
and PostgreSQL, against a real local SMTP server and a fake Mastodon:

1. invite my LinkedIn connections who have an email to the newsletter. Their addresses have no
   recorded opt-in (reliability check 35; Mailchimp: LinkedIn connections are not permission):
   no email goes to them and `--include-unconsented` is refused for email; they get personal
   invitations in a CSV (`--channel manual --include-unconsented`) that I send by hand. Only
   the connections who opted in to my newsletter elsewhere (the bundled Substack export) get
   an email;
2. invite my X followers known on Mastodon to follow my Mastodon account;

each with a preview first, a dry run, a safe pace, and a status that says who got what.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from exporters.campaigns.pacing import CHANNEL_PACE

from .fakes import MastodonDM, Reply

LINKEDIN_EMAILS = {  # examples/linkedin-export/Connections.csv: the connections with an address
    "carmen.ruiz@example.com", "grace@grace.dev", "elif@example.net", "wei@guo.example",
    "kwame.mensah@example.org", "priya.raman@example.com", "hana@example.org",
}
PERSONAL_TEMPLATE = """Hi {{ first_name }}, it's Ada. I started a monthly letter about open maps and thought of you: {{ link }}
No list, no follow-up: just this note.
---
Hello {{ first_name }}! I write a small newsletter now; if it sounds like your thing: {{ link }}
"""
MOVING_TEMPLATE = """Subject: My newsletter moves, {{ first_name }}
Hi {{ first_name }}, my monthly letter about open maps leaves Substack. Follow it here: {{ link }}
---
Subject: A new home for my letter
Hello {{ name }}: the newsletter you subscribed to moves to my own site. {{ link }}
"""
NEWSLETTER_TEMPLATE = """Subject: My newsletter, {{ first_name }}
Hi {{ first_name }}, I write a monthly letter about open maps: {{ link }}
---
Subject: A monthly letter you might like
Hello {{ name }}: I started a newsletter and thought of you. {{ link }}
"""
FOLLOW_TEMPLATE = """Hi {{ first_name }}! X may not last for me: I'm now at {{ link }} and would love to see you there.
---
Hello {{ name }}, I moved to Mastodon ({{ link }}). Follow along if you like!
"""
X_FOLLOWERS = """id,username,name,bio,followers
2001,carol_x,Carol Diaz,"Writer. Also @carol@fosstodon.org",5400
2002,dan_x,Dan Ek,"fediverse: https://mastodon.social/@danek",120
2003,erin_x,Erin Fox,"no other accounts",900
2004,finn_x,Finn Gray,"@finn@social.example (already following you there)",300
2005,gil_x,=Gil Hostile @victim@evil.example,"me: @gil@mastodon.social",2500
"""
MASTODON_FOLLOWERS = "handle,name\nfinn@social.example,Finn\n"
TOKEN = "masto-story-token-4242"


def ok(result):
    assert result.exit_code == 0, result.output
    return result


def create_args(db, name: str, *rest) -> list:
    return [*db, "campaign", "create", name, *rest]


def test_linkedin_connections_with_an_email_are_invited_to_the_newsletter(run_cli, db_url, tmp_path, examples, smtp, cli_clock):
    """The compliant way (reliability check 35; Mailchimp: "LinkedIn connections are not
    permission"): the connections' addresses are `unknown`, so no email goes to them; they get
    personal invitations, written to a CSV that the user sends by hand from their own mailbox."""
    db = ("--db", db_url)
    ok(run_cli(*db, "accounts", "add", "linkedin", "ada-example"))
    ok(run_cli(*db, "import", examples / "linkedin-export", "--account", "linkedin:ada-example"))
    # the newsletter already has Carmen (subscribed) and lost Grace (unsubscribed)
    newsletter = tmp_path / "letters.csv"
    newsletter.write_text("email,name,status\ncarmen.ruiz@example.com,Carmen Ruiz,subscribed\ngrace@grace.dev,Grace Okafor,unsubscribed\n")
    ok(run_cli(*db, "accounts", "add", "newsletter", "letters"))
    ok(run_cli(*db, "import", newsletter, "--account", "newsletter:letters"))
    template = tmp_path / "invite.txt"
    template.write_text(NEWSLETTER_TEMPLATE)
    who = ("--link", "https://letters.example/subscribe", "--account", "linkedin:ada-example", "--kind", "connection",
           "--not-on", "newsletter")
    email = ("--channel", "email", "--template", template, *who, "--sender", "ada@ada.example", "--smtp", smtp.url,
             "--postal-address", "Ada Example, 1 Main St, Springfield")
    expected = LINKEDIN_EMAILS - {"carmen.ruiz@example.com", "grace@grace.dev"}

    # Email goes only to recorded opt-ins: none of these five opted in, so nothing is planned...
    strict = json.loads(ok(run_cli(*create_args(db, "by-email", *email, "--json"))).stdout)
    assert strict["planned"] == 0 and strict["excluded"] == {"unconsented": 5, "no_address": 15, "opted_out": 1}
    said = ok(run_cli(*create_args(db, "by-email-text", *email))).stdout
    assert "0 messages planned" in said and "5 only emails with no recorded opt-in" in said
    # ...and there is no override for email.
    refused = run_cli(*create_args(db, "override", *email, "--include-unconsented"))
    assert refused.exit_code == 2 and refused.stderr.count("error:") == 1
    assert "recorded opt-in" in refused.stderr and "hint: use --channel manual --include-unconsented" in refused.stderr
    assert "by hand" in refused.stderr and smtp.messages == []
    assert "override" not in ok(run_cli(*db, "campaign", "list")).stdout

    # Personal invitations instead: a CSV of messages to send one by one from my own mailbox.
    personal = tmp_path / "personal.txt"
    personal.write_text(PERSONAL_TEMPLATE)
    created = run_cli(*create_args(db, "letters", "--channel", "manual", "--template", personal, *who,
                                   "--include-unconsented", "--json"))
    ok(created)
    doc = json.loads(created.stdout)
    # the five with an address by email; the fifteen without one by a LinkedIn message; not Grace
    assert doc["planned"] == 20 and doc["excluded"] == {"opted_out": 1}
    assert "never opted in" in created.stderr  # the warning stays

    preview = json.loads(ok(run_cli(*db, "campaign", "preview", "letters", "--limit", "25", "--json")).stdout)
    by_email = {p["address"]: p for p in preview if p["channel"] == "email"}
    assert set(by_email) == expected and all("?ref=" in p["text"] for p in preview)
    assert {p["channel"] for p in preview} == {"email", "linkedin"}
    dry = ok(run_cli(*db, "campaign", "send", "letters"))
    assert "dry run" in dry.stdout and not (tmp_path / "invitations.csv").exists()

    out = tmp_path / "invitations.csv"
    sent = json.loads(ok(run_cli(*db, "campaign", "send", "letters", "--send", "-o", out, "--json")).stdout)
    assert sent["sent"] == 20 and sent["stopped"] == "done" and sent["output"] == str(out)
    assert smtp.messages == []  # audience sent nothing: the user does, personally
    assert (out.stat().st_mode & 0o777) == 0o600
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    assert list(rows[0]) == ["recipient", "channel", "address", "consent", "text", "ref"]
    emails = {r["address"]: r for r in rows if r["channel"] == "email"}
    assert set(emails) == expected and {r["consent"] for r in emails.values()} == {"unknown"}  # shown to the user
    assert all(r["consent"] == "" and r["address"].startswith("https://www.linkedin.com/in/") for r in rows if r["channel"] == "linkedin")
    refs = [r["ref"] for r in rows]
    assert len(set(refs)) == len(rows) == 20  # a unique ref link each
    assert all(f"https://letters.example/subscribe?ref={r['ref']}" in r["text"] for r in rows)
    assert all(not v.startswith(("=", "+", "-", "@")) for r in rows for v in r.values())  # formula-safe
    assert any("Elif" in r["text"] for r in emails.values())

    status = json.loads(ok(run_cli(*db, "campaign", "status", "letters", "--json")).stdout)
    assert status["counts"]["sent"] == 20 and {m["ref"] for m in status["messages"]} == set(refs)
    text = ok(run_cli(*db, "campaign", "status", "letters")).stdout
    assert "20 sent" in text and "elif@example.net" in text
    again = json.loads(ok(run_cli(*db, "campaign", "send", "letters", "--send", "-o", tmp_path / "again.csv", "--json")).stdout)
    assert again["sent"] == 0 and not (tmp_path / "again.csv").exists()  # never twice


def test_linkedin_connections_who_opted_in_to_my_newsletter_get_the_email(run_cli, db_url, tmp_path, examples, smtp, cli_clock):
    """The email half of the story: the bundled Substack export records opt-ins (with a date)
    for the connections who subscribed there. Moving the newsletter to letters.example, those
    connections, and only those, are emailed; the LinkedIn addresses alone never are."""
    db = ("--db", db_url)
    ok(run_cli(*db, "accounts", "add", "linkedin", "ada-example"))
    ok(run_cli(*db, "import", examples / "linkedin-export", "--account", "linkedin:ada-example"))
    ok(run_cli(*db, "accounts", "add", "newsletter", "substack"))
    ok(run_cli(*db, "import", examples / "newsletter-substack.csv", "--account", "newsletter:substack"))
    template = tmp_path / "moving.txt"
    template.write_text(MOVING_TEMPLATE)
    created = json.loads(ok(run_cli(
        *db, "campaign", "create", "moving", "--channel", "email", "--template", template,
        "--link", "https://letters.example/subscribe", "--account", "linkedin:ada-example", "--kind", "connection",
        "--sender", "ada@ada.example", "--smtp", smtp.url, "--postal-address", "Ada Example, 1 Main St, Springfield", "--json",
    )).stdout)
    # the seven connections with an address all subscribed on Substack; the others have no address
    assert created["planned"] == len(LINKEDIN_EMAILS) == 7 and created["excluded"] == {"no_address": 15}

    preview = ok(run_cli(*db, "campaign", "preview", "moving", "--limit", "2"))
    assert "Subject: My newsletter moves" in preview.stdout and "?ref=" in preview.stdout
    dry = json.loads(ok(run_cli(*db, "campaign", "send", "moving", "--json")).stdout)
    assert dry["dry_run"] and {m["address"] for m in dry["messages"]} == LINKEDIN_EMAILS and smtp.messages == []

    sent = json.loads(ok(run_cli(*db, "campaign", "send", "moving", "--send", "--json")).stdout)
    assert sent["sent"] == 7 and sent["stopped"] == "done"
    assert smtp.per_recipient() == {address: 1 for address in LINKEDIN_EMAILS}
    for _, _, message in smtp.messages:
        assert message["List-Unsubscribe-Post"] is None  # no https unsubscribe URL was given: mailto only
        assert message["List-Unsubscribe"].startswith("<mailto:ada@ada.example?subject=unsubscribe%20")
        assert "Ada Example, 1 Main St, Springfield" in message.get_content()

    status = json.loads(ok(run_cli(*db, "campaign", "status", "moving", "--json")).stdout)
    assert status["counts"]["sent"] == 7 and status["status"] == "active"
    got = {m["address"]: m for m in status["messages"]}
    assert set(got) == LINKEDIN_EMAILS and all(m["state"] == "sent" and m["sent_at"] and m["ref"] for m in got.values())
    for m in got.values():  # each got their own link, in the variant the status names
        body = smtp.to(m["address"])[0].get_content()
        assert f"ref={m['ref']}" in body
        assert ("monthly letter about open maps" in body) == (m["variant"] == 1)
    again = json.loads(ok(run_cli(*db, "campaign", "send", "moving", "--send", "--json")).stdout)
    assert again["sent"] == 0 and len(smtp.messages) == 7  # never twice


@pytest.fixture
def mastodon(monkeypatch, fake_clock):
    fake = MastodonDM(token=TOKEN, known={"carol@fosstodon.org", "danek@mastodon.social", "gil@mastodon.social", "finn@social.example"},
                      clock=fake_clock)
    monkeypatch.setenv("MASTO_TOKEN", TOKEN)
    yield fake
    fake.close()


def test_x_followers_known_on_mastodon_are_invited_to_follow_the_mastodon_account(run_cli, db_url, tmp_path, mastodon, cli_clock, fake_clock):
    db = ("--db", db_url)
    (tmp_path / "x-followers.csv").write_text(X_FOLLOWERS)
    (tmp_path / "mastodon-followers.csv").write_text(MASTODON_FOLLOWERS)
    ok(run_cli(*db, "accounts", "add", "x", "ana_pro"))
    ok(run_cli(*db, "import", tmp_path / "x-followers.csv", "--account", "x:ana_pro", "--kind", "follower"))
    ok(run_cli(*db, "accounts", "add", "mastodon", "ana@social.example", "--token-env", "MASTO_TOKEN", "--server", mastodon.url))
    ok(run_cli(*db, "import", tmp_path / "mastodon-followers.csv", "--account", "mastodon:ana@social.example", "--kind", "follower"))
    template = tmp_path / "follow.txt"
    template.write_text(FOLLOW_TEMPLATE)
    created = json.loads(ok(run_cli(
        *db, "campaign", "create", "follow-me", "--channel", "mastodon", "--template", template,
        "--link", "https://social.example/@ana", "--account", "x:ana_pro", "--kind", "follower", "--not-on", "mastodon", "--json",
    )).stdout)
    # Finn already follows me on Mastodon; Erin has no Mastodon address
    assert created["planned"] == 3 and created["excluded"] == {"no_address": 1}
    assert created["sender"] == "mastodon:ana@social.example"

    preview = ok(run_cli(*db, "campaign", "preview", "follow-me", "--json"))
    planned = json.loads(preview.stdout)
    assert [p["address"] for p in planned] == ["carol@fosstodon.org", "gil@mastodon.social", "danek@mastodon.social"]  # by reach
    assert [p["variant"] for p in planned] == [1, 2, 1]
    assert "@victim" not in preview.stdout  # the hostile display name mentions no one

    dry = ok(run_cli(*db, "campaign", "send", "follow-me"))
    assert "dry run" in dry.stdout and mastodon.send_requests == 0

    result = ok(run_cli(*db, "campaign", "send", "follow-me", "--send", "--json"))
    report = json.loads(result.stdout)
    assert report["sent"] == 3 and report["stopped"] == "done"
    assert {k: len(v) for k, v in mastodon.delivered.items()} == {"carol@fosstodon.org": 1, "gil@mastodon.social": 1, "danek@mastodon.social": 1}
    assert all(s >= CHANNEL_PACE["mastodon"].min_interval for s in fake_clock.sleeps)  # a safe pace
    assert all(r.json()["visibility"] == "direct" and r.headers.get("idempotency-key")
               for r in mastodon.server.requests if r.path == "/api/v1/statuses")

    status = json.loads(ok(run_cli(*db, "campaign", "status", "follow-me", "--json")).stdout)
    assert {m["address"]: m["state"] for m in status["messages"]} == {
        "carol@fosstodon.org": "sent", "gil@mastodon.social": "sent", "danek@mastodon.social": "sent"}
    assert all(m["provider_id"] for m in status["messages"])


def test_pause_resume_and_a_429_through_the_command_line(run_cli, db_url, tmp_path, mastodon, cli_clock):
    db = ("--db", db_url)
    (tmp_path / "x-followers.csv").write_text(X_FOLLOWERS)
    ok(run_cli(*db, "accounts", "add", "x", "ana_pro"))
    ok(run_cli(*db, "import", tmp_path / "x-followers.csv", "--account", "x:ana_pro", "--kind", "follower"))
    ok(run_cli(*db, "accounts", "add", "mastodon", "ana@social.example", "--token-env", "MASTO_TOKEN", "--server", mastodon.url))
    template = tmp_path / "follow.txt"
    template.write_text(FOLLOW_TEMPLATE)
    ok(run_cli(*db, "campaign", "create", "f", "--channel", "mastodon", "--template", template, "--link", "https://social.example/@ana"))
    ok(run_cli(*db, "campaign", "pause", "f", "--reason", "waiting for Monday"))
    paused = run_cli(*db, "campaign", "send", "f", "--send")
    assert paused.exit_code == 2 and "waiting for Monday" in paused.stderr and mastodon.send_requests == 0
    ok(run_cli(*db, "campaign", "resume", "f"))
    mastodon.fail_next(Reply(429, {"error": "Too many requests"}, {"Retry-After": "120"}))
    stopped = run_cli(*db, "campaign", "send", "f", "--send")
    assert stopped.exit_code == 5, stopped.output
    assert "paused" in stopped.stderr and "429" in stopped.stderr and "campaign resume f" in stopped.stderr
    status = ok(run_cli(*db, "campaign", "status", "f"))
    assert "paused" in status.stdout and "429" in status.stdout
    listed = json.loads(ok(run_cli(*db, "campaign", "list", "--json")).stdout)
    assert listed[0]["status"] == "paused" and listed[0]["counts"]["planned"] == 4
    unknown = ok(run_cli(*db, "campaign", "retry-unknown", "f", "--yes"))
    assert "no unknown messages" in unknown.stdout
    missing = run_cli(*db, "campaign", "status", "nope")
    assert missing.exit_code == 2 and "no campaign named 'nope'" in missing.stderr


def test_bad_templates_and_options_are_refused_with_one_line(run_cli, db_url, tmp_path, cli_clock):
    db = ("--db", db_url)
    template = tmp_path / "t.txt"
    template.write_text("Hi {{ name.__class__.__mro__ }}")
    result = run_cli(*db, "campaign", "create", "c", "--channel", "manual", "--template", template)
    assert result.exit_code == 2 and "unsafe" in result.stderr and result.stderr.count("error:") == 1
    result = run_cli(*db, "campaign", "create", "c", "--channel", "telegram", "--template", template)
    assert result.exit_code == 2
    result = run_cli(*db, "campaign", "create", "c", "--channel", "manual", "--template", tmp_path / "missing.txt")
    assert result.exit_code == 3
    template.write_text("Hi {{ name }}\n---\nHello {{ name }}")
    result = run_cli(*db, "campaign", "create", "c", "--channel", "manual", "--template", template, "--link", "javascript:alert(1)")
    assert result.exit_code == 2 and "--link" in result.stderr
    assert not Path(tmp_path / "c.csv").exists()
