"""docs/validation.md shows real output: every example is rebuilt and run, and every code is shown.

Each `### \\`code\\`` section may hold files (a line "`flow/NAME`:" then a fenced block) and a
```console block whose `$` lines run in bash in a temporary folder; the lines after each command
must be exactly what it prints. Every example folder `flow/` starts with UPPER_PY as upper.py.
Refresh the outputs after a change with: python tests/test_validate_docs.py --fix
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOC = os.path.join(ROOT, "docs", "validation.md")
UPPER_PY = ("from promptflow.core import tool\n\n\n@tool\n"
            "def upper(text: str) -> str:\n    return text.upper()\n")
FILE = re.compile(r"^`(flow/[^`]+)`:$")


def sections(text: str) -> list:
    """(code, section text) for each `### \\`code\\`` heading."""
    parts = re.split(r"(?m)^### `([a-z0-9-]+)`\n", text)
    return list(zip(parts[1::2], parts[2::2]))


def run_section(body: str) -> str:
    """The section with each console block's output replaced by what the commands print now."""
    lines = body.split("\n")
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "flow"))
        with open(os.path.join(tmp, "flow", "upper.py"), "w") as f:
            f.write(UPPER_PY)
        env = dict(os.environ, NO_COLOR="1",
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        out, i = [], 0
        while i < len(lines):
            m = FILE.match(lines[i])
            if m and i + 1 < len(lines) and lines[i + 1].startswith("```"):
                end = lines.index("```", i + 2)
                with open(os.path.join(tmp, m.group(1)), "w", encoding="utf-8") as f:
                    f.write("\n".join(lines[i + 2:end]) + "\n")
                out.extend(lines[i:end + 1])
                i = end + 1
                continue
            if lines[i] == "```console":
                end = lines.index("```", i + 1)
                out.append(lines[i])
                for cmd in [x for x in lines[i + 1:end] if x.startswith("$ ")]:
                    p = subprocess.run(["bash", "-c", cmd[2:]], cwd=tmp, env=env, text=True,
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                    out.append(cmd)
                    out.extend(p.stdout.rstrip("\n").split("\n") if p.stdout else [])
                out.append("```")
                i = end + 1
                continue
            out.append(lines[i])
            i += 1
    return "\n".join(out)


def refreshed(text: str) -> str:
    from concurrent.futures import ThreadPoolExecutor

    parts = re.split(r"(?m)^(### `[a-z0-9-]+`\n)", text)
    with ThreadPoolExecutor(4) as pool:  # each example is its own folder and processes
        bodies = list(pool.map(run_section, parts[2::2]))
    return parts[0] + "".join(h + b for h, b in zip(parts[1::2], bodies))


def test_every_code_is_documented_with_an_example():
    from pfgit.validate import CODES

    text = open(DOC, encoding="utf-8").read()
    documented = dict(sections(text))
    assert set(documented) == set(CODES)
    for code, body in documented.items():
        assert "```console" in body, code
        assert f" {code} " in body, f"{code}: the example output must show the code"
        assert f"| `{code}` | {CODES[code][0]} |" in text, f"{code}: missing from the table"


def test_example_outputs_are_real():
    text = open(DOC, encoding="utf-8").read()
    for (code, body), (_, new) in zip(sections(text), sections(refreshed(text))):
        assert new == body, f"docs/validation.md example for {code} is stale (run --fix)"


if __name__ == "__main__" and sys.argv[1:] == ["--fix"]:
    sys.path.insert(0, ROOT)
    with open(DOC, encoding="utf-8") as f:
        doc = f.read()
    with open(DOC, "w", encoding="utf-8") as f:
        f.write(refreshed(doc))
