"""X archive import through the CLI: every container and file layout X produces (SPEC §4, §6).

Archives are built at test time from Python data by `archives.py`, in the real format.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup.importers import RecordError
from backup.importers.x_archive import _JsArray, _record
from backup.profiles import profile_url

from .archives import (
    ACCOUNT,
    INTENT,
    account_js,
    data_js,
    entries,
    ids,
    manifest_js,
    write_folder,
    write_zip,
    x_archive,
)
from .conftest import assert_input_error, query

FOLLOWERS = ids(40)
FOLLOWING = ids(8, start=900)


def snapshots(run_cli) -> list[dict]:
    r = run_cli("snapshots", "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def summary(run_cli) -> list[tuple]:
    return [(s["account"], s["kind"], s["status"], s["count"]) for s in snapshots(run_cli)]


def stored_ids(db: Path, kind: str = "follower") -> set[str]:
    rows = query(
        db,
        "SELECT r.platform_id FROM relationships r "
        "WHERE r.kind = :kind AND r.until_snapshot_id IS NULL",
        kind=kind,
    )
    return {r[0] for r in rows}


def container(kind: str, files: dict, tmp_path: Path) -> Path:
    if kind == "zip":
        return write_zip(files, tmp_path / "twitter-2026-10-01-abc123.zip")
    if kind == "folder":
        return write_folder(files, tmp_path / "twitter-2026-10-01")
    if kind == "zip-deeper":
        return write_zip(files, tmp_path / "twitter-2026-10-01.zip", root="twitter-2026")
    if kind == "folder-deeper":  # the zip unpacked by a tool that adds a folder of its own
        write_folder(files, tmp_path / "download" / "twitter-2026")
        return tmp_path / "download"
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["zip", "folder", "zip-deeper", "folder-deeper"])
def test_archive_in_every_container_imports_both_kinds(kind, run_cli, tmp_path, db_file):
    path = container(kind, x_archive(FOLLOWERS, FOLLOWING), tmp_path)
    r = run_cli("import", path)
    assert r.exit_code == 0, r.output
    assert "registered x:ada_ex from the export" in r.stdout
    assert summary(run_cli) == [("x:ada_ex", "follower", "complete", 40), ("x:ada_ex", "following", "complete", 8)]
    assert stored_ids(db_file, "follower") == set(FOLLOWERS)
    assert stored_ids(db_file, "following") == set(FOLLOWING)
    # only ids in the archive: the intent link of each id is its profile URL, derived, not stored
    urls = dict(query(db_file, "SELECT platform_id, url FROM profiles"))
    assert urls[FOLLOWERS[3]] is None
    assert profile_url("x", FOLLOWERS[3], None, urls[FOLLOWERS[3]]) == INTENT.format(FOLLOWERS[3])
    assert r.stderr == ""


def test_reimporting_the_same_zip_is_a_noop(run_cli, tmp_path):
    path = write_zip(x_archive(FOLLOWERS, FOLLOWING), tmp_path / "a.zip")
    assert run_cli("import", path).exit_code == 0
    again = run_cli("import", path)
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout and "already imported as snapshot 2" in again.stdout
    assert len(snapshots(run_cli)) == 2


def test_single_follower_js_needs_a_registered_account(run_cli, tmp_path, db_file):
    path = tmp_path / "follower.js"
    path.write_bytes(data_js("follower", FOLLOWERS))
    r = run_cli("import", path)
    assert_input_error(r, "does not say whose it is", code=2)
    assert "--account" in r.stderr
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    r = run_cli("import", path, "--account", "x:ada_ex")
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("x:ada_ex", "follower", "complete", 40)]
    assert snapshots(run_cli)[0]["source"] == "follower.js"
    assert stored_ids(db_file) == set(FOLLOWERS)


def test_single_file_with_another_name_is_read_by_its_content(run_cli, tmp_path, db_file):
    """A renamed file (`following (1).js` from a browser) is recognised by `window.YTD.following`."""
    path = tmp_path / "following (1).js"
    path.write_bytes(data_js("following", FOLLOWING))
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    r = run_cli("import", path, "--account", "x:ada_ex")
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("x:ada_ex", "following", "complete", 8)]
    assert stored_ids(db_file, "following") == set(FOLLOWING)


@pytest.mark.parametrize("header", ["standard", "inline", "nextline"])
@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_both_header_generations(header, kind, run_cli, tmp_path, db_file):
    files = x_archive(FOLLOWERS, FOLLOWING, header=header)
    first_line = files["data/follower.js"].split(b"\n")[0]
    assert first_line.endswith({"standard": b"= [", "inline": b"= [ {", "nextline": b"="}[header])
    r = run_cli("import", container(kind, files, tmp_path))
    assert r.exit_code == 0, r.output
    assert stored_ids(db_file, "follower") == set(FOLLOWERS)
    assert stored_ids(db_file, "following") == set(FOLLOWING)


@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_utf8_bom_on_every_file(kind, run_cli, tmp_path, db_file):
    files = x_archive(FOLLOWERS, FOLLOWING, bom=True)
    files["data/account.js"] = b"\xef\xbb\xbf" + files["data/account.js"]
    files["data/manifest.js"] = b"\xef\xbb\xbf" + files["data/manifest.js"]
    r = run_cli("import", container(kind, files, tmp_path))
    assert r.exit_code == 0, r.output
    assert stored_ids(db_file) == set(FOLLOWERS)
    assert snapshots(run_cli)[0]["as_of"].startswith("2026-10-01T06:12:40")  # the manifest was read


def test_single_file_with_bom(run_cli, tmp_path, db_file):
    path = tmp_path / "follower.js"
    path.write_bytes(data_js("follower", FOLLOWERS, bom=True))
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    assert run_cli("import", path, "--account", "x:ada_ex").exit_code == 0
    assert stored_ids(db_file) == set(FOLLOWERS)


@pytest.mark.parametrize("with_manifest", [True, False], ids=["manifest", "file-names"])
@pytest.mark.parametrize("kind", ["zip", "folder"])
def test_multi_part_files(with_manifest, kind, run_cli, tmp_path, db_file):
    followers, following = ids(250), ids(30, start=5000)
    files = x_archive(followers, following, parts=3, manifest=with_manifest)
    assert {"data/follower.js", "data/follower-part1.js", "data/follower-part2.js"} <= set(files)
    assert files["data/follower-part2.js"].startswith(b"window.YTD.follower.part2 = [")
    if with_manifest:
        listed = json.loads(files["data/manifest.js"].split(b"=", 1)[1])["dataTypes"]["follower"]["files"]
        assert [f["fileName"] for f in listed] == ["data/follower.js", "data/follower-part1.js", "data/follower-part2.js"]
    r = run_cli("import", container(kind, files, tmp_path))
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("x:ada_ex", "follower", "complete", 250), ("x:ada_ex", "following", "complete", 30)]
    assert stored_ids(db_file, "follower") == set(followers)
    assert stored_ids(db_file, "following") == set(following)


def test_manifest_lists_the_parts_in_another_folder(run_cli, tmp_path, db_file):
    """The manifest's file names are matched at any depth (the archive one folder deeper)."""
    followers = ids(120)
    files = x_archive(followers, parts=2)
    r = run_cli("import", write_zip(files, tmp_path / "a.zip", root="twitter-2026-10-01-abc"))
    assert r.exit_code == 0, r.output
    assert stored_ids(db_file) == set(followers)


def test_account_js_creates_the_account_and_a_renamed_handle_keeps_it(run_cli, tmp_path):
    assert run_cli("import", write_zip(x_archive(FOLLOWERS), tmp_path / "a.zip")).exit_code == 0
    listed = json.loads(run_cli("accounts", "list", "--json").stdout)
    assert [(a["platform"], a["handle"]) for a in listed] == [("x", "ada_ex")]
    renamed = dict(ACCOUNT, username="ada_renamed")
    files = x_archive(FOLLOWERS[:39], account=renamed, generated="2026-11-01T00:00:00.000Z")
    r = run_cli("import", write_zip(files, tmp_path / "b.zip"))
    assert r.exit_code == 0, r.output
    assert "registered" not in r.stdout  # the same accountId is the same account
    assert len(json.loads(run_cli("accounts", "list", "--json").stdout)) == 1
    assert [s["count"] for s in snapshots(run_cli)] == [40, 39]


def test_account_from_the_manifest_when_account_js_is_missing(run_cli, tmp_path):
    files = x_archive(FOLLOWERS)
    del files["data/account.js"]
    r = run_cli("import", write_zip(files, tmp_path / "a.zip"))
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("x:ada_ex", "follower", "complete", 40)]


def test_account_option_agreeing_with_account_js(run_cli, tmp_path):
    assert run_cli("accounts", "add", "x", "ada_ex").exit_code == 0
    r = run_cli("import", write_zip(x_archive(FOLLOWERS), tmp_path / "a.zip"), "--account", "x:ada_ex")
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("x:ada_ex", "follower", "complete", 40)]


@pytest.mark.parametrize("other", [("x", "bob"), ("mastodon", "bob@mastodon.social")], ids=["x-handle", "platform"])
def test_account_option_contradicting_account_js(other, run_cli, tmp_path):
    assert run_cli("accounts", "add", *other).exit_code == 0
    r = run_cli("import", write_zip(x_archive(FOLLOWERS), tmp_path / "a.zip"), "--account", ":".join(other))
    assert_input_error(r, "x:ada_ex", code=2)
    assert snapshots(run_cli) == []


def test_account_option_contradicting_by_id(run_cli, tmp_path):
    """Same handle, other accountId (a recycled handle): not the same account."""
    assert run_cli("import", write_zip(x_archive(FOLLOWERS), tmp_path / "a.zip")).exit_code == 0
    other = dict(ACCOUNT, accountId="999")
    files = x_archive(FOLLOWERS, account=other, generated="2026-11-01T00:00:00.000Z")
    r = run_cli("import", write_zip(files, tmp_path / "b.zip"), "--account", "x:ada_ex")
    assert_input_error(r, "belongs to x:ada_ex", code=2)
    assert len(snapshots(run_cli)) == 1


def test_manifest_generation_date_dates_the_snapshot(run_cli, tmp_path):
    files = x_archive(FOLLOWERS, FOLLOWING, generated="2026-10-01T06:12:40.123Z")
    path = write_folder(files, tmp_path / "archive")
    for f in path.rglob("*.js"):  # file times say otherwise: the manifest wins
        os.utime(f, (1_500_000_000, 1_500_000_000))
    assert run_cli("import", path).exit_code == 0
    as_of = {s["as_of"] for s in snapshots(run_cli)}
    assert len(as_of) == 1
    assert dt.datetime.fromisoformat(as_of.pop().replace("Z", "+00:00")) == dt.datetime(2026, 10, 1, 6, 12, 40, 123000, dt.UTC)
    r = run_cli("import", path, "--json")
    assert json.loads(r.stdout)[0]["as_of"].startswith("2026-10-01T06:12:40.123")


def test_without_a_manifest_the_file_time_dates_the_snapshot(run_cli, tmp_path):
    path = write_folder(x_archive(FOLLOWERS, manifest=False), tmp_path / "archive")
    stamp = dt.datetime(2026, 9, 1, 12, 0, tzinfo=dt.UTC).timestamp()
    os.utime(path / "data" / "follower.js", (stamp, stamp))
    assert run_cli("import", path).exit_code == 0
    assert snapshots(run_cli)[0]["as_of"].startswith("2026-09-01T12:00:00")


def test_account_id_as_a_small_json_number_is_accepted(run_cli, tmp_path, db_file):
    records = entries("follower", FOLLOWERS[:10]) + entries("follower", [77001, 42, 9007199254740992])
    files = x_archive([])
    files["data/follower.js"] = data_js("follower", records)
    assert b'"accountId" : 77001,' in files["data/follower.js"]
    r = run_cli("import", write_zip(files, tmp_path / "a.zip"))
    assert r.exit_code == 0, r.output
    assert stored_ids(db_file) == set(FOLLOWERS[:10]) | {"77001", "42", "9007199254740992"}


def test_a_bad_record_is_skipped_and_reported_with_file_and_record(run_cli, tmp_path, db_file):
    good = ids(150)
    records = entries("follower", good[:99]) + [{"follower": {"accountId": "not-a-number"}}] + entries("follower", good[99:])
    files = x_archive([])
    files["data/follower.js"] = data_js("follower", records)
    r = run_cli("import", write_zip(files, tmp_path / "a.zip"))
    assert r.exit_code == 0, r.output
    assert "1 bad records skipped" in r.stdout
    assert f"warning: skipped {tmp_path / 'a.zip'}:data/follower.js record 100: accountId is missing or not a numeric id" in r.stderr
    assert stored_ids(db_file) == set(good)
    assert snapshots(run_cli)[0]["bad_records"] == 1


def test_account_js_alone_is_not_enough(run_cli, tmp_path):
    path = tmp_path / "archive"
    (path / "data").mkdir(parents=True)
    (path / "data" / "account.js").write_bytes(account_js())
    (path / "data" / "manifest.js").write_bytes(manifest_js("2026-10-01T00:00:00Z", {}))
    r = run_cli("import", path)
    assert_input_error(r, "no follower.js or following.js", str(path))
    assert snapshots(run_cli) == []


# ---------------------------------------------------------------------------------------------
# The fast entry reader gives exactly what a JSON parser gives


def _reference(text: str, kind: str):
    """What `json.loads` of the array makes of `text`, through the same record checks."""
    def reject(name):
        raise ValueError(name)

    body = text.rstrip(" \t\n\r")
    body = body[:-1] if body.endswith(";") else body
    items = json.loads(body, parse_constant=reject)
    if not isinstance(items, list):
        raise ValueError("not a list")
    return [_outcome(_record(item, kind, "r")) for item in items]


def _outcome(r):
    return ("error", r.reason) if isinstance(r, RecordError) else (r.platform_id, r.url)


def _fast(text: str, kind: str, chunk: int):
    out = []
    reader = _JsArray(io.BytesIO(text.encode("utf-8")), kind)
    reader.CHUNK = reader.LOOKAHEAD = chunk  # tiny buffers: every entry crosses a refill somewhere
    for item in reader:
        out.append((item, None) if type(item) is str else _outcome(_record(item, kind, "r")))
    return out


_ids = st.one_of(st.from_regex(r"[0-9]{1,20}", fullmatch=True), st.integers(-5, 2**60), st.just("1e3"), st.just(""))
_entry = st.fixed_dictionaries(
    {"accountId": _ids},
    optional={"userLink": st.one_of(st.just("canonical"), st.text(max_size=20)), "extra": st.text(max_size=5)},
)
_layouts = st.sampled_from(["x", "compact", "spaced", "escaped"])


def _render(entries: list[dict], kind: str, layout: str) -> str:
    parts = []
    for e in entries:
        e = dict(e)
        if e.get("userLink") == "canonical":
            e["userLink"] = INTENT.format(e["accountId"])
        if layout == "x":
            parts.append("\n  " + json.dumps({kind: e}, indent=2, separators=(",", " : ")).replace("\n", "\n  "))
        elif layout == "compact":
            parts.append(json.dumps({kind: e}, separators=(",", ":")))
        elif layout == "spaced":
            parts.append(" \t\r\n " + json.dumps({kind: e}, separators=(" , ", " :\n ")))
        else:
            parts.append(json.dumps({kind: e}, ensure_ascii=True).replace("user", "\\u0075ser"))
    return "[" + ",".join(parts) + "\n]"


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(_entry, max_size=6), layout=_layouts, kind=st.sampled_from(["follower", "following"]), chunk=st.integers(1, 64))
def test_the_fast_reader_agrees_with_a_json_parser_on_valid_files(entries, layout, kind, chunk) -> None:
    text = _render(entries, kind, layout)
    assert _fast(text, kind, chunk) == _reference(text, kind)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), chunk=st.integers(1, 64))
def test_the_fast_reader_fails_exactly_where_a_json_parser_fails(data, chunk) -> None:
    """Cut, spliced or garbled files: both accept with the same result, or both refuse."""
    text = _render(data.draw(st.lists(_entry, min_size=1, max_size=4)), "follower", data.draw(_layouts))
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, min(len(text), i + 3)))
    text = text[:i] + data.draw(st.sampled_from(["", ",", "]", "}", "\"", "\u00a0", "NaN", "1", "{}", ";", " x"])) + text[j:]
    try:
        expected = _reference(text, "follower")
    except ValueError:
        with pytest.raises(ValueError):
            _fast(text, "follower", chunk)
    else:
        assert _fast(text, "follower", chunk) == expected


def test_entries_in_x_layout_take_the_fast_path() -> None:
    text = data_js("follower", entries("follower", ["12", "34"])).split(b"=", 1)[1]
    items = list(_JsArray(io.BytesIO(text), "follower"))
    assert items == ["12", "34"]  # id strings: recognised without the JSON decoder
