"""Runs in a child process with promptflow installed (pfgit.run.engine.promptflow starts it with a
temporary HOME and PF_HOME_DIRECTORY): creates the job's connections in that throw-away promptflow
home, runs the flow with PFClient, and writes {"run": name, "folder": ..., "status": ...} to the
result file. Imports nothing of pfgit, so it works whatever the child's sys.path is."""

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


def main(job_path: str) -> int:
    with open(job_path, encoding="utf-8") as f:
        job = json.load(f)
    os.unlink(job_path)  # it holds connection secrets: gone as soon as read
    from promptflow.client import PFClient

    pf = PFClient()
    for c in job.get("connections", []):
        pf.connections.create_or_update(_connection(c))
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
