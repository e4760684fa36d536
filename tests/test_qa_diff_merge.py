"""QA regressions for diff and merge found by using them on real corpus flows."""

import yaml

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
