"""Every `--json` output matches its schema in docs/json.md, key for key and type for type.

One small repository is built once for the module and every command with `--json` runs on it
(some twice, to see optional keys); docs/json.md's ```json block under each `### pfgit ...`
heading is the schema (its notation is explained at the top of that page). Commands with a
`--json` option are read from docs/cli.md's options table, which test_newcomer checks against
the CLI itself, so a new `--json` command without a schema fails here.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import tempfile

import pytest

import flows
import pf_runs_gen
import run_flows
from runs_helpers import git

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "json.md"
CLI_DOC = ROOT / "docs" / "cli.md"


# --- the documented schemas ----------------------------------------------------------------------

def parse_doc(text: str) -> tuple:
    """({command: schema}, {"$name": schema}): the first ```json block under each ### heading."""
    commands, shapes = {}, {}
    heading, block = None, None
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line[4:] if line.startswith("### ") else None
        elif line == "```json" and heading:
            block = []
        elif line == "```" and block is not None:
            schema = json.loads("\n".join(block))
            if heading.startswith("`$"):
                shapes[heading.strip("`")] = schema
            for name in re.findall(r"`pfgit ([^`]+)`", heading):
                commands[name] = schema
            heading, block = None, None
        elif block is not None:
            block.append(line)
    return commands, shapes


SCHEMAS, SHAPES = parse_doc(DOC.read_text(encoding="utf-8"))


def _type_ok(value, name: str) -> bool:
    if name == "any":
        return True
    if name == "null":
        return value is None
    if name == "bool":
        return isinstance(value, bool)
    if name == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool) or \
            value in ("NaN", "Infinity", "-Infinity")
    if name == "str":
        return isinstance(value, str)
    if name == "object":
        return isinstance(value, dict)
    raise AssertionError(f"docs/json.md: unknown type {name!r}")


def check(value, schema, where: str = "$") -> list:
    """What in `value` does not match `schema` (empty: it matches)."""
    if isinstance(schema, str):
        errors = []
        for alt in schema.split("|"):
            if alt.startswith("$"):
                if alt not in SHAPES:
                    raise AssertionError(f"docs/json.md: no shape {alt}")
                sub = check(value, SHAPES[alt], where)
                if not sub:
                    return []
                errors += sub
            elif _type_ok(value, alt):
                return []
        return errors or [f"{where}: {json.dumps(value)[:80]} is not {schema}"]
    if isinstance(schema, list):
        if not isinstance(value, list):
            return [f"{where}: not a list"]
        return [e for i, item in enumerate(value) for e in check(item, schema[0], f"{where}[{i}]")]
    if not isinstance(value, dict):
        return [f"{where}: not an object"]
    errors = []
    named = {k.rstrip("?"): k for k in schema if k != "*"}
    for key, doc_key in named.items():
        if key in value:
            errors += check(value[key], schema[doc_key], f"{where}.{key}")
        elif not doc_key.endswith("?"):
            errors.append(f"{where}: documented key {key!r} missing")
    for key in value.keys() - named.keys():
        if "*" in schema:
            errors += check(value[key], schema["*"], f"{where}.{key}")
        else:
            errors.append(f"{where}: key {key!r} is not documented")
    return errors


def json_commands() -> set:
    """The commands docs/cli.md's options table lists with --json."""
    text = CLI_DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- options table: begin -->"):text.index("<!-- options table: end -->")]
    out = set()
    for row in table.splitlines():
        m = re.match(r"\| `pfgit ([a-z -]+?)(?: \[| [A-Z]|`)", row)
        if m and "`--json`" in row:
            out.add(m.group(1).strip())
    return out


# --- the repository and the outputs --------------------------------------------------------------

def _cli(argv: list, cwd: pathlib.Path, codes=(0,)):
    from pfgit.cli.main import main

    old = os.getcwd()
    # real files: `pfgit merge` hands its stdout to git
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        os.chdir(cwd)
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main(argv)
        finally:
            os.chdir(old)
        out.seek(0), err.seek(0)
        text, errors = out.read(), err.read()
    assert code in codes, (argv, code, errors)
    return json.loads(text)


def _build(tmp: pathlib.Path) -> dict:
    outs: dict = {}
    repo = tmp / "repo"
    repo.mkdir()

    def run(key, *argv, codes=(0,)):
        outs.setdefault(key, []).append(_cli([*argv, "--json"], repo, codes))

    git(repo, "init", "-q", "-b", "main")
    flows.write(repo / "flows/acc", flows.ACCURACY)
    flows.write(repo / "flows/shout", run_flows.BASIC)   # fails on the text "boom"
    (repo / ".gitignore").write_text("__pycache__/\n.promptflow/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add acc")
    (tmp / "m1.json").write_text('{"accuracy": 1.0}')
    (tmp / "m2.json").write_text('{"accuracy": 0.5}')
    (tmp / "o1.jsonl").write_text('{"grade": "Correct"}\n{"grade": "Correct"}\n')
    (tmp / "o2.jsonl").write_text('{"grade": "Correct"}\n{"grade": "Incorrect"}\n')
    run("runs record", "runs", "record", "--flow", "flows/acc", "--outputs", str(tmp / "o1.jsonl"),
        "--metrics", str(tmp / "m1.json"), "--name", "r1")
    flow = repo / "flows/acc/flow.dag.yaml"
    flow.write_text(flow.read_text().replace("default: cat\n  prediction", "default: dog\n  prediction"))
    git(repo, "commit", "-q", "-am", "dog by default")
    run("runs record", "runs", "record", "--flow", "flows/acc", "--outputs", str(tmp / "o2.jsonl"),
        "--metrics", str(tmp / "m2.json"), "--name", "r2")

    flows.write(tmp / "broken", {"flow.dag.yaml": "inputs: {}\noutputs:\n  x: {type: string, reference: ${nowhere.output}}\nnodes: []\n"})
    (tmp / "e1.jsonl").write_text('{"grade": "Correct"}\n{"grade": "Correct"}\n')
    (tmp / "e2.jsonl").write_text('{"grade": "Correct"}\n{"grade": "Incorrect"}\n')
    for name, base, outs_file, metrics in (("e1", "r1", "e1.jsonl", "m1.json"), ("e2", "r2", "e2.jsonl", "m2.json")):
        run("runs record", "runs", "record", "--flow", "flows/acc", "--outputs", str(tmp / outs_file),
            "--metrics", str(tmp / metrics), "--name", name, "--run", base, "--commit", "HEAD" if base == "r2" else "HEAD~1")
    run("validate", "validate")
    run("validate", "validate", str(tmp / "broken"), codes=(1,))
    run("diff", "diff", "HEAD~1", "HEAD")
    run("diff", "diff", "--no-index", str(repo / "flows/acc/flow.dag.yaml"), str(tmp / "broken/flow.dag.yaml"))
    run("log", "log", "flows/acc", "--metric", "accuracy")
    run("log --node", "log", "flows/acc", "--node", "grade", "--metric", "accuracy")
    run("log --node", "log", "flows/acc", "--node", "grade")
    run("blame", "blame", "flows/acc")
    run("blame", "blame", "flows/acc", "--node", "grade")
    run("runs list", "runs", "list")
    run("runs list --format pf", "runs", "list", "--format", "pf")
    run("runs show", "runs", "show", "r2")
    run("runs show", "runs", "show", "r2", "--details")
    run("runs show --metrics", "runs", "show", "r2", "--metrics")
    run("runs diff", "runs", "diff", "r1", "r2")
    run("metrics diff", "metrics", "diff", "r1", "r2")
    run("check", "check", "--baseline", "HEAD~1", "--flow", "flows/acc", "--metric", "accuracy",
        "--max-drop", "0.1", "--no-fetch", "--no-run", codes=(1,))
    run("test", "test", "--flow", "flows/acc")
    run("run", "run", "--flow", "flows/acc", "--data", "flows/acc/data.jsonl", "--name", "r3")
    (tmp / "texts.jsonl").write_text('{"text": "hi"}\n{"text": "boom"}\n')
    run("test", "test", "--flow", "flows/shout", "--inputs", "text=boom", codes=(1,))
    run("run", "run", "--flow", "flows/shout", "--data", str(tmp / "texts.jsonl"), "--name", "s1", codes=(1,))
    run("runs rename", "runs", "rename", "r3", "r3b")
    run("bisect", "bisect", "--metric", "accuracy", "--min", "0.9", "--flow", "flows/acc", "HEAD~1", "HEAD")
    run("report", "report", "-o", str(tmp / "report.html"), "--baseline", "HEAD~1")
    run("index rebuild", "index", "rebuild")
    run("index status", "index", "status")

    (repo / "flows/acc/.promptflow").mkdir()
    (repo / "flows/acc/.promptflow/flow.log").write_text("a run artefact\n")
    run("export-zip", "export-zip", "flows/acc", "-o", str(tmp / "acc.zip"))
    run("export-zip", "export-zip", "--run", "r1", "-o", str(tmp / "r1.zip"))
    run("import-zip", "import-zip", str(tmp / "acc.zip"), "--dry-run")
    run("import-zip", "import-zip", str(tmp / "acc.zip"))
    run("checkout-run", "checkout-run", "r1", str(tmp / "checkout"))
    home = pf_runs_gen.materialize(ROOT / "tests/fixtures/pf_runs", tmp / "pfhome")
    run("runs import", "runs", "import", str(home / ".runs" / "batch1"))
    run("runs gc", "runs", "gc", "--unlinked")

    git(tmp, "init", "-q", "--bare", str(tmp / "remote.git"))
    git(repo, "remote", "add", "origin", str(tmp / "remote.git"))
    run("push", "push")
    run("fetch", "fetch")

    (tmp / "conn.yaml").write_text("name: c1\ntype: custom\nconfigs:\n  base: http://x\n"
                                   "secrets:\n  key: '<user-input>'\n")
    (tmp / "openai.yaml").write_text("name: oai\ntype: open_ai\napi_key: '<user-input>'\nbase_url: http://127.0.0.1:9/v1\n")
    run("connection create", "connection", "create", "--file", str(tmp / "conn.yaml"), "--set", "secrets.key=abc")
    run("connection create", "connection", "create", "--file", str(tmp / "openai.yaml"), "--set", "api_key=sk-0123456789")
    run("connection show", "connection", "show", "oai")
    run("connection list", "connection", "list")
    run("connection show", "connection", "show", "c1")
    run("connection delete", "connection", "delete", "c1")
    run("install", "install")

    text = flow.read_text()
    (tmp / "base.yaml").write_text(text)
    for name, (old, new) in {"ours": ("default: dog", "default: cow"), "theirs": ("default: cat", "default: bird"),
                             "clash": ("default: dog", "default: eel")}.items():
        (tmp / f"{name}.yaml").write_text(text.replace(old, new, 1))
    run("merge-file", "merge-file", str(tmp / "ours.yaml"), str(tmp / "base.yaml"), str(tmp / "theirs.yaml"))
    run("merge-file", "merge-file", str(tmp / "ours.yaml"), str(tmp / "base.yaml"), str(tmp / "clash.yaml"), codes=(1,))

    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "install")
    git(repo, "checkout", "-q", "-b", "side")
    flow.write_text(text.replace("default: dog", "default: cow"))
    git(repo, "commit", "-q", "-am", "cow")
    git(repo, "checkout", "-q", "main")
    flow.write_text(text.replace("default: dog", "default: eel"))
    git(repo, "commit", "-q", "-am", "eel")
    run("merge", "merge", "side", codes=(1,))
    run("conflicts", "conflicts", codes=(1,))
    return outs


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:  # what tests/conftest.py's _hermetic_env sets per test
        mp.setenv("HOME", str(tmp_path_factory.mktemp("home")))
        for k, v in {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
                     "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com",
                     "PF_DISABLE_TELEMETRY": "true", "NO_COLOR": "1"}.items():
            mp.setenv(k, v)
        mp.delenv("PFGIT_DEBUG", raising=False)
        mp.delenv("XDG_CONFIG_HOME", raising=False)
        yield _build(tmp_path_factory.mktemp("json"))


# --- the tests -----------------------------------------------------------------------------------

def test_every_command_with_json_has_a_schema():
    documented = {name.split(" --")[0] for name in SCHEMAS}
    assert json_commands() - documented == set(), "add a section to docs/json.md"
    assert documented - json_commands() == set(), "docs/json.md documents a command without --json"


@pytest.mark.parametrize("command", sorted(SCHEMAS))
def test_output_matches_the_documented_schema(outputs, command):
    samples = outputs.get(command)
    assert samples, f"the test runs no `pfgit {command} --json`: add it to _build"
    for sample in samples:
        assert check(sample, SCHEMAS[command]) == []


def test_the_check_finds_missing_extra_and_mistyped_keys():
    schema = {"a": "int", "b?": ["str|null"], "m": {"*": "number"}}
    assert check({"a": 1, "m": {"x": 0.5}}, schema) == []
    assert check({"a": 1, "b": ["s", None], "m": {}, "c": 0}, schema) == ["$: key 'c' is not documented"]
    assert check({"m": {"x": "no"}}, schema) == ["$: documented key 'a' missing",
                                                 '$.m.x: "no" is not number']
    assert check({"a": True, "b": [1], "m": {}}, schema) == ["$.a: true is not int", "$.b[0]: 1 is not str|null"]
    assert check({"o": {"x": 1}}, {"o": "object|null"}) == [] == check({"o": None}, {"o": "object|null"})
    assert check({"o": []}, {"o": "object|null"}) == ["$.o: [] is not object|null"]
