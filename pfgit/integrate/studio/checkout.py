"""`pfgit checkout-run`: the exact flow folder a run used, written to a new folder for
`pf flow serve`, `pf flow build` or any deployment, with `.pfgit-run.json` saying where it came from.

The folder is written complete in a temporary sibling and renamed into place, so DIR either holds
the whole flow or does not exist. A non-empty DIR is refused; symlinks in the run's tree are not
written (they could point anywhere), and a tree entry that could not be written safely (a fetched
run ref is untrusted) refuses the whole checkout.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from ...errors import UsageError
from .files import from_tree

PROVENANCE = ".pfgit-run.json"


def checkout_run(repo, name: str, dest: str | None = None) -> dict:
    from ...store.read import load_run

    snap = load_run(repo, name)
    entry = snap.files.get("flow")
    files, skipped = from_tree(repo, entry[1] if entry else None, f"run {name}", exclude=False)
    if not files:
        raise UsageError(f"run '{name}' has no flow recorded (imported without its snapshot?)")
    dest = dest or name
    if os.path.lexists(dest):
        if os.path.islink(dest) or not os.path.isdir(dest):
            raise UsageError("exists and is not a folder", file=dest)
        if os.listdir(dest):
            raise UsageError("folder is not empty (choose a new or empty folder)", file=dest)
    flow = snap.run.get("flow") or {}
    provenance = {"schema": "pfgit.checkout/1", "run": name, "run_commit": snap.commit,
                  "flow_path": snap.flow_path, "flow_commit": flow.get("commit"),
                  "flow_tree": flow.get("tree"), "status": snap.run.get("status")}
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(dir=parent, prefix=".pfgit-checkout-")
    try:
        umask = os.umask(0)
        os.umask(umask)
        for rel, f in sorted(files.items()):
            path = os.path.join(tmp, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as out:
                out.write(f.data)
            os.chmod(path, (0o777 if f.executable else 0o666) & ~umask)
        with open(os.path.join(tmp, PROVENANCE), "w", encoding="utf-8") as out:
            json.dump(provenance, out, indent=2)
            out.write("\n")
        os.chmod(tmp, 0o777 & ~umask)
        if os.path.isdir(dest):
            os.rmdir(dest)   # empty, checked above
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dict(provenance, dir=dest, files=len(files),
                skipped=[{"path": p, "why": w} for p, w in skipped])
