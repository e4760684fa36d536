"""Per-line latency of a flow with two independent llm nodes (then a python join) against the
fake OpenAI server: nodes of a line one after the other (node concurrency 1, pfgit before it ran
them concurrently) vs concurrently (2, promptflow's batch setting). Lines run one at a time, so
the figure is the latency of one line. Figures go to docs/benchmarks.md ("Node concurrency").

    python bench/node_concurrency.py [--lines 40] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

FLOW = {
    "flow.dag.yaml": """\
inputs:
  q: {type: string}
outputs:
  out: {type: string, reference: "${join.output}"}
nodes:
- name: ask_a
  type: llm
  source: {type: code, path: a.jinja2}
  connection: fake
  api: chat
  inputs: {deployment_name: gpt-4o-mini, q: "${inputs.q}"}
- name: ask_b
  type: llm
  source: {type: code, path: b.jinja2}
  connection: fake
  api: chat
  inputs: {deployment_name: gpt-4o-mini, q: "${inputs.q}"}
- name: join
  type: python
  source: {type: code, path: join.py}
  inputs: {a: "${ask_a.output}", b: "${ask_b.output}"}
""",
    "a.jinja2": "# system:\nBe brief.\n# user:\nA: {{q}}\n",
    "b.jinja2": "# system:\nBe terse.\n# user:\nB: {{q}}\n",
    "join.py": "from promptflow.core import tool\n\n\n@tool\ndef join(a: str, b: str) -> str:\n"
               "    return a + ' | ' + b\n",
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.05)
    args = ap.parse_args()
    from fake_openai import FakeOpenAI
    from pfgit.run.connections import from_mapping
    from pfgit.run.engine.dag import DagEngine
    from pfgit.run.engine.plan import build_plan

    with FakeOpenAI(latency=args.latency) as srv, tempfile.TemporaryDirectory() as tmp:
        flow = pathlib.Path(tmp) / "flow"
        flow.mkdir()
        for name, text in FLOW.items():
            (flow / name).write_text(text)
        conn = from_mapping({"name": "fake", "type": "open_ai", "api_key": "sk-x", "base_url": srv.url})
        eng = DagEngine(build_plan(str(flow), get_connection=lambda n: conn))
        try:
            eng.run_line({"q": "warm up"}, 0)
            res = {}
            for conc in (1, 2):
                eng.node_concurrency = conc
                times = []
                for i in range(args.lines):
                    t0 = time.perf_counter()
                    r = eng.run_line({"q": f"question {i}"}, i)
                    times.append(time.perf_counter() - t0)
                    assert r.ok, r.error
                res[conc] = statistics.median(times)
        finally:
            eng.close()
    print(f"2 independent llm nodes, fake server latency {args.latency * 1000:.0f} ms, {args.lines} lines, median per line:")
    print(f"  nodes one after the other : {res[1] * 1000:7.1f} ms")
    print(f"  nodes concurrently        : {res[2] * 1000:7.1f} ms   ({res[1] / res[2]:.2f}x faster)")


if __name__ == "__main__":
    main()
