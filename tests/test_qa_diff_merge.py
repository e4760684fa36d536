"""QA regressions for diff and merge found by using them on real corpus flows."""

import pytest
import yaml

from corpus_finder import part as corpus_part
from pfgit.diff.changes import diff_flows


def _wc(corpus):
    d = corpus / "examples/flows/standard/web-classification"
    files = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    return (d / "flow.dag.yaml").read_text(), files


def test_new_node_using_an_existing_unchanged_source_file_shows_no_file_change(corpus):
    # a new node reusing convert_to_dict.py: the file is neither added nor changed
    text, files = _wc(corpus)
    old = yaml.safe_load(text)
    new = yaml.safe_load(text)
    new["nodes"].append({"name": "again", "type": "python",
                         "source": {"type": "code", "path": "convert_to_dict.py"},
                         "inputs": {"input_str": "${classify_with_llm.output}"}})
    changes = diff_flows(old, new, files, files)
    assert [c.path for c in changes] == [["nodes", "again"]]
    # ... and when that existing file was edited too, it shows as modified, not as all-new
    edited = dict(files, **{"convert_to_dict.py": files["convert_to_dict.py"] + b"# more\n"})
    fc = [c for c in diff_flows(old, new, files, edited) if c.is_file]
    assert [(c.path[:2], c.detail["status"]) for c in fc] == [
        (["nodes", "convert_to_dict"], "modified"), (["nodes", "again"], "modified")]
    assert "/dev/null" not in fc[1].detail["diff"] and "\n+# more" in fc[1].detail["diff"]


def _fd(changes, status="modified"):
    from pfgit.diff.tree import FlowDiff

    return FlowDiff(path="f", file="f/flow.dag.yaml", status=status, changes=changes)


def test_a_node_given_variants_shows_them_in_text_and_markdown(corpus):
    from pfgit.diff.render import render_markdown, render_text

    text, _ = _wc(corpus)
    new, old = yaml.safe_load(text), yaml.safe_load(text)
    v0 = old.pop("node_variants")["summarize_text_content"]["variants"]["variant_0"]["node"]
    i = [n["name"] for n in old["nodes"]].index("summarize_text_content")
    old["nodes"][i] = dict(name="summarize_text_content", **v0)
    fd = _fd(diff_flows(old, new))
    out = render_text([fd])
    assert "+ default_variant_id: variant_0" in out
    assert "+ variant variant_1 added: {node: {type: llm" in out and "variants added" not in out
    md = render_markdown([fd])
    assert "- added `variant variant_1`: `{node: {type: llm" in md and "``" not in md.replace("```", "")
    # the other way round (variants dropped), and a flow added whole
    back = render_text([_fd(diff_flows(new, old))])
    assert "- variant variant_0 removed" in back and "- variant variant_1 removed" in back
    whole = render_text([_fd(diff_flows(None, new), "added")])
    assert "+ variant variant_0 added:" in whole


def test_diff_driver_is_quiet_when_the_pager_quits(corpus, tmp_path):
    # `git log -p --ext-diff | head` / q in less: git closes the pipe; no traceback from us
    import subprocess
    import sys

    hist = sorted(corpus_part(corpus, "history/flows__standard__web-classification").glob("*.flow.dag.yaml"))
    p = subprocess.Popen([sys.executable, "-m", "pfgit.integrate.diffdriver", "diff", "flow.dag.yaml",
                          str(hist[0]), "0" * 40, "100644", str(hist[1]), "0" * 40, "100644"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    p.stdout.close()  # before the driver writes (it takes ~0.1 s to start)
    err = p.stderr.read().decode()
    assert p.wait() == 0 and "Traceback" not in err and "BrokenPipe" not in err, err


def _pdf(corpus):
    return (corpus / "examples/flows/chat/chat-with-pdf/flow.dag.yaml").read_text()


def _between(text, start, end):
    return text[text.index(start):text.index(end, text.index(start))]


def test_a_node_renamed_differently_on_both_sides_keeps_each_sides_name_in_its_section(corpus):
    import re

    from pfgit.merge.files import merge_bytes

    base = _pdf(corpus)

    def ren(new):
        return re.sub(r"\bfind_context_tool\b(?!\.py)", new, base).encode()

    res = merge_bytes(base.encode(), ren("find_ctx"), ren("context_finder"), diff3=True)
    assert not res.clean and ("nodes", "find_ctx") in [c.path for c in res.conflicts]
    # every reference to the node is in conflict too: ours' name against theirs'
    refs = [c for c in res.conflicts if c.path != ("nodes", "find_ctx")]
    assert [c.path for c in refs] == [("outputs", "context", "reference"),
                                      ("nodes", "qna_tool", "inputs", "prompt")]
    assert all(c.local.startswith("${find_ctx.") and c.remote.startswith("${context_finder.")
                        and c.base.startswith("${find_context_tool.") for c in refs)
    assert "find_ctx" not in res.data.decode().replace("<<<<<<<", "\0").split("\0")[0]
    out = res.data.decode()
    out = out[out.index("<<<<<<< ours (pfgit: node "):]
    assert "- name: find_ctx\n" in _between(out, "<<<<<<< ours", "||||||| base")
    assert "- name: find_context_tool\n" in _between(out, "||||||| base", "=======")
    assert "- name: context_finder\n" in _between(out, "=======", ">>>>>>> theirs")


def test_theirs_reformatted_with_sorted_keys_keeps_ours_key_order(corpus):
    # a visual editor re-dumped their file with sorted keys and they edited two values: the merge
    # must show only those edits against ours (the changed mappings were written in their order)
    import difflib

    from pfgit.merge.files import merge_bytes

    text, _ = _wc(corpus)
    ours = text.replace("temperature: 0.2\n    url", "temperature: 0.4\n    url")
    theirs = yaml.safe_load(text)
    theirs["inputs"]["url"]["default"] = "https://example.com"
    theirs["nodes"][-1]["inputs"]["extra"] = 7
    res = merge_bytes(text.encode(), ours.encode(),
                      yaml.safe_dump(theirs, sort_keys=True, indent=4).encode())
    assert res.clean and not res.fallback
    changed = [ln for ln in difflib.unified_diff(ours.splitlines(), res.data.decode().splitlines(),
                                                 lineterm="", n=0)
               if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]
    assert changed == [
        "-    default: https://play.google.com/store/apps/details?id=com.twitter.android",
        "+    default: https://example.com", "+    extra: 7"]


def _pick(text, side):
    """The file with every conflict resolved to one side ('o', 'b' or 't')."""
    out, state = [], None
    for ln in text.splitlines(keepends=True):
        for mark, st in (("<<<<<<< ", "o"), ("||||||| ", "b"), ("=======", "t"), (">>>>>>> ", None)):
            if ln.startswith(mark) and (mark != "=======" or state):
                state = st
                break
        else:
            if state in (None, side):
                out.append(ln)
    return "".join(out)


def test_removing_a_nodes_only_input_vs_editing_it_resolves_to_each_side_exactly(corpus):
    # markers under `inputs:` would make "keep ours" read `inputs: null`, not ours' `inputs: {}`
    from pfgit.merge.files import merge_bytes

    text, _ = _wc(corpus)
    base = yaml.safe_load(text)
    ours, theirs = yaml.safe_load(text), yaml.safe_load(text)
    del ours["nodes"][0]["inputs"]["url"]
    theirs["nodes"][0]["inputs"]["url"] = "https://example.com"
    res = merge_bytes(text.encode(), yaml.safe_dump(ours, sort_keys=False).encode(),
                      yaml.safe_dump(theirs, sort_keys=False).encode(), diff3=True)
    assert len(res.conflicts) == 1 and res.conflicts[0].path == ("nodes", "fetch_text_content_from_url", "inputs")
    out = res.data.decode()
    assert yaml.safe_load(_pick(out, "o")) == ours
    assert yaml.safe_load(_pick(out, "t")) == theirs
    assert yaml.safe_load(_pick(out, "b")) == base


@pytest.mark.parametrize("before", [
    b"*.png binary",                                           # no final newline
    b"*.png binary\r\nx -diff\r\n",                            # CRLF line ends
    b"*.png binary\nflow.dag.yaml   diff=pfgit   merge=pfgit\n",  # our attributes, spaced/ordered otherwise
])
def test_install_then_uninstall_gives_back_the_same_gitattributes_bytes(tmp_path, before):
    import subprocess

    from pfgit.integrate import install as inst

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    attrs = tmp_path / ".gitattributes"
    attrs.write_bytes(before)
    first = inst.install(str(tmp_path))
    inst.install(str(tmp_path))
    lines = attrs.read_bytes().splitlines()
    assert lines[:len(before.splitlines())] == before.splitlines()
    assert sum(b"flow.dag.yaml" in ln and b"diff=pfgit" in ln for ln in lines) == 1
    assert first.kept_lines == []   # a line already naming pfgit is not "the user's other setting"
    inst.uninstall(str(tmp_path))
    assert attrs.read_bytes() == before


def test_fallback_reasons_name_the_side_then_say_why(corpus):
    # a criss-cross merge hands the driver a virtual base with markers in it
    from pfgit.merge.files import merge_bytes

    text, _ = _wc(corpus)
    marked = text.replace("    temperature: 0.2\n    url",
                          "<<<<<<< ours\n    temperature: 0.4\n=======\n    temperature: 0.6\n>>>>>>> theirs\n    url")
    res = merge_bytes(marked.encode(), text.encode(), text.replace("max_tokens: 256", "max_tokens: 9").encode())
    assert res.fallback == "cannot read base: it holds conflict markers"
    assert b"max_tokens: 9" in res.data
    res = merge_bytes(text.encode(), b"- a list\n", text.replace("max_tokens: 256", "max_tokens: 9").encode())
    assert res.fallback == "cannot read ours: it is not a mapping of keys" and not res.clean


def test_markdown_names_a_binary_file_without_an_empty_diff_block(corpus):
    from pfgit.diff.render import render_markdown

    text, files = _wc(corpus)
    data = yaml.safe_load(text)
    new_files = dict(files, **{"logo.png": b"\x89PNG\0\1"})
    md = render_markdown([_fd(diff_flows(data, data, files, new_files))])
    assert "  - `logo.png added (binary)`" in md and "```" not in md


def test_stat_plurals(corpus):
    from pfgit.diff.render import render_stat

    text, _ = _wc(corpus)
    old, new = yaml.safe_load(text), yaml.safe_load(text)
    for n in new["nodes"][:3]:
        n["qa"] = 1
    new["nodes"].pop()
    new["nodes"].pop()
    assert "2 nodes removed, 3 node fields" in render_stat([_fd(diff_flows(old, new))])
