"""Benchmark: `pfgit validate` against `pf flow validate` on every corpus flow, in one run.

    .venv/bin/python bench/validate.py [--runs N] [--pf-runs M] [--flows K] [--no-pf]

Both tools run on the same copy of the corpus in a temporary folder (pf writes .promptflow/ into
flow folders; the corpus is read-only). Per flow, each tool is a fresh process, so process start
is included; `python -m pfgit.validate` (same command without the CLI framework, what the git
hooks run) is timed too. pf runs with telemetry off and a temporary HOME / PF_HOME_DIRECTORY.
Prints per-flow times, the median per flow for each tool, their ratio, the whole corpus in one
pfgit process, and any flow where the two tools disagree on pass/fail (and why pf failed).

Targets (issue 2): pfgit >= 20x faster per flow than pf; whole corpus < 2 s in one pfgit process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import common  # noqa: E402  (bench/common.py)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.environ.get("PFGIT_CORPUS") or os.path.normpath(os.path.join(ROOT, "..", "shared", "corpus"))
sys.path.insert(0, ROOT)


def timed(cmd: list, env: dict, cwd: str | None = None) -> tuple:
    t = time.perf_counter()
    p = subprocess.run(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return time.perf_counter() - t, p.returncode, p.stdout


def pf_reason(stdout: bytes) -> str:
    """Why pf failed, in short: tools whose Python packages are not installed here are an
    environment matter (pf imports every tool), not a defect of the flow definition."""
    import json

    text = stdout.decode("utf-8", "replace")
    try:
        errors = json.loads(text[text.index("{"):])["errors"]
    except (ValueError, KeyError):
        return "pf failed"
    if errors and all("No module named" in e.get("message", "") for e in errors):
        missing = sorted({e["message"].split("No module named ")[1].strip("'\"") for e in errors})
        return "env: packages not installed: " + ", ".join(missing)
    return "; ".join(sorted({e.get("message", "")[:60] for e in errors}))


def tool(name: str) -> str | None:
    here = os.path.join(os.path.dirname(sys.executable), name)
    return here if os.path.exists(here) else shutil.which(name)


def main() -> int:
    common.installed_like()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="pfgit runs per flow (median)")
    ap.add_argument("--pf-runs", type=int, default=1, help="pf runs per flow (median)")
    ap.add_argument("--flows", type=int, default=0, help="only the first K flows (0 = all)")
    ap.add_argument("--no-pf", action="store_true", help="skip pf flow validate")
    args = ap.parse_args()

    from pfgit.flow.load import find_flows
    from pfgit.flow.readers import DirReader
    from pfgit.validate import validate_path

    tmp = tempfile.mkdtemp(prefix="pfgit-bench-")
    try:
        examples = os.path.join(tmp, "examples")
        shutil.copytree(os.path.join(CORPUS, "examples"), examples)
        for d, _, files in os.walk(tmp):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        reader = DirReader(tmp, "")
        locs = find_flows(reader, "examples")
        n_all = len(locs)
        if args.flows:
            locs = locs[: args.flows]
        targets = [os.path.join(tmp, loc.file if loc.is_prompty else loc.dir) for loc in locs]
        names = [loc.file if loc.is_prompty else loc.dir for loc in locs]

        env = dict(os.environ, HOME=os.path.join(tmp, "home"), NO_COLOR="1",
                   PF_HOME_DIRECTORY=os.path.join(tmp, "home", ".promptflow"),
                   PF_DISABLE_TELEMETRY="true")
        os.makedirs(env["HOME"])
        pfgit = tool("pfgit")
        pfgit_cmd = [pfgit] if pfgit else [sys.executable, "-m", "pfgit"]

        print(f"{len(targets)} flows from {CORPUS}/examples, copied to {tmp}")
        print(f"pfgit: {' '.join(pfgit_cmd)}  ({args.runs} runs per flow)")
        pfgit_t, pfgit_rc, lib_t = [], [], []  # lib_t: python -m pfgit.validate
        for t in targets:
            runs = [timed(pfgit_cmd + ["validate", t], env) for _ in range(args.runs)]
            pfgit_t.append(statistics.median(r[0] for r in runs))
            pfgit_rc.append(runs[0][1])
            # the same command without the CLI framework (what the git hooks run)
            lib_t.append(statistics.median(
                timed([sys.executable, "-m", "pfgit.validate", t], env)[0]
                for _ in range(args.runs)))

        one_proc = statistics.median(
            timed(pfgit_cmd + ["validate", examples], env)[0] for _ in range(args.runs))
        in_proc = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            validate_path(reader, "examples")
            in_proc.append(time.perf_counter() - t0)

        pf = None if args.no_pf else tool("pf")
        pf_t, pf_rc, pf_why = [], [], []
        if pf:
            print(f"pf: {pf}  ({args.pf_runs} runs per flow; telemetry off, HOME={env['HOME']})")
            subprocess.run([pf, "config", "set", "telemetry.enabled=false"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for t in targets:
                if t.endswith(".prompty"):  # pf 1.18.5 crashes on these (AttributeError)
                    pf_t.append(None)
                    pf_rc.append(None)
                    pf_why.append("")
                    continue
                runs = [timed([pf, "flow", "validate", "--source", t], env)
                        for _ in range(args.pf_runs)]
                pf_t.append(statistics.median(r[0] for r in runs))
                pf_rc.append(runs[0][1])
                pf_why.append(pf_reason(runs[0][2]) if runs[0][1] else "")
            subprocess.run([pf, "service", "stop"], env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        elif not args.no_pf:
            print("pf: not installed (pip install '.[promptflow]'); pfgit figures only")

        print(f"\n{'flow':<70} {'pfgit ms':>8} {'-m ms':>6} {'pf ms':>6} {'ratio':>6}  verdicts")
        disagree, env_only = [], []
        for i, name in enumerate(names):
            row = f"{name[-70:]:<70} {pfgit_t[i] * 1000:8.0f} {lib_t[i] * 1000:6.0f}"
            if pf_t and pf_t[i] is None:
                row += f" {'n/a':>6} {'':>6}  pf flow validate does not support .prompty"
            elif pf_t:
                ok_g, ok_p = pfgit_rc[i] == 0, pf_rc[i] == 0
                row += f" {pf_t[i] * 1000:6.0f} {pf_t[i] / pfgit_t[i]:6.1f}  "
                row += f"pfgit {'ok' if ok_g else 'FAIL'} / pf {'ok' if ok_p else 'FAIL'}"
                if not ok_p:
                    row += f" ({pf_why[i]})"
                if ok_g != ok_p:
                    (env_only if pf_why[i].startswith("env:") else disagree).append(name)
            print(row)

        med_g = statistics.median(pfgit_t)
        print(f"\npfgit validate, one process per flow: median {med_g * 1000:.0f} ms per flow")
        print(f"python -m pfgit.validate (no CLI framework; the hooks use it): median "
              f"{statistics.median(lib_t) * 1000:.0f} ms per flow")
        if pf_t:
            pairs = [(g, p) for g, p in zip(pfgit_t, pf_t) if p is not None]
            med_g = statistics.median(g for g, _ in pairs)
            med_p = statistics.median(p for _, p in pairs)
            ratio = med_p / med_g
            med_l = statistics.median(lt for lt, p in zip(lib_t, pf_t) if p is not None)
            print(f"pfgit validate on the {len(pairs)} flows pf can validate: median "
                  f"{med_g * 1000:.0f} ms (python -m pfgit.validate {med_l * 1000:.0f} ms)")
            print(f"pf flow validate, one process per flow: median {med_p * 1000:.0f} ms per flow")
            print(f"ratio (pf / pfgit, medians): {ratio:.1f}x  (target >= 20x: "
                  f"{'met' if ratio >= 20 else 'NOT met'}); python -m pfgit.validate "
                  f"{med_p / med_l:.1f}x")
            print(f"flows where pass/fail differs: {', '.join(disagree) if disagree else 'none'}")
            print(f"flows pf fails only because their tools' Python packages are not installed "
                  f"here (pf imports every tool; pfgit checks syntax only): {len(env_only)}")
        print(f"whole corpus ({n_all} flows) in one pfgit process: {one_proc * 1000:.0f} ms "
              f"(target < 2000 ms: {'met' if one_proc < 2 else 'NOT met'}); library call alone "
              f"{statistics.median(in_proc) * 1000:.0f} ms")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
