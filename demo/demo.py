"""`make demo`: build an example git repo in a temporary folder and show each pfgit capability.

Every capability adds a step module `demo/step_<name>.py` with `run(demo)`; steps run in STEPS order
on the same repo. Commands are printed and run as a user would type them.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
STEPS = ["validate", "diff", "merge", "runs", "history", "studio", "check"]

FLOW_DAG = """\
$schema: https://azuremlschemas.azureedge.net/promptflow/latest/Flow.schema.json
inputs:
  question:
    type: string
    default: What is the capital of France?
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: clean_question
  type: python
  source:
    type: code
    path: clean_question.py
  inputs:
    question: ${inputs.question}
- name: build_prompt
  type: prompt
  source:
    type: code
    path: build_prompt.jinja2
  inputs:
    question: ${clean_question.output}
- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    prompt: ${build_prompt.output}
    style: short
"""

FILES = {
    "qa/flow.dag.yaml": FLOW_DAG,
    "qa/clean_question.py": (
        "from promptflow.core import tool\n\n\n@tool\n"
        "def clean_question(question: str) -> str:\n    return \" \".join(question.split())\n"),
    "qa/build_prompt.jinja2": "# system:\nYou answer in one word.\n\n# user:\n{{ question }}\n",
    "qa/answer.py": (
        "from promptflow.core import tool\n\n\n@tool\n"
        "def answer(prompt: str, style: str = \"short\") -> str:\n"
        "    return prompt.splitlines()[-1].split()[-1].strip(\"?\") if prompt else \"\"\n"),
    "qa/requirements.txt": "promptflow\n",
}


class Demo:
    def __init__(self, root: str):
        self.root = root
        self.repo = os.path.join(root, "repo")
        self.env = dict(os.environ)
        bindir = os.path.dirname(sys.executable)
        self.env["PATH"] = bindir + os.pathsep + self.env.get("PATH", "")
        self.env.update({"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
                         "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com",
                         "NO_COLOR": "1", "PF_DISABLE_TELEMETRY": "true"})

    def title(self, text: str) -> None:
        print(f"\n\033[1m== {text} ==\033[0m" if sys.stdout.isatty() else f"\n== {text} ==", flush=True)

    def sh(self, cmd: str, check_codes=(0,), cwd: str | None = None) -> subprocess.CompletedProcess:
        """Run a shell command in the repo, echoing it and its output like a terminal session."""
        print(f"$ {cmd}", flush=True)
        p = subprocess.run(cmd, shell=True, cwd=cwd or self.repo, env=self.env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if p.stdout:
            print(p.stdout.rstrip("\n"), flush=True)
        if p.returncode not in check_codes:
            print(f"(exit {p.returncode}; expected {' or '.join(map(str, check_codes))})")
            raise SystemExit(1)
        if p.returncode:
            print(f"(exit {p.returncode})")
        return p

    def write(self, rel: str, text: str) -> None:
        path = os.path.join(self.repo, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    def read(self, rel: str) -> str:
        with open(os.path.join(self.repo, rel), encoding="utf-8") as f:
            return f.read()


def main() -> int:
    keep = os.environ.get("PFGIT_DEMO_DIR")
    root = keep or tempfile.mkdtemp(prefix="pfgit-demo-")
    if keep:
        shutil.rmtree(keep, ignore_errors=True)
        os.makedirs(keep)
    demo = Demo(root)
    os.makedirs(demo.repo)
    demo.title(f"An example repo with one Prompt flow, in {demo.repo}")
    demo.sh("git init -q -b main .")
    for rel, text in FILES.items():
        demo.write(rel, text)
    demo.sh("git add -A && git commit -q -m 'Add the qa flow' && git log --oneline")
    for name in STEPS:
        path = os.path.join(HERE, f"step_{name}.py")
        if not os.path.exists(path):
            continue
        spec = importlib.util.spec_from_file_location(f"step_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.run(demo)
    print(f"\nDemo finished. The example repo is in {demo.repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
