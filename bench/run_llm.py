"""Benchmark: an LLM flow over 1,000 lines against the fake OpenAI server at 50 ms per request,
`pfgit run --workers 16` vs `pf run create` (PF_WORKER_COUNT=16) in the same run.

    .venv/bin/python bench/run_llm.py [--lines 1000] [--latency 0.05] [--workers 16] [--processes N] [--no-pf]
                                      [--rounds N]

The flow is the corpus's `examples/flows/standard/basic-with-builtin-llm` (a prompt node and a
chat llm node) when the corpus is there, copied into a temporary git repo; its connection
`open_ai_connection` points at the fake server, which runs in its own process (tests/fake_openai.py)
so the server's threads do not share pfgit's interpreter. Times are end to end (process start to
exit, recording the run included). Target (issue 9): pfgit >= 80% of workers / latency lines/s
(16 / 0.05 = 320, so 256 lines/s). A run of one round of lines (`--workers` lines) first gives
the fixed cost (start-up, importing the openai SDK, recording), and so the rate of the other lines.
CPU per line is the pfgit process's (its children included) and the fake server's, measured apart.
The ceiling line is the plainest client (http.client, the same number of threads, no SDK, no
flow) against the same server: what the server and this machine's loopback allow at all.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(os.environ.get("PFGIT_CORPUS") or ROOT / ".." / "shared" / "corpus").resolve()
FLOW = "examples/flows/standard/basic-with-builtin-llm"
OWN_FLOW = {  # used when the corpus is absent: the same shape
    "flow.dag.yaml": "inputs:\n  text: {type: string}\noutputs:\n  output: {type: string, reference: "
                     "\"${llm.output}\"}\nnodes:\n- name: hello_prompt\n  type: prompt\n  source: {type: code, "
                     "path: hello.jinja2}\n  inputs: {text: \"${inputs.text}\"}\n- name: llm\n  type: llm\n  source: "
                     "{type: code, path: hello.jinja2}\n  connection: open_ai_connection\n  api: chat\n  inputs: "
                     "{prompt: \"${hello_prompt.output}\", model: gpt-3.5-turbo, max_tokens: '120'}\n",
    "hello.jinja2": "system:\nYou are a helpful assistant.\nuser:\nWrite a simple {{text}} program.\n",
}


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def _run_timed(cmd, **kw):
    """subprocess.run's result and the child's CPU seconds (user + system, its children included)."""
    def children_cpu():
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        return ru.ru_utime + ru.ru_stime

    before = children_cpu()
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    return r, children_cpu() - before


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a running process has used so far (Linux /proc; 0 elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


CEILING = r"""
import http.client, json, sys, threading, time, urllib.parse
url = urllib.parse.urlparse(sys.argv[1]); n, workers = int(sys.argv[2]), int(sys.argv[3])
body = json.dumps({"model": "gpt-3.5-turbo", "messages": [{"role": "system", "content": "You are a helpful assistant."},
                   {"role": "user", "content": "Write a simple Python Hello World program."}], "max_tokens": 120}).encode()
todo = iter(range(n)); lock = threading.Lock()
def worker():
    c = http.client.HTTPConnection(url.hostname, url.port)
    while True:
        with lock:
            if next(todo, None) is None:
                return
        c.request("POST", url.path + "/chat/completions", body, {"Content-Type": "application/json"})
        json.loads(c.getresponse().read())
t = time.perf_counter()
ts = [threading.Thread(target=worker) for _ in range(workers)]
[x.start() for x in ts]; [x.join() for x in ts]
print(n / (time.perf_counter() - t))
"""


def _ceiling(py, url, lines, workers) -> float:
    """Requests/s of the plainest client (http.client keep-alive, `workers` threads, no SDK, no
    flow), timed from its first request to its last: what the fake server and this machine's
    loopback allow at this concurrency, whatever the client."""
    return float(sh([py, "-c", CEILING, url, str(lines), str(workers)]).stdout)


def main() -> int:
    sys.path.insert(0, str(ROOT / "bench"))
    from common import installed_like

    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=16)
    ap.add_argument("--processes", type=int, default=None, help="pfgit run --processes N")
    ap.add_argument("--no-pf", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the pfgit measurements; the median is compared")
    args = ap.parse_args()
    installed_like()
    py = sys.executable
    pfgit = [py, "-m", "pfgit"]
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="bench-run-llm-"))
    server = subprocess.Popen([py, str(ROOT / "tests" / "fake_openai.py"), "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().strip()
        repo = tmp / "repo"
        flow = repo / "flow"
        if (CORPUS / FLOW).is_dir():
            shutil.copytree(CORPUS / FLOW, flow)
            source = FLOW
        else:
            flow.mkdir(parents=True)
            for k, v in OWN_FLOW.items():
                (flow / k).write_text(v)
            source = "own copy of basic-with-builtin-llm"
        with open(repo / "data.jsonl", "w") as f:
            for i in range(args.lines):
                f.write(json.dumps({"text": f"Python Hello World number {i}"}) + "\n")
        with open(repo / "start.jsonl", "w") as f:   # one round of lines: the fixed cost of a run
            for i in range(args.workers):
                f.write(json.dumps({"text": f"Python Hello World number {i}"}) + "\n")
        sh(["git", "init", "-q", str(repo)])
        sh(["git", "-C", str(repo), "add", "-A"])
        sh(["git", "-C", str(repo), "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-qm", "flow"])
        env = dict(os.environ, HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "cfg"),
                   PF_DISABLE_TELEMETRY="true", GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@e",
                   GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@e", PYTHONPATH=str(ROOT), CI="1")
        (tmp / "home").mkdir()
        conn = tmp / "conn.yaml"
        conn.write_text(f"name: open_ai_connection\ntype: open_ai\napi_key: sk-bench\nbase_url: {url}\n")
        sh(pfgit + ["connection", "create", "--file", str(conn)], env=env)
        mapping = ["--column-mapping", "text=${data.text}"]
        extra = ["--processes", str(args.processes)] if args.processes else []

        def pfgit_run(data, name):
            server_cpu0 = _cpu_seconds(server.pid)
            t0 = time.perf_counter()
            r, cpu = _run_timed(pfgit + ["run", "--flow", "flow", "--data", data, "--name", name, "--workers",
                                         str(args.workers), "--json"] + extra + mapping, cwd=repo, env=env)
            if r.returncode != 0:
                print(r.stdout, r.stderr, file=sys.stderr)
                raise SystemExit(1)
            return time.perf_counter() - t0, cpu, _cpu_seconds(server.pid) - server_cpu0, r

        ideal = args.workers / args.latency
        rates = []
        for rnd in range(1, args.rounds + 1):
            if args.rounds > 1:
                print(f"-- round {rnd} of {args.rounds}")
            load0 = os.getloadavg()[0]
            ceiling = _ceiling(py, url, args.lines, args.workers)
            t_start, cpu_start, _, _ = pfgit_run("start.jsonl", f"s{rnd}")
            t_pfgit, client_cpu, server_cpu, r = pfgit_run("data.jsonl", f"b{rnd}")
            status = json.loads(r.stdout)
            rate = args.lines / t_pfgit
            rates.append(rate)
            if rnd == 1:
                print(f"flow: {source}; {args.lines} lines, fake server latency {args.latency * 1000:.0f} ms, "
                      f"{args.workers} workers")
            print(f"pfgit run        {t_pfgit:7.2f} s  {rate:6.1f} lines/s  = {rate / ideal:.0%} of {ideal:.0f} "
                  f"(target >= 80%)  status {status['status']}, {status['lines']['failed']} failed")
            more = args.lines - args.workers
            print(f"start-up and recording (a {args.workers}-line run): {t_start:.2f} s, {cpu_start:.2f} s CPU; the other "
                  f"{more} lines: {more / (t_pfgit - t_start):.1f} lines/s = {more / (t_pfgit - t_start) / ideal:.0%} of {ideal:.0f}")
            print(f"ceiling: a plain http.client client ({args.workers} threads, no SDK, no flow) got "
                  f"{ceiling:.1f} requests/s = {ceiling / ideal:.0%} of {ideal:.0f} from the same server; "
                  f"pfgit end to end = {rate / ceiling:.0%} of that, its other lines {more / (t_pfgit - t_start) / ceiling:.0%}")
            print(f"CPU per line: pfgit {client_cpu / args.lines * 1000:.2f} ms (whole process, start and "
                  f"recording included; {(client_cpu - cpu_start) / more * 1000:.2f} ms without them), fake server "
                  f"{server_cpu / args.lines * 1000:.2f} ms; load average {load0:.2f} before, "
                  f"{os.getloadavg()[0]:.2f} after")
        if args.rounds > 1:
            med = sorted(rates)[len(rates) // 2]
            print(f"end to end over {args.rounds} rounds: median {med:.1f} lines/s = {med / ideal:.0%} of {ideal:.0f} "
                  f"(min {min(rates):.1f}, max {max(rates):.1f})")
        t_pfgit = args.lines / sorted(rates)[len(rates) // 2]   # pf is compared with the median round
        if not args.no_pf:
            pf = shutil.which("pf", path=os.path.dirname(py)) or shutil.which("pf")
            pf_home = tmp / "home" / ".promptflow"
            pf_home.mkdir(parents=True, exist_ok=True)
            (pf_home / "pf.yaml").write_text("telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n")
            penv = dict(env, PF_WORKER_COUNT=str(args.workers), PF_HOME_DIRECTORY=str(pf_home))
            sh([pf, "connection", "create", "--file", str(conn)], env=penv)
            t0 = time.perf_counter()
            p = subprocess.run([pf, "run", "create", "--flow", "flow", "--data", "data.jsonl", "--name", "p1"]
                               + mapping, cwd=repo, env=penv, capture_output=True, text=True)
            t_pf = time.perf_counter() - t0
            subprocess.run([pf, "service", "stop"], env=penv, capture_output=True)
            if p.returncode != 0:
                print(p.stderr[-2000:], file=sys.stderr)
                return 1
            print(f"pf run create    {t_pf:7.2f} s  {args.lines / t_pf:6.1f} lines/s  "
                  f"(PF_WORKER_COUNT={args.workers})  pfgit is {t_pf / t_pfgit:.1f}x faster")
    finally:
        server.terminate()
        server.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
