"""Build X archives from readable Python data, in the real format, at test time.

    files = x_archive(followers=ids(40), following=ids(8, start=900), generated="2026-10-01T06:12:40.123Z")
    write_zip(files, tmp_path / "twitter-2026-10-01.zip")            # data/follower.js, ...
    write_zip(files, tmp_path / "deep.zip", root="twitter-2026")     # twitter-2026/data/follower.js, ...
    write_folder(files, tmp_path / "archive")

A file set is a plain ``{relative path: bytes}`` dict, so a test can break one member
(``files["data/follower.js"] = b"..."``) before writing it out. Files are written the way X
writes them (``window.YTD.follower.part0 = [`` then two-space indented objects, `` : ``
between keys and values); see reference/platform-formats.md §2.
"""

from __future__ import annotations

import json
import stat
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

ACCOUNT = {"username": "ada_ex", "accountId": "1480000000000000001", "accountDisplayName": "Ada Example"}
INTENT = "https://twitter.com/intent/user?user_id={}"


def ids(n: int, start: int = 0) -> list[str]:
    """n distinct X account ids as X writes them: decimal strings, most above 2**53."""
    return [str(1400000000000000000 + 7919 * (start + i)) for i in range(n)]


def _js(value, indent: int = 2) -> str:
    """JSON laid out like X's files: 2-space indent and `"key" : value`."""
    return json.dumps(value, indent=indent, ensure_ascii=False).replace('": ', '" : ')


def entries(kind: str, account_ids: Iterable) -> list[dict]:
    """`[{"follower": {"accountId": ..., "userLink": ...}}, ...]`; an id may be any JSON value."""
    return [{kind: {"accountId": a, "userLink": INTENT.format(a)}} for a in account_ids]


def data_js(kind: str, records: Sequence, part: int = 0, header: str = "standard", bom: bool = False) -> bytes:
    """One `window.YTD.<kind>.part<N> = [...]` file.

    `records` are account ids (made into entries) or ready-made dicts (used as they are).
    `header`: "standard" is `= [` then the first `{` on the next line (what current archives
    and reference §2 show); "inline" is the older `= [ {` on line 1; "nextline" puts `[`
    alone on the line after the `=`.
    """
    items = [r if isinstance(r, dict) else entries(kind, [r])[0] for r in records]
    body = _js(items)  # "[\n  {\n ...  }\n]" or "[]"
    prefix = f"window.YTD.{kind}.part{part} ="
    if header == "standard":
        text = f"{prefix} {body}"
    elif header == "nextline":
        text = f"{prefix}\n{body}"
    elif header == "inline":
        text = f"{prefix} [ " + body[1:].lstrip() if items else f"{prefix} [ ]"
    else:
        raise ValueError(header)
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")


def account_js(username: str = ACCOUNT["username"], account_id=ACCOUNT["accountId"], display_name: str = ACCOUNT["accountDisplayName"]) -> bytes:
    record = {
        "account": {
            "email": f"{username}@example.org", "createdVia": "web", "username": username,
            "accountId": account_id, "createdAt": "2019-03-02T10:11:12.345Z", "accountDisplayName": display_name,
        }
    }
    return f"window.YTD.account.part0 = {_js([record])}".encode()


def manifest_js(generated: str | None, data_types: Mapping[str, Sequence[str]], user: Mapping | None = None) -> bytes:
    """`window.__THAR_CONFIG = {...}`; `data_types` maps a type to its files, e.g. {"follower": ["data/follower.js"]}."""
    user = user or ACCOUNT
    config = {
        "userInfo": {"accountId": user["accountId"], "userName": user["username"], "displayName": user["accountDisplayName"]},
        "archiveInfo": {"sizeBytes": "48213", "isPartialArchive": False, "maxPartSizeBytes": "53687091200"},
        "dataTypes": {
            kind: {
                "files": [
                    {"fileName": name, "globalName": f"YTD.{kind}.part{n}", "count": "0"} for n, name in enumerate(names)
                ]
            }
            for kind, names in data_types.items()
        },
    }
    if generated is not None:
        config["archiveInfo"]["generationDate"] = generated
    return f"window.__THAR_CONFIG = {_js(config)}".encode()


def x_archive(
    followers: Sequence | None = None,
    following: Sequence | None = None,
    *,
    generated: str | None = "2026-10-01T06:12:40.123Z",
    account: Mapping | None = ACCOUNT,
    manifest: bool = True,
    parts: int = 1,
    header: str = "standard",
    bom: bool = False,
) -> dict[str, bytes]:
    """The files of an X archive under `data/`, plus the top-level `Your archive.html`.

    `followers` / `following` are account ids (or ready-made entries); None leaves the file out.
    `parts` > 1 splits each relationship file the way large types are split:
    `follower.js` (part0), `follower-part1.js` (part1), ... listed in manifest.js.
    `account=None` leaves out account.js (manifest.js still names ACCOUNT in `userInfo`);
    `generated=None` leaves out the manifest's `generationDate`.
    """
    files: dict[str, bytes] = {"Your archive.html": b"<!doctype html><title>Your archive</title>"}
    data_types: dict[str, list[str]] = {}
    for kind, records in (("follower", followers), ("following", following)):
        if records is None:
            continue
        records = list(records)
        size = -(-len(records) // parts) if records else 0
        names = []
        for part in range(parts):
            name = f"data/{kind}.js" if part == 0 else f"data/{kind}-part{part}.js"
            chunk = records[part * size:(part + 1) * size] if size else []
            files[name] = data_js(kind, chunk, part=part, header=header, bom=bom)
            names.append(name)
        data_types[kind] = names
    if account is not None:
        files["data/account.js"] = account_js(account["username"], account["accountId"], account["accountDisplayName"])
        data_types["account"] = ["data/account.js"]
    if manifest:
        files["data/manifest.js"] = manifest_js(generated, data_types, account or ACCOUNT)
    return files


def write_folder(files: Mapping[str, bytes], root: Path) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return root


def write_zip(
    files: Mapping[str, bytes],
    path: Path,
    *,
    root: str = "",
    compression: int = zipfile.ZIP_DEFLATED,
    symlinks: Mapping[str, str] | None = None,
    raw_names: Mapping[str, bytes] | None = None,
) -> Path:
    """Zip `files` (each under `root/` when given).

    `symlinks` adds symbolic-link members (name -> target), as `zip -y` stores them;
    `raw_names` adds members whose name is used exactly as given (`../evil.js`, `/etc/x`).
    """
    prefix = f"{root.strip('/')}/" if root else ""
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, content in files.items():
            zf.writestr(prefix + name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(prefix + name)
            info.create_system = 3  # Unix: the mode bits below are meaningful
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
        for name, content in (raw_names or {}).items():
            info = zipfile.ZipInfo(name)
            info.filename = name  # ZipInfo() normalises separators only; keep the name verbatim
            zf.writestr(info, content)
    return path
