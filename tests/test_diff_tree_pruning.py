"""`pfgit diff REV1 REV2` reads only the flows whose folder changed (pfgit/diff/tree.py
_changed_flows): its output equals the whole listing's on generated repositories (moves, renames,
additional_includes from outside the folder, .prompty flows, nested flows, unreadable files)."""

from __future__ import annotations

import json
import random

import pytest

from history_helpers import fast_import
from pfgit.diff import tree
from pfgit.diff.tree import diff_trees
from pfgit.git.repo import TreeReader, open_repo

TOOL = b"from promptflow.core import tool\n\n\n@tool\ndef f(x: str):\n    return x\n"


def dag(names: list, temp: str = "0.5", includes: list | None = None, tool: str = "t.py") -> bytes:
    t = "inputs:\n  q:\n    type: string\noutputs:\n  o:\n    type: string\n    reference: ${%s.output}\n" % names[-1]
    if includes:
        t += "additional_includes:\n" + "".join(f"- {p}\n" for p in includes)
    t += "nodes:\n"
    prev = "inputs.q"
    for n in names:
        t += (f"- name: {n}\n  type: python\n  source:\n    type: code\n    path: {tool}\n"
              f"  inputs:\n    x: ${{{prev}}}\n    t: {temp}\n")
        prev = n + ".output"
    return t.encode()


PROMPTY = b"---\nname: p\nmodel:\n  api: chat\n---\nsystem:\nhi {{q}}\n"


def _repo(rnd: random.Random) -> dict:
    files: dict = {"shared/lib.py": TOOL, "shared/sub/more.py": TOOL, "README.md": b"x\n"}
    for i in range(rnd.randrange(6, 14)):
        d = rnd.choice(["flows", "flows/group", "deep/a/b", "other"]) + f"/f{i}"
        names = [f"n{i}_{k}" for k in range(rnd.randrange(1, 4))]
        kind = rnd.random()
        if kind < 0.3:
            up = "../" * (d.count("/") + 1)   # up to the repository's top
            inc = rnd.choice([[up + "shared/lib.py"], [up + "shared"], [up + "shared/sub/more.py", "../x"]])
            files[f"{d}/flow.dag.yaml"] = dag(names, includes=inc, tool="lib.py")
        elif kind < 0.35:
            files[f"{d}/a.prompty"] = PROMPTY
            if rnd.random() < 0.5:
                files[f"{d}/b.prompty"] = PROMPTY.replace(b"hi", b"hello")
            continue
        elif kind < 0.42:
            files[f"{d}/flow.dag.yaml"] = b"nodes: [\n"   # unreadable
        else:
            files[f"{d}/flow.dag.yaml"] = dag(names)
        files[f"{d}/t.py"] = TOOL
        if rnd.random() < 0.2:   # a flow inside a flow folder
            files[f"{d}/inner/flow.dag.yaml"] = dag([f"in{i}"])
            files[f"{d}/inner/t.py"] = TOOL
    return files


def _edit(rnd: random.Random, files: dict) -> dict:
    new = dict(files)
    flows = sorted({p.rsplit("/", 1)[0] for p in files if p.endswith((".yaml", ".prompty"))})
    for _ in range(rnd.randrange(1, 5)):
        r = rnd.random()
        d = rnd.choice(flows)
        own = [p for p in new if p.startswith(d + "/")]
        if not own:
            continue
        if r < 0.3:   # an edit of the flow file or a source
            p = rnd.choice(own)
            new[p] = new[p].replace(b"0.5", b"0.7").replace(b"hi", b"hey") + b"# edited\n"
        elif r < 0.45:   # moved to another folder
            to = rnd.choice(["flows", "moved", "deep/a"]) + f"/m{rnd.randrange(100)}"
            for p in own:
                new[to + p[len(d):]] = new.pop(p)
        elif r < 0.55:
            for p in own:
                del new[p]
        elif r < 0.7:   # an included file outside every flow folder
            p = rnd.choice(["shared/lib.py", "shared/sub/more.py", "README.md"])
            new[p] = new[p] + b"# changed\n"
        elif r < 0.8:
            new[f"added/a{rnd.randrange(100)}/flow.dag.yaml"] = dag(["fresh"])
        elif r < 0.9:   # a .prompty renamed in its folder
            ps = [p for p in own if p.endswith(".prompty")]
            if ps:
                new[ps[0][:-8] + "_renamed.prompty"] = new.pop(ps[0])
        else:   # a file added next to a flow
            new[f"{d}/notes.txt"] = b"new\n"
    return new


def _json(diffs: list) -> str:
    return json.dumps([(fd.to_json(), fd.shown, fd.order) for fd in diffs], sort_keys=True, default=str)


def _both(repo, a: str, b: str, paths: list | None, monkeypatch) -> tuple:
    r = open_repo(str(repo))
    old, new = TreeReader(r, r[a.encode()].tree), TreeReader(r, r[b.encode()].tree)
    fast = _json(diff_trees(old, new, paths))
    with monkeypatch.context() as m:
        m.setattr(tree, "_changed_flows", lambda *a: None)   # the whole listing, as before
        old, new = TreeReader(r, r[a.encode()].tree), TreeReader(r, r[b.encode()].tree)
        whole = _json(diff_trees(old, new, paths))
    return fast, whole


@pytest.mark.parametrize("seed", range(12))
def test_pruned_listing_gives_the_same_diff_as_the_whole_one(tmp_path, monkeypatch, seed):
    rnd = random.Random(seed)
    files = _repo(rnd)
    commits = [files]
    for _ in range(3):
        commits.append(_edit(rnd, commits[-1]))
    writes = [{"files": commits[0], "msg": "0"}]
    for prev, cur in zip(commits, commits[1:]):
        ch = {p: v for p, v in cur.items() if prev.get(p) != v}
        ch.update({p: None for p in prev if p not in cur})
        writes.append({"files": ch, "msg": "n"})
    ids = fast_import(tmp_path / "r", writes)
    shown = 0
    for i in range(len(ids)):
        for j in range(len(ids)):
            for paths in (None, ["flows"], ["deep/a"], ["flows/f1"], ["shared/lib.py"]):
                fast, whole = _both(tmp_path / "r", ids[i], ids[j], paths, monkeypatch)
                assert fast == whole, (seed, i, j, paths)
                shown += fast != "[]"
    assert shown


def test_a_flow_whose_folder_is_unchanged_is_diffed_when_an_include_outside_changed(tmp_path, monkeypatch):
    files = {"flows/inc/flow.dag.yaml": dag(["a"], includes=["../../shared/lib.py"], tool="lib.py"),
             "flows/plain/flow.dag.yaml": dag(["b"]), "flows/plain/t.py": TOOL,
             "shared/lib.py": TOOL}
    ids = fast_import(tmp_path / "r", [{"files": files, "msg": "0"},
                                       {"files": {"shared/lib.py": TOOL + b"# v2\n"}, "msg": "1"}])
    fast, whole = _both(tmp_path / "r", ids[0], ids[1], None, monkeypatch)
    assert fast == whole
    got = json.loads(fast)
    assert [d["path"] for d, _, _ in got] == ["flows/inc"]
    assert any("lib.py" in json.dumps(c) for c in got[0][0]["changes"])


def test_unchanged_flow_folders_are_not_walked_twice_or_parsed(tmp_path, monkeypatch):
    files = {f"flows/f{i}/flow.dag.yaml": dag([f"n{i}"]) for i in range(20)}
    files.update({f"flows/f{i}/t.py": TOOL for i in range(20)})
    ids = fast_import(tmp_path / "r", [{"files": files, "msg": "0"},
                                       {"files": {"flows/f3/t.py": TOOL + b"# x\n"}, "msg": "1"}])
    r = open_repo(str(tmp_path / "r"))
    parsed = []
    real = tree._parse
    monkeypatch.setattr(tree, "_parse", lambda raw, file, *a, **k: parsed.append(file) or real(raw, file, *a, **k))
    diffs = diff_trees(TreeReader(r, r[ids[0].encode()].tree), TreeReader(r, r[ids[1].encode()].tree))
    assert [fd.path for fd in diffs] == ["flows/f3"]
    assert parsed == ["flows/f3/flow.dag.yaml", "flows/f3/flow.dag.yaml"]
    old, new = tree._changed_flows(TreeReader(r, r[ids[0].encode()].tree),
                                   TreeReader(r, r[ids[1].encode()].tree), ["."])
    assert list(old) == list(new) == ["flows/f3"]
