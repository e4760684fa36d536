"""Flows the runner tests write themselves (python-only, prompt, activate, aggregation, variants,
flex, prompty), and a repo to run them in."""

from __future__ import annotations

import json
import pathlib
import subprocess

BASIC = {
    "flow.dag.yaml": """\
inputs:
  text: {type: string}
  n: {type: int, default: 2}
outputs:
  shout: {type: string, reference: "${upper.output}"}
  joined: {type: string, reference: "${repeat.output}"}
nodes:
- name: upper
  type: python
  source: {type: code, path: upper.py}
  inputs: {s: "${inputs.text}"}
- name: repeat
  type: python
  source: {type: code, path: repeat.py}
  inputs: {s: "${upper.output}", n: "${inputs.n}"}
- name: agg
  type: python
  source: {type: code, path: agg.py}
  inputs: {items: "${repeat.output}", texts: "${inputs.text}"}
  aggregation: true
""",
    "upper.py": """\
from promptflow.core import tool


@tool
def upper(s: str) -> str:
    if s == "boom":
        raise ValueError("boom!")
    return s.upper()
""",
    "repeat.py": """\
from promptflow import tool
from helper import sep


@tool
def repeat(s: str, n: int) -> str:
    return sep().join([s] * n)
""",
    "helper.py": "def sep():\n    return ' '\n",
    "agg.py": """\
from typing import List

from promptflow.core import log_metric, tool


@tool
def agg(items: List[str], texts: list):
    log_metric("total_len", sum(len(i) for i in items))
    log_metric("n_lines", len(items))
    log_metric("texts", ",".join(texts))
    return items
""",
}

# activate + bypass propagation (promptflow-runner.md §2), literal conversion, property paths
ACTIVATE = {
    "flow.dag.yaml": """\
inputs:
  q: {type: string}
outputs:
  answer: {type: string, reference: "${final.output}"}
  check: {type: object, reference: "${check.output}"}
  first: {type: string, reference: "${check.output.tags[0]}"}
  skipped: {type: string, reference: "${safe_only.output}"}
nodes:
- name: check
  type: python
  source: {type: code, path: check.py}
  inputs: {q: "${inputs.q}", limit: '5'}
- name: safe_only
  type: python
  source: {type: code, path: echo.py}
  inputs: {x: "${inputs.q}"}
  activate: {when: "${check.output.safe}", is: true}
- name: unsafe_only
  type: python
  source: {type: code, path: echo.py}
  inputs: {x: "refused"}
  activate: {when: "${check.output.safe}", is: false}
- name: down
  type: python
  source: {type: code, path: echo.py}
  inputs: {x: "${safe_only.output}"}
- name: final
  type: python
  source: {type: code, path: pick.py}
  inputs: {a: "${down.output}", b: "${unsafe_only.output}"}
""",
    "check.py": """\
from promptflow.core import tool


@tool
def check(q: str, limit: int) -> dict:
    assert isinstance(limit, int)
    return {"safe": len(q) <= limit, "tags": [q[:1], "x"]}
""",
    "echo.py": """\
from promptflow.core import tool


@tool
def echo(x: str) -> str:
    return f"<{x}>"
""",
    "pick.py": """\
from promptflow.core import tool


@tool
def pick(a: str = "ADEF", b: str = None) -> str:
    return f"{a}|{b}"
""",
}

PROMPT = {
    "flow.dag.yaml": """\
inputs:
  who: {type: string}
  items: {type: list}
outputs:
  text: {type: string, reference: "${render.output}"}
nodes:
- name: render
  type: prompt
  source: {type: code, path: hello.jinja2}
  inputs: {who: "${inputs.who}", items: "${inputs.items}", missing_ok: ""}
""",
    "hello.jinja2": "Hello {{who}}!\n{% for i in items %}\n- {{i}}\n{% endfor %}\n{{nothing}}end\n",
}

VARIANTS = {
    "flow.dag.yaml": """\
inputs:
  x: {type: string}
outputs:
  out: {type: string, reference: "${fmt.output}"}
nodes:
- name: fmt
  use_variants: true
node_variants:
  fmt:
    default_variant_id: variant_0
    variants:
      variant_0:
        node: {type: python, source: {type: code, path: fmt.py}, inputs: {x: "${inputs.x}", style: plain}}
      variant_1:
        node: {type: python, source: {type: code, path: fmt.py}, inputs: {x: "${inputs.x}", style: loud}}
""",
    "fmt.py": """\
from promptflow.core import tool


@tool
def fmt(x: str, style: str) -> str:
    return x.upper() + "!" if style == "loud" else x
""",
}

EVAL = {
    "flow.dag.yaml": """\
inputs:
  prediction: {type: string}
  groundtruth: {type: string}
outputs:
  grade: {type: string, reference: "${grade.output}"}
nodes:
- name: grade
  type: python
  source: {type: code, path: grade.py}
  inputs: {prediction: "${inputs.prediction}", groundtruth: "${inputs.groundtruth}"}
- name: accuracy
  type: python
  source: {type: code, path: accuracy.py}
  inputs: {grades: "${grade.output}"}
  aggregation: true
""",
    "grade.py": """\
from promptflow.core import tool


@tool
def grade(prediction: str, groundtruth: str) -> str:
    return "Correct" if prediction.lower() == groundtruth.lower() else "Incorrect"
""",
    "accuracy.py": """\
from promptflow.core import log_metric, tool


@tool
def accuracy(grades: list):
    log_metric("accuracy", round(grades.count("Correct") / len(grades), 2) if grades else 0.0)
    log_metric("graded", len(grades))
""",
}

FLEX_FUNC = {
    "flow.flex.yaml": "entry: entry:shout\nsample:\n  inputs:\n    text: sample\n",
    "entry.py": """\
from dataclasses import dataclass


@dataclass
class Result:
    upper: str
    n: int


def shout(text: str, n: int = 2) -> Result:
    return Result(text.upper(), n * 10)
""",
}

FLEX_CLASS = {
    "flow.flex.yaml": "entry: counter:Counter\ninit:\n  prefix: {type: string}\n",
    "counter.py": """\
class Counter:
    def __init__(self, prefix: str):
        self.prefix = prefix

    def __call__(self, word: str) -> dict:
        return {"tagged": self.prefix + word, "len": len(word)}

    def __aggregate__(self, outputs: list) -> dict:
        return {"n": len(outputs), "total_len": sum(o.len for o in outputs)}
""",
}


def write_flow(root: pathlib.Path, files: dict) -> pathlib.Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


def write_jsonl(path: pathlib.Path, rows: list) -> pathlib.Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def git(repo, *args) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE).stdout.strip()


def make_repo(tmp_path: pathlib.Path, flows: dict) -> pathlib.Path:
    """A git repo with each flow (folder name -> files) committed."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for name, files in flows.items():
        write_flow(repo / name, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "flows")
    return repo


def files_under(root: pathlib.Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def quiet_console():
    """A run Console that keeps its notes in `.lines` instead of printing them."""
    from pfgit.run.batch import Console

    class Quiet(Console):
        def __init__(self):
            super().__init__(quiet=False)
            self.lines = []

        def note(self, msg):
            self.lines.append(msg)

    return Quiet()

