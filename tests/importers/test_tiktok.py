"""TikTok followers/following import through the CLI: both key generations of the one JSON file (SPEC §6).

Exports are built at test time in the real shape (reference/platform-formats.md §8): the whole
account in one JSON object, the two lists deep inside it between other sections.
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
from backup.importers.sources import open_source
from backup.importers.tiktok import TikTokData
from backup.snapshot import MAX_HANDLE, ProfileRecord

from .archives import write_folder, write_zip
from .conftest import assert_input_error, current, summary

ACCOUNT = "tiktok:ada.example"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
FOLLOWERS = [f"fan_{i:02d}" for i in range(30)] + ["Bo_Sample", "carmen.ruiz"]
FOLLOWING = [f"creator.{i}" for i in range(9)] + ["bo_sample"]
# generation -> (file name, activity key, follower key, following key)
GENERATIONS = {
    "2024": ("user_data_tiktok.json", "Your Activity", "Follower", "Following"),
    "old": ("user_data.json", "Activity", "Follower List", "Following List"),
    "mixed": ("user_data_tiktok.json", "Your Activity", "Follower List", "Following"),  # the fallbacks, crossed
}


def records(usernames, start_day: int = 1) -> list[dict]:
    return [{"Date": f"2024-01-{(start_day + i) % 28 + 1:02d} 18:22:{i % 60:02d}", "UserName": u} for i, u in enumerate(usernames)]


def user_data(generation: str = "2024", followers=FOLLOWERS, following=FOLLOWING) -> dict:
    """The whole export: the lists sit between watch history, likes, comments and the profile."""
    _, activity, follower_key, following_key = GENERATIONS[generation]
    body = {
        "Browsing History": {"VideoList": [{"Date": "2024-02-01 10:00:00", "Link": "https://www.tiktokv.com/share/video/1/"}] * 5},
        "Like List": {"ItemFavoriteList": [{"Date": "2024-02-01 10:00:00", "Link": "https://www.tiktokv.com/share/video/2/"}]},
    }
    if followers is not None:
        body[follower_key] = {"FansList": records(followers)}
    if following is not None:
        body[following_key] = {"Following": records(following, start_day=5)}
    body["Search History"] = {"SearchList": [{"Date": "2024-02-02 11:00:00", "SearchTerm": "ceramics"}]}
    return {
        "Activity Summary" if generation != "old" else "App Settings": {"Settings": {"Language": "en"}},
        "Comment": {"Comments": {"CommentsList": [{"Date": "2024-01-03 10:00:00", "Comment": "Zoë 😍 nice"}]}},
        activity: body,
        "Profile": {"Profile Information": {"ProfileMap": {"userName": "ada.example", "bioDescription": "maps 🗺️"}}},
        "Video": {"Videos": {"VideoList": []}},
    }


def dump(document: dict, indent: int | None = 2) -> bytes:
    return json.dumps(document, indent=indent, ensure_ascii=False).encode("utf-8")


def export(generation: str = "2024", **kwargs) -> dict[str, bytes]:
    name = GENERATIONS[generation][0]
    return {name: dump(user_data(generation, **kwargs))}


@pytest.fixture
def account(run_cli) -> str:
    assert run_cli("accounts", "add", "tiktok", "ada.example").exit_code == 0
    return ACCOUNT


def container(kind: str, files: dict[str, bytes], tmp_path: Path) -> Path:
    if kind == "zip":
        return write_zip(files, tmp_path / "TikTok_Data_1730000000.zip")
    if kind == "zip-deeper":
        return write_zip(files, tmp_path / "tiktok.zip", root="TikTok_Data_1730000000")
    if kind == "folder":
        return write_folder(files, tmp_path / "tiktok-export")
    if kind == "loose":
        (name, content), = files.items()
        path = tmp_path / name
        path.write_bytes(content)
        return path
    raise ValueError(kind)


@pytest.mark.parametrize(
    "generation,where",
    [(g, w) for g in GENERATIONS for w in ("zip", "loose")] + [("2024", "zip-deeper"), ("2024", "folder")],
)
def test_both_generations_in_every_container(generation, where, account, run_cli, tmp_path, db_file):
    r = run_cli("import", container(where, export(generation), tmp_path), "--account", account)
    assert r.exit_code == 0, r.output
    # "Bo_Sample" and "bo_sample" are one account: usernames are case-insensitive
    assert summary(run_cli) == [("follower", "complete", len(FOLLOWERS)), ("following", "complete", len(FOLLOWING))]
    followers = current(db_file, "follower")
    assert set(followers) == {u.lower() for u in FOLLOWERS}
    assert followers["fan_00"] == ("fan_00", "https://www.tiktok.com/@fan_00", {"followed_you_at": "2024-01-02T18:22:00"})
    following = current(db_file, "following")
    assert set(following) == set(FOLLOWING)
    assert following["creator.0"][2] == {"you_followed_at": "2024-01-06T18:22:00"}
    assert r.stderr == ""


def test_a_renamed_file_is_read_by_its_content(account, run_cli, tmp_path):
    path = tmp_path / "download (3).json"
    path.write_bytes(dump(user_data(), indent=None))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("follower", "complete", len(FOLLOWERS)), ("following", "complete", len(FOLLOWING))]


def test_second_import_is_a_noop(account, run_cli, tmp_path):
    path = write_zip(export(), tmp_path / "tiktok.zip")
    assert run_cli("import", path, "--account", account).exit_code == 0
    again = run_cli("import", path, "--account", account)
    assert again.exit_code == 0, again.output
    assert "already imported as snapshot 1" in again.stdout and "already imported as snapshot 2" in again.stdout


@pytest.mark.parametrize("missing", ["following-empty", "following-absent"])
def test_following_nobody_imports_the_followers(missing, account, run_cli, tmp_path):
    files = export(following=[] if missing == "following-empty" else None)
    r = run_cli("import", write_zip(files, tmp_path / "t.zip"), "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("follower", "complete", len(FOLLOWERS))]


def test_key_case_and_date_variants(account, run_cli, tmp_path, db_file):
    document = user_data(followers=["x"])
    document["Your Activity"]["Follower"]["FansList"] = [
        {"Date": "2024-01-05 18:22:10", "UserName": "@Upper.Case"},
        {"date": "2024-01-05T18:22:10", "Username": "lower_keys"},
        {"Date": "yesterday", "UserName": "bad.date"},
        {"Date": "2024-02-30 00:00:00", "UserName": "no.such.day"},
        {"UserName": "no.date"},
    ]
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(dump(document))
    r = run_cli("import", path, "--account", account)
    assert r.exit_code == 0, r.output
    got = current(db_file, "follower")
    assert got["upper.case"][2] == {"followed_you_at": "2024-01-05T18:22:10"}
    assert got["lower_keys"][2] == {"followed_you_at": "2024-01-05T18:22:10"}
    assert got["bad.date"][2] is None and got["no.such.day"][2] is None and got["no.date"][2] is None


# -- hostile values ----------------------------------------------------------------------------

HOSTILE = ["=cmd|' /C calc'!A0", "<img src=x onerror=alert(1)>", "\u202egnp.exe", "a\x00b", "x" * 100_000, "-2+3", "two words"]


def test_hostile_usernames_are_bad_records_on_sqlite_and_postgresql(db_url, run_cli, tmp_path):
    assert run_cli("--db", db_url, "accounts", "add", "tiktok", "ada.example").exit_code == 0
    good = [f"fan_{i}" for i in range(1000)]
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(dump(user_data(followers=good + HOSTILE)))
    r = run_cli("--db", db_url, "import", path, "--account", ACCOUNT)
    assert r.exit_code == 0, r.output
    assert f"{len(HOSTILE)} bad records skipped" in r.stdout
    assert f"warning: skipped {path} record 1001: UserName is not a TikTok username" in r.stderr
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            stored = {row[0] for row in conn.execute(text("SELECT platform_id FROM profiles"))}
    finally:
        engine.dispose()
    assert stored == set(good) | set(FOLLOWING)


# -- malformed files ---------------------------------------------------------------------------


@pytest.fixture
def before(account, run_cli, tmp_path, db_state) -> dict:
    assert run_cli("import", write_zip(export(), tmp_path / "good.zip"), "--account", account, "--as-of", "2026-10-01").exit_code == 0
    return db_state()


def refused(run_cli, db_state, before: dict, path: Path, *needles: str, platform: str | None = None) -> str:
    args = ["import", path, "--account", ACCOUNT] + (["--platform", platform] if platform else [])
    line = assert_input_error(run_cli(*args), *needles)
    assert db_state() == before, "a failed import changed the database"
    return line


def test_invalid_json_in_the_middle_of_the_list(before, run_cli, db_state, tmp_path):
    body = export()["user_data_tiktok.json"].decode()
    start = body.index('"FansList"')
    cut = body.index('"UserName": "fan_07"', start)
    broken = body[:cut] + '"UserName" "oops", ' + body[cut:]
    path = write_zip({"user_data_tiktok.json": broken.encode()}, tmp_path / "bad.zip")
    line = refused(run_cli, db_state, before, path, f"{path}:user_data_tiktok.json", "invalid JSON after record 7")
    assert "right here" not in line


def test_invalid_json_after_the_lists(before, run_cli, db_state, tmp_path):
    """Damage after both lists (a truncated download): still refused, with nothing kept."""
    body = export()["user_data_tiktok.json"]
    cut = body.index(b'"Search History"')
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(body[:cut] + b"\x00garbage")
    refused(run_cli, db_state, before, path, str(path), "invalid JSON after record")


@pytest.mark.parametrize(
    "document",
    [
        {"Your Activity": {"Follower": {"FansList": {"UserName": "a"}}, "Following": {"Following": "none"}}},
        {"Your Activity": {"Followers": {"FansList": records(["a"])}}},
        {"Activity": []},
        [1, 2, 3],
    ],
    ids=["lists-are-not-arrays", "unknown-key", "activity-is-a-list", "top-level-array"],
)
def test_wrong_shape_names_the_file(document, before, run_cli, db_state, tmp_path):
    path = write_zip({"user_data_tiktok.json": dump(document)}, tmp_path / "shape.zip")
    refused(run_cli, db_state, before, path, f"{path}:user_data_tiktok.json", "no TikTok follower or following list")


def test_a_facebook_file_is_not_taken_for_tiktok(before, run_cli, db_state, tmp_path):
    path = tmp_path / "your_friends.json"
    path.write_bytes(dump({"friends_v2": [{"name": "Bo", "timestamp": 1}]}))
    refused(run_cli, db_state, before, path, str(path), "no TikTok follower or following list", platform="tiktok")


def test_not_json(before, run_cli, db_state, tmp_path):
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(b"{\x89PNG\r\n\x1a\n" + bytes(range(256)))
    refused(run_cli, db_state, before, path, str(path), "not valid JSON", platform="tiktok")


def test_both_lists_empty_is_refused(before, run_cli, db_state, tmp_path):
    path = write_zip(export(followers=[], following=[]), tmp_path / "empty.zip")
    refused(run_cli, db_state, before, path, f"{path}:user_data_tiktok.json", "the follower and following lists are empty")


def test_more_than_one_percent_bad_fails(before, run_cli, db_state, tmp_path):
    document = user_data(followers=[f"fan_{i}" for i in range(100)])
    fans = document["Your Activity"]["Follower"]["FansList"]
    fans[3] = {"Date": "2024-01-01 00:00:00"}
    fans[60] = "fan_60"
    path = write_zip({"user_data_tiktok.json": dump(document)}, tmp_path / "bad.zip")
    refused(run_cli, db_state, before, path, "2 of 100 records are bad", "record 4")


# -- property ----------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
RECORD = st.one_of(
    st.fixed_dictionaries({}, optional={"UserName": st.one_of(st.text(max_size=30), JSON), "Date": st.one_of(st.text(max_size=30), JSON)}),
    JSON,
)
LIST = st.one_of(st.lists(RECORD, max_size=5), JSON)
DOCUMENT = st.one_of(
    st.fixed_dictionaries({
        "Your Activity": st.fixed_dictionaries({}, optional={
            "Follower": st.fixed_dictionaries({"FansList": LIST}), "Follower List": st.fixed_dictionaries({"FansList": LIST}),
            "Following": st.fixed_dictionaries({"Following": LIST}), "Following List": JSON,
        }),
    }),
    st.fixed_dictionaries({"Activity": JSON}),
    JSON,
)


def read_all(path: Path) -> list:
    source = open_source(path)
    try:
        importer = TikTokData()
        importer.detect(source, ImportOptions())
        plan = importer.plan(source, ImportOptions(platform="tiktok"))
        return [item for stream in plan.streams for item in stream.read()]
    finally:
        source.close()


def check(items: list) -> None:
    for item in items:
        assert isinstance(item, ProfileRecord | RecordError)
        if isinstance(item, ProfileRecord):
            assert item.platform_id == item.handle and 0 < len(item.platform_id) <= MAX_HANDLE
            assert item.platform_id.isprintable() and " " not in item.platform_id


@PROPERTY
@given(document=DOCUMENT, cut=st.one_of(st.none(), st.integers(0, 300)))
def test_any_json_either_parses_or_is_an_input_error(document, cut):
    data = json.dumps(document, ensure_ascii=False).encode("utf-8", "surrogatepass")
    if cut is not None:
        data = data[:cut]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "user_data_tiktok.json"
        path.write_bytes(data)
        try:
            check(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message and str(path) in exc.message


@PROPERTY
@given(data=st.binary(max_size=300))
def test_any_bytes_either_parse_or_are_an_input_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "user_data_tiktok.json"
        path.write_bytes(b'{"Your Activity": {"Follower": {"FansList": [' + data)
        try:
            check(read_all(path))
        except InputError as exc:
            assert "\n" not in exc.message


def test_the_bundled_example(examples, run_cli, account, db_file):
    r = run_cli("import", examples / "tiktok-export", "--account", account)
    assert r.exit_code == 0, r.output
    assert summary(run_cli) == [("follower", "complete", 18), ("following", "complete", 8)]
    assert current(db_file, "follower")["plantdad_77"][2] == {"followed_you_at": "2025-07-15T15:30:00"}
