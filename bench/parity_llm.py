"""Parity with promptflow on every corpus flow with llm nodes that the built-in engine runs
offline: request bodies sent to the fake OpenAI server, per-line outputs and metrics, pfgit's
built-in engine vs promptflow (run through pfgit's promptflow engine), 2 data lines each.

    PFGIT_CORPUS=../shared/corpus .venv/bin/python bench/parity_llm.py [--lines 2] [FLOW ...]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=2)
    ap.add_argument("flows", nargs="*", help="corpus flow paths (default: all of llm_parity.CORPUS_LLM_FLOWS)")
    args = ap.parse_args()
    corpus = pathlib.Path(os.environ.get("PFGIT_CORPUS") or ROOT / ".." / "shared" / "corpus").resolve()
    from fake_openai import FakeOpenAI
    from llm_parity import CONNECTIONS, CORPUS_LLM_FLOWS, compare, run_both, setup_repo
    from pfgit.run.connections import ConnectionStore, from_mapping

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="parity-llm-"))
    os.environ.update(XDG_CONFIG_HOME=str(tmp / "cfg"), CI="1", PF_DISABLE_TELEMETRY="true")
    bad = 0
    with FakeOpenAI() as srv:
        for n in CONNECTIONS:
            ConnectionStore().save(from_mapping({"name": n, "type": "open_ai", "api_key": "sk-parity",
                                                 "base_url": srv.url}))
        for rel in args.flows or CORPUS_LLM_FLOWS:
            repo, flow, data, mapping = setup_repo(corpus, rel, tmp, args.lines)
            try:
                res = run_both(srv, repo, flow, data, mapping)
            except Exception as e:  # e.g. promptflow's process pool giving up on a loaded machine
                bad += 1
                print(f"{rel:58} not compared: {type(e).__name__}: {e}", flush=True)
                continue
            diffs = compare(res)
            b = res["builtin"]
            bad += bool(diffs)
            print(f"{rel:58} {len(b[1]):3} requests  {b[0].total} lines ({b[0].failed} failed)  "
                  f"{'same bodies, outputs, metrics' if not diffs else '; '.join(diffs)}", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
