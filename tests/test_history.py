"""pfgit.history: `pfgit blame` and `pfgit log --node` on histories the tests write, and on the
real edit histories of the corpus (checked against a brute-force replay)."""

from __future__ import annotations

import json
import subprocess

import pytest

from history_helpers import corpus_commits, fast_import
from pfgit.diff.match import apply_renames, canon, match_nodes, node_map
from pfgit.errors import UsageError
from pfgit.git.repo import open_repo
from pfgit.history.command import blame, log_node
from runs_helpers import git, run_cli

FLOW = """inputs:
  question:
    type: string
    default: What is the capital of France?
outputs:
  answer:
    type: string
    reference: ${answer.output}
nodes:
- name: build_prompt
  type: prompt
  source:
    type: code
    path: build_prompt.jinja2
  inputs:
    question: ${inputs.question}
- name: answer
  type: python
  source:
    type: code
    path: answer.py
  inputs:
    prompt: ${build_prompt.output}
    temperature: 0.2
"""
PROMPT = "# system:\nYou answer in one word.\nBe precise.\n\n# user:\n{{ question }}\n"
ANSWER = "def answer(prompt, temperature):\n    return prompt.split()[-1]\n"
# the same flow as another editor saves it: 4-space indents, keys in another order
REFORMATTED = """outputs:
    answer: {reference: '${answer.output}', type: string}
inputs:
    question:
        default: "What is the capital of France?"
        type: string
nodes:
    -   inputs: {question: '${inputs.question}'}
        name: build_prompt
        source: {path: build_prompt.jinja2, type: code}
        type: prompt
    -   name: answer
        type: python
        source: {type: code, path: answer.py}
        inputs: {prompt: '${build_prompt.output}', temperature: 0.7}
"""


def _edit(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def qa_history() -> list:
    f2 = _edit(FLOW, "temperature: 0.2", "temperature: 0.7")
    p4 = _edit(PROMPT, "You answer in one word.\nBe precise.\n", "You answer briefly.\nBe exact.\nCite.\n")
    f5 = _edit(_edit(_edit(f2, "- name: build_prompt", "- name: make_prompt"),
                     "path: build_prompt.jinja2", "path: make_prompt.jinja2"),
               "${build_prompt.output}", "${make_prompt.output}")
    p6 = p4.replace("# user:", "  # user:  ")
    p7 = _edit(p6, "Cite.", "Cite a source.")
    return [
        {"files": {"qa/flow.dag.yaml": FLOW.encode(), "qa/build_prompt.jinja2": PROMPT.encode(),
                   "qa/answer.py": ANSWER.encode()}, "msg": "add qa", "author": "Ada <ada@x>"},
        {"files": {"qa/flow.dag.yaml": f2.encode()}, "msg": "warmer answers", "author": "Bob <bob@x>"},
        {"files": {"qa/flow.dag.yaml": REFORMATTED.encode()}, "msg": "editor reformat", "author": "Cy <cy@x>"},
        {"files": {"qa/build_prompt.jinja2": p4.encode()}, "msg": "new system prompt", "author": "Dee <dee@x>"},
        {"files": {"qa/flow.dag.yaml": f5.encode(), "qa/build_prompt.jinja2": None,
                   "qa/make_prompt.jinja2": p4.encode()}, "msg": "rename build_prompt", "author": "Eve <eve@x>"},
        {"files": {"qa/make_prompt.jinja2": p6.encode()}, "msg": "whitespace", "author": "Fay <fay@x>"},
        {"files": {"qa/make_prompt.jinja2": p7.encode()}, "msg": "cite a source", "author": "Gus <gus@x>"},
    ]


@pytest.fixture
def qa(tmp_path):
    repo = tmp_path / "repo"
    shas = fast_import(repo, qa_history())
    return repo, shas


def by_field(res: dict) -> dict:
    return {f["field"]: f for f in res["fields"]}


def test_blame_fields_skip_reformats_and_follow_renames(qa):
    repo, shas = qa
    res = blame(open_repo(str(repo)), str(repo / "qa"))
    f = by_field(res)
    assert f["nodes.answer.inputs.temperature"]["commit"] == shas[1]
    assert f["nodes.answer.inputs.temperature"]["author"] == "Bob"
    # the rename rewrote this reference: part of the rename, not an edit of answer
    assert f["nodes.answer.inputs.prompt"]["commit"] == shas[0]
    assert f["nodes.make_prompt.type"]["commit"] == shas[0]
    assert f["nodes.make_prompt.type"]["renamed_from"] == "nodes.build_prompt.type"
    assert f["nodes.make_prompt.source"]["commit"] == shas[4]
    assert f["nodes.make_prompt.prompt"]["commit"] == shas[6]
    assert f["nodes.answer.code"]["commit"] == shas[0]
    assert f["inputs.question.default"]["commit"] == shas[0]
    blamed = {r["commit"] for r in res["fields"]}
    assert shas[2] not in blamed and shas[5] not in blamed  # reformat, whitespace
    assert res["history_stops"] is None


def test_blame_lines_through_node_and_file_renames(qa):
    repo, shas = qa
    res = blame(open_repo(str(repo)), str(repo / "qa"), node="make_prompt")
    (src,) = res["sources"]
    assert src["file"] == "qa/make_prompt.jinja2" and src["field"] == "nodes.make_prompt.prompt"
    got = [(ln["text"], shas.index(ln["commit"])) for ln in src["lines"]]
    assert got == [("# system:", 0), ("You answer briefly.", 3), ("Be exact.", 3),
                   ("Cite a source.", 6), ("", 0), ("  # user:  ", 0), ("{{ question }}", 0)]
    first = src["lines"][0]
    assert first["orig_file"] == "qa/build_prompt.jinja2" and first["orig_line"] == 1


def test_blame_of_a_source_file_path_picks_its_node(qa, monkeypatch, capsys):
    repo, shas = qa
    code, out, err = run_cli(monkeypatch, capsys, repo, "blame", "qa/make_prompt.jinja2")
    assert code == 0, err
    assert "nodes.make_prompt.prompt (qa/make_prompt.jinja2)" in out
    cite = next(ln for ln in out.splitlines() if ln.endswith("Cite a source."))
    assert cite.startswith(shas[6][:8]) and "(Gus " in cite


def test_log_node_one_line_summaries(qa):
    repo, shas = qa
    res = log_node(open_repo(str(repo)), str(repo / "qa"), "make_prompt")
    got = [(shas.index(e["commit"]), e["node"], e["text"]) for e in res["commits"]]
    assert got == [
        (6, "make_prompt", "prompt: 1 line changed"),
        (4, "make_prompt", "renamed from build_prompt; source.path build_prompt.jinja2 -> make_prompt.jinja2"),
        (3, "build_prompt", "prompt: 3 lines changed"),
        (0, "build_prompt", "node added"),
    ]
    assert res["formatting_only"] == 1
    ans = log_node(open_repo(str(repo)), str(repo / "qa"), "answer")
    assert [e["text"] for e in ans["commits"]] == ["inputs.temperature 0.2 -> 0.7", "node added"]


def test_log_node_cli_text_markdown_json(qa, monkeypatch, capsys):
    repo, shas = qa
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "answer")
    assert code == 0, err
    assert out.splitlines()[0] == "node answer of flow qa: 2 commits changed it (1 formatting-only commit skipped)"
    assert "    inputs.temperature 0.2 -> 0.7" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "answer", "--markdown")
    assert "| `" + shas[1][:8] + "` |" in out and "1 formatting-only commit skipped." in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "--node=answer", "-n", "1", "--json")
    data = json.loads(out)
    assert [e["commit"] for e in data["commits"]] == [shas[1]]
    assert data["commits"][0]["changes"] == [{"op": "change", "path": ["nodes", "answer", "inputs", "temperature"],
                                              "old": "0.2", "new": "0.7"}]
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--markdown")
    assert code == 2 and "go with --node" in err


def test_unknown_node_says_where_it_went(qa, monkeypatch, capsys):
    repo, shas = qa
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "build_prompt")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"no node 'build_prompt' in flow qa; it was renamed to 'make_prompt' in {shas[4][:8]}" in err
    code, out, err = run_cli(monkeypatch, capsys, repo, "blame", "qa", "--node", "make_promt")
    assert code == 2 and "did you mean 'make_prompt'?" in err


def test_path_without_flow_is_exit_2(qa, monkeypatch, capsys):
    repo, _ = qa
    (repo / "docs").mkdir()
    code, out, err = run_cli(monkeypatch, capsys, repo, "blame", "docs")
    assert code == 2 and err.startswith("pfgit: docs: no flow here")
    code, out, err = run_cli(monkeypatch, capsys, repo, "blame", "qa", "--json", "--porcelain")
    assert code == 2 and "choose one" in err


def test_flow_moved_to_another_folder_is_followed(qa):
    repo, shas = qa
    git(repo, "mv", "qa", "flows")
    git(repo, "commit", "-q", "-m", "move the flow")
    res = blame(open_repo(str(repo)), str(repo / "flows"))
    f = by_field(res)
    assert f["nodes.answer.inputs.temperature"]["commit"] == shas[1]
    assert f["nodes.make_prompt.prompt"]["commit"] == shas[6]
    log = log_node(open_repo(str(repo)), str(repo / "flows"), "answer")
    assert [(e["commit"], e["flow"]) for e in log["commits"]] == [(shas[1], "qa"), (shas[0], "qa")]
    lines = blame(open_repo(str(repo)), str(repo / "flows"), node="make_prompt")["sources"][0]["lines"]
    assert lines[0]["orig_file"] == "qa/build_prompt.jinja2" and lines[0]["commit"] == shas[0]


def test_merge_first_parent_by_default_all_parents_on_request(qa):
    repo, shas = qa
    git(repo, "checkout", "-q", "-b", "side", shas[1])
    side_flow = (repo / "qa/flow.dag.yaml").read_text().replace("temperature: 0.7", "temperature: 0.7\n    style: short")
    (repo / "qa/flow.dag.yaml").write_text(side_flow)
    git(repo, "commit", "-q", "-am", "side: add style")
    side = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "main")
    # resolve the merge by hand: main's flow plus the new input
    git(repo, "merge", "-q", "--no-commit", "-s", "ours", "side")
    flow = (repo / "qa/flow.dag.yaml").read_text().replace("temperature: 0.7", "temperature: 0.7\n    style: short")
    (repo / "qa/flow.dag.yaml").write_text(flow)
    git(repo, "commit", "-q", "-am", "merge side")
    merge = git(repo, "rev-parse", "HEAD")
    r = open_repo(str(repo))
    assert by_field(blame(r, str(repo / "qa")))["nodes.answer.inputs.style"]["commit"] == merge
    every = by_field(blame(r, str(repo / "qa"), all_parents=True))
    assert every["nodes.answer.inputs.style"]["commit"] == side
    assert every["nodes.answer.inputs.temperature"]["commit"] == shas[1]
    log = log_node(r, str(repo / "qa"), "answer", all_parents=True)
    assert [e["commit"] for e in log["commits"]] == [side, shas[1], shas[0]]
    assert [e["commit"] for e in log_node(r, str(repo / "qa"), "answer")["commits"]] == [merge, shas[1], shas[0]]


def test_shallow_clone_says_where_history_stops(qa, tmp_path, monkeypatch, capsys):
    repo, shas = qa
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{repo}", str(clone)], check=True)
    res = blame(open_repo(str(clone)), str(clone / "qa"))
    f = by_field(res)
    assert f["nodes.make_prompt.prompt"]["commit"] == shas[6] and not f["nodes.make_prompt.prompt"]["boundary"]
    assert f["nodes.answer.inputs.temperature"]["commit"] == shas[4]
    assert f["nodes.answer.inputs.temperature"]["boundary"]
    assert res["history_stops"] == {"commit": shas[4], "reason": "shallow"}
    code, out, _ = run_cli(monkeypatch, capsys, clone, "blame", "qa")
    assert f"history stops at {shas[4][:8]} (shallow clone)" in out and f"^{shas[4][:8]}" in out
    code, out, _ = run_cli(monkeypatch, capsys, clone, "log", "qa", "--node", "answer")
    assert code == 0 and f"history stops at {shas[4][:8]} (shallow clone)" in out


def test_second_call_reads_the_cache_and_rebuild_drops_it(qa):
    from pfgit.history.blame import blame_fields
    from pfgit.history.walk import FlowHistory
    from pfgit.index.db import open_index, rebuild

    repo, shas = qa
    r = open_repo(str(repo))

    def run():
        idx = open_index(r, refresh=False)
        try:
            h = FlowHistory(r, idx.conn)
            st = h.step(shas[-1], "qa")
            h.prefetch(st)
            res = blame_fields(h, st)
            h.flush()
            return res, h.computed
        finally:
            idx.close()

    first, n1 = run()
    second, n2 = run()
    assert n1 >= 5 and n2 == 0 and first == second
    (repo / "qa/answer.py").write_text(ANSWER + "# tuned\n")
    git(repo, "commit", "-q", "-am", "one more")
    shas.append(git(repo, "rev-parse", "HEAD"))
    r = open_repo(str(repo))
    fourth, n4 = run()
    assert n4 == 1 and next(f for f in fourth if f["field"] == "nodes.answer.code")["commit"] == shas[-1]
    shas.pop()
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    r = open_repo(str(repo))
    rebuild(r)
    third, n3 = run()
    assert n3 == n1 and third == first


def test_log_node_metrics_before_and_after(qa, monkeypatch, capsys):
    from pfgit.store.snapshot import record_run

    repo, shas = qa
    r = open_repo(str(repo))
    for name, sha, acc in [("r0", shas[0], 0.5), ("r1", shas[1], 0.75), ("r2", shas[2], 0.8)]:
        record_run(r, str(repo / "qa"), name, ['{"answer": "x"}'], {"accuracy": acc}, {}, None,
                   flow_commit=sha)
    code, out, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "answer", "--metric", "accuracy")
    assert code == 0, err
    assert "    accuracy 0.5 -> 0.75 (+0.25)  (runs r0 -> r1)" in out
    code, out, _ = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "answer", "--metric", "accuracy",
                           "--json")
    m = json.loads(out)["commits"][1]["metrics"]
    assert m == {"before": None, "after": "r0",
                 "values": [{"name": "accuracy", "old": None, "new": 0.5, "delta": None}]}


def test_delta_shortcuts_equal_the_full_semantic_diff(qa):
    """history.delta skips diff steps that cannot find anything: same answer as diff_flows."""
    from pfgit.diff.changes import diff_flows
    from pfgit.history import delta
    from pfgit.history.walk import FlowHistory
    from pfgit.index.db import open_index

    repo, shas = qa
    (repo / "qa/sub").mkdir()
    (repo / "qa/sub/p.jinja2").write_text("hello\n")
    flow = (repo / "qa/flow.dag.yaml").read_text().replace("path: answer.py", "path: sub/p.jinja2")
    (repo / "qa/flow.dag.yaml").write_text(flow)
    git(repo, "commit", "-q", "-am", "x")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "answer runs a file in a subfolder")
    (repo / "qa/sub/p.jinja2").write_text("hello world\n")
    git(repo, "commit", "-q", "-am", "edit the subfolder file")
    r = open_repo(str(repo))
    idx = open_index(r, refresh=False)
    try:
        h = FlowHistory(r, idx.conn)
        st = h.step(git(repo, "rev-parse", "HEAD"), "qa")
        pairs = 0
        while st.parents:
            parent = h.step(*st.parents[0])
            v = h.versions
            want = delta.compact(diff_flows(v.data(parent)[0], v.data(st)[0], v.files(parent), v.files(st)))
            assert delta.compute(v, parent, st)["changes"] == want, st.summary
            pairs += 1
            st = parent
        assert pairs == len(shas) + 2
    finally:
        idx.close()


def test_unparsable_version_stands_for_its_parent(tmp_path):
    commits = qa_history()[:2]
    f3 = _edit(FLOW, "temperature: 0.2", "temperature: 0.9")
    commits += [{"files": {"qa/flow.dag.yaml": b"nodes: [\n"}, "msg": "broken"},
                {"files": {"qa/flow.dag.yaml": f3.encode()}, "msg": "fixed"}]
    shas = fast_import(tmp_path / "repo", commits)
    f = by_field(blame(open_repo(str(tmp_path / "repo")), str(tmp_path / "repo/qa")))
    assert f["nodes.answer.inputs.temperature"]["commit"] == shas[3]
    assert f["nodes.build_prompt.type"]["commit"] == shas[0]


def test_blame_porcelain_and_light_entry_parity(qa, monkeypatch, capsys):
    from pfgit.cli.main import _register, make_app

    repo, shas = qa
    code, out, _ = run_cli(monkeypatch, capsys, repo, "blame", "qa", "--porcelain")
    recs = [ln.split("\t") for ln in out.splitlines()]
    assert recs[0] == ["flow", "qa", shas[-1]]
    temp = next(r for r in recs if r[:2] == ["field", "nodes.answer.inputs.temperature"])
    assert temp[2] == shas[1] and temp[3] == "0" and temp[6] == "Bob" and temp[-1] == "0.7"
    app = make_app()
    _register(app, ["blame"])
    capsys.readouterr()
    try:
        app(args=["blame", "qa", "--porcelain"], prog_name="pfgit", standalone_mode=False)
    except SystemExit:
        pass
    assert capsys.readouterr().out == out


# ---------------------------------------------------------------------------------------------
# The corpus's real edit histories

def _slugs(corpus) -> list:
    return sorted(p.name for p in (corpus / "history").iterdir() if (p / "log.tsv").exists())


def _value(data: dict, path: tuple):
    cur = data
    for i, seg in enumerate(path):
        if i == 1 and path[0] == "nodes":
            cur = node_map(data).get(seg, KeyError)
        elif isinstance(cur, dict):
            cur = next((v for k, v in cur.items() if str(k) == seg), KeyError)
        else:
            return KeyError
        if cur is KeyError:
            return KeyError
    return canon(cur)


def brute_force_blame(versions: list) -> dict:
    """Replay the history newest first: a field is blamed on the newest version whose value
    differs from its parent's (the parent's nodes renamed as the matching says)."""
    from pfgit.history.versions import flow_fields

    head = versions[-1]
    cur = {p: p for p, _ in flow_fields(head, [])}
    out: dict = {}
    for i in range(len(versions) - 1, 0, -1):
        new, old = versions[i], versions[i - 1]
        m = match_nodes(old, new)
        mid = apply_renames(old, m.renamed)
        back = {n: o for o, n in m.renamed.items()}
        for f, p in cur.items():
            if f in out:
                continue
            if _value(new, p) != _value(mid, p):
                out[f] = i
            elif p[0] in ("nodes", "node_variants") and p[1] in back:
                cur[f] = p[:1] + (back[p[1]],) + p[2:]
    return {f: out.get(f, 0) for f in cur}


@pytest.mark.parametrize("ahead", [False, True], ids=["one-walk", "with-child"])
def test_corpus_histories_blame_equals_brute_force_replay(corpus, tmp_path, monkeypatch, ahead):
    import yaml

    from pfgit.history import ahead as walk_ahead

    monkeypatch.setattr(walk_ahead, "available", lambda n: ahead)  # short histories: forced

    repo = tmp_path / "repo"
    fast_import(repo, [{"files": {"README": b"corpus histories, one branch each\n"}, "msg": "init"}])
    monkeypatch.chdir(tmp_path)  # "flow" below is a path in the branch, not on disk
    histories = {slug: corpus_commits(corpus / "history" / slug) for slug in _slugs(corpus)}
    shas = {slug: fast_import(repo, commits, branch=slug) for slug, commits in histories.items()}
    r = open_repo(str(repo))
    checked = 0
    for slug, commits in histories.items():
        versions = [yaml.load(c["files"]["flow/flow.dag.yaml"], Loader=yaml.CSafeLoader) for c in commits]
        res = blame(r, "flow", rev=slug)
        want = brute_force_blame(versions)
        got = {tuple(f["path"]): shas[slug].index(f["commit"]) for f in res["fields"]}
        assert got == want, slug
        checked += len(got)
    assert checked > 500


def test_corpus_rename_and_reformat_commits_followed(corpus, tmp_path):
    ic = corpus_commits(corpus / "history" / "flows__standard__intent-copilot")
    shas = fast_import(tmp_path / "ic", ic)
    log = log_node(open_repo(str(tmp_path / "ic")), str(tmp_path / "ic/flow"), "chat_prompt")
    assert [(e["commit"], e["node"]) for e in log["commits"]] == [(shas[2], "chat_prompt"),
                                                                  (shas[0], "user_prompt_template")]
    assert log["commits"][0]["text"].startswith("renamed from user_prompt_template")
    # web-classification's last commit only reformats the file; chat-with-pdf has one in the middle
    for slug, fmt_commit in [("flows__standard__web-classification", -1), ("flows__chat__chat-with-pdf", 7)]:
        commits = corpus_commits(corpus / "history" / slug)
        shas = fast_import(tmp_path / slug, commits)
        r = open_repo(str(tmp_path / slug))
        res = blame(r, str(tmp_path / slug / "flow"))
        assert shas[fmt_commit] not in {f["commit"] for f in res["fields"]}
        node = res["fields"][-1]["path"][1] if res["fields"][-1]["path"][0] == "nodes" else \
            next(f["path"][1] for f in res["fields"] if f["path"][0] == "nodes")
        log = log_node(r, str(tmp_path / slug / "flow"), node)
        assert log["formatting_only"] >= 1 and shas[fmt_commit] not in [e["commit"] for e in log["commits"]]


VARIANTS = """inputs:
  text: {type: string}
outputs:
  summary: {type: string, reference: '${summarize.output}'}
nodes:
- name: summarize
  use_variants: true
node_variants:
  summarize:
    default_variant_id: v0
    variants:
      v0:
        node: {type: llm, source: {type: code, path: v0.jinja2}, inputs: {max_tokens: 256, text: '${inputs.text}'}, api: chat}
      v1:
        node: {type: llm, source: {type: code, path: v1.jinja2}, inputs: {max_tokens: 256, text: '${inputs.text}'}, api: chat}
"""


def test_variants_fields_and_lines(tmp_path):
    v2 = VARIANTS.replace("path: v1.jinja2}, inputs: {max_tokens: 256", "path: v1.jinja2}, inputs: {max_tokens: 512")
    shas = fast_import(tmp_path / "repo", [
        {"files": {"f/flow.dag.yaml": VARIANTS.encode(), "f/v0.jinja2": b"Summarize:\n{{text}}\n",
                   "f/v1.jinja2": b"Summarize briefly:\n{{text}}\n"}, "msg": "add"},
        {"files": {"f/flow.dag.yaml": v2.encode()}, "msg": "longer v1"},
        {"files": {"f/v1.jinja2": b"Summarize in one line:\n{{text}}\n"}, "msg": "v1 prompt"},
    ])
    r = open_repo(str(tmp_path / "repo"))
    res = blame(r, str(tmp_path / "repo/f"), node="summarize")
    f = by_field(res)
    assert f["nodes.summarize.variants.v1.inputs.max_tokens"]["commit"] == shas[1]
    assert f["nodes.summarize.variants.v0.inputs.max_tokens"]["commit"] == shas[0]
    assert f["nodes.summarize.variants.v1.prompt"]["commit"] == shas[2]
    assert f["nodes.summarize.default_variant_id"]["commit"] == shas[0]
    lines = {s["field"]: [shas.index(ln["commit"]) for ln in s["lines"]] for s in res["sources"]}
    assert lines == {"nodes.summarize.variants.v0.prompt": [0, 0], "nodes.summarize.variants.v1.prompt": [2, 0]}
    log = log_node(r, str(tmp_path / "repo/f"), "summarize")
    assert [e["text"] for e in log["commits"]] == ["variant v1 prompt: 1 line changed",
                                                   "variant v1: inputs.max_tokens 256 -> 512", "node added"]


def _cli_modules(repo, *args) -> tuple:
    """(stdout, top-level modules imported) of one pfgit call in a new process."""
    import sys

    code = ("import sys; from pfgit.cli.main import main; rc = main(sys.argv[1:]); "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})), file=sys.stderr); "
            "sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code, *args], cwd=repo, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout, set(p.stderr.split())


def test_repeated_call_answers_from_the_cache_without_heavy_imports(qa):
    repo, shas = qa
    outs = []
    for args in (["blame", "qa", "--node", "make_prompt", "--json"],
                 ["log", "qa", "--node", "make_prompt"], ["blame", "qa/answer.py", "--porcelain"]):
        first, mods1 = _cli_modules(repo, *args)
        second, mods2 = _cli_modules(repo, *args)
        assert first == second and "dulwich" in mods1
        assert not {"dulwich", "yaml", "typer", "sqlite_utils"} & mods2, args
        outs.append(first)
    first = outs[0]
    # a new commit is a new question: answered by a walk, then from the cache
    (repo / "qa/make_prompt.jinja2").write_text("# system:\nOne word.\n\n# user:\n{{ question }}\n")
    git(repo, "commit", "-q", "-am", "shorter prompt")
    third, mods3 = _cli_modules(repo, "blame", "qa", "--node", "make_prompt", "--json")
    assert "dulwich" in mods3 and json.loads(third)["commit"] == git(repo, "rev-parse", "HEAD")
    assert json.loads(first)["commit"] == shas[-1]
    # --rev names the older commit again: the first answer, from the cache
    again, mods4 = _cli_modules(repo, "blame", "qa", "--node", "make_prompt", "--json", "--rev", shas[-1][:10])
    assert json.loads(again) == json.loads(first) and "dulwich" not in mods4


def test_unknown_node_suggests_only_current_nodes_and_says_when_it_went(qa, monkeypatch, capsys):
    repo, shas = qa
    code, _, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "build_prompt")
    assert code == 2 and err.strip().endswith("did you mean 'make_prompt'?")  # its name now
    flow = (repo / "qa/flow.dag.yaml").read_text()
    start = flow.index("- name: make_prompt")
    gone = flow[:start] + flow[flow.index("- name: answer"):]
    (repo / "qa/flow.dag.yaml").write_text(gone.replace("${make_prompt.output}", "${inputs.question}"))
    git(repo, "commit", "-q", "-am", "drop the prompt node")
    removed = git(repo, "rev-parse", "HEAD")
    code, _, err = run_cli(monkeypatch, capsys, repo, "log", "qa", "--node", "build_prompt")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert (f"it was renamed to 'make_prompt' in {shas[4][:8]}" in err and
            f"'make_prompt' was removed in {removed[:8]}" in err and "did you mean" not in err)
    code, _, err = run_cli(monkeypatch, capsys, repo, "blame", "qa", "--node", "make_prompt")
    assert code == 2 and f"it was removed in {removed[:8]}" in err and "make_prompt'?" not in err
    code, _, err = run_cli(monkeypatch, capsys, repo, "blame", "qa", "--node", "answr")
    assert code == 2 and "did you mean 'answer'?" in err and "removed" not in err


FLEX = """entry: chat:ChatFlow
inputs:
  question:
    type: string
    default: hi
init:
  model_config:
    type: AzureOpenAIModelConfiguration
"""
CHAT = "class ChatFlow:\n    def __init__(self, model_config):\n        self.m = model_config\n\n" \
       "    def __call__(self, question: str) -> str:\n        return question\n"


def test_flex_flow_fields_and_entry_code_are_blamed(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    shas = fast_import(repo, [
        {"files": {"fx/flow.flex.yaml": FLEX.encode(), "fx/chat.py": CHAT.encode()}, "msg": "add"},
        {"files": {"fx/flow.flex.yaml": FLEX.replace("default: hi", "default: hello").encode()},
         "msg": "greet"},
        {"files": {"fx/chat.py": CHAT.replace("return question", "return question.upper()").encode()},
         "msg": "shout"},
        {"files": {"fx/flow.flex.yaml": FLEX.replace("default: hi", "default: hello").replace(
            "  question:\n", "    question:\n").replace("    type: string", "      type: string").replace(
            "    default: hello", "      default: hello").encode()}, "msg": "reindent"},
    ])
    res = blame(open_repo(str(repo)), "fx")
    f = by_field(res)
    assert f["entry"]["commit"] == shas[0] and f["entry.code"]["commit"] == shas[2]
    assert f["entry.code"]["value"] == "fx/chat.py" and f["inputs.question.default"]["commit"] == shas[1]
    monkeypatch.chdir(repo)
    lines = blame(open_repo(str(repo)), "fx/chat.py")["sources"][0]["lines"]
    assert [ln["commit"] for ln in lines] == [shas[0]] * 5 + [shas[2]]
    code, _, err = run_cli(monkeypatch, capsys, repo, "log", "fx", "--node", "chat")
    assert code == 2 and "fx is a flex flow (no nodes)" in err and "`pfgit blame fx/chat.py` its code" in err


def test_prompty_flow_gets_a_clear_message(tmp_path, monkeypatch, capsys):
    repo = tmp_path / "repo"
    fast_import(repo, [{"files": {"p/basic.prompty": b"---\nname: x\nmodel:\n  api: chat\n---\nsystem:\nhi\n"},
                        "msg": "add"}])
    for args in (["blame", "p/basic.prompty"], ["log", "p", "--node", "x"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *args)
        assert code == 2 and out == "" and "p/basic.prompty is a prompty flow" in err
        assert "git blame -w -- p/basic.prompty" in err and len(err.strip().splitlines()) == 1


def test_walk_ahead_child_gives_the_same_answers(tmp_path, monkeypatch):
    """The older part of a cold walk computed in a forked child (pfgit.history.ahead) gives the
    answers the walk gets alone - renames, a reformat, an unparsable version on either side of the
    cut - and so does a child that dies or one whose rows are never taken."""
    import os
    import shutil

    from pfgit.history import ahead

    commits = qa_history()
    broken = {"files": {"qa/flow.dag.yaml": b"nodes: [\n"}, "msg": "broken"}
    fixed = {"files": {"qa/flow.dag.yaml": _edit(REFORMATTED, "temperature: 0.7", "temperature: 0.9").encode()},
             "msg": "fixed"}
    f5 = commits[4]["files"]["qa/flow.dag.yaml"].decode()
    fixed5 = {"files": {"qa/flow.dag.yaml": _edit(f5, "temperature: 0.7", "temperature: 0.8").encode()},
              "msg": "fixed again"}
    commits = commits[:3] + [broken, fixed] + commits[3:] + [broken, fixed5]
    repo = tmp_path / "repo"
    fast_import(repo, commits)
    taken = []
    take = ahead.WalkAhead.take
    monkeypatch.setattr(ahead.WalkAhead, "take", lambda self: taken.append(take(self)) or taken[-1])

    def answers(on: bool, share: float = 0.55) -> tuple:
        shutil.rmtree(repo / ".git" / "pfgit", ignore_errors=True)
        monkeypatch.setattr(ahead, "available", lambda n: on)  # short history: forced
        monkeypatch.setattr(ahead, "SHARE", share)
        r = open_repo(str(repo))
        return (blame(r, "qa", node="make_prompt"), log_node(r, "qa", "make_prompt"),
                log_node(r, "qa", "answer"))

    want = answers(False)
    assert not taken
    for share in (0.3, 0.55, 0.9):
        assert answers(True, share) == want
        assert taken and taken[-1]["deltas"] and taken[-1]["steps"]  # the child's rows were used
    taken.clear()
    monkeypatch.setattr(ahead, "_child", lambda *a: os._exit(3))
    assert answers(True) == want
    assert taken == [None]
    r = open_repo(str(repo))  # a walk that never reaches the child's part: killed and reaped
    monkeypatch.setattr(ahead, "_child", lambda *a: __import__("time").sleep(60))
    shutil.rmtree(repo / ".git" / "pfgit", ignore_errors=True)
    assert log_node(r, "qa", "make_prompt", limit=1)["commits"] == want[1]["commits"][:1]


def test_read_ahead_begun_by_the_cli_gives_the_same_answers(qa, tmp_path, monkeypatch, capsys):
    """The history read in a thread while pfgit starts (pfgit.history.readahead) is taken by the
    walk and gives the answer the walk gets reading it itself; a read of another repository with
    the same commits (a shallow clone: other parents) is never taken for this one."""
    import shutil

    from pfgit.history import readahead

    repo, shas = qa
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "3", f"file://{repo}", str(clone)], check=True)
    taken = []
    take = readahead.take
    monkeypatch.setattr(readahead, "take", lambda *a: taken.append(take(*a)) or taken[-1])

    def cold(where, *argv):
        shutil.rmtree(where / ".git" / "pfgit", ignore_errors=True)
        code, out, err = run_cli(monkeypatch, capsys, where, *argv)
        assert code == 0, err
        return json.loads(out)

    got = [cold(repo, "blame", "qa", "--json"), cold(repo, "log", "qa/answer.py", "--node", "answer", "--json")]
    assert len(taken) == 2 and all(t and len(t["commits"]) == len(shas) for t in taken)
    shallow = cold(clone, "blame", "qa", "--json")
    assert shallow["history_stops"] == {"commit": shas[4], "reason": "shallow"}
    assert cold(repo, "blame", "qa", "--json") == got[0]
    monkeypatch.setattr(readahead, "start", lambda *a: None)
    taken.clear()
    assert [cold(repo, "blame", "qa", "--json"),
            cold(repo, "log", "qa/answer.py", "--node", "answer", "--json")] == got
    assert taken == [None, None] and not readahead._STARTED
