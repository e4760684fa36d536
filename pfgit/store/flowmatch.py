"""Is a promptflow run snapshot the same flow as a committed flow folder?

promptflow rewrites the snapshot's flow.dag.yaml (re-dumped YAML, chosen variant merged into
`nodes`, `use_variants` dropped, sometimes a top-level `name:`), and copies `additional_includes`
files in. So: every other file must be byte-identical (compared by git blob id), files only in the
snapshot must come from additional_includes, and the two flow files must be semantically equal
after the same normalisation (variant merged, `name` dropped) on both sides.
"""

from __future__ import annotations

import json
import os
import posixpath
import re

from dulwich.objects import Blob

from ..flow.model import DAG_FILES, FLOW_FILES
from ..flow.readers import path_outside

IGNORED_DIRS = {".promptflow", "__pycache__", ".runs", ".git"}
_VARIANT = re.compile(r"^\$\{([^.}]+)\.([^}]+)\}$")


def file_ids(reader, rel: str = ".") -> dict:
    """{path below the flow folder: git blob id} for every non-flow-file file."""
    out = {}
    base = "" if rel in (".", "") else rel + "/"
    for f in _walk(reader, rel):
        sub = f[len(base):] if base and f.startswith(base) else f
        if sub in FLOW_FILES:
            continue
        try:
            out[sub] = Blob.from_string(reader.read_bytes(f)).id.decode()
        except OSError:  # a symlink loop: not part of the flow (the import reports it)
            continue
    return out


def _walk(reader, rel, seen: frozenset = frozenset()):
    real = getattr(reader, "_abs", None)  # on disk: follow a folder link only once (loops)
    for name in reader.list_dir(rel):
        p = name if rel in (".", "") else f"{rel}/{name}"
        if path_outside(reader, p):  # a symlink out of a run folder: never read
            continue
        if reader.is_dir(p):
            key = os.path.realpath(real(p)) if real else p
            if name not in IGNORED_DIRS and key not in seen:
                yield from _walk(reader, p, seen | {key})
        else:
            yield p


def normalize_flow(data, variant: str | None = None):
    """The flow as promptflow runs it: chosen variants merged into nodes, no `name`."""
    if not isinstance(data, dict):
        return data
    data = json.loads(json.dumps(data, default=str))
    data.pop("name", None)
    chosen = {}
    m = _VARIANT.match(variant or "")
    if m:
        chosen[m.group(1)] = m.group(2)
    nv = data.get("node_variants") if isinstance(data.get("node_variants"), dict) else {}
    nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
    out_nodes = []
    for node in nodes:
        if isinstance(node, dict) and node.get("use_variants") and node.get("name") in nv:
            vs = nv[node["name"]] or {}
            vid = chosen.get(node["name"]) or vs.get("default_variant_id")
            body = ((vs.get("variants") or {}).get(vid) or {}).get("node") or {}
            merged = dict(body)
            merged["name"] = node["name"]
            for k, v in node.items():
                if k not in ("use_variants", "name") and k not in merged:
                    merged[k] = v
            node = merged
        out_nodes.append(node)
    if nodes:
        data["nodes"] = out_nodes
    return data


def _flow_data(reader, rel: str):
    from ..flow import yamlpos

    base = "" if rel in (".", "") else rel + "/"
    for name in DAG_FILES:
        if reader.exists(base + name):
            try:
                return yamlpos.parse(reader.read_bytes(base + name)).data
            except Exception:
                return None
    return None


def includes_basenames(data) -> set:
    inc = data.get("additional_includes") if isinstance(data, dict) else None
    return {posixpath.basename(str(x).rstrip("/")) for x in inc} if isinstance(inc, list) else set()


class FlowIdentity:
    def __init__(self, reader, rel: str = ".", variant: str | None = None):
        self.files = file_ids(reader, rel)
        raw = _flow_data(reader, rel)
        self.includes = includes_basenames(raw)
        self.flow = normalize_flow(raw, variant)

    def matches_source(self, src: "FlowIdentity") -> bool:
        """Is this (a run snapshot) the flow `src` (a committed folder) as promptflow ran it?"""
        for path, blob in src.files.items():
            if self.files.get(path) != blob:
                return False
        for path in self.files:
            if path not in src.files and path.split("/", 1)[0] not in src.includes:
                return False
        return self.flow is not None and self.flow == src.flow
