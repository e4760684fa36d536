"""Installing pfgit's git hooks (scripts in the project's `hooks/` folder), chaining existing ones.

For each hook NAME, in the hooks folder (`core.hooksPath` if set, else `.git/hooks`):
    NAME                  a small wrapper (marker `pfgit-hook-wrapper`): runs NAME.pfgit-chained,
                          stops if it fails, then runs NAME.pfgit
    NAME.pfgit            pfgit's script, with the installing interpreter's absolute path
    NAME.pfgit-chained    the hook that was there before, renamed (only if there was one)
`uninstall_hooks` deletes the first two and renames the chained hook back: exactly what was there.

A chained shell hook runs with `$0` = the hook's own path (`.git/hooks/NAME`), as git ran it:
dispatchers such as husky and pre-commit find their hook name and folder from `$0`. The
interpreter path is written as a quoted shell word, so spaces and quotes in it work. A hooks
folder inside the worktree (`core.hooksPath` = `.husky`, `githooks/`, usually tracked and owned by
the project) or outside the repository (a `core.hooksPath` set globally, run by every repository)
is never rewritten: `install` reports the line to add to those hooks instead.
"""

from __future__ import annotations

import os
import shlex
import sys

POST_HOOKS = ["post-commit", "post-merge", "post-rewrite", "post-checkout"]
STDIN_HOOKS = {"post-rewrite", "pre-push"}      # git feeds these on stdin: both hooks need it
MARKER = "pfgit-hook-wrapper"
HOOKS_SRC = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                         "hooks")
PY_LINE = 'PFGIT_PYTHON="${PFGIT_PYTHON:-python3}"'

_FALLBACK = f"""#!/bin/sh
# pfgit: keep the run index's commit<->flow-tree table current (docs/runs.md).
{PY_LINE}
"$PFGIT_PYTHON" -m pfgit.index.hook "$(basename "$0" .pfgit)" </dev/null >/dev/null 2>&1
exit 0
"""


def hook_names() -> list:
    """The post-* hooks, plus pre-commit when the project ships hooks/pre-commit."""
    names = list(POST_HOOKS)
    if os.path.exists(os.path.join(HOOKS_SRC, "pre-commit")):
        names.insert(0, "pre-commit")
    return names


def hooks_not_ours(repo_path: str) -> tuple:
    """(folder, where) when `core.hooksPath` puts the hooks outside this repository's git folder,
    never rewritten: inside the worktree they are the project's own (usually tracked) hooks;
    anywhere else (`~/.githooks` set globally) a folder every repository of the user runs, which a
    per-repository install must not change. (None, None) for `.git/hooks` or a folder in it."""
    from ..flow.readers import within

    d = os.path.realpath(hooks_dir(repo_path))
    if within(d, os.path.realpath(_git_dir(repo_path))):
        return None, None
    inside = within(d, os.path.realpath(repo_path))
    return d, ("inside the worktree (the project's own hooks)" if inside
               else "outside this repository (shared with other repositories)")


def _git_dir(repo_path: str) -> str:
    from dulwich.repo import Repo

    return Repo.discover(repo_path).commondir()


def hooks_dir(repo_path: str) -> str:
    from dulwich.repo import Repo

    repo = Repo.discover(repo_path)
    try:
        custom = repo.get_config_stack().get((b"core",), b"hooksPath")
    except KeyError:
        custom = None
    if custom:
        p = os.path.expanduser(custom.decode())
        return p if os.path.isabs(p) else os.path.join(repo.path, p)
    return os.path.join(repo.commondir(), "hooks")


def _script(name: str, python_exe: str) -> str:
    src = os.path.join(HOOKS_SRC, name)
    text = open(src, encoding="utf-8").read() if os.path.exists(src) else _FALLBACK
    # the default in its own single-quoted assignment: inside "${X:-...}" quotes would be literal
    return text.replace(PY_LINE, f"PFGIT_DEFAULT_PYTHON={shlex.quote(python_exe)}\n"
                                 'PFGIT_PYTHON="${PFGIT_PYTHON:-$PFGIT_DEFAULT_PYTHON}"')


def hook_command(name: str, python_exe: str) -> str:
    """The one line that runs pfgit's NAME hook (for hooks folders pfgit does not rewrite)."""
    if name == "pre-commit":
        return f"{shlex.quote(python_exe)} -m pfgit.validate --staged --quiet || exit $?"
    return f"{shlex.quote(python_exe)} -m pfgit.index.hook {name} </dev/null >/dev/null 2>&1"


# Runs the chained hook with $0 = this hook's path when it is a shell script (sourced by a shell of
# its own shebang), else directly. zsh and fish set $0 differently when sourcing: run directly.
_RUN_CHAINED = r'''run_chained() {
    [ -x "$chained" ] || return 0
    first=
    IFS= read -r first < "$chained" || :
    case "$first" in
        '#!'*zsh*|'#!'*fish*) "$chained" "$@" ;;
        '#!'*sh|'#!'*sh[[:space:]]*)
            PFGIT_CHAINED_HOOK="$chained" ${first#??} -c '. "$PFGIT_CHAINED_HOOK"' "$0" "$@" ;;
        *) "$chained" "$@" ;;
    esac
}
'''


def _wrapper(name: str) -> str:
    if name in STDIN_HOOKS:
        run = ('input=$(cat)\n'
               'printf \'%s\\n\' "$input" | run_chained "$@" || exit $?\n'
               f'printf \'%s\\n\' "$input" | "$hook_dir/{name}.pfgit" "$@"\n')
    else:
        run = f'run_chained "$@" || exit $?\nexec "$hook_dir/{name}.pfgit" "$@"\n'
    return ("#!/bin/sh\n"
            f"# {MARKER}: installed by `pfgit install`; `pfgit install --uninstall` restores the\n"
            f"# previous hook. Runs {name}.pfgit-chained (the hook that was here before), then pfgit's.\n"
            'hook_dir=$(dirname "$0")\n'
            f'chained="$hook_dir/{name}.pfgit-chained"\n' + _RUN_CHAINED + run)


def _is_ours(path: str) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return MARKER in f.read(400)
    except OSError:
        return False


def _write_exec(path: str, text: str) -> None:
    tmp = path + ".tmp-pfgit"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o755)
    os.replace(tmp, path)


def install_hooks(repo_path: str, python_exe: str | None = None) -> list:
    """Install (or refresh) pfgit's hooks; returns the hook names installed. Idempotent.
    Nothing is installed in a hooks folder outside the git folder (see `hooks_not_ours`)."""
    if hooks_not_ours(repo_path)[0]:
        return []
    d = hooks_dir(repo_path)
    os.makedirs(d, exist_ok=True)
    py = python_exe or sys.executable
    done = []
    for name in hook_names():
        path = os.path.join(d, name)
        chained = path + ".pfgit-chained"
        if os.path.lexists(path) and not _is_ours(path):
            if os.path.lexists(chained):  # should not happen; never overwrite a user's hook
                continue
            os.rename(path, chained)  # a non-executable one stays inert, as git treated it
        _write_exec(path + ".pfgit", _script(name, py))
        _write_exec(path, _wrapper(name))
        done.append(name)
    return done


def uninstall_hooks(repo_path: str) -> list:
    """Remove pfgit's hooks and put chained ones back; returns the hook names removed."""
    d = hooks_dir(repo_path)
    removed = []
    for name in set(hook_names()) | set(POST_HOOKS) | {"pre-commit"}:
        path = os.path.join(d, name)
        ours = os.path.exists(path + ".pfgit") or _is_ours(path)
        if not ours:
            continue
        if _is_ours(path):
            os.unlink(path)
        if os.path.exists(path + ".pfgit"):
            os.unlink(path + ".pfgit")
        chained = path + ".pfgit-chained"
        if os.path.lexists(chained) and not os.path.lexists(path):
            os.rename(chained, path)
        removed.append(name)
    return sorted(removed)
