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


def fmt_value(v: Any, limit: int | None = None) -> str:
    """A value as one line of YAML flow style."""
    import yaml

    try:  # libyaml's emitter when present: ~20x faster (history formats thousands of values)
        s = yaml.dump(v, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), default_flow_style=True,
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
                    s, text = _field_line(c, rest)
                    grp.lines.append((s, f"variant {p[3]}: {text}"))
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
    where = _dotted(rest) if rest else "(value)"
    if c.op == "add":
        return "+", f"{where}: {fmt_value(c.new)}"
    if c.op == "remove":
        return "-", f"{where}: {fmt_value(c.old)}"
    return "~", f"{where}: {fmt_value(c.old)} -> {fmt_value(c.new)}"


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
    for line in diff.splitlines():
        if line.startswith(("---", "+++")):
            continue
        key = "@" if line.startswith("@@") else "+" if line.startswith("+") else \
            "-" if line.startswith("-") else ""
        out.append(indent + paint(key, line) if key else indent + line)
    return out


def _node_body_lines(body: Any, paint: _Painter, sign: str, indent: str) -> list:
    if not isinstance(body, dict):
        return [indent + paint(sign, f"{sign} {fmt_value(body)}")]
    return [indent + paint(sign, f"{sign} {k}: {fmt_value(v)}") for k, v in body.items() if k != "name"]


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
            for s, text in grp.lines:
                word = "reference rewritten " if s == ">" else ""
                out.append("    " + paint(s, f"{s} {word}{text}"))
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
                for k, v in grp.body.items():
                    if k != "name":
                        out.append(f"  - {md_code(k, False)}: {md_code(fmt_value(v, 200), False) or '``'}")
            for s, text in grp.lines:
                verb = {"+": "added", "-": "removed", "~": "changed",
                        ">": "reference rewritten in"}.get(s, "")
                where, _, val = text.partition(": ")
                if where.endswith((" added", " removed", " replaced")):  # the verb says it
                    where = where.rsplit(" ", 1)[0]
                val = " → ".join(md_code(v, False) or "``" for v in val.split(" -> ")) if val else ""
                out.append(f"  - {verb} {md_code(where, False)}" + (f": {val}" if val else ""))
            for c in grp.files:
                if not c.detail.get("diff"):  # binary: nothing to unfold
                    out.append(f"  - {md_code(_file_label(c), False)}")
                    continue
                out.append(f"  <details><summary>source <code>{html.escape(_file_label(c))}</code></summary>")
                out.append("")
                out += ["  ```diff"] + ["  " + ln for ln in c.detail["diff"].rstrip(
                    "\n").splitlines()] + ["  ```", "  </details>"]
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
