"""`pfgit test --interactive` (a terminal chat with a chat flow, stdin piped here) and `--ui`."""

from __future__ import annotations

import io
import json

import pytest

from fake_openai import fake_openai  # noqa: F401  (fixture)
from pfgit.cli.main import main
from run_flows import BASIC, make_repo

# the answer shows what the flow saw: the turn and the chat history promptflow would pass
ECHO_CHAT = {
    "flow.dag.yaml": """\
inputs:
  question: {type: string, is_chat_input: true}
  chat_history: {type: list, default: []}
  style: {type: string, default: plain}
outputs:
  answer: {type: string, reference: "${reply.output}", is_chat_output: true}
  turns: {type: int, reference: "${count.output}"}
nodes:
- name: count
  type: python
  source: {type: code, path: count.py}
  inputs: {history: "${inputs.chat_history}"}
- name: reply
  type: python
  source: {type: code, path: reply.py}
  inputs: {q: "${inputs.question}", history: "${inputs.chat_history}", n: "${count.output}", style: "${inputs.style}"}
""",
    "count.py": "from promptflow.core import tool\n\n\n@tool\ndef count(history: list) -> int:\n    return len(history)\n",
    "reply.py": """\
from promptflow.core import tool


@tool
def reply(q: str, history: list, n: int, style: str) -> str:
    if q == "fail":
        raise ValueError("no")
    before = "|".join(h["inputs"]["question"] + ">" + h["outputs"]["answer"] for h in history)
    return f"{style}:{q}#{n}[{before}]"
""",
}

LLM_CHAT = {
    "flow.dag.yaml": """\
inputs:
  question: {type: string, is_chat_input: true}
  chat_history: {type: list, is_chat_history: true, default: []}
outputs:
  answer: {type: string, reference: "${chat.output}", is_chat_output: true}
nodes:
- name: chat
  type: llm
  source: {type: code, path: chat.jinja2}
  connection: fake
  api: chat
  inputs: {model: gpt-4o, question: "${inputs.question}", chat_history: "${inputs.chat_history}"}
""",
    "chat.jinja2": ("system:\nBe brief.\n{% for item in chat_history %}user:\n{{item.inputs.question}}\n"
                    "assistant:\n{{item.outputs.answer}}\n{% endfor %}user:\n{{question}}\n"),
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path, {"flows/echo": ECHO_CHAT, "flows/shout": BASIC})
    monkeypatch.chdir(r)
    return r


def chat(monkeypatch, capsys, stdin: str, *args):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    rc = main(["test", "--interactive", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_chat_keeps_the_history_like_promptflow_and_ends_on_an_empty_line(repo, monkeypatch, capsys):
    rc, out, err = chat(monkeypatch, capsys, "hi\nfail\nand you?\n\nnever sent\n", "--flow", "flows/echo",
                        "--inputs", "style=loud")
    assert rc == 1          # a turn failed: said, left out of the history, the chat went on
    assert out.splitlines() == [
        "Chat with flows/echo (an empty line, 'exit' or Ctrl-D ends it)",
        "Bot: loud:hi#0[]",
        "Bot: loud:and you?#1[hi>loud:hi#0[]]",
    ]
    assert err == ("pfgit: node 'reply': Execution failure in 'reply': (ValueError) no (turn left out of "
                   "the chat history)\n")
    rc, out, err = chat(monkeypatch, capsys, "a\nexit\nb\n", "--flow", "flows/echo", "--verbose")
    assert rc == 0 and err == ""
    assert out.splitlines()[1:] == ["count: 0", "reply: plain:a#0[]", "Bot: plain:a#0[]"]
    # pf's spelling: `pfgit flow test --flow F --interactive --verbose` (pfgit/cli/pfalias.py)
    monkeypatch.setattr("sys.stdin", io.StringIO("a\n"))
    assert main(["flow", "test", "--flow", "flows/echo", "--interactive", "--verbose"]) == 0
    assert capsys.readouterr().out.splitlines()[1:] == ["count: 0", "reply: plain:a#0[]", "Bot: plain:a#0[]"]
    assert chat(monkeypatch, capsys, "", "--flow", "flows/echo")[:2] == \
        (0, "Chat with flows/echo (an empty line, 'exit' or Ctrl-D ends it)\n")     # EOF at once


def test_non_chat_flow_and_ui_are_one_line_exit_2(repo, monkeypatch, capsys):
    assert chat(monkeypatch, capsys, "hi\n", "--flow", "flows/shout") == (
        2, "", "pfgit: flows/shout/flow.dag.yaml: --interactive needs a chat flow: no input has "
               "is_chat_input: true\n")
    rc = main(["test", "--flow", "flows/echo", "--ui"])
    assert (rc, capsys.readouterr().err) == (2, "pfgit: pfgit has no chat window (pf flow test --ui): chat in "
                                                "the terminal with pfgit test --interactive\n")


def test_llm_chat_flow_sends_the_history_to_the_model(tmp_path, monkeypatch, capsys, fake_openai):
    from pfgit.run.connections import ConnectionStore, from_mapping

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    ConnectionStore().save(from_mapping({"name": "fake", "type": "open_ai", "api_key": "sk-fake-0042",
                                         "base_url": fake_openai.url}))
    monkeypatch.chdir(make_repo(tmp_path, {"flows/llm": LLM_CHAT}))
    rc, out, err = chat(monkeypatch, capsys, "Hello\nMore please\n", "--flow", "flows/llm")
    assert (rc, err) == (0, "") and out.splitlines()[1:] == ["Bot: echo: Hello", "Bot: echo: More please"]
    second = fake_openai.bodies("chat/completions")[-1]["messages"]
    assert [(m["role"], m["content"]) for m in second] == [
        ("system", "Be brief."), ("user", "Hello"), ("assistant", "echo: Hello"), ("user", "More please")]
    assert json.dumps(second).count("Hello") == 2


def test_corpus_chat_basic_chats_with_its_history(corpus, tmp_path, monkeypatch, capsys, fake_openai):
    """promptflow's own chat-basic example: its template reads chat_history items as
    item.inputs.question / item.outputs.answer, the shape --interactive keeps."""
    from llm_parity import save_corpus_connections, setup_repo

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    save_corpus_connections(fake_openai.url)
    repo, flow, _, _ = setup_repo(corpus, "examples/flows/chat/chat-basic", tmp_path)
    monkeypatch.chdir(repo)
    rc, out, err = chat(monkeypatch, capsys, "Hi there\nAnd then?\n", "--flow", flow)
    assert (rc, err) == (0, "") and out.splitlines()[1:] == ["Bot: echo: Hi there", "Bot: echo: And then?"]
    second = fake_openai.bodies("chat/completions")[-1]["messages"]
    assert [(m["role"], m["content"]) for m in second][1:] == [
        ("user", "Hi there"), ("assistant", "echo: Hi there"), ("user", "And then?")]
