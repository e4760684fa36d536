"""The flow model reads every real flow in the corpus, with lines, references and order."""

import json

import pytest

from corpus_finder import part as corpus_part
from pfgit.flow.load import find_flows, load_flow, load_text
from pfgit.flow.model import execution_order
from pfgit.flow.readers import DirReader
from pfgit.flow.refs import Ref, embedded_refs, parse_ref
from pfgit.flow import yamlpos


def test_every_corpus_flow_loads_and_matches_manifest(corpus):
    reader = DirReader(str(corpus), str(corpus))
    locs = find_flows(reader, corpus_part(corpus, "examples").name)
    dag = {loc.dir: load_flow(reader, loc) for loc in locs}
    # manifest.json is optional (a promptflow checkout has none): without it, every flow must load
    mf = corpus / "manifest.json"
    manifest = {m["path"]: m for m in json.loads(mf.read_text())} if mf.exists() else {}
    assert set(manifest) <= set(dag)
    for path, m in manifest.items():
        flow = dag[path]
        assert flow.kind == "dag"
        assert flow.node_names() == m["node_names"], path
        assert list(flow.inputs) == m["inputs"], path
        assert list(flow.outputs) == m["outputs"], path
        assert bool(flow.node_variants) == m["variants"], path
    for path, flow in dag.items():
        if flow.kind == "dag" and path in manifest:
            order, left = execution_order(flow.node_names(),
                                          {n.name: flow.dependencies(n) for n in flow.nodes})
            assert not left, path
    kinds = {f.kind for f in dag.values()}
    assert kinds == {"dag", "flex", "prompty"}


def test_reference_syntax():
    assert parse_ref("${inputs.q}") == Ref("input", "q")
    assert parse_ref("${flow.q}") == Ref("input", "q")
    assert parse_ref("${node}") == Ref("node", "node")
    assert parse_ref("${n.output}") == Ref("node", "n", "output")
    assert parse_ref("${n.output.a.b}") == Ref("node", "n", "output", "a.b")
    assert parse_ref("a ${n.output}") is None
    assert parse_ref("${}") is None and parse_ref(3) is None
    assert embedded_refs("see ${n.output} here") == ["${n.output}"]
    assert embedded_refs("${n.output}") == []


def test_lines_of_nodes_and_keys():
    flow = load_text("inputs:\n  q:\n    type: string\nnodes:\n- name: a\n  type: python\n"
                     "  inputs:\n    x: ${inputs.q}\n- name: b\n  inputs:\n    y: ${a.output}\n")
    assert flow.line(("nodes", 0)) == 5
    assert flow.line(("nodes", 1, "inputs", "y")) == 11
    assert flow.dependencies(flow.node("b")) == ["a"]
    assert flow.edges() == [("a", "b")]


def test_execution_order_matches_promptflow_rule():
    # first node (file order) whose dependencies are done
    order, left = execution_order(["c", "a", "b"], {"c": ["b"], "b": ["a"]})
    assert order == ["a", "b", "c"] and left == []
    order, left = execution_order(["x", "y", "z"], {"x": ["y"], "y": ["x"]})
    assert order == ["z"] and left == ["x", "y"]


@pytest.mark.parametrize("text,line", [("a: [1,\n", 2), ("a: 1\n b: 2\n", 2), ("x:\n\t- 1\n", 2)])
def test_yaml_errors_have_lines(text, line):
    with pytest.raises(yamlpos.YamlError) as e:
        yamlpos.parse(text)
    assert e.value.line == line


def test_non_utf8_and_duplicates():
    with pytest.raises(yamlpos.YamlError) as e:
        yamlpos.parse(b"a: 1\nb: \xff\n")
    assert e.value.line == 2
    doc = yamlpos.parse("a: 1\na: 2\n")
    assert doc.duplicate_keys == [(("a",), 2)]
