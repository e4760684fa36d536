"""Runs in a child process with promptflow installed (pfgit.run.engine.promptflow starts it with a
temporary HOME and PF_HOME_DIRECTORY): creates the job's connections in that throw-away promptflow
home, runs the flow with PFClient, and writes {"run": name, "folder": ..., "status": ...} to the
result file; with "mode": "test", tests one line (or node) as `pf flow test` does and writes its
outputs, error, node runs and metrics. Imports nothing of pfgit, so it works whatever the child's sys.path is."""

import json
import os
import sys


def _connection(spec: dict):
    from promptflow.connections import (AzureOpenAIConnection, CustomConnection, OpenAIConnection,
                                        SerpConnection)

    t = spec.get("type")
    fields = {k: v for k, v in spec.items() if k not in ("type", "name", "module")}
    if t == "custom":
        return CustomConnection(name=spec["name"], configs=fields.get("configs") or {},
                                secrets=fields.get("secrets") or {})
    cls = {"open_ai": OpenAIConnection, "azure_open_ai": AzureOpenAIConnection, "serp": SerpConnection}.get(t)
    if cls is None:
        import promptflow.connections as pc

        name = "".join(p.capitalize() for p in t.split("_")).replace("Openai", "OpenAI") + "Connection"
        cls = getattr(pc, name)
    return cls(name=spec["name"], **fields)


def _jsonable(v):   # testline._jsonable's twin: this file imports nothing of pfgit
    try:
        json.dumps(v)
        return v
    except (TypeError, ValueError):
        return str(v) if isinstance(v, str) else repr(v)


def _node(name, info) -> dict:
    took = (info.end_time - info.start_time).total_seconds() if info.end_time and info.start_time else 0.0
    return {"node": name, "status": getattr(info.status, "value", str(info.status)), "duration": took,
            "output": _jsonable(info.output), "error": info.error}


def _test(pf, job: dict) -> dict:
    """pf flow test of one line (or one node): what the parent turns into pfgit test's result."""
    node = job.get("node")
    try:
        res = pf.flows._test(flow=job["flow"], inputs=job.get("inputs") or {}, variant=job.get("variant"),
                             node=node, environment_variables=job.get("environment_variables"),
                             init=job.get("init"), stream_log=False, stream_output=False,
                             allow_generator_output=False)
    except Exception as e:  # the flow cannot be tested (bad flow, unknown node, ...)
        return {"fatal": f"{type(e).__name__}: {e}"}
    if node:                # a RunInfo of that node
        rec = _node(node, res)
        return {"status": rec["status"], "outputs": {node: rec["output"]}, "error": res.error,
                "nodes": [rec], "metrics": {}}
    info = res.run_info
    aggs = set()
    try:
        import yaml

        with open(os.path.join(job["flow"], "flow.dag.yaml") if os.path.isdir(job["flow"]) else job["flow"]) as f:
            flow = yaml.safe_load(f) or {}
        names = [n.get("name") for n in flow.get("nodes") or [] if isinstance(n, dict)]
        aggs = {n.get("name") for n in flow.get("nodes") or [] if isinstance(n, dict) and n.get("aggregation")}
    except Exception:
        names = []
    order = {n: i for i, n in enumerate(names)}
    runs = sorted(res.node_run_infos.items(), key=lambda kv: order.get(kv[0], len(order)))
    error = info.error
    for name, ni in runs:   # an aggregation failure: the line's error, as pfgit's engine reports it
        if name in aggs and ni.error and error is None:
            error = ni.error
    return {"status": getattr(info.status, "value", str(info.status)), "outputs": _jsonable(res.output),
            "error": error, "metrics": _jsonable(info.metrics or {}),
            "nodes": [_node(n, ni) for n, ni in runs if n not in aggs]}


def main(job_path: str) -> int:
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    os.unlink(job_path)  # it holds connection secrets: gone as soon as read
    from promptflow.client import PFClient

    pf = PFClient()
    for c in job.get("connections", []):
        pf.connections.create_or_update(_connection(c))
    if job.get("mode") == "test":
        with open(job["result"], "w", encoding="utf-8") as f:
            json.dump(_test(pf, job), f, default=repr)
        return 0
    out = {"run": job["name"]}
    try:
        run = pf.run(flow=job["flow"], data=job.get("data"), column_mapping=job.get("column_mapping") or None,
                     variant=job.get("variant"), connections=job.get("connections_override") or None,
                     environment_variables=job.get("environment_variables") or None,
                     name=job["name"], display_name=job.get("display_name"), tags=job.get("tags") or None,
                     init=job.get("init"), stream=False)
        out.update(status=run.status, folder=str(run._output_path))
    except Exception as e:  # a run-level failure: the parent reports it
        out.update(status="Failed", error=f"{type(e).__name__}: {e}")
    with open(job["result"], "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
