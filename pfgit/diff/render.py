"""Rendering FlowDiffs: text (optionally coloured), Markdown for PR comments, --stat, JSON.

Changes are grouped by what a flow's author thinks in: each flow input and output, each node (its
fields, its variants, the source files it runs), the flow's other keys, and unused files.
Values print as YAML scalars so a type change stays visible ('256' vs 256).
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from ..mdtext import md_code, md_text

SIGN = {"add": "+", "remove": "-", "change": "~", "rename": ">", "move": "^"}
_COLORS = {"+": "32", "-": "31", "~": "33", ">": "36", "^": "36", "h": "1", "@": "36", "!": "31"}
_MATCHED = {"body": "same body", "source": "same source file", "similar": "similar body",
            "references": "same users",
            "name": "same name"}


_DUMPER = None


def _dumper():
    """A safe dumper (libyaml's emitter when present: ~20x faster, history formats thousands of
    values) that writes a string with line breaks double-quoted, its breaks as `\\n`: the plain
    flow style folds them into blank lines, which a one-line form would show as spaces."""
    global _DUMPER
    if _DUMPER is None:
        import yaml

        class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):
            pass

        def text(dumper, s):
            return dumper.represent_scalar("tag:yaml.org,2002:str", s, style='"' if "\n" in s else None)

        Dumper.add_representer(str, text)
        _DUMPER = Dumper
    return _DUMPER


def fmt_value(v: Any, limit: int | None = None) -> str:
    """A value as one line of YAML flow style (a line break inside a string is written `\\n`;
    `is_text` values are shown as blocks by the renderers: see `text_block`)."""
    import yaml

    try:
        s = yaml.dump(v, Dumper=_dumper(), default_flow_style=True,
                      width=10 ** 9, allow_unicode=True, sort_keys=False).strip()
    except yaml.YAMLError:
        s = repr(v)
    if s.endswith("\n..."):
        s = s[:-4]
    elif s.endswith("..."):
        s = s[:-3].rstrip()
    s = s.replace("\n", " ")
    if limit and len(s) > limit:
        s = s[: limit - 3] + "..."
    return s


def is_text(v: Any) -> bool:
    """A string of more than one line: a block scalar (an inline prompt, a multi-line default or
    description), shown as the lines it has rather than as one line."""
    return isinstance(v, str) and "\n" in v


def text_lines(v: str) -> list:
    """`v`'s lines, each ending in a newline but a last one without (split at `\\n` only: other
    characters stay inside a line, where the output neutralises what could move the cursor)."""
    parts = v.split("\n")
    return [x + "\n" for x in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def describe(v: Any) -> str:
    """A value in a change's one-line title: `(text, N lines)` for a text shown below it."""
    if is_text(v):
        n = len(text_lines(v))
        return f"(text, {n} line{'s' if n != 1 else ''})"
    return fmt_value(v)


_NO_EOL = "\\ No newline at end of value"


def text_block(op: str, old: Any, new: Any) -> list:
    """The lines shown under a change whose old or new value `is_text`: each starts with a
    one-character marker (`+`, `-`, ` `, `@` of a hunk header, `\\`) that the renderers indent,
    so no line of the value can stand at a place of the output's own lines. Both sides strings:
    a line diff of the value (3 lines of context); else the text side whole."""
    if op == "change" and isinstance(old, str) and isinstance(new, str):
        from .textdiff import unified_diff

        out = []
        for i, line in enumerate(unified_diff(text_lines(old), text_lines(new), "a", "b", n=3)):
            if i < 2:  # the ---/+++ file header: there are no files
                continue
            out.append(line.rstrip("\n"))
            if not line.endswith("\n"):
                out.append(_NO_EOL)
        return out
    out = []
    for sign, v in (("-", old if op != "add" else None), ("+", new if op != "remove" else None)):
        if is_text(v):
            lines = text_lines(v)
            out += [sign + x.rstrip("\n") for x in lines]
            if not lines[-1].endswith("\n"):
                out.append(_NO_EOL)
    return out


def _dotted(parts: list) -> str:
    return ".".join(str(p) for p in parts)


@dataclass
class Group:
    kind: str            # input | output | node | flow | files
    name: str
    title: str = ""
    sign: str = ""       # sign of a whole-item op (+ added, - removed, > renamed, ^ moved)
    notes: list = field(default_factory=list)   # extra words after the title
    lines: list = field(default_factory=list)   # (sign, text)
    files: list = field(default_factory=list)   # file Changes (diff bodies)
    body: Any = None     # the added node's mapping


def group_changes(changes: list, order: list | None = None) -> list:
    """Changes grouped: inputs, outputs, nodes (in `order`, the new file order, when given), flow
    settings, unused files."""
    groups: dict = {}

    def g(kind: str, name: str) -> Group:
        k = (kind, name)
        if k not in groups:
            groups[k] = Group(kind, name)
        return groups[k]

    for c in changes:
        p = c.path
        top = p[0] if p else ""
        if c.is_file and top == "files":
            g("prompt" if c.detail.get("prompt") else "files", "").files.append(c)
        elif top == "nodes" and len(p) >= 2:
            key = c.new if c.op == "rename" else p[1]
            grp = g("node", str(key))
            if c.is_file:
                grp.files.append(c)
            elif c.op == "rename":
                grp.sign = grp.sign or ">"
                grp.notes.append(f"renamed from {p[1]} ({_MATCHED.get(c.detail.get('matched_by'), 'matched')})")
                for r in c.detail.get("references", []):
                    grp.lines.append((">", f"{_dotted(_ref_where(r['path']))}: "
                                           f"{fmt_value(r['old'])} -> {fmt_value(r['new'])}"))
            elif len(p) == 2 and c.op == "add":
                grp.sign = "+"
                grp.body = c.new
                after = c.detail.get("after")
                grp.notes.append("added " + (f"after {after}" if after else "first"))
            elif len(p) == 2 and c.op == "remove":
                grp.sign = "-"
                grp.notes.append("removed")
                grp.body = c.old
            elif c.op == "move":
                after = c.detail.get("after")
                grp.sign = grp.sign or "^"
                grp.notes.append("moved " + (f"after {after}" if after else "to the top"))
            else:
                grp.lines.append(_field_line(c, p[2:]))
        elif top == "node_variants" and len(p) >= 2:
            grp = g("node", str(p[1]))
            if c.is_file:
                grp.files.append(c)
            elif len(p) >= 4 and p[2] == "variants":
                rest = p[4:]
                if rest[:1] == ["node"]:
                    rest = rest[1:]
                if not rest:
                    word = {"add": "added: ", "remove": "removed", "change": "replaced: "}[c.op]
                    val = fmt_value(c.new) if c.op != "remove" else ""
                    grp.lines.append((SIGN[c.op], f"variant {p[3]} {word}{val}"))
                else:
                    s, text, *block = _field_line(c, rest)
                    grp.lines.append((s, f"variant {p[3]}: {text}", *block))
            elif len(p) == 2:
                val = c.new if c.op == "add" else c.old
                if c.op in ("add", "remove") and isinstance(val, dict):
                    grp.lines += _variants_lines(c.op, val)
                else:
                    grp.lines.append(_field_line(c, ["node_variants"]))
            else:
                grp.lines.append(_field_line(c, p[2:]))
        elif top in ("inputs", "outputs") and len(p) >= 2:
            grp = g(top[:-1], str(p[1]))
            if len(p) == 2 and c.op in ("add", "remove"):
                grp.sign = SIGN[c.op]
                grp.notes.append(("added: " if c.op == "add" else "removed: ")
                                 + fmt_value(c.new if c.op == "add" else c.old))
            else:
                grp.lines.append(_field_line(c, p[2:]))
        elif _empty_container(c):
            continue  # the empty container of a flow added/deleted as a whole
        else:
            g("flow", "").lines.append(_field_line(c, p))
    rank = {"input": 0, "output": 1, "node": 2, "flow": 3, "prompt": 4, "files": 5}
    pos = {k: i for i, k in enumerate(order or [])}
    return sorted(groups.values(),  # stable: otherwise in order of appearance
                  key=lambda grp: (rank[grp.kind], pos.get(grp.name, len(pos)) if grp.kind == "node" else 0))


def _variants_lines(op: str, entry: dict) -> list:
    """A node's whole node_variants entry added or removed: its default and each variant, so the
    reader sees what the variants are (not just that there are some)."""
    out: list = []
    for k, v in entry.items():
        if k == "variants" and isinstance(v, dict):
            for vid, body in v.items():
                out.append((SIGN[op], f"variant {vid} added: {fmt_value(body)}" if op == "add"
                            else f"variant {vid} removed"))
        else:
            out.append((SIGN[op], f"{k}: {fmt_value(v)}"))
    return out


def _empty_container(c) -> bool:
    """The `inputs: {}` / `nodes: []` add or remove that frames a flow added or deleted whole."""
    return len(c.path) == 1 and c.path[0] in ("inputs", "outputs", "nodes", "node_variants") and \
        c.op in ("add", "remove") and not (c.new if c.op == "add" else c.old)


def _ref_where(path: list) -> list:
    # ["nodes", "b", "inputs", "x"] -> b.inputs.x ; outputs stay "outputs.o.reference"
    if path[:1] == ["nodes"]:
        return path[1:]
    if path[:1] == ["node_variants"] and len(path) >= 4:
        return [path[1], path[3]] + path[5:]
    return path


def _field_line(c, rest: list) -> tuple:
    """(sign, text) of a field change, or (sign, text, block lines) when a value `is_text`."""
    where = _dotted(rest) if rest else "(value)"
    if c.op == "add":
        line = "+", f"{where}: {describe(c.new)}"
    elif c.op == "remove":
        line = "-", f"{where}: {describe(c.old)}"
    else:
        line = "~", f"{where}: {describe(c.old)} -> {describe(c.new)}"
    if is_text(c.old) or is_text(c.new):
        return line + (text_block(c.op, c.old, c.new),)
    return line


def _title(grp: Group) -> str:
    label = {"input": "input", "output": "output", "node": "node", "flow": "flow settings",
             "prompt": "prompt (the .prompty file)", "files": "files not used by any node"}[grp.kind]
    t = f"{label} {grp.name}".rstrip()
    if grp.notes:
        t += ": " + "; ".join(grp.notes)
    return t


def _file_label(c) -> str:
    where = ""
    p = c.path
    if p[0] == "node_variants":
        where = f" (variant {p[3]})"
    status = c.detail.get("status")
    extra = "" if status == "modified" else f" {status}"
    if c.detail.get("binary"):
        extra += " (binary)"
    name = c.detail.get("file")
    if c.detail.get("old_file"):
        name = f"{c.detail['old_file']} -> {name}"
    return f"{name}{where}{extra}"


class _Painter:
    def __init__(self, color: bool):
        self.color = color

    def __call__(self, key: str, text: str) -> str:
        code = _COLORS.get(key)
        if not self.color or not code:
            return text
        return f"\033[{code}m{text}\033[0m"


def _diff_lines(diff: str, paint: _Painter, indent: str) -> list:
    out = []
    body = False
    for line in diff.splitlines():
        if not body and line.startswith(("---", "+++")):
            continue  # the file header only: a removed source line "-- x" reads "--- x"
        body = True
        key = "@" if line.startswith("@@") else "+" if line.startswith("+") else \
            "-" if line.startswith("-") else ""
        out.append(indent + paint(key, line) if key else indent + line)
    return out


def _block_lines(block: list, paint: _Painter, indent: str) -> list:
    """A `text_block` under its change, deeper than any line of pfgit's own: each line keeps its
    marker in front, so a value's text always reads as part of that value."""
    return [indent + paint("@" if ln.startswith("@@") else ln[:1], ln) for ln in block]


def _body_entries(body: dict) -> list:
    """(where, value) of an added node's fields; a mapping holding a text (`inputs` with an
    inline prompt) one entry per key, so the text can be shown as its lines."""
    out = []
    for k, v in body.items():
        if k == "name":
            continue
        if isinstance(v, dict) and any(is_text(x) for x in v.values()):
            out += [(f"{k}.{sub}", sv) for sub, sv in v.items()]
        else:
            out.append((str(k), v))
    return out


def _node_body_lines(body: Any, paint: _Painter, sign: str, indent: str) -> list:
    if not isinstance(body, dict):
        return [indent + paint(sign, f"{sign} {fmt_value(body)}")]
    out = []
    for where, v in _body_entries(body):
        out.append(indent + paint(sign, f"{sign} {where}: {describe(v)}"))
        if is_text(v):
            out += _block_lines(text_block("add", None, v), paint, "        ")
    return out


def md_fence(lines: list, indent: str = "  ", info: str = "diff") -> list:
    """`lines` as a fenced code block whose fence is longer than any run of backticks in them
    (a line of backticks in a source file or value would otherwise close the block early)."""
    import re

    run = max((len(t) for ln in lines for t in re.findall("`+", ln)), default=0)
    fence = "`" * max(3, run + 1)
    return [f"{indent}{fence}{info}"] + [indent + ln for ln in lines] + [indent + fence]


def render_text(diffs: list, color: bool = False, header: bool = True) -> str:
    """Human-readable text, one block per flow."""
    paint = _Painter(color)
    out: list = []
    for fd in diffs:
        if header:
            out.append(paint("h", f"flow {fd.path}") + f"  ({fd.file}, {_status_word(fd)})")
        for side, file, line, msg in fd.problems:
            where = f"{file}:{line}" if line else file
            out.append(paint("!", f"  ! {side} side cannot be read: {where}: {msg}"))
        if fd.text_diff is not None:
            out.append("  text diff of the flow file instead:" if fd.text_diff else
                       "  (no text difference)")
            out += _diff_lines(fd.text_diff, paint, "    ")
            continue
        if not fd.shown:
            continue
        if not fd.changes:
            if not header or fd.status not in ("unchanged", "same"):  # else the header says so
                out.append("  no semantic change (formatting only)" if fd.status == "unchanged"
                           else "  no semantic change")
            continue
        for grp in group_changes(fd.changes, fd.order):
            sign = grp.sign
            title = _title(grp)
            out.append("  " + (paint(sign, f"{sign} {title}") if sign else paint("h", title)))
            if sign == "+" and grp.kind == "node":
                out += _node_body_lines(grp.body, paint, "+", "      ")
            for s, text, *block in grp.lines:
                word = "reference rewritten " if s == ">" else ""
                out.append("    " + paint(s, f"{s} {word}{text}"))
                if block:
                    out += _block_lines(block[0], paint, "        ")
            for c in grp.files:
                fs = {"added": "+", "deleted": "-"}.get(c.detail.get("status"), "~")
                word = "source " if grp.kind == "node" else ""
                out.append("    " + paint(fs, f"{fs} {word}{_file_label(c)}"))
                if c.detail.get("diff"):
                    out += _diff_lines(c.detail["diff"], paint, "        ")
    # each entry is one line (text diffs come split): a newline in a node name or key would
    # print a line of its own, such as a made-up "- node answer: removed"
    return "\n".join(e.replace("\n", "\\n") for e in out) + ("\n" if out else "")


def _status_word(fd) -> str:
    if getattr(fd, "old_path", None):
        word = "moved from " + fd.old_path
        return word if fd.status in ("same", "unchanged") else word + ", changed"
    return {"modified": "changed", "added": "new flow", "deleted": "deleted flow",
            "unchanged": "no semantic change", "same": "identical", "unreadable": "unreadable"}.get(fd.status, fd.status)


def render_markdown(diffs: list) -> str:
    """Markdown for a pull-request comment."""
    if not diffs:
        return "No flow changes.\n"
    out: list = []
    for fd in diffs:
        out.append(f"### Flow {md_code(fd.path, False)} — {md_text(_status_word(fd))}")
        out.append("")
        for side, file, line, msg in fd.problems:
            where = md_code(f"{file}{':' + str(line) if line else ''}", False)
            out.append(f"> :warning: the {side} side cannot be read: {where}: {md_text(msg)}")
            out.append("")
        if fd.text_diff:
            out += ["```diff", fd.text_diff.rstrip("\n"), "```", ""]
            continue
        if not fd.changes:
            out += ["No semantic change (formatting only).", ""]
            continue
        for grp in group_changes(fd.changes, fd.order):
            word = {"+": "**added** ", "-": "**removed** ", ">": "", "^": ""}.get(grp.sign, "")
            title = f"{grp.kind} {md_code(grp.name, False)}" if grp.name else md_text(_title(grp))
            notes = [md_text(n) for n in grp.notes if not n.startswith(("added", "removed"))]
            if grp.kind in ("input", "output"):
                notes += [md_code(n.split(": ", 1)[1], False) for n in grp.notes
                          if n.startswith(("added: ", "removed: "))]
            out.append(f"- {word}{title}" + (": " + "; ".join(notes) if notes else ""))
            if grp.sign == "+" and grp.kind == "node" and isinstance(grp.body, dict):
                for k, v in _body_entries(grp.body):
                    out.append(f"  - {md_code(k, False)}: {md_code(describe(v)[:200], False) or '``'}")
                    if is_text(v):
                        out += md_fence(text_block("add", None, v), "    ")
            for s, text, *block in grp.lines:
                verb = {"+": "added", "-": "removed", "~": "changed",
                        ">": "reference rewritten in"}.get(s, "")
                where, _, val = text.partition(": ")
                if where.endswith((" added", " removed", " replaced")):  # the verb says it
                    where = where.rsplit(" ", 1)[0]
                val = " → ".join(md_code(v, False) or "``" for v in val.split(" -> ")) if val else ""
                out.append(f"  - {verb} {md_code(where, False)}" + (f": {val}" if val else ""))
                if block:
                    out += md_fence(block[0], "    ")
            for c in grp.files:
                if not c.detail.get("diff"):  # binary: nothing to unfold
                    out.append(f"  - {md_code(_file_label(c), False)}")
                    continue
                out.append(f"  <details><summary>source <code>{html.escape(_file_label(c))}</code></summary>")
                out.append("")
                out += md_fence(c.detail["diff"].rstrip("\n").splitlines()) + ["  </details>"]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def stat_counts(fd) -> dict:
    counts: dict = {}
    for c in fd.changes:
        p = c.path
        if _empty_container(c):
            continue
        if c.is_file:
            key = "file"
        elif p[0] == "nodes" and len(p) == 2 or c.op == "rename":
            key = "node " + {"add": "added", "remove": "removed", "rename": "renamed",
                             "move": "moved", "change": "replaced"}[c.op]
        elif p[0] in ("nodes", "node_variants"):
            key = "node field"
        elif p[0] in ("inputs", "outputs"):
            key = p[0][:-1]
        else:
            key = "setting"
        counts[key] = counts.get(key, 0) + 1
    return counts


def plural(label: str, n: int) -> str:
    if n == 1:
        return label
    head, _, tail = label.partition(" ")
    if tail.endswith("ed"):      # "nodes added"
        return f"{head}s {tail}"
    return f"{label}s"           # "inputs", "node fields"


def render_stat(diffs: list) -> str:
    """One line per flow with counts of change kinds, then a total (like git diff --stat)."""
    if not diffs:
        return ""
    width = max(len(fd.path) for fd in diffs)
    out = []
    total = 0
    for fd in diffs:
        counts = stat_counts(fd)
        total += len(fd.changes)
        desc = ", ".join(f"{n} {plural(k, n)}" for k, n in counts.items()) or _status_word(fd)
        if fd.status in ("added", "deleted", "unreadable") or fd.old_path:
            desc = f"{_status_word(fd)}; {desc}" if counts else _status_word(fd)
        out.append(f" {fd.path.ljust(width)} | {len(fd.changes):3d} | {desc}")
    out.append(f" {len(diffs)} flow{'s' if len(diffs) != 1 else ''} changed, {total} semantic change"
               f"{'s' if total != 1 else ''}")
    return "\n".join(out) + "\n"


def render_json(diffs: list) -> dict:
    return {"flows": [fd.to_json() for fd in diffs]}


__all__ = ["render_text", "render_markdown", "render_stat", "render_json", "fmt_value",
           "group_changes"]
