"""Sharing run snapshots through any git remote (the git binary drives the transport, so the
user's credentials, SSH config and helpers apply).

Refspecs: push `refs/pfgit/*:refs/pfgit/*` and fetch `refs/pfgit/*:refs/pfgit/*` never overwrite
a run of the same name that differs (git rejects it, the rest goes through); `--force` uses the
`+refs/pfgit/*:refs/pfgit/*` form. To share runs on every plain `git fetch`/`git push`:
    git config --add remote.origin.fetch '+refs/pfgit/*:refs/pfgit/*'
    git config --add remote.origin.push  'refs/pfgit/*:refs/pfgit/*'
"""

from __future__ import annotations

import subprocess

from ..errors import EXIT_NO, PfgitError, UsageError

REFSPEC = "refs/pfgit/*:refs/pfgit/*"


def _git(repo_path: str, args: list, stdin: str | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=repo_path, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, input=stdin)
    except FileNotFoundError:
        raise UsageError("git is not installed (needed to talk to remotes)") from None


def check_remote(remote: str) -> str:
    """A remote name or URL that git cannot take for an option (`--upload-pack=cmd` would run
    cmd): refused when it starts with '-' or holds a NUL or newline; always passed after `--`."""
    if not remote or remote.startswith("-") or any(c in remote for c in "\0\n\r"):
        raise UsageError(f"invalid remote {remote!r}: a remote name or URL never starts with '-'")
    return remote


def _refs(repo_path: str) -> dict:
    p = _git(repo_path, ["for-each-ref", "--format=%(objectname) %(refname)", "--", "refs/pfgit/"])
    return {ref: sha for sha, ref in (ln.split(" ", 1) for ln in p.stdout.splitlines() if ln)}


def push(repo_path: str, remote: str = "origin", force: bool = False) -> dict:
    spec = ("+" if force else "") + REFSPEC
    check_remote(remote)
    if not _refs(repo_path):  # git fails on a refspec matching nothing ("remote end hung up")
        p = _git(repo_path, ["ls-remote", "--exit-code", "--heads", "--", remote, "no-such-head"])
        if p.returncode not in (0, 2):  # 2: reachable, no such head
            raise _failed("push", remote, p.stderr, repo_path)
        return {"remote": remote, "refspec": spec, "updated": [], "up_to_date": 0,
                "rejected": [], "exit_code": 0}
    p = _git(repo_path, ["push", "--porcelain", "--", remote, spec])
    updated, rejected, uptodate = [], [], []
    for ln in p.stdout.splitlines():
        parts = ln.split("\t")
        if len(parts) < 3 or ":" not in parts[1]:
            continue
        flag, ref = parts[0], parts[1].split(":", 1)[1]
        if flag == "=":
            uptodate.append(ref)
        elif flag == "!":
            rejected.append({"ref": ref, "reason": parts[2], "hint": _clash_hint(ref, remote, "push")})
        else:
            updated.append(ref)
    if p.returncode and not rejected:
        raise _failed("push", remote, p.stderr, repo_path)
    return {"remote": remote, "refspec": spec, "updated": updated, "up_to_date": len(uptodate),
            "rejected": rejected, "exit_code": EXIT_NO if rejected else 0}


def fetch(repo_path: str, remote: str = "origin", force: bool = False) -> dict:
    spec = ("+" if force else "") + REFSPEC
    check_remote(remote)
    before = _refs(repo_path)
    p, rejected = _fetch(repo_path, remote, [spec])
    failed = []
    if p.returncode and not rejected:
        # one broken object on the remote (a run commit whose parent is a blob) fails git's whole
        # transfer: the other runs are fetched in halves around the refs that cannot be
        listed = _git(repo_path, ["ls-remote", "--", remote, "refs/pfgit/*"])
        refs = sorted({ln.split("\t", 1)[1] for ln in listed.stdout.splitlines()
                       if "\t" in ln and not ln.endswith("^{}")})   # not a tag's peeled line
        if listed.returncode or len(refs) < 2:
            raise _failed("fetch", remote, p.stderr, repo_path)
        try:
            rejected, failed = _fetch_in_parts(repo_path, remote, refs, "+" if force else "", [0])
        except _TooManyFailures:   # not a few bad refs: the remote itself fails (say the network)
            raise _failed("fetch", remote, p.stderr, repo_path) from None
    after = _refs(repo_path)
    updated = sorted(r for r, s in after.items() if before.get(r) != s)
    return {"remote": remote, "refspec": spec, "updated": updated, "rejected": rejected,
            "failed": failed, "exit_code": EXIT_NO if rejected or failed else 0}


def _fetch(repo_path: str, remote: str, specs: list) -> tuple:
    """(git's result, [rejected refs]) of one `git fetch` of `specs` (read from stdin: a list of
    100,000 runs does not fit a command line)."""
    p = _git(repo_path, ["fetch", "--no-tags", "--stdin", "--", remote], "".join(s + "\n" for s in specs))
    rejected = []
    for ln in p.stderr.splitlines():
        if "[rejected]" in ln and "->" in ln:
            ref = ln.split("->")[-1].split("(")[0].strip()
            rejected.append({"ref": ref,
                             "reason": ln.rsplit("(", 1)[-1].rstrip(")") if "(" in ln else "rejected",
                             "hint": _clash_hint(ref, remote, "fetch")})
    return p, rejected


MAX_FAILED_REFS = 16


class _TooManyFailures(Exception):
    pass


def _fetch_in_parts(repo_path: str, remote: str, refs: list, plus: str, failures: list) -> tuple:
    """(rejected, failed [{ref, reason}]): `refs` fetched in halves until each part either
    transfers or is one ref git cannot fetch (a few fetches per bad ref, not one per ref; past
    MAX_FAILED_REFS bad refs the remote is taken as failing whole)."""
    p, rejected = _fetch(repo_path, remote, [f"{plus}{r}:{r}" for r in refs])
    if not p.returncode or rejected:
        return rejected, []
    if len(refs) == 1:
        failures[0] += 1
        if failures[0] > MAX_FAILED_REFS:
            raise _TooManyFailures
        return [], [{"ref": refs[0], "reason": _reason(p.stderr)}]
    mid = len(refs) // 2
    rej_a, fail_a = _fetch_in_parts(repo_path, remote, refs[:mid], plus, failures)
    rej_b, fail_b = _fetch_in_parts(repo_path, remote, refs[mid:], plus, failures)
    return rej_a + rej_b, fail_a + fail_b


def _clash_hint(ref: str, remote: str, kind: str) -> str | None:
    """What to do when a run of the same name differs on both sides (docs/runs.md)."""
    prefix = "refs/pfgit/runs/"
    if not ref.startswith(prefix):
        return None
    name = ref[len(prefix):]
    if kind == "push":
        return (f"{remote} has a different run named '{name}': rename yours with `pfgit runs rename "
                f"{name} NEW_NAME` and push again (or `pfgit push --force` to replace theirs)")
    return (f"you have a different run named '{name}': rename yours with `pfgit runs rename {name} "
            f"NEW_NAME` and fetch again (or `pfgit fetch --force` to replace yours with theirs)")


def _failed(verb: str, remote: str, stderr: str, repo_path: str) -> PfgitError:
    """git's failure as one line; for a remote name the repository does not have (a new clone's
    `origin` is there, a repository made with `git init` has none), how to add one."""
    msg = f"git {verb} {remote} failed: {_reason(stderr)}"
    if "/" not in remote and ":" not in remote:
        names = _git(repo_path, ["remote"]).stdout.split()
        if remote not in names:
            where = f"the remotes are {', '.join(names)}" if names else "it has none"
            msg += (f" (this repository has no remote named '{remote}': {where}; add one with "
                    f"`git remote add {remote} URL`, or name a remote or URL: pfgit {verb} REMOTE)")
    return PfgitError(msg)


def _reason(stderr: str) -> str:
    """git's own reason: its first `fatal:`/`error:` line (the last line is often advice such as
    'and the repository exists.'), else its last line."""
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    for ln in lines:
        for prefix in ("fatal: ", "error: "):
            if ln.startswith(prefix):
                return ln[len(prefix):]
    return lines[-1] if lines else "unknown error"
