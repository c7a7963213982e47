"""Malformed and hostile input (SPEC §5.6, §10; reliability checks E.23, E.25).

Each bad file is imported after a good archive, and must fail with exit 3 and one `error:`
line that names the file, leaving the database exactly as it was. Bad archives are of the
same account and a month newer than the good one, so that nothing but the damage can be
the reason they are refused.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import struct
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import create_engine, text

from backup.snapshot import MAX_HANDLE, MAX_TEXT

from .archives import data_js, entries, ids, write_folder, write_zip, x_archive
from .conftest import assert_input_error, query

NEWER = "2026-11-01T06:00:00.000Z"
PROPERTY = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def good_db(tmp_path_factory) -> Path:
    """A database holding one good archive, imported once per module through the CLI."""
    from backup.cli import main

    where = tmp_path_factory.mktemp("good")
    path = write_zip(x_archive(ids(40), ids(8, start=900)), where / "good.zip")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIENCE_HOME", str(where / "home"))
        assert main(["--db", str(where / "audience.db"), "-q", "import", str(path)]) == 0
    return where / "audience.db"


@pytest.fixture
def good(good_db, db_file, db_state) -> dict:
    """A good archive imported first (a copy of `good_db`); returns the state failures must leave unchanged."""
    db_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copy(good_db, db_file)
    state = db_state()
    assert state["profiles"] == 48 and state["relationships"] == 48 and len(state["history"]) == 2
    return state


def newer(changes: dict[str, bytes | None] | None = None) -> dict[str, bytes]:
    """The files of a good archive, one month newer; `changes` replace members (None removes one)."""
    files = x_archive(ids(45), ids(9, start=900), generated=NEWER)
    for name, content in (changes or {}).items():
        if content is None:
            files.pop(name)
        else:
            files[name] = content
    return files


def refused(run_cli, db_state, before: dict, path: Path, *needles: str) -> str:
    r = run_cli("import", path)
    line = assert_input_error(r, *needles)
    assert db_state() == before, "a failed import changed the database"
    return line


# -- damaged zips ------------------------------------------------------------------------------


@pytest.mark.parametrize("fraction", [0.5, 0.1, 0.99])
def test_truncated_zip(fraction, good, run_cli, db_state, tmp_path):
    whole = write_zip(newer(), tmp_path / "whole.zip").read_bytes()
    path = tmp_path / "cut.zip"
    path.write_bytes(whole[: int(len(whole) * fraction)])
    refused(run_cli, db_state, good, path, str(path), "not a readable zip file")


def _member_offsets(data: bytes, name: str) -> tuple[int, int, int]:
    """(local header offset, data offset, central directory entry offset) of a member."""
    info = zipfile.ZipFile(io.BytesIO(data)).getinfo(name)
    local = info.header_offset
    name_len, extra_len = struct.unpack("<HH", data[local + 26: local + 30])
    central = data.find(b"PK\x01\x02")
    while central != -1:
        n = struct.unpack("<H", data[central + 28: central + 30])[0]
        if data[central + 46: central + 46 + n] == name.encode():
            break
        central = data.find(b"PK\x01\x02", central + 4)
    return local, local + 30 + name_len + extra_len, central


def _damaged(data: bytes, how: str) -> bytes:
    local, start, central = _member_offsets(data, "data/follower.js")
    d = bytearray(data)
    if how == "deflate-data":
        for i in range(start + 100, start + 140):
            d[i] ^= 0xFF
    elif how == "local-header":
        d[local: local + 4] = b"XXXX"
    elif how == "encrypted":
        d[local + 6] |= 1
        d[central + 8] |= 1
    elif how == "compression-method":
        d[local + 8: local + 10] = struct.pack("<H", 99)  # 99 is WinZip AES: not readable here
        d[central + 10: central + 12] = struct.pack("<H", 99)
    elif how == "crc":
        d[central + 16] ^= 0xFF
        d[local + 14] ^= 0xFF
    return bytes(d)


@pytest.mark.parametrize("how", ["deflate-data", "local-header", "encrypted", "compression-method", "crc"])
def test_damaged_member_in_a_readable_zip(how, good, run_cli, db_state, tmp_path):
    whole = write_zip(newer(), tmp_path / "whole.zip").read_bytes()
    path = tmp_path / f"damaged-{how}.zip"
    path.write_bytes(_damaged(whole, how))
    refused(run_cli, db_state, good, path, f"{path}:data/follower.js")


@pytest.fixture(scope="module")
def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in newer().items():
            zf.writestr(name, content)
    return buf.getvalue()


@PROPERTY
@given(data=st.data())
def test_any_corrupted_bytes_in_a_zip_never_crash(data, zip_bytes, run_cli):
    """Random bytes overwritten anywhere (headers, names, versions, deflate data): exit 0, 2 or 3, never a crash.

    2 is right when the damage renamed account.js and manifest.js: the export no longer says whose it is.
    """
    damaged = bytearray(zip_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.zip"
        path.write_bytes(bytes(damaged))
        r = run_cli("--db", Path(tmp) / "audience.db", "import", path)
        assert r.exit_code in (0, 2, 3), r.output
        if r.exit_code:
            assert_input_error(r, code=r.exit_code)


def test_zip_signature_with_nothing_else(good, run_cli, db_state, tmp_path):
    path = tmp_path / "stub.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 10)
    refused(run_cli, db_state, good, path, str(path))


# -- members that point elsewhere -------------------------------------------------------------


@pytest.mark.parametrize("name", ["../evil.js", "data/../../evil.js", "/tmp/evil.js", "C:/evil.js", "..\\evil.js"])
def test_zip_member_outside_the_archive(name, good, run_cli, db_state, tmp_path):
    path = write_zip(newer(), tmp_path / "slip.zip", raw_names={name: b"window.YTD.follower.part0 = []"})
    assert name in zipfile.ZipFile(path).namelist()
    refused(run_cli, db_state, good, path, str(path), "path traversal")
    assert not (tmp_path.parent / "evil.js").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside"])
def test_zip_symlink_member(target, good, run_cli, db_state, tmp_path):
    path = write_zip(newer(), tmp_path / "link.zip", symlinks={"data/follower-part1.js": target})
    refused(run_cli, db_state, good, path, str(path), "symbolic link")


def test_symlink_in_a_folder_is_not_followed(good, run_cli, db_state, tmp_path):
    outside = tmp_path / "outside.js"
    outside.write_bytes(data_js("follower", ids(45)))
    folder = write_folder(newer({"data/follower.js": None}), tmp_path / "archive")
    (folder / "data" / "follower.js").symlink_to(outside)
    r = run_cli("import", folder)
    assert r.exit_code == 0, r.output  # following.js is read; the linked follower.js is not
    after = db_state()
    assert [s["kind"] for s in after["history"]] == ["follower", "following", "following"]


# -- files that are not what they say ---------------------------------------------------------


def test_follower_js_without_the_window_ytd_prefix(good, run_cli, db_state, tmp_path):
    plain = json.dumps(entries("follower", ids(45))).encode()
    path = write_zip(newer({"data/follower.js": plain}), tmp_path / "plain.zip")
    refused(run_cli, db_state, good, path, f"{path}:data/follower.js", "window.YTD.follower.part0")


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_invalid_json_after_good_records(kind, good, run_cli, db_state, tmp_path):
    text = data_js("follower", ids(45)).decode()
    cut = [i for i in range(len(text)) if text.startswith("  {", i)][5]  # the start of record 6
    broken = (text[:cut] + '  {"follower" : {"accountId" "1", }},\n' + text[cut:]).encode()
    files = newer({"data/follower.js": broken})
    path = write_zip(files, tmp_path / "bad.zip") if kind == "zip" else write_folder(files, tmp_path / "bad")
    where = f"{path}:data/follower.js" if kind == "zip" else str(path / "data" / "follower.js")
    line = refused(run_cli, db_state, good, path, where, "invalid JSON after record 5")
    assert "right here" not in line  # the parser's multi-line diagnostic is not passed through


def test_a_record_nested_a_hundred_thousand_levels_deep(good, run_cli, db_state, tmp_path):
    """400 KB of `[` made ijson take gigabytes and the stdlib decoder recurse; neither may crash the import."""
    text = data_js("follower", ids(45)).decode()
    cut = [i for i in range(len(text)) if text.startswith("  {", i)][5]
    deep = (text[:cut] + "[" * 100_000 + "]" * 100_000 + ",\n" + text[cut:]).encode()
    path = write_folder(newer({"data/follower.js": deep}), tmp_path / "deep")
    refused(run_cli, db_state, good, path, str(path / "data" / "follower.js"), "record 6 is nested thousands of levels deep")


def test_follower_js_cut_mid_record(good, run_cli, db_state, tmp_path):
    text = data_js("follower", ids(45))
    path = write_folder(newer({"data/follower.js": text[: len(text) // 2]}), tmp_path / "cut")
    refused(run_cli, db_state, good, path, str(path / "data" / "follower.js"), "invalid JSON")


def test_the_second_kind_failing_rolls_back_the_first(good, run_cli, db_state, tmp_path):
    """One PATH is one transaction: followers read fine, following.js is broken: nothing is kept."""
    path = write_zip(newer({"data/following.js": b"window.YTD.following.part0 = [ {"}), tmp_path / "half.zip")
    refused(run_cli, db_state, good, path, f"{path}:data/following.js")


def test_account_js_that_is_not_json(good, run_cli, db_state, tmp_path):
    path = write_zip(newer({"data/account.js": b"window.YTD.account.part0 = [ {oops"}), tmp_path / "acc.zip")
    refused(run_cli, db_state, good, path, f"{path}:data/account.js", "invalid JSON")


@pytest.mark.parametrize(
    "name,content",
    [
        ("photo.png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4),
        ("export.zip", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("notes.txt", b"Dear diary,\nthis is not a list of anybody.\n"),
        ("follower.js", b"\x89PNG\r\n\x1a\n" + bytes(range(256))),
        ("follower.js", b"console.log('hello')\n"),
        ("follower.js", b""),
        ("people.csv", b"\x00\x01\x02\x03\xff\xfe\x00garbage"),
    ],
    ids=["png", "png-named-zip", "text", "png-named-follower-js", "javascript", "empty-js", "binary-csv"],
)
def test_a_file_that_is_not_an_export(name, content, good, run_cli, db_state, tmp_path):
    path = tmp_path / name
    path.write_bytes(content)
    r = run_cli("import", path, "--account", "x:ada_ex")
    line = assert_input_error(r, name)
    assert db_state() == good, line


def test_ids_as_json_numbers_beyond_2_pow_53(good, run_cli, db_state, tmp_path):
    """`1400000000000000042` as a number has been through a float: every record is refused."""
    numbers = [int(i) for i in ids(45)]
    assert all(n > 2**53 for n in numbers)
    files = newer({"data/follower.js": data_js("follower", entries("follower", numbers))})
    assert b'"accountId" : 1400000000000000000,' in files["data/follower.js"]
    path = write_zip(files, tmp_path / "floats.zip")
    line = refused(run_cli, db_state, good, path, f"{path}:data/follower.js", "45 of 45 records are bad")
    assert "too large to be exact" in line


def test_empty_follower_js_is_refused(good, run_cli, db_state, tmp_path):
    """Decision: an empty `[]` is not "everybody left"; it is no export at all (exit 3)."""
    empty = newer({"data/follower.js": data_js("follower", []), "data/following.js": None})
    assert empty["data/follower.js"] == b"window.YTD.follower.part0 = []"
    path = write_zip(empty, tmp_path / "empty.zip")
    refused(run_cli, db_state, good, path, f"{path}:data/follower.js", "no records at all")


# -- size limits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """follower.js of 50 MB of blanks after X's own prefix: about 50 KB compressed, a ratio near
    1000:1. The prefix is right and blanks are JSON whitespace, so the parser reads on and the
    ratio guard is what stops it, whichever thread (parser or content hash) reads ahead."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.zip"
    files = newer({"data/follower.js": b"window.YTD.follower.part0 = [" + b" " * (50 << 20)})
    write_zip(files, path)
    info = zipfile.ZipFile(path).getinfo("data/follower.js")
    assert info.file_size / info.compress_size > 100
    return path


def test_zip_bomb_is_refused_while_reading(bomb, good, run_cli, db_state):
    refused(run_cli, db_state, good, bomb, f"{bomb}:data/follower.js", "zip bomb")


def test_zip_bomb_in_a_small_file(good, run_cli, db_state, tmp_path):
    """account.js is read whole: it must be guarded as well."""
    path = write_zip(newer({"data/account.js": b"window.YTD.account.part0 = [" + b" " * (20 << 20)}), tmp_path / "b.zip")
    refused(run_cli, db_state, good, path, f"{path}:data/account.js", "zip bomb")


def test_forged_sizes_in_the_headers_are_refused(good, run_cli, db_state, tmp_path):
    """A header that says 1000 bytes for a 20 MB member: the bytes read disagree with it (CRC), so it is refused."""
    whole = write_zip(newer({"data/follower.js": b" " * (20 << 20)}), tmp_path / "w.zip").read_bytes()
    local, _, central = _member_offsets(whole, "data/follower.js")
    d = bytearray(whole)
    d[central + 24: central + 28] = struct.pack("<I", 1000)  # uncompressed size says 1000 bytes
    d[local + 22: local + 26] = struct.pack("<I", 1000)
    path = tmp_path / "forged.zip"
    path.write_bytes(bytes(d))
    refused(run_cli, db_state, good, path, f"{path}:data/follower.js")


def test_archive_size_cap(good, run_cli, db_state, tmp_path, monkeypatch):
    files = newer()
    path = write_zip(files, tmp_path / "big.zip")
    monkeypatch.setenv("AUDIENCE_MAX_ARCHIVE_BYTES", "1000")
    r = run_cli("import", path)
    assert_input_error(r, str(path), "more than 1000 bytes once decompressed")
    assert "hint: raise AUDIENCE_MAX_ARCHIVE_BYTES" in r.stderr
    assert db_state() == good


def test_archive_size_cap_counts_each_member_once(good, run_cli, db_state, tmp_path, monkeypatch):
    """A cap just above the archive's decompressed size lets it in, though follower.js is read twice (hash, parse)."""
    files = newer()
    path = write_zip(files, tmp_path / "fits.zip")
    monkeypatch.setenv("AUDIENCE_MAX_ARCHIVE_BYTES", str(sum(len(c) for c in files.values())))
    r = run_cli("import", path)
    assert r.exit_code == 0, r.output
    assert len(db_state()["history"]) == 4


@pytest.mark.parametrize("value", ["lots", "-5", "0", "1e9"])
def test_archive_size_cap_that_is_not_a_number(value, good, run_cli, db_state, tmp_path, monkeypatch):
    path = write_zip(newer(), tmp_path / "a.zip")
    monkeypatch.setenv("AUDIENCE_MAX_ARCHIVE_BYTES", value)
    r = run_cli("import", path)
    assert_input_error(r, "AUDIENCE_MAX_ARCHIVE_BYTES", code=4)
    assert db_state() == good


# -- properties: hostile text never crashes an import -----------------------------------------

HOSTILE = st.sampled_from([
    "=cmd|' /C calc'!A0", "+1+1", "-2", "@SUM(A1)", "\t=1", "\r=1", "\u202egnp.exe", "\u2066x\u2069", "\ufeffbom",
    "a\x00b", '"', '""', "'", "\n", "\r\n", "\r", ",", ";", "|", "<script>alert(1)</script>", '"><img onerror=x>',
    "javascript:alert(1)", "👩‍👩‍👧", "\u200b", "x" * 10_000, "\\", "\nEMAIL:x@evil",
])
TEXT = st.one_of(st.text(), HOSTILE, st.lists(st.one_of(st.text(max_size=5), HOSTILE), max_size=4).map("".join))


@pytest.fixture(scope="module")
def template_db(tmp_path_factory) -> Path:
    """An initialised database with the account registered, copied for each example."""
    from backup.cli import main

    path = tmp_path_factory.mktemp("template") / "audience.db"
    assert main(["--db", str(path), "-q", "accounts", "add", "mastodon", "ana@mastodon.social"]) == 0
    return path


def _fresh_db(template: Path, where: Path) -> Path:
    db = where / "audience.db"
    shutil.copy(template, db)
    return db


def _write(rows: list[list[str]], path: Path, delimiter: str = ",") -> Path:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode("utf-8"))
    return path


@PROPERTY
@given(rows=st.lists(st.tuples(TEXT, TEXT), min_size=1, max_size=8), delimiter=st.sampled_from([",", ";", "\t"]))
def test_hostile_handles_and_names_never_crash(rows, delimiter, run_cli, template_db):
    with tempfile.TemporaryDirectory() as tmp:
        db = _fresh_db(template_db, Path(tmp))
        path = _write([["Username", "Display name"], *map(list, rows)], Path(tmp) / "hostile.csv", delimiter)
        r = run_cli("--db", db, "import", path, "--account", "mastodon:ana@mastodon.social")
        assert r.exit_code in (0, 3), r.output
        if r.exit_code == 3:
            assert_input_error(r)


@PROPERTY
@given(names=st.lists(TEXT, min_size=1, max_size=8), delimiter=st.sampled_from([",", ";", "\t"]))
def test_hostile_names_are_stored_as_written(names, delimiter, run_cli, template_db):
    """Well-formed rows (a plain handle each) with hostile names import, and the names round-trip.

    Cells are stripped of surrounding blanks by design; storage drops NUL and caps text at
    MAX_TEXT characters (backup.snapshot, reliability check E.23 d).
    """
    with tempfile.TemporaryDirectory() as tmp:
        db = _fresh_db(template_db, Path(tmp))
        rows = [[f"user{i}@example.social", name, f"bio {i}"] for i, name in enumerate(names)]
        path = _write([["Username", "Display name", "Bio"], *rows], Path(tmp) / "hostile.csv", delimiter)
        r = run_cli("--db", db, "import", path, "--account", "mastodon:ana@mastodon.social")
        assert r.exit_code == 0, r.output
        stored = dict(query(db, "SELECT platform_id, display_name FROM profiles"))
        for i, name in enumerate(names):
            want = name.strip() or None
            got = stored[f"user{i}@example.social"]
            assert got == (want if want is None else want.replace("\x00", "")[:MAX_TEXT]), (name[:80], (got or "")[:80])
        bios = dict(query(db, "SELECT platform_id, bio FROM profiles"))
        assert all(bios[f"user{i}@example.social"] == f"bio {i}" for i in range(len(names)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ACCOUNT_ID = st.one_of(JSON, st.integers(min_value=1, max_value=2**64).map(str), st.integers())


@PROPERTY
@given(
    records=st.lists(
        st.one_of(
            ACCOUNT_ID.map(lambda a: {"follower": {"accountId": a, "userLink": "x"}}),
            st.fixed_dictionaries({"follower": JSON}),
            JSON,
        ),
        max_size=6,
    )
)
def test_any_json_records_in_follower_js_never_crash(records, run_cli, template_db):
    with tempfile.TemporaryDirectory() as tmp:
        db = _fresh_db(template_db, Path(tmp))
        path = Path(tmp) / "follower.js"
        path.write_bytes(f"window.YTD.follower.part0 = {json.dumps(records, ensure_ascii=False)}".encode("utf-8", "surrogatepass"))
        assert run_cli("--db", db, "-q", "accounts", "add", "x", "ada_ex").exit_code == 0
        r = run_cli("--db", db, "import", path, "--account", "x:ada_ex")
        assert r.exit_code in (0, 3), r.output
        if r.exit_code == 3:
            assert_input_error(r, "follower.js")


# -- the same hostile corpus on both databases ------------------------------------------------

CORPUS = [
    "=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "\u202egnp.exe", "a\x00b", 'say "hi", \'bye\'',
    "line\nbreak", "cr\ronly", "<script>alert(1)</script>", "👩‍👩‍👧 family", "\u200bzero", "x" * 200_000,
]


def test_hostile_csv_is_stored_the_same_on_sqlite_and_postgresql(db_url, run_cli, tmp_path):
    """E.23 (d): names survive; keys longer than the id column are bad records, not a PostgreSQL crash."""
    assert run_cli("--db", db_url, "accounts", "add", "mastodon", "ana@mastodon.social").exit_code == 0
    rows = [["Username", "Display name", "Bio"]]
    rows += [[f"user{i}@example.social", name, name] for i, name in enumerate(CORPUS)]
    rows += [[f"user{i}@example.social", "Plain", ""] for i in range(len(CORPUS), 150)]
    rows += [["h" * (MAX_HANDLE + 1), "Too long a handle", ""]]
    path = _write(rows, tmp_path / "hostile.csv")
    r = run_cli("--db", db_url, "import", path, "--account", "mastodon:ana@mastodon.social")
    assert r.exit_code == 0, r.output
    last_line = sum(1 + len(re.findall(r"\r\n|\r|\n", "".join(row))) for row in rows)  # quoted breaks are lines too
    assert f"{path} line {last_line}: the id, handle or email is longer than {MAX_HANDLE} characters" in r.stderr
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = {pid: (name, bio) for pid, name, bio in conn.execute(text("SELECT platform_id, display_name, bio FROM profiles"))}
    finally:
        engine.dispose()
    assert len(stored) == 150
    for i, name in enumerate(CORPUS):
        want = name.replace("\x00", "")[:MAX_TEXT]
        assert stored[f"user{i}@example.social"] == (want, want), name[:40]


def test_x_account_id_longer_than_the_id_column_is_a_bad_record(good, run_cli, db_state, tmp_path):
    records = entries("follower", ids(45)) + entries("follower", ["9" * (MAX_HANDLE + 1)])
    path = write_zip(newer({"data/follower.js": data_js("follower", records)}), tmp_path / "long.zip")
    r = run_cli("import", path)
    assert_input_error(r, "1 of 46 records are bad")  # 1 of 46 is more than 1%
    assert db_state() == good
