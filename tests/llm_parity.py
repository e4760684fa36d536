"""Parity of LLM flows with promptflow: one flow, one data file, one fake OpenAI server; the
built-in engine and promptflow (through pfgit's promptflow engine) each run it, and the request
bodies the server received, the per-line outputs and the metrics are compared. Used by
tests/test_run_llm.py (corpus flows, slow) and bench/parity_llm.py (every runnable corpus flow)."""

from __future__ import annotations

import json
import pathlib
import shutil
import subprocess

from pfgit.run.batch import Console, run_batch
from pfgit.run.spec import RunSpec

# corpus flows with llm nodes the built-in engine runs offline (others need bs4, package tools, ...)
CORPUS_LLM_FLOWS = [
    "examples/flows/standard/basic-with-builtin-llm",
    "examples/flows/standard/named-entity-recognition",
    "examples/flows/standard/conditional-flow-for-switch",
    "examples/flows/standard/maths-to-code",
    "examples/flows/evaluation/eval-groundedness",
    "examples/flows/evaluation/eval-perceived-intelligence",
    "examples/flows/evaluation/eval-qna-non-rag",
    "examples/flows/evaluation/eval-qna-rag-metrics",
]
CONNECTIONS = ("open_ai_connection",)


def save_corpus_connections(url: str) -> None:
    """The connections corpus flows name, pointing at the fake server `url` (in the store of
    $XDG_CONFIG_HOME: tests point it at a temporary folder first)."""
    from pfgit.run.connections import ConnectionStore, from_mapping

    for n in CONNECTIONS:
        ConnectionStore().save(from_mapping({"name": n, "type": "open_ai", "api_key": "sk-corpus-1111",
                                             "base_url": url}))


def canon(bodies) -> list:
    return sorted(json.dumps(b, sort_keys=True) for b in bodies)


def setup_repo(corpus: pathlib.Path, rel: str, root: pathlib.Path, lines: int = 2) -> tuple:
    """A git repo under `root` holding a copy of the corpus flow at its corpus path, and a data
    file of its first `lines` data lines. Returns (repo, flow path, data path, column mapping)."""
    repo = root / rel.replace("/", "_")
    shutil.copytree(corpus / rel, repo / rel, ignore=shutil.ignore_patterns("*.ipynb", "__pycache__"))
    datas = sorted(p for p in (repo / rel).iterdir() if p.suffix == ".jsonl")
    rows = [json.loads(x) for x in datas[0].read_text().splitlines() if x.strip()][:lines]
    (repo / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    import yaml

    flow = yaml.safe_load((repo / rel / "flow.dag.yaml").read_text())
    cols = set().union(*[r.keys() for r in rows])
    # explicit: without a mapping promptflow gives every input with a default its default even
    # where the data has the column (pfgit maps the column; a documented difference)
    mapping = {k: "${data.%s}" % k for k in (flow.get("inputs") or {}) if k in cols}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "flow"]):
        subprocess.run(["git", "-C", str(repo)] + cmd, check=True, capture_output=True)
    return repo, rel, "data.jsonl", mapping


def run_both(server, repo: pathlib.Path, flow: str, data: str, mapping: dict) -> dict:
    """Run with both engines; {"builtin"/"promptflow": (Outcome, bodies, outputs)}."""
    from pfgit.git.repo import open_repo
    from pfgit.store.read import load_run, stream_file

    out = {}
    for engine in ("builtin", "promptflow"):
        server.requests.clear()
        o = run_batch(RunSpec(flow=str(repo / flow), data=str(repo / data), name=f"par-{engine}",
                              column_mapping=mapping, engine=engine), Console(quiet=True))
        bodies = server.bodies()
        r = open_repo(str(repo))
        outs = [json.loads(x) for x in stream_file(r, load_run(r, f"par-{engine}"), "outputs.jsonl")]
        out[engine] = (o, bodies, outs)
    return out


def compare(res: dict) -> list:
    """Differences between the two engines' results ([] = parity)."""
    (b, bb, bo), (p, pb, po) = res["builtin"], res["promptflow"]
    diffs = []
    if (b.total, b.failed) != (p.total, p.failed):
        diffs.append(f"lines {b.total}/{b.failed} failed vs promptflow {p.total}/{p.failed}")
    if canon(bb) != canon(pb):
        diffs.append(f"request bodies differ ({len(bb)} vs {len(pb)})")
    if bo != po:
        diffs.append("outputs differ")
    mine = {k: v for k, v in b.metrics.items() if not k.startswith("__pfgit__")}
    # compared as JSON: NaN metrics (nanmean over nothing) equal each other there, not in Python
    if json.dumps(mine, sort_keys=True) != json.dumps(p.metrics, sort_keys=True):
        diffs.append(f"metrics differ: {mine} vs {p.metrics}")
    return diffs
