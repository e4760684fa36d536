"""Demo step: runs recorded as git commits next to the flow's history, then `pfgit runs list`,
`pfgit log --metric accuracy` and `pfgit metrics diff`.

The runs are made by a tiny python loop that executes the qa flow's own python and jinja2 nodes
(pfgit's own runner comes later; any tool's outputs can be recorded with `pfgit runs record`)."""

from __future__ import annotations

import json
import os

QUESTIONS = [
    {"question": "What is the capital of France?", "expected": "Paris"},
    {"question": "What is the capital of  Japan?", "expected": "Tokyo"},
    {"question": "What is the capital of Italy?", "expected": "Rome"},
    {"question": "What is the capital of Canada?", "expected": "Ottawa"},
]

# Runs the qa flow's nodes in order (clean_question -> build_prompt -> answer) for each line.
RUNNER = '''
import importlib.util, json, sys, types
flow, data, out_path, metrics_path = sys.argv[1:5]
core = types.ModuleType("promptflow.core"); core.tool = lambda f: f   # no promptflow import needed
sys.modules.setdefault("promptflow", types.ModuleType("promptflow")); sys.modules["promptflow.core"] = core
def load(name):
    spec = importlib.util.spec_from_file_location(name, f"{flow}/{name}.py")
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod); return getattr(mod, name)
import jinja2
template = jinja2.Template(open(f"{flow}/build_prompt.jinja2").read())
clean, answer = load("clean_question"), load("answer")
correct = n = 0
with open(out_path, "w") as out:
    for i, line in enumerate(open(data)):
        row = json.loads(line)
        a = answer(prompt=template.render(question=clean(question=row["question"])), style="short")
        out.write(json.dumps({"answer": a, "line_number": i}) + "\\n")
        correct += a == row["expected"]; n += 1
json.dump({"accuracy": round(correct / n, 2), "lines": n}, open(metrics_path, "w"))
print(f"ran {n} lines: accuracy {correct / n:.2f}")
'''

BETTER_ANSWER = '''from promptflow.core import tool

CAPITALS = {"France": "Paris", "Japan": "Tokyo", "Italy": "Rome", "Spain": "Madrid"}


@tool
def answer(prompt: str, style: str = "short") -> str:
    country = prompt.splitlines()[-1].split()[-1].strip("?") if prompt else ""
    return CAPITALS.get(country, country)
'''


def run(demo) -> None:
    root = demo.root
    with open(os.path.join(root, "questions.jsonl"), "w", encoding="utf-8") as f:
        f.write("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    with open(os.path.join(root, "run_qa.py"), "w", encoding="utf-8") as f:
        f.write(RUNNER)

    demo.title("Run history: every run is a git commit linked to the flow's commit")
    if demo.sh("git status --porcelain").stdout.strip():
        demo.sh("git add -A && git commit -q -m 'Keep the edits of the previous steps' && echo committed")
    demo.sh("python ../run_qa.py qa ../questions.jsonl ../out1.jsonl ../metrics1.json")
    demo.sh("pfgit runs record --flow qa --data ../questions.jsonl --outputs ../out1.jsonl "
            "--metrics ../metrics1.json --name qa-v1 --column-mapping 'question=${data.question}'")

    print("\nimprove the answer node and commit, then run again", flush=True)
    demo.write("qa/answer.py", BETTER_ANSWER)
    demo.sh("git commit -q -am 'Answer from a table of capitals' && git log --oneline -1")
    demo.sh("python ../run_qa.py qa ../questions.jsonl ../out2.jsonl ../metrics2.json")
    demo.sh("pfgit runs record --flow qa --data ../questions.jsonl --outputs ../out2.jsonl "
            "--metrics ../metrics2.json --name qa-v2 --column-mapping 'question=${data.question}'")

    demo.title("Runs, the flow's history with its metrics, and a metrics diff")
    demo.sh("pfgit runs list")
    demo.sh("pfgit log qa --metric accuracy")
    demo.sh("pfgit metrics diff qa-v1 qa-v2")
    demo.sh("pfgit metrics diff HEAD~1 HEAD --markdown")
    demo.sh("pfgit runs show qa-v2 --details")

    demo.title("Under the hood: a run is a commit on top of the flow's commit, under refs/pfgit/runs/")
    demo.sh("git --no-pager log --oneline --format='%h %s' -2 refs/pfgit/runs/qa-v2")
    demo.sh("git ls-tree --name-only refs/pfgit/runs/qa-v2")
    demo.sh("git show refs/pfgit/runs/qa-v2:run.json | head -n 12")

    demo.title("Share runs between clones: pfgit push / pfgit fetch (refs/pfgit/*, docs/runs.md)")
    mate = os.path.join(root, "teammate")
    print("a teammate clones the repo: git clone brings the branches, not the runs", flush=True)
    demo.sh(f"git clone -q {demo.repo} {mate} && cd {mate} && pfgit runs list", cwd=root)
    demo.sh("pfgit fetch && pfgit runs list", cwd=mate)
    print("\nthe teammate runs the flow, records the run and pushes it back", flush=True)
    demo.sh("python ../run_qa.py qa ../questions.jsonl ../out3.jsonl ../metrics3.json && "
            "pfgit runs record --flow qa --data ../questions.jsonl --outputs ../out3.jsonl "
            "--metrics ../metrics3.json --name qa-v2-teammate && pfgit push", cwd=mate)
    demo.sh("pfgit log qa --metric accuracy -n 1")
