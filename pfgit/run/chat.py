"""`pfgit test --interactive`: a terminal chat with a chat flow, as `pf flow test --interactive`
(promptflow's TestSubmitter._chat_flow): each user turn read from stdin runs the flow once (one
`pfgit test` line) with the chat input set to the turn and the chat history input set to the
turns so far; the chat output is printed as the answer. The history keeps promptflow's items:
`{"inputs": {<chat input>: turn}, "outputs": {<flow outputs>}}` for a DAG flow, `{"role": "user"|
"assistant", "content": ...}` pairs for flex flows and prompty files.

A chat flow is what promptflow's `is_executable_chat_flow` accepts: exactly one input with
`is_chat_input: true`, at most one output with `is_chat_output: true` (none only when the flow
declares no outputs), and a chat history input (`is_chat_history: true`, or one named
`chat_history`). Anything else is refused with promptflow's reason.

Where pfgit differs: an empty line or `exit` ends the chat (promptflow skips empty lines and ends
only on Ctrl-C / EOF, which end it here too), and a failed turn is reported on stderr and left out
of the history while the chat goes on (promptflow ends the chat on the first failure); the exit
status is then 1.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .errors import RunError
from .spec import RunSpec


@dataclass
class ChatRoles:
    input: str
    history: str
    output: str | None
    kind: str                                     # dag | flex | prompty
    history_default: list = field(default_factory=list)


def _flagged(defs: dict, flag: str) -> list:
    return [k for k, d in defs.items() if isinstance(d, dict) and d.get(flag) is True]


def chat_roles(spec: RunSpec) -> ChatRoles:
    """The flow's chat input, history and output, or RunError with promptflow's reason."""
    from .engine.plan import load
    from .testline import chat_history_input

    flow, _, _ = load(spec.flow)
    inputs, outputs = flow.inputs, flow.outputs
    chat_in, chat_out = _flagged(inputs, "is_chat_input"), _flagged(outputs, "is_chat_output")
    hist = chat_history_input(inputs)
    reason = None
    if len(chat_in) != 1:
        reason = ("no input has is_chat_input: true" if not chat_in
                  else "chat flow does not support multiple chat inputs")
    elif len(chat_out) > 1:
        reason = "chat flow does not support multiple chat outputs"
    elif not chat_out and outputs:
        reason = "chat output is not configured (no output has is_chat_output: true)"
    elif not hist:
        reason = "chat_history is required in the inputs of chat flow"
    if reason:
        raise RunError(f"--interactive needs a chat flow: {reason}", file=flow.file)
    default = inputs[hist].get("default") if isinstance(inputs[hist], dict) else None
    return ChatRoles(chat_in[0], hist, chat_out[0] if chat_out else None, flow.kind,
                     list(default) if isinstance(default, list) else [])


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def chat(spec: RunSpec, given: dict, stdin, out, err, verbose: bool = False, prompt: bool = False) -> int:
    """The chat loop; returns the exit status (0, or 1 when a turn failed)."""
    from .testline import test_flow

    roles = chat_roles(spec)
    history = given.get(roles.history)
    history = list(history) if isinstance(history, list) else list(roles.history_default)
    print(f"Chat with {spec.flow} (an empty line, 'exit' or Ctrl-D ends it)", file=out, flush=True)
    failed = False
    warned = set()
    while True:
        if prompt:
            print("User: ", end="", file=out, flush=True)
        try:
            line = stdin.readline()
        except KeyboardInterrupt:
            line = ""
        turn = line.rstrip("\r\n")
        if not line or not turn.strip() or turn.strip() == "exit":
            break
        res = test_flow(spec, {**given, roles.input: turn, roles.history: history})
        for w in res.warnings:
            if w not in warned:
                warned.add(w)
                print(f"pfgit: warning: {w}", file=err)
        if verbose:
            for n in res.nodes:
                shown = n["output"] if n["status"] == "Completed" else (n["error"] or "")
                print(f"{n['node']}: {_text(shown)}", file=out)
        if not res.ok:
            e = res.error
            where = f"node '{e['node']}': " if e.get("node") else ""
            print(f"pfgit: {where}{e['message']} (turn left out of the chat history)", file=err, flush=True)
            failed = True
            continue
        outputs = res.outputs if isinstance(res.outputs, dict) else {"output": res.outputs}
        answer = outputs.get(roles.output) if roles.output else \
            (outputs["output"] if list(outputs) == ["output"] else outputs)
        print(f"Bot: {_text(answer)}", file=out, flush=True)
        if roles.kind == "dag":
            history.append({"inputs": {roles.input: turn}, "outputs": dict(outputs)})
        else:   # flex flows and prompty: OpenAI-style messages, as promptflow keeps them
            history += [{"role": "user", "content": turn}, {"role": "assistant", "content": answer}]
    return 1 if failed else 0
