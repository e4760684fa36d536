"""import-zip refuses unsafe or unreadable zips: exit 2, one line on stderr, nothing written anywhere
(the worktree, .git and the folders around the repo are byte-for-byte as before)."""

from __future__ import annotations

import pathlib
import shutil
import stat
import zipfile

import pytest

from pfgit.integrate.studio import safezip
from test_studio import FLOW, make_repo, pfgit, snapshot

OK = {"qa/flow.dag.yaml": FLOW.encode()}


def build(path: pathlib.Path, entries: dict | list, *, compression=zipfile.ZIP_DEFLATED) -> pathlib.Path:
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(path, "w", compression) as zf:
        with pytest.warns(UserWarning) if _has_dupes(items) else _nullctx():
            for name, data in items:
                if isinstance(name, zipfile.ZipInfo):
                    zf.writestr(name, data)
                else:
                    zf.writestr(name, data)
    return path


class _nullctx:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def _has_dupes(items) -> bool:
    names = [n.filename if isinstance(n, zipfile.ZipInfo) else n for n, _ in items]
    return len(names) != len(set(names))


def patch_name(path: pathlib.Path, old: bytes, new: bytes, utf8_flag: bool | None = None) -> None:
    """Rewrite an entry's name bytes (same length) in the local and central headers."""
    raw = bytearray(path.read_bytes())
    assert len(old) == len(new) and raw.count(old) == 2
    raw = bytearray(bytes(raw).replace(old, new))
    if utf8_flag is not None:
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = raw.find(sig)
            while i >= 0:
                flags = int.from_bytes(raw[i + off:i + off + 2], "little")
                flags = flags | 0x800 if utf8_flag else flags & ~0x800
                raw[i + off:i + off + 2] = flags.to_bytes(2, "little")
                i = raw.find(sig, i + 4)
    path.write_bytes(bytes(raw))


def set_flags(path: pathlib.Path, bit: int) -> None:
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = raw.find(sig)
        while i >= 0:
            flags = int.from_bytes(raw[i + off:i + off + 2], "little") | bit
            raw[i + off:i + off + 2] = flags.to_bytes(2, "little")
            i = raw.find(sig, i + 4)
    path.write_bytes(bytes(raw))


def symlink_info(name: str) -> zipfile.ZipInfo:
    zi = zipfile.ZipInfo(name)
    zi.create_system = 3
    zi.external_attr = (stat.S_IFLNK | 0o777) << 16
    return zi


def lying_sizes(path: pathlib.Path) -> pathlib.Path:
    """An entry of 3 MB of zeros whose headers claim it holds 10 bytes."""
    data = b"\0" * (3 << 20)
    build(path, dict(OK, **{"qa/big.bin": data}))
    raw = bytearray(path.read_bytes())
    for sig, off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = raw.find(sig)
        while i >= 0:
            if int.from_bytes(raw[i + off:i + off + 4], "little") == len(data):
                raw[i + off:i + off + 4] = (10).to_bytes(4, "little")
            i = raw.find(sig, i + 4)
    path.write_bytes(bytes(raw))
    return path


def _zip(tmp: pathlib.Path, case: str) -> pathlib.Path:
    z = tmp / f"{case}.zip"
    if case == "parent":
        return build(z, dict(OK, **{"qa/../../evil.py": b"x"}))
    if case == "parent-top":
        return build(z, dict(OK, **{"../evil.py": b"x"}))
    if case == "absolute":
        return build(z, dict(OK, **{"/tmp/evil.py": b"x"}))
    if case == "drive":
        return build(z, dict(OK, **{"C:/evil.py": b"x"}))
    if case == "backslash":
        return build(z, dict(OK, **{"qa\\..\\..\\evil.py": b"x"}))
    if case == "dotgit":
        return build(z, dict(OK, **{"qa/.git/hooks/post-checkout": b"x"}))
    if case == "symlink":
        return build(z, [("qa/flow.dag.yaml", FLOW.encode()), (symlink_info("qa/link.py"), b"/etc/passwd")])
    if case == "bomb-ratio":
        return build(z, dict(OK, **{"qa/zeros.txt": b"\0" * (5 << 20)}))
    if case == "bomb-total":
        return build(z, dict(OK, **{f"qa/f{i}.txt": b"a" * 4000 for i in range(10)}))
    if case == "bomb-entries":
        return build(z, dict(OK, **{f"qa/f{i}.txt": b"a" for i in range(10)}))
    if case == "lying-sizes":
        return lying_sizes(z)
    if case == "duplicate":
        return build(z, [("qa/flow.dag.yaml", FLOW.encode()), ("qa/a.py", b"1"), ("qa/a.py", b"2")])
    if case == "duplicate-case":
        return build(z, dict(OK, **{"qa/A.py": b"1", "qa/a.py": b"2"}))
    if case == "file-and-folder":
        return build(z, dict(OK, **{"qa/lib": b"1", "qa/lib/x.py": b"2"}))
    if case == "encrypted":
        build(z, OK)
        set_flags(z, 0x1)
        return z
    if case == "unsupported":
        build(z, OK, compression=zipfile.ZIP_STORED)
        raw = bytearray(z.read_bytes())
        for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
            i = raw.find(sig)
            raw[i + off:i + off + 2] = (97).to_bytes(2, "little")     # WavPack: not for zipfile
        z.write_bytes(bytes(raw))
        return z
    if case == "non-utf8":
        build(z, dict(OK, **{"qa/cafX.py": b"x"}))
        patch_name(z, b"cafX", b"caf\xe9", utf8_flag=False)
        return z
    if case == "bad-utf8-flag":
        build(z, dict(OK, **{"qa/cafX.py": b"x"}))
        patch_name(z, b"cafX", b"caf\xff", utf8_flag=True)
        return z
    if case == "no-flow":
        return build(z, {"qa/readme.md": b"hello", "qa/tool.py": b"x = 1\n"})
    if case == "two-flows":
        return build(z, dict(OK, **{"qa/flow.flex.yaml": b"entry: a:b\n"}))
    if case == "truncated":
        build(z, dict(OK, **{"qa/a.py": b"print(1)\n" * 500}))
        z.write_bytes(z.read_bytes()[:-40])
        return z
    if case == "corrupt-data":
        build(z, dict(OK, **{"qa/a.py": bytes(range(256)) * 40}))
        raw = bytearray(z.read_bytes())
        i = raw.find(b"qa/a.py") + len("qa/a.py") + 200
        raw[i:i + 64] = b"\xff" * 64
        z.write_bytes(bytes(raw))
        return z
    if case == "not-a-zip":
        z.write_text("just text\n")
        return z
    if case == "missing":
        return z
    raise AssertionError(case)


CASES = {
    "parent": "climbs out", "parent-top": "climbs out", "absolute": "absolute path",
    "drive": "drive letter", "backslash": "backslash", "dotgit": "'.git' folder",
    "symlink": "symbolic link", "bomb-ratio": "inflates more than 200 times",
    "bomb-total": "in total", "bomb-entries": "entries (the limit is 5)",
    "lying-sizes": "", "duplicate": "duplicate entry 'qa/a.py'",
    "duplicate-case": "only in case", "file-and-folder": "both a file and a folder",
    "encrypted": "encrypted", "unsupported": "unsupported compression", "non-utf8": "not UTF-8", "bad-utf8-flag": "marked UTF-8",
    "no-flow": "no flow in it", "two-flows": "Multiple files", "truncated": "",
    "corrupt-data": "corrupt zip", "not-a-zip": "not a zip file", "missing": "no such file",
}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """One committed repo, copied per case (git init and commit per case would dominate)."""
    root = tmp_path_factory.mktemp("template")
    mp = pytest.MonkeyPatch()
    mp.setenv("HOME", str(root))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for k in ("AUTHOR", "COMMITTER"):
        mp.setenv(f"GIT_{k}_NAME", "Test")
        mp.setenv(f"GIT_{k}_EMAIL", "t@example.com")
    try:
        repo = make_repo(root)
    finally:
        mp.undo()
    (repo / "qa/answer.py").write_text("# uncommitted edit\n")
    return repo


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_zip_is_refused_and_nothing_is_written(case, template, tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    small = safezip.Limits(max_total=30_000) if case == "bomb-total" else \
        safezip.Limits(max_entries=5) if case == "bomb-entries" else safezip.Limits()
    monkeypatch.setattr(safezip, "DEFAULT_LIMITS", small)
    z = _zip(tmp_path, case)
    state = snapshot(tmp_path)
    capsys.readouterr()
    for extra in ([], ["--dry-run"], ["--into", "qa"]):
        assert pfgit(monkeypatch, repo, "import-zip", str(z), *extra) == 2, case
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("pfgit: "), err
        assert CASES[case] in lines[0], lines[0]
        assert "Traceback" not in err
        assert snapshot(tmp_path) == state, case


def test_limits_are_counted_while_inflating(tmp_path):
    z = lying_sizes(tmp_path / "lie.zip")
    with pytest.raises(safezip.ZipRefused) as e:
        safezip.read_zip(str(z))
    assert "corrupt" in e.value.message or "zip bomb" in e.value.message
    z2 = build(tmp_path / "ok.zip", dict(OK, **{"qa/zeros.txt": b"\0" * 5000}))
    with pytest.raises(safezip.ZipRefused, match="inflates past 4000"):
        safezip.read_zip(str(z2), safezip.Limits(max_entry=4000))
    assert len(safezip.read_zip(str(z2)).entries) == 2
    with pytest.raises(safezip.ZipRefused, match="the zip is bigger than 100 bytes"):
        safezip.read_zip(str(z2), safezip.Limits(max_total=100))


def test_names_without_the_utf8_flag_that_are_utf8_are_accepted(tmp_path):
    z = build(tmp_path / "u.zip", dict(OK, **{"qa/cafXX.py": b"x"}))
    patch_name(z, b"cafXX", "café".encode(), utf8_flag=False)
    names = [e.name for e in safezip.read_zip(str(z)).entries]
    assert "qa/café.py" in names



@pytest.mark.parametrize("bad", ["..", ".git", "a\\..\\b"])
def test_a_hostile_run_tree_is_refused_by_checkout_and_export(bad, template, tmp_path, monkeypatch, capsys):
    """A fetched run ref is untrusted: a tree entry that cannot be written safely refuses it all."""
    from dulwich.objects import Blob, Tree

    from pfgit.git.objects import put_object
    from pfgit.git.repo import open_repo
    from pfgit.store.snapshot import record_run

    repo = tmp_path / "repo"
    shutil.copytree(template, repo, symlinks=True)
    r = open_repo(str(repo))
    blob = put_object(r, Blob.from_string(b"x = 1\n"))
    flow = put_object(r, Blob.from_string(FLOW.encode()))
    t = Tree()
    t.add(b"flow.dag.yaml", 0o100644, flow)
    t.add(bad.encode(), 0o100644, blob)
    tree = put_object(r, t)
    record_run(r, str(repo / "qa"), "evil", [], {}, update_index=False, unlinked_tree=tree)
    state = snapshot(tmp_path)
    for args in (["checkout-run", "evil", str(tmp_path / "out")], ["export-zip", "--run", "evil"]):
        capsys.readouterr()
        assert pfgit(monkeypatch, repo, *args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pfgit: run evil: unsafe path") and "\n" not in err, err
        assert snapshot(tmp_path) == state
