"""Facebook friends import through the CLI: the three export generations, and Meta's mojibake (SPEC §6).

Exports are built at test time in the real shape: JSON written the way Facebook writes it,
2-space indented with every non-ASCII character as ``\\u00XX`` escapes of its UTF-8 bytes
(reference/platform-formats.md §7).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, text

from backup.errors import InputError
from backup.importers import ImportOptions, RecordError
from backup.importers.facebook import FacebookFriends, profile_key
from backup.importers.jsonstream import MAX_JSON_DEPTH, unmojibake
from backup.importers.sources import open_source
from backup.snapshot import MAX_HANDLE, MAX_TEXT, ProfileRecord

from .archives import write_folder, write_zip
from .conftest import assert_input_error, query

ACCOUNT = "facebook:ada.example"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
T0 = 1_716_200_000  # 2024-05-20T10:13:20Z

# Names that Facebook's escaping mangles: accents, Vietnamese (Đ is two UTF-8 bytes), CJK,
# Arabic (right to left), emoji (four bytes), a flag (two code points), a ZWJ family.
NAMES = [
    "Zoë Müller", "Bo Sample", "Nguyễn Ngọc Trâm", "Đặng Văn Lâm", "郭伟 Guo Wei", "جمال حداد",
    "Kai 🌊 Nakamura", "Ana Souza 🇧🇷", "Fam 👩‍👩‍👧", "Fran O'Neil", "Ingrid Johansson", "José Núñez",
]
GENERATIONS = {
    "2024": ("connections/friends/your_friends.json", "friends_v2"),
    "2021": ("friends_and_followers/friends.json", "friends_v2"),
    "2018": ("friends/friends.json", "friends"),
}


def mangle(value):
    """What Facebook does to every string: its UTF-8 bytes as characters U+0000..U+00FF."""
    if isinstance(value, str):
        return value.encode("utf-8").decode("latin-1")
    if isinstance(value, list):
        return [mangle(v) for v in value]
    if isinstance(value, dict):
        return {k: mangle(v) for k, v in value.items()}
    return value


def meta_json(value, mojibake: bool = True) -> bytes:
    """JSON as Facebook writes it: indented, ASCII only, non-ASCII as \\u00XX byte escapes."""
    return json.dumps(mangle(value) if mojibake else value, indent=2, ensure_ascii=True).encode("ascii")


def friends(names=NAMES, start: int = T0) -> list[dict]:
    return [{"name": name, "timestamp": start - 86_400 * i} for i, name in enumerate(names)]


def export(generation: str = "2024", records: list[dict] | None = None, **changes: bytes | None) -> dict[str, bytes]:
    """The files of a Facebook JSON export around the friends list (siblings as Facebook writes them)."""
    path, key = GENERATIONS[generation]
    records = friends() if records is None else records
    folder = path.rsplit("/", 1)[0]
    files = {
        path: meta_json({key: records}),
        f"{folder}/removed_friends.json": meta_json({"deleted_friends_v2": [{"name": "Old Pal", "timestamp": T0 - 10**7}]}),
        f"{folder}/sent_friend_requests.json": meta_json({"sent_requests_v2": [{"name": "Maybe Friend", "timestamp": T0}]}),
        "profile_information/profile_information.json": meta_json({"profile_v2": {"name": {"full_name": "Ada Example"}}}),
        "index.html": b"<!doctype html><title>Your information</title>",
    }
    for name, content in changes.items():
        if content is None:
            files.pop(name, None)
        else:
            files[name] = content
    return files


@pytest.fixture
def account(run_cli) -> str:
    assert run_cli("accounts", "add", "facebook", "ada.example").exit_code == 0
    return ACCOUNT


def container(kind: str, files: dict[str, bytes], tmp_path: Path, main: str) -> Path:
    if kind == "zip":
        return write_zip(files, tmp_path / "facebook-adaexample-2026-11-01.zip")
    if kind == "zip-deeper":
        return write_zip(files, tmp_path / "facebook.zip", root="facebook-adaexample-2026-11-01-Xy12")
    if kind == "folder":
        return write_folder(files, tmp_path / "facebook-export")
    if kind == "loose":
        path = tmp_path / Path(main).name
        path.write_bytes(files[main])
        return path
    raise ValueError(kind)


def current(db: Path) -> dict[str, tuple]:
    """platform_id -> (display_name, data) of the current Facebook connections."""
    rows = query(
        db,
        "SELECT p.platform_id, p.display_name, p.data, r.kind FROM relationships r JOIN profiles p "
        "ON p.platform = r.platform AND p.platform_id = r.platform_id WHERE r.until_snapshot_id IS NULL AND p.platform = 'facebook'",
    )
    assert {r[3] for r in rows} <= {"connection"}
    return {r[0]: (r[1], json.loads(r[2]) if r[2] else None) for r in rows}


def snapshots(run_cli) -> list[dict]:
    r = run_cli("snapshots", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# -- every generation, every container -------------------------------------------------------


@pytest.mark.parametrize(
    "generation,where",
    [(g, w) for g in GENERATIONS for w in ("zip", "loose")] + [("2024", "zip-deeper"), ("2024", "folder")],
)
def test_every_generation_imports_with_names_repaired(generation, where, account, run_cli, tmp_path, db_file):
    files = export(generation)
    assert b"Zo\\u00c3\\u00ab M\\u00c3\\u00bcller" in files[GENERATIONS[generation][0]]  # as Facebook writes it
    r = run_cli("import", container(where, files, tmp_path, GENERATIONS[generation][0]), "--account", account)
    assert r.exit_code == 0, r.output
    assert f"{ACCOUNT} connections: snapshot 1 complete, {len(NAMES)} profiles" in r.stdout
    got = current(db_file)
    assert sorted(name for name, _ in got.values()) == sorted(NAMES)  # accents, CJK, RTL and emoji intact
    zoe = got[profile_key("Zoë Müller", T0)]
    assert zoe == ("Zoë Müller", {"friends_since": "2024-05-20T10:13:20Z"})
    assert got[profile_key("Đặng Văn Lâm", T0 - 3 * 86_400)][1] == {"friends_since": "2024-05-17T10:13:20Z"}
    assert [(s["kind"], s["status"], s["count"]) for s in snapshots(run_cli)] == [("connection", "complete", len(NAMES))]
    assert "Old Pal" not in {n for n, _ in got.values()}  # removed friends are another list


def test_second_import_is_a_noop(account, run_cli, tmp_path):
    path = write_zip(export(), tmp_path / "facebook.zip")
    assert run_cli("import", path, "--account", account).exit_code == 0
    again = run_cli("import", path, "--account", account)
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout
    assert len(snapshots(run_cli)) == 1


def test_the_key_survives_a_change_of_generation(account, run_cli, tmp_path, db_file):
    """The 2018 file and a 2024 file of the same friends: the same keys, so nobody is lost or gained."""
    old = write_zip(export("2018"), tmp_path / "old.zip")
    new = write_zip(export("2024"), tmp_path / "new.zip")
    assert run_cli("import", old, "--account", account, "--as-of", "2019-01-01").exit_code == 0
    r = run_cli("import", new, "--account", account, "--as-of", "2026-11-01")
    assert r.exit_code == 0, r.output
    assert f"{len(NAMES)} profiles (+0 -0)" in r.stdout


def test_namesakes_are_two_friends_and_a_rename_is_one_left_one_new(account, run_cli, tmp_path, db_file):
    records = friends(["Ana Lima", "Ana Lima", "Bo Sample"])
    path = tmp_path / "your_friends.json"
    path.write_bytes(meta_json({"friends_v2": records}))
    assert run_cli("import", path, "--account", account, "--as-of", "2026-10-01").exit_code == 0
    assert sorted(n for n, _ in current(db_file).values()) == ["Ana Lima", "Ana Lima", "Bo Sample"]
    records[2]["name"] = "Bo Renamed"
    path.write_bytes(meta_json({"friends_v2": records}))
    r = run_cli("import", path, "--account", account, "--as-of", "2026-11-01")
    assert r.exit_code == 0, r.output
    assert "3 profiles (+1 -1)" in r.stdout


def test_correct_utf8_text_is_left_as_it_is(account, run_cli, tmp_path, db_file):
    """A file re-saved by a tool that fixed the encoding (real UTF-8): nothing is damaged."""
    tricky = ["Zoë Müller", "Ã", "Ã©tienne", "Đặng", "Ω", "naïve café", "日本"]
    path = tmp_path / "your_friends.json"
    path.write_bytes(json.dumps({"friends_v2": friends(tricky)}, ensure_ascii=False).encode("utf-8"))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    # "Ã©tienne" is the one string that is valid mojibake: it reads as "étienne", which is what
    # Facebook's escaping of "étienne" looks like; text that cannot be mojibake is untouched.
    assert sorted(n for n, _ in current(db_file).values()) == sorted(["Zoë Müller", "Ã", "étienne", "Đặng", "Ω", "naïve café", "日本"])


@pytest.mark.parametrize(
    "text",
    ["Zoë", "Ã", "Đặng Văn Lâm", "😀", "ascii", "naïve", "Müller ß", "\u00e9\u00e8", "日本語", "Ω≈ç√", ""],
)
def test_unmojibake_repairs_mangled_text_and_never_touches_correct_text(text):
    assert unmojibake(mangle(text)) == text
    if any(ord(c) > 0xFF for c in text) or text in ("Zoë", "Ã", "naïve", "Müller ß", "\u00e9\u00e8"):
        assert unmojibake(text) == text


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_unmojibake_round_trips_any_text(text):
    assert unmojibake(mangle(text)) == text
    if any(ord(c) > 0xFF for c in text):
        assert unmojibake(text) == text


def test_2018_contact_info_becomes_contact_points(account, run_cli, tmp_path, db_file):
    records = friends(["Zoë Müller", "Bo Sample", "Cy Phone"])
    records[0]["contact_info"] = "Zoe.Mueller@Example.org"
    records[2]["contact_info"] = "+49 30 1234567"
    path = write_zip(export("2018", records), tmp_path / "facebook-2019.zip")
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    rows = query(db_file, "SELECT platform_id, kind, value, consent FROM contact_points ORDER BY kind")
    assert rows == [
        (profile_key("Zoë Müller", T0), "email", "zoe.mueller@example.org", "unknown"),
        (profile_key("Cy Phone", T0 - 2 * 86_400), "phone", "+49301234567", None),  # stored in E.164
    ]


def test_utf8_bom_and_compact_json(account, run_cli, tmp_path, db_file):
    path = tmp_path / "your_friends.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"friends_v2": mangle(friends())}, separators=(",", ":")).encode())
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert len(current(db_file)) == len(NAMES)


def test_loose_file_needs_the_account(run_cli, tmp_path):
    path = tmp_path / "your_friends.json"
    path.write_bytes(export()["connections/friends/your_friends.json"])
    r = run_cli("import", path)
    assert_input_error(r, "does not say whose it is", code=2)
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    assert_input_error(run_cli("import", path, "--account", "x:ada_ex"), "facebook export", code=2)


# -- hostile values ----------------------------------------------------------------------------

HOSTILE = [
    "=cmd|' /C calc'!A0", "+SUM(1+1)", "@import", "<script>alert(1)</script>", '"><img src=x onerror=alert(1)>',
    "\u202egnp.exe", "a\x00b", "line\nbreak", "x" * 100_000, "Zoë \u202e Müller",
]


def test_hostile_names_are_stored_safely_on_sqlite_and_postgresql(db_url, run_cli, tmp_path):
    assert run_cli("--db", db_url, "accounts", "add", "facebook", "ada.example").exit_code == 0
    records = friends(HOSTILE) + friends([f"Friend {i}" for i in range(100)], start=T0 - 10**8)
    path = write_zip(export(records=records), tmp_path / "hostile.zip")
    r = run_cli("--db", db_url, "import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = dict(conn.execute(text("SELECT platform_id, display_name FROM profiles")).all())
    finally:
        engine.dispose()
    assert len(stored) == len(HOSTILE) + 100
    for i, name in enumerate(HOSTILE):
        want = name.replace("\x00", "")[:MAX_TEXT]
        assert stored[profile_key(want, T0 - 86_400 * i)] == want, name[:40]


# -- malformed files ---------------------------------------------------------------------------


@pytest.fixture
def before(account, run_cli, tmp_path, db_state) -> dict:
    """One good export imported first; every failure below must leave exactly this."""
    assert run_cli("import", write_zip(export(), tmp_path / "good.zip"), "--account", account, "--as-of", "2026-10-01").exit_code == 0
    return db_state()


def refused(run_cli, db_state, before: dict, path: Path, *needles: str, platform: str | None = None) -> str:
    args = ["import", path, "--account", ACCOUNT] + (["--platform", platform] if platform else [])
    line = assert_input_error(run_cli(*args), *needles)
    assert db_state() == before, "a failed import changed the database"
    return line


def test_invalid_json_in_the_middle(before, run_cli, db_state, tmp_path):
    body = export(records=friends([f"Friend {i}" for i in range(40)]))["connections/friends/your_friends.json"].decode()
    cut = [i for i in range(len(body)) if body.startswith("    {", i)][7]  # the start of record 8
    broken = body[:cut] + '    {"name": "Oops" "timestamp": 1},\n' + body[cut:]
    path = write_zip(export(**{"connections/friends/your_friends.json": broken.encode()}), tmp_path / "bad.zip")
    line = refused(run_cli, db_state, before, path, f"{path}:connections/friends/your_friends.json", "invalid JSON after record 7")
    assert "right here" not in line


def test_truncated_file(before, run_cli, db_state, tmp_path):
    body = export()["connections/friends/your_friends.json"]
    path = tmp_path / "your_friends.json"
    path.write_bytes(body[: len(body) * 2 // 3])
    refused(run_cli, db_state, before, path, str(path), "invalid JSON after record")


@pytest.mark.parametrize(
    "content",
    [b'{"friends_v2": {"name": "Zo"}}', b'[{"name": "Zo", "timestamp": 1}]', b'{"something_else": []}', b'"friends_v2"', b"{}"],
    ids=["list-is-an-object", "top-level-array", "other-key", "a-string", "empty-object"],
)
def test_wrong_shape_in_the_zip_names_the_file(content, before, run_cli, db_state, tmp_path):
    path = write_zip(export(**{"connections/friends/your_friends.json": content}), tmp_path / "shape.zip")
    refused(run_cli, db_state, before, path, f"{path}:connections/friends/your_friends.json", "not a Facebook friends file")


def test_wrong_shape_alone_with_platform_names_the_file(before, run_cli, db_state, tmp_path):
    path = tmp_path / "your_friends.json"
    path.write_bytes(b'{"friends_v2": 42}')
    refused(run_cli, db_state, before, path, str(path), "not a Facebook friends file", platform="facebook")
    refused(run_cli, db_state, before, path, "your_friends.json", "not an export")  # without --platform: nothing recognises it


def test_not_json_at_all(before, run_cli, db_state, tmp_path):
    path = tmp_path / "your_friends.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    refused(run_cli, db_state, before, path, str(path), "not valid JSON", platform="facebook")


def test_deeply_nested_json_is_refused_while_reading(before, run_cli, db_state, tmp_path):
    """ijson's memory grows with the square of the depth: a small file of nested `[` is refused, not parsed."""
    depth = MAX_JSON_DEPTH + 500
    body = b'{"friends_v2": [' + b"[" * depth + b"]" * depth + b"]}"
    path = write_zip(export(**{"connections/friends/your_friends.json": body}), tmp_path / "deep.zip")
    refused(run_cli, db_state, before, path, f"{path}:connections/friends/your_friends.json", f"nested more than {MAX_JSON_DEPTH} levels")


def test_brackets_and_escaped_quotes_inside_names_do_not_count_as_nesting(account, run_cli, tmp_path, db_file):
    names = ["[" * 1500 + "Bo", 'Cy \\" {{{{' * 300, "]" * 1500 + "Di"]
    path = tmp_path / "your_friends.json"
    path.write_bytes(meta_json({"friends_v2": friends(names)}))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert sorted(n for n, _ in current(db_file).values()) == sorted(n[:MAX_TEXT] for n in names)


def test_an_html_export_says_to_choose_json(before, run_cli, db_state, tmp_path):
    files = {"connections/friends/your_friends.html": b"<html>friends</html>", "index.html": b"<html></html>"}
    path = write_zip(files, tmp_path / "facebook-html.zip")
    r = run_cli("import", path, "--account", ACCOUNT)
    assert_input_error(r, f"{path}:connections/friends/your_friends.html", "HTML")
    assert "choose the format JSON" in r.stderr
    assert db_state() == before


def test_an_instagram_file_is_not_taken_for_friends(before, run_cli, db_state, tmp_path):
    path = tmp_path / "following.json"
    path.write_bytes(json.dumps({"relationships_following": [{"title": "ada", "string_list_data": []}]}).encode())
    refused(run_cli, db_state, before, path, str(path), "not a Facebook friends file", platform="facebook")


def test_one_bad_record_is_skipped_and_reported(account, run_cli, tmp_path, db_file):
    records = friends([f"Friend {i}" for i in range(150)])
    records[99] = {"timestamp": T0}  # record 100: no name
    path = write_zip(export(records=records), tmp_path / "a.zip")
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert f"warning: skipped {path}:connections/friends/your_friends.json record 100: no name" in r.stderr
    assert "149 profiles" in r.stdout and "1 bad records skipped" in r.stdout


def test_more_than_one_percent_bad_fails(before, run_cli, db_state, tmp_path):
    records = friends([f"Friend {i}" for i in range(100)])
    records[10] = "not an object"
    records[20] = {"name": "   ", "timestamp": T0}
    path = write_zip(export(records=records), tmp_path / "bad.zip")
    refused(run_cli, db_state, before, path, "2 of 100 records are bad", "record 11")


def test_an_empty_list_is_refused(before, run_cli, db_state, tmp_path):
    path = write_zip(export(records=[]), tmp_path / "empty.zip")
    refused(run_cli, db_state, before, path, "no records at all")


# -- property: the parser either parses or says InputError -------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
RECORD = st.one_of(
    st.fixed_dictionaries({"name": st.one_of(st.text(), JSON), "timestamp": st.one_of(st.integers(), JSON)}),
    st.fixed_dictionaries({"name": st.text(min_size=1)}, optional={"contact_info": JSON}),
    JSON,
)
DOCUMENT = st.one_of(
    st.fixed_dictionaries({"friends_v2": st.lists(RECORD, max_size=5)}),
    st.fixed_dictionaries({"friends": st.one_of(st.lists(RECORD, max_size=5), JSON)}),
    JSON,
)


def nesting(value) -> int:
    if isinstance(value, list):
        return 1 + max(map(nesting, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(nesting, value.values()), default=0)
    return 0


class Trickle:
    """A file whose reads return at most `size` bytes: strings and escapes get cut between reads."""

    def __init__(self, data: bytes, size: int):
        self.data, self.size = data, size

    def read(self, n: int = -1) -> bytes:
        n = self.size if n < 0 else min(n, self.size)
        chunk, self.data = self.data[:n], self.data[n:]
        return chunk


@settings(max_examples=200, deadline=None)
@given(document=JSON, size=st.integers(1, 7), ascii_only=st.booleans())
def test_the_depth_guard_counts_nesting_exactly(document, size, ascii_only):
    """Brackets, quotes and backslashes inside strings never count; cut anywhere between reads."""
    import ijson

    from backup.importers.jsonstream import JsonReader

    data = json.dumps(document, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    reader = JsonReader(Trickle(data, size), "x.json")
    while reader.read(size):
        pass
    assert (reader.depth, reader.peak, reader.in_string) == (0, nesting(document), False)
    assert len(list(ijson.items(JsonReader(Trickle(data, size), "x.json"), ""))) == 1  # what ijson reads is intact


def read_all(path: Path) -> list:
    """Detect, plan and read a file the way `audience import` does, without a database."""
    source = open_source(path)
    try:
        importer = FacebookFriends()
        importer.detect(source, ImportOptions())
        plan = importer.plan(source, ImportOptions(platform="facebook"))
        return [item for stream in plan.streams for item in stream.read()]
    finally:
        source.close()


def check_records(items: list) -> None:
    for item in items:
        assert isinstance(item, ProfileRecord | RecordError)
        if isinstance(item, ProfileRecord):
            assert item.platform_id.startswith("name+time:") and len(item.platform_id) <= MAX_HANDLE
            assert item.display_name and "\x00" not in item.display_name and len(item.display_name) <= MAX_TEXT
            item.display_name.encode("utf-8")  # storable


@PROPERTY
@given(document=DOCUMENT, mojibake=st.booleans(), cut=st.one_of(st.none(), st.integers(0, 400)))
def test_any_json_either_parses_or_is_an_input_error(document, mojibake, cut):
    data = meta_json(document, mojibake)
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "your_friends.json"
        path.write_bytes(data)
        try:
            check_records(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message and str(path) in exc.message


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_either_parse_or_are_an_input_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "your_friends.json"
        path.write_bytes(b'{"friends_v2": [' + data)
        try:
            check_records(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message


def test_the_bundled_example(examples, run_cli, account, db_file):
    r = run_cli("import", examples / "facebook-export", "--account", account)
    assert r.exit_code == 0, r.output
    names = {n for n, _ in current(db_file).values()}
    assert len(names) == 22 and {"Zoë Müller", "Nguyễn Ngọc Trâm", "Kai 🌊 Nakamura", "جمال حداد", "Grace Okafor"} <= names
    assert not any("Ã" in n or "Ä" in n for n in names)
