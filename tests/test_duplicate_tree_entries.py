"""A hand-made git tree with two entries of one name (git fsck: duplicateEntries) is refused in
one line naming the tree, wherever pfgit reads trees: git itself reads such a tree two ways (a
lookup takes the first entry, a checkout the last) and dulwich keeps the last, so pfgit could
judge another file than the one reviewers see."""

from __future__ import annotations

import binascii
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOOD = "inputs: {}\noutputs: {}\nnodes: []\n"
BAD = "inputs: {}\noutputs:\n  o: {type: string, reference: '${nope.output}'}\nnodes: []\n"


def git(cwd, *args, input=None):
    p = subprocess.run(["git", *args], cwd=cwd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def run_pfgit(cwd, *args):
    return subprocess.run([sys.executable, "-m", "pfgit", *args], cwd=cwd, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def raw_tree(entries) -> bytes:
    return b"".join(b"%s %s\0" % (mode, name) + binascii.unhexlify(sha) for mode, name, sha in entries)


@pytest.fixture
def repo(tmp_path):
    """main: `flows/f` valid; HEAD's commit: `flows/f` a hand-made tree holding flow.dag.yaml
    twice (first the valid file, then one with an error)."""
    r = tmp_path / "r"
    git(tmp_path, "init", "-q", "-b", "main", str(r))
    (r / "flows" / "f").mkdir(parents=True)
    (r / "flows" / "f" / "flow.dag.yaml").write_text(GOOD)
    git(r, "add", "-A")
    git(r, "commit", "-qm", "good")
    good = git(r, "hash-object", "-w", "--stdin", input=GOOD.encode())
    bad = git(r, "hash-object", "-w", "--stdin", input=BAD.encode())
    f = git(r, "hash-object", "-t", "tree", "-w", "--literally", "--stdin",
            input=raw_tree([(b"100644", b"flow.dag.yaml", good), (b"100644", b"flow.dag.yaml", bad)]))
    flows = git(r, "hash-object", "-t", "tree", "-w", "--stdin", input=raw_tree([(b"40000", b"f", f)]))
    top = git(r, "hash-object", "-t", "tree", "-w", "--stdin", input=raw_tree([(b"40000", b"flows", flows)]))
    head = git(r, "commit-tree", "-p", "HEAD", "-m", "dup", top)
    git(r, "update-ref", "refs/heads/dup", head)
    return r, f.decode()


def test_reading_the_tree_is_refused_in_one_line_naming_it(repo):
    from dulwich.repo import Repo

    import pfgit.git  # noqa: F401  (installs the check)
    from pfgit.git.repo import TreeReader
    from pfgit.git.trees import DuplicateEntryError

    r, tree = repo
    d = Repo(str(r))
    with pytest.raises(DuplicateEntryError) as e:
        TreeReader(d, d[d.refs[b"refs/heads/dup"]].tree).read_bytes("flows/f/flow.dag.yaml")
    assert e.value.one_line().startswith(f"pfgit: tree {tree}: two entries named 'flow.dag.yaml'")
    git(r, "symbolic-ref", "HEAD", "refs/heads/dup")
    for args in (["diff", "main", "dup"], ["diff", "--json", "main", "dup"], ["log", "flows/f"],
                 ["diff", "--stat", "dup"]):
        p = run_pfgit(r, *args)
        assert p.returncode == 2 and p.stdout == "", (args, p.stdout, p.stderr)
        assert p.stderr.count("\n") == 1 and f"tree {tree}" in p.stderr, (args, p.stderr)


def test_history_walks_through_git_cat_file_refuse_it_too(repo):
    from pfgit.git.batch import parse_tree
    from pfgit.git.trees import DuplicateEntryError

    r, tree = repo
    raw = subprocess.run(["git", "cat-file", "tree", tree], cwd=r, stdout=subprocess.PIPE).stdout
    with pytest.raises(DuplicateEntryError, match="duplicateEntries"):
        parse_tree(raw)
    ok = git(r, "rev-parse", "main^{tree}").decode()
    raw = subprocess.run(["git", "cat-file", "tree", ok], cwd=r, stdout=subprocess.PIPE).stdout
    assert list(parse_tree(raw)) == [b"flows"]
