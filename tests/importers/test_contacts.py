"""Address books through the CLI: vCard 3.0 and 4.0, Google Contacts CSV (SPEC §2, §6).

A contact is a profile with contact points and no relationship: every card is a non-member
of a `contact` snapshot of `contacts:address-book`, which the import registers itself.
Cards are written at test time the way phones, Apple Contacts and Google write them.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backup.errors import InputError
from backup.importers import ImportOptions, RecordError
from backup.importers.contacts import (
    Contacts,
    identity_key,
    read_google_csv,
    read_vcards,
)
from backup.importers.sources import FileSource
from backup.snapshot import MAX_TEXT, ProfileRecord

from .conftest import assert_input_error

PROPERTY = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

GOOGLE_OLD = [
    "Name", "Given Name", "Additional Name", "Family Name", "Yomi Name", "Given Name Yomi", "Additional Name Yomi",
    "Family Name Yomi", "Name Prefix", "Name Suffix", "Initials", "Nickname", "Short Name", "Maiden Name", "Birthday",
    "Gender", "Location", "Billing Information", "Directory Server", "Mileage", "Occupation", "Hobby", "Sensitivity",
    "Priority", "Subject", "Notes", "Language", "Photo", "Group Membership", "E-mail 1 - Type", "E-mail 1 - Value",
    "E-mail 2 - Type", "E-mail 2 - Value", "Phone 1 - Type", "Phone 1 - Value", "Organization 1 - Type",
    "Organization 1 - Name", "Organization 1 - Title", "Website 1 - Type", "Website 1 - Value",
]
GOOGLE_NEW = [
    "First Name", "Middle Name", "Last Name", "Phonetic First Name", "Phonetic Middle Name", "Phonetic Last Name",
    "Name Prefix", "Name Suffix", "Nickname", "File As", "Organization Name", "Organization Title",
    "Organization Department", "Birthday", "Notes", "Photo", "Labels", "E-mail 1 - Label", "E-mail 1 - Value",
    "E-mail 2 - Label", "E-mail 2 - Value", "Phone 1 - Label", "Phone 1 - Value", "Website 1 - Label", "Website 1 - Value",
]


def vcf(*cards: str, newline: str = "\r\n") -> bytes:
    """Cards written with `newline` line ends (vCard says CRLF; many tools write LF)."""
    return "".join(card.strip("\n").replace("\n", newline) + newline for card in cards).encode("utf-8")


def card(fn: str, *lines: str, version: str = "3.0") -> str:
    return "\n".join(["BEGIN:VCARD", f"VERSION:{version}", f"FN:{fn}", *lines, "END:VCARD"])


def google_csv(header: list[str], people: list[dict]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(header)
    for person in people:
        writer.writerow([person.get(h, "") for h in header])
    return buf.getvalue().encode("utf-8")


def rows(url: str, sql: str, **params) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def book(url: str) -> dict:
    """profile key -> (name, sorted contact points (kind, value, consent))."""
    names = dict(rows(url, "SELECT platform_id, display_name FROM profiles WHERE platform = 'contacts'"))
    points: dict[str, list] = {k: [] for k in names}
    # what the import stored, not what identity linking extracted from it
    stored = ("SELECT platform_id, kind, value, consent FROM contact_points WHERE platform = 'contacts' "
              "AND source NOT LIKE 'profile:%' AND source <> 'self'")
    for pid, kind, value, consent in rows(url, stored):
        points[pid].append((kind, value, consent))
    return {pid: (names[pid], sorted(points[pid])) for pid in names}


@pytest.fixture
def url(db_file: Path) -> str:
    return f"sqlite:///{db_file}"


def imported(run_cli, path: Path, *args: str) -> str:
    r = run_cli("import", path, *args)
    assert r.exit_code == 0, r.output
    return r.stdout


def by_name(url: str) -> dict:
    return {name: points for name, points in book(url).values()}


# -- vCard --------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["file", "zip"])
def test_the_bundled_address_book(how, examples, run_cli, tmp_path, url):
    """vCard 3.0 from Apple and Android (QP names, soft line breaks, item groups) and 4.0 (a fold inside a character)."""
    path = examples / "contacts.vcf"
    if how == "zip":  # as Google Takeout packs it
        path = tmp_path / "takeout-20261101.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("Takeout/Contacts/My Contacts/My Contacts.vcf", (examples / "contacts.vcf").read_bytes())
    out = imported(run_cli, path)
    assert "registered contacts:address-book from the export" in out
    history = json.loads(run_cli("snapshots", "--json").stdout)
    assert [(s["account"], s["kind"], s["status"], s["count"]) for s in history] == [("contacts:address-book", "contact", "complete", 0)]
    assert rows(url, "SELECT COUNT(*) FROM relationships") == [(0,)]
    assert rows(url, "SELECT COUNT(*) FROM suppressions") == [(0,)]
    people = by_name(url)
    assert len(people) == 11
    # Phones are stored in E.164, the form identity linking compares (the card says "+49 151 2345 6789").
    assert people["Zoë Müller"] == [("email", "zoe.mueller@example.de", "unknown"), ("phone", "+4915123456789", None)]
    assert people["Guo Wei 郭伟 — Guo Studio, Beijing · 设计师与字体排印爱好者 🖋️"] == [
        ("email", "wei@guo.example", "unknown"), ("phone", "+8613800138000", None), ("website", "https://guo.example", None),
    ]
    assert people["Carmen Ruiz"] == [
        ("email", "carmen.ruiz@example.com", "unknown"), ("email", "carmen@mapas-abiertos.example", "unknown"),
        ("phone", "+34612345678", None), ("website", "https://mastodon.social/@carmen", None),
    ]
    assert people["Hana Kobayashi"] == [("email", "hana@example.org", "unknown"), ("phone", "+81312345678", None), ("phone", "+819012345678", None)]
    assert people["Kwame Mensah"][0] == ("email", "kwame.mensah@example.org", "unknown")  # lower-cased
    assert people["Dr. Lars Berg"] == [("phone", "+46855501020", None)]
    websites = dict(rows(url, "SELECT display_name, website FROM profiles"))
    assert websites["Bo Lindqvist"] == "https://bo.example" and websites["Carmen Ruiz"] is None  # a social profile is no website
    keys = {name: pid for pid, (name, _) in book(url).items()}
    assert keys["Bo Lindqvist"] == "3F2A6C1E-8B7D-4E55-9A10-6D1C2B0E7F11"  # the UID
    assert keys["Zoë Müller"] == identity_key("Zoë Müller", ["zoe.mueller@example.de"], ["+49 151 2345 6789"])
    notes = {n: json.loads(d).get("note") for n, d in rows(url, "SELECT display_name, data FROM profiles")}
    assert notes["Zoë Müller"] == "Designerin bei Müller & Partner — kennt Bo aus Stockholm"  # QP soft line break
    assert notes["Priya Raman"] == "Met at PyCon India — talk on model drift"
    assert notes["Carmen Ruiz"] == "Met at FOSDEM, Brussels. Prefers Signal."  # `\\,` unescaped


def test_a_second_import_is_a_noop(examples, run_cli):
    imported(run_cli, examples / "contacts.vcf")
    assert "already imported as snapshot 1; nothing to do" in imported(run_cli, examples / "contacts.vcf")


@pytest.mark.parametrize("newline", ["\r\n", "\n"], ids=["crlf", "lf"])
def test_vcard_2_3_and_4_details(newline, run_cli, tmp_path, url):
    nl = newline.encode()
    name = "Ελένη Παπαδοπούλου-Καραγιάννη 👩🏽‍💻".encode()
    assert (name[20] & 0xC0) == (name[41] & 0xC0) == 0x80  # both folds below cut a character in two
    lines = [
        # vCard 2.1 (old phones): bare parameters, a quoted-printable N and no FN
        b"BEGIN:VCARD", b"VERSION:2.1", b"N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:;=E9=99=88=E5=A4=A7=E6=96=87;;;",
        b"TEL;CELL:+886 912 345 678", b"END:VCARD",
        # 3.0 with only N; a web address without a scheme; a link that is no web address
        b"BEGIN:VCARD", b"VERSION:3.0", "N:Ó Briain;Tomás;;;".encode(), b"EMAIL;TYPE=INTERNET:tomas@gaeltacht.example",
        b"URL:gaeltacht.example/tomas", b"URL:javascript:alert(1)", b"END:VCARD",
        # 4.0: an organisation is kept, a group is no person; a name folded twice, with a space and a tab
        b"BEGIN:VCARD", b"VERSION:4.0", b"KIND:org", b"FN:Org Only", b"EMAIL;TYPE=work:hello@org.example", b"END:VCARD",
        b"BEGIN:VCARD", b"VERSION:4.0", b"KIND:group", b"FN:A group", b"MEMBER:urn:uuid:1", b"END:VCARD",
        b"BEGIN:VCARD", b"VERSION:4.0", b"FN:" + name[:20], b" " + name[20:41], b"\t" + name[41:], b"END:VCARD",
    ]
    path = tmp_path / "cards.vcf"
    path.write_bytes(nl.join(lines) + nl)
    imported(run_cli, path)
    people = by_name(url)
    assert set(people) == {"陈大文", "Tomás Ó Briain", "Org Only", name.decode()}
    assert people["Tomás Ó Briain"] == [("email", "tomas@gaeltacht.example", "unknown"), ("website", "https://gaeltacht.example/tomas", None)]
    assert people["陈大文"] == [("phone", "+886912345678", None)]


def test_a_later_export_adds_and_updates_contacts(run_cli, tmp_path, url):
    first = tmp_path / "contacts-1.vcf"
    first.write_bytes(vcf(card("Ada Example", "UID:ada-1", "EMAIL:ada@example.org"), card("Bo", "TEL:+46 70 1")))
    imported(run_cli, first, "--as-of", "2026-10-01")
    second = tmp_path / "contacts-2.vcf"
    second.write_bytes(vcf(card("Ada Lovelace", "UID:ada-1", "EMAIL:ada@example.org", "EMAIL:ada@work.example"), card("Cy", "EMAIL:cy@example.net")))
    imported(run_cli, second, "--as-of", "2026-11-01")
    got = book(url)
    assert got["ada-1"] == ("Ada Lovelace", [("email", "ada@example.org", "unknown"), ("email", "ada@work.example", "unknown")])
    assert {name for name, _ in got.values()} == {"Ada Lovelace", "Bo", "Cy"}  # Bo is kept: a backup forgets no one
    assert rows(url, "SELECT COUNT(*) FROM relationships") == [(0,)]


# -- Google Contacts CSV -------------------------------------------------------------------------

PEOPLE = [
    {"first": "Grace", "last": "Okafor", "emails": "grace@grace.dev ::: Grace@Work.example", "phone": "+44 7700 900123",
     "site": "https://grace.dev", "org": "grace.dev", "labels": "* myContacts ::: Speakers"},
    {"first": "Lucía", "last": "Fernández", "emails": "lucia@edicionessur.example", "phone": "", "site": "", "org": "Ediciones Sur", "labels": ""},
    {"first": "", "last": "", "emails": "", "phone": "+1 555 0100 ::: +1 555 0101", "site": "", "org": "", "labels": "* myContacts"},
]


def google_old(people=PEOPLE) -> bytes:
    return google_csv(GOOGLE_OLD, [{
        "Name": f"{p['first']} {p['last']}".strip(), "Given Name": p["first"], "Family Name": p["last"],
        "Group Membership": p["labels"], "E-mail 1 - Type": "* Home", "E-mail 1 - Value": p["emails"],
        "Phone 1 - Type": "Mobile", "Phone 1 - Value": p["phone"], "Organization 1 - Name": p["org"],
        "Website 1 - Type": "Profile", "Website 1 - Value": p["site"],
    } for p in people])


def google_new(people=PEOPLE) -> bytes:
    return google_csv(GOOGLE_NEW, [{
        "First Name": p["first"], "Last Name": p["last"], "Labels": p["labels"], "E-mail 1 - Label": "* Home",
        "E-mail 1 - Value": p["emails"], "Phone 1 - Label": "Mobile", "Phone 1 - Value": p["phone"],
        "Organization Name": p["org"], "Website 1 - Label": "Profile", "Website 1 - Value": p["site"],
    } for p in people])


@pytest.mark.parametrize("layout", ["old", "new"])
@pytest.mark.parametrize("how", ["file", "zip"])
def test_google_contacts_csv(layout, how, run_cli, tmp_path, url):
    content = google_old() if layout == "old" else google_new()
    path = tmp_path / "contacts.csv"
    if how == "zip":
        path = tmp_path / "contacts.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("contacts.csv", content)
    else:
        path.write_bytes(content)
    imported(run_cli, path)
    people = by_name(url)
    assert people["Grace Okafor"] == [
        ("email", "grace@grace.dev", "unknown"), ("email", "grace@work.example", "unknown"),
        ("phone", "+44 7700 900123", None), ("website", "https://grace.dev", None),
    ]
    assert people["Lucía Fernández"] == [("email", "lucia@edicionessur.example", "unknown")]
    assert people[None] == [("phone", "+1 555 0100", None), ("phone", "+1 555 0101", None)]
    data = json.loads(rows(url, "SELECT data FROM profiles WHERE display_name = 'Grace Okafor'")[0][0])
    assert data["labels"] == ["* myContacts", "Speakers"] and data["organization"] == "grace.dev"


def test_the_same_contact_from_google_csv_and_vcard_is_one_profile(run_cli, tmp_path, url):
    csv_path = tmp_path / "contacts.csv"
    csv_path.write_bytes(google_new(PEOPLE[:1]))
    vcf_path = tmp_path / "contacts.vcf"
    vcf_path.write_bytes(vcf(card("grace  OKAFOR", "EMAIL:grace@work.example", "EMAIL:grace@grace.dev", "TEL:+44 7700 900123")))
    imported(run_cli, csv_path, "--as-of", "2026-10-01")
    imported(run_cli, vcf_path, "--as-of", "2026-11-01")
    assert len(book(url)) == 1  # name case and spacing, email order: the same key


# -- malformed and hostile -----------------------------------------------------------------------


def good_cards(n: int) -> list[str]:
    return [card(f"Person {i}", f"EMAIL:p{i}@example.org") for i in range(n)]


def test_a_card_without_end_is_a_bad_record_and_the_next_card_is_read(run_cli, tmp_path, url):
    cards = good_cards(150)
    cards[40] = cards[40].replace("\nEND:VCARD", "")  # Person 40 runs into Person 41
    path = tmp_path / "book.vcf"
    path.write_bytes(vcf(*cards))
    r = run_cli("import", path)
    assert r.exit_code == 0, r.output
    begin_line = 40 * 5 + 1  # five lines a card
    assert f"warning: skipped {path} line {begin_line}: this card has no END:VCARD before the next BEGIN:VCARD (line {begin_line + 4})" in r.stderr
    assert len(book(url)) == 149 and "Person 41" in by_name(url)


@pytest.mark.parametrize("damage,reason", [
    ("FN;ENCODING=QUOTED-PRINTABLE:Zo=C3=ZZ", "broken quoted-printable sequence '=ZZ'"),
    ("FN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:Zo=C3", "FN is not UTF-8 text"),
    ("FN;CHARSET=x-klingon:Qapla", "unknown CHARSET 'x-klingon' on FN"),
    ("EMAIL:not an address", "EMAIL 'not an address' is not an email address"),
    ("TEL:call me", "TEL 'call me' has no digits"),
    ("BEGIN:VCALENDAR", "BEGIN:VCALENDAR inside a card"),
    ("this line has no colon", "a line without ':'"),
])
def test_damaged_cards_fail_the_file_naming_the_line(damage, reason, run_cli, tmp_path, db_state):
    before = db_state()
    cards = good_cards(5)
    cards[2] = cards[2].replace("VERSION:3.0", f"VERSION:3.0\n{damage}")
    path = tmp_path / "book.vcf"
    path.write_bytes(vcf(*cards))
    line = assert_input_error(run_cli("import", path), str(path), "1 of 5 records are bad", "line 13")  # the damaged line of the third card
    assert reason in line
    assert db_state() == before


def test_end_without_begin_and_text_outside_cards(run_cli, tmp_path):
    path = tmp_path / "book.vcf"
    path.write_bytes(vcf(*good_cards(3), "FN:Stray\nEND:VCARD", *good_cards(200)))
    r = run_cli("import", path)
    assert r.exit_code == 0, r.output  # 2 bad of 205: under 1%
    assert f"{path} line 16: FN outside BEGIN:VCARD ... END:VCARD" in r.stderr
    assert f"{path} line 17: END:VCARD without a BEGIN:VCARD before it" in r.stderr


def test_a_line_that_is_not_utf8_in_a_utf8_file(run_cli, tmp_path, url, monkeypatch):
    from backup.importers import contacts

    monkeypatch.setattr(contacts, "SNIFF_BYTES", 64)  # the bad byte is beyond the window that found UTF-8
    cards = good_cards(120)
    cards[60] = card("José", "EMAIL:jose@example.org")
    path = tmp_path / "book.vcf"
    path.write_bytes(vcf(*cards).replace("José".encode(), "José".encode("cp1252")))
    r = run_cli("import", path)
    assert r.exit_code == 0, r.output
    assert f"{path} line {60 * 5 + 3}: FN is not utf-8 text" in r.stderr
    assert len(book(url)) == 119


def test_a_cp1252_file_as_old_outlook_writes_it(run_cli, tmp_path, url):
    """Lines that are not UTF-8 are read as cp1252; the UTF-8 lines of the same file stay UTF-8."""
    path = tmp_path / "outlook.vcf"
    path.write_bytes(vcf(card("José Núñez", "EMAIL:jose@example.org")).decode().encode("cp1252") + vcf(card("Zoë 🦊", "UID:z")))
    imported(run_cli, path)
    assert set(by_name(url)) == {"José Núñez", "Zoë 🦊"}


def test_a_cut_file_and_a_file_that_is_not_a_vcard(run_cli, tmp_path, db_state):
    before = db_state()
    path = tmp_path / "cut.vcf"
    path.write_bytes(vcf(card("Only One", "EMAIL:one@example.org"))[:-12])
    assert_input_error(run_cli("import", path), str(path), "no END:VCARD (the file may be cut short)")
    other = tmp_path / "notes.txt"
    other.write_bytes(b"hello\n")
    assert_input_error(run_cli("import", other, "--platform", "contacts"), str(other), "no vCard (BEGIN:VCARD) or Google Contacts CSV")
    assert db_state() == before


HOSTILE = ["=cmd|' /C calc'!A0", "<script>alert(1)</script>", "\u202egnp.exe", "nul\x00byte", "@SUM(1+1)", "🦊" * 50_000 + "y" * 50_000]


def test_hostile_names_are_stored_safely(db_url, run_cli, tmp_path):
    path = tmp_path / "hostile.vcf"
    path.write_bytes(vcf(*(card(name.replace("\\", "\\\\").replace(",", "\\,"), f"UID:h{i}") for i, name in enumerate(HOSTILE))))
    google = tmp_path / "hostile.csv"
    google.write_bytes(google_new([{"first": name, "last": "", "emails": f"g{i}@example.org", "phone": "", "site": "", "org": "", "labels": ""}
                                   for i, name in enumerate(HOSTILE)]))
    for p in (path, google):
        r = run_cli("--db", db_url, "import", p, "--as-of", "2026-10-01")
        assert r.exit_code == 0, r.output
    names = dict(rows(db_url, "SELECT platform_id, display_name FROM profiles"))
    for i, name in enumerate(HOSTILE):
        want = name.replace("\x00", "")[:MAX_TEXT]
        assert names[f"h{i}"] == want, name[:40]
        assert names[identity_key(want, [f"g{i}@example.org"], [])] == want  # the key is of the name as stored


# -- properties ----------------------------------------------------------------------------------

LINES = st.one_of(
    st.sampled_from([
        "BEGIN:VCARD", "END:VCARD", "VERSION:3.0", "VERSION:4.0", "FN:Ada", "N:Lovelace;Ada;;;", "EMAIL:ada@example.org",
        "TEL;VALUE=uri:tel:+1-555", "FN;ENCODING=QUOTED-PRINTABLE;CHARSET=UTF-8:=C3=A9=", "FN;CHARSET=latin-1:\xe9",
        "item1.EMAIL;type=INTERNET:x@y.z", 'EMAIL;TYPE="a,b";PREF=1:b@c.d', "UID:1", " folded", "\tfolded", "=", "KIND:group",
        "PHOTO;ENCODING=b;TYPE=JPEG:AAAA", "URL:https://x.example", "BEGIN:VCALENDAR",
    ]),
    st.text(max_size=30),
)


@PROPERTY
@given(lines=st.lists(LINES, max_size=14), junk=st.binary(max_size=30), newline=st.sampled_from(["\r\n", "\n"]))
def test_any_vcard_parses_or_raises_input_error(lines, junk, newline, tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "book.vcf"
    path.write_bytes(("BEGIN:VCARD" + newline + newline.join(lines)).encode("utf-8", "surrogatepass") + junk)
    try:
        for item in read_vcards(FileSource(path), path.name):
            assert isinstance(item, (ProfileRecord, RecordError))
            if isinstance(item, ProfileRecord):
                assert item.member is False and 0 < len(item.platform_id) <= 512
    except InputError:
        pass


CELLS = st.one_of(st.text(max_size=20), st.sampled_from(["a@b.example ::: c@d.example", "+1 555", " ::: ", "x", "=cmd", "\x00"]))


@PROPERTY
@given(body=st.lists(st.lists(CELLS, max_size=len(GOOGLE_NEW)), max_size=5), header=st.sampled_from([GOOGLE_OLD, GOOGLE_NEW]),
       junk=st.binary(max_size=30))
def test_any_google_csv_parses_or_raises_input_error(body, header, junk, tmp_path_factory):
    path = tmp_path_factory.mktemp("prop") / "contacts.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([header, *body])
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass") + junk)
    source = FileSource(path)
    Contacts().detect(source, ImportOptions())  # True or False, never an exception
    try:
        for item in read_google_csv(source, path.name):
            assert isinstance(item, (ProfileRecord, RecordError))
    except InputError:
        pass


def test_the_summary_says_how_many_contacts_were_kept(examples, run_cli):
    out = imported(run_cli, examples / "contacts.vcf")
    assert "contacts:address-book contacts: snapshot 1 complete, 11 kept as contacts (no relationship)" in out


def test_a_second_address_book_goes_to_the_account_named(examples, run_cli, url):
    assert run_cli("accounts", "add", "contacts", "work").exit_code == 0
    r = run_cli("import", examples / "contacts.vcf", "--account", "contacts:work")
    assert r.exit_code == 0, r.output
    assert "registered" not in r.stdout
    assert rows(url, "SELECT a.handle FROM snapshots s JOIN accounts a ON a.id = s.account_id") == [("work",)]
    r = run_cli("import", examples / "contacts.vcf", "--account", "x:someone")
    assert r.exit_code == 2  # an account of another platform is still refused
