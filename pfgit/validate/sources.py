"""The files nodes run: they exist (in the folder or via additional_includes) and they parse.

Python files are compiled with the builtin `compile` (which also catches errors `ast.parse` lets
through, such as `return` outside a function, and needs no import); Jinja2 templates are compiled
(never rendered, no constant folded: `_checking_env`), jinja2 imported only when a template has
something to parse.
"""

from __future__ import annotations

import posixpath

from ..flow.readers import join, path_outside
from ..flow.yamlpos import MAX_YAML_BYTES
from .assistant import check_assistant_inputs
from .context import Context, variant_note
from .signatures import is_connection_annotation, parse_module, tool_names, tool_signature

MAX_SOURCE_BYTES = MAX_YAML_BYTES
PY_SUFFIXES = (".py",)
JINJA_SUFFIXES = (".jinja2", ".jinja", ".j2")

_jinja_env = None


def include_targets(ctx: Context) -> list:
    """(base name in the flow folder, reader path) for each additional_includes entry.

    promptflow copies each entry into the flow folder under its base name (files and folders).
    """
    out = []
    for inc in ctx.flow.additional_includes:
        target = join(ctx.rel_dir, inc)
        out.append((posixpath.basename(target.rstrip("/")), target))
    return out


def check_includes(ctx: Context) -> None:
    if ctx.reader is None:
        return
    for i, inc in enumerate(ctx.flow.data.get("additional_includes") or []):
        if isinstance(inc, str) and path_outside(ctx.reader, join(ctx.rel_dir, inc)):
            ctx.add("path-outside-repo", f"additional_includes entry '{inc}' resolves outside the "
                    "repository; pfgit does not read it", ("additional_includes", i))
        elif isinstance(inc, str) and not ctx.reader.exists(join(ctx.rel_dir, inc)):
            ctx.add("missing-include", f"additional_includes entry '{inc}' does not exist",
                    ("additional_includes", i))


def candidates(ctx: Context, path: str) -> list:
    """Reader paths where a source `path` may be found: the folder first, then the includes."""
    rel = join(path)
    out = [join(ctx.rel_dir, rel)]
    for name, target in include_targets(ctx):
        if rel == name:
            out.append(target)
        elif rel.startswith(name + "/"):
            out.append(join(target, rel[len(name) + 1:]))
    return out


class SourceFiles:
    """Reads each source file once per flow and remembers what was reported about it."""

    def __init__(self, ctx: Context):
        self.ctx = ctx
        self.checked: dict = {}   # reader path -> True once checked
        self.good_python: dict = {}  # reader path -> bytes of a .py file that compiled
        self.good_jinja: dict = {}  # reader path -> text of a template that compiled
        self.signatures: dict = {}
        self.trees: dict = {}     # reader path -> AST of a good .py file (parsed once: a
        #                           100,000-line source takes a second)
        self.tool_counts: dict = {}  # reader path -> it defines exactly one @tool (or cannot tell)

    def read(self, rel: str, node: str | None, path: tuple | None) -> bytes | None:
        """The bytes of `rel`, or None after reporting why they cannot be had."""
        ctx = self.ctx
        reader = ctx.reader
        size = getattr(reader, "size", None)  # a folder on disk: don't read a huge file at all
        too_large = (f"'{ctx.display(rel)}' is larger than {MAX_SOURCE_BYTES // (1024 * 1024)} MB; "
                     "not checked")
        try:
            if size is not None and size(rel) > MAX_SOURCE_BYTES:
                ctx.add("file-too-large", too_large, path, node)
                return None
            data = reader.read_bytes(rel)
        except FileNotFoundError:  # found by name, so a link pointing nowhere
            ctx.add("missing-source", f"'{ctx.display(rel)}' is a symbolic link to a file that does "
                    "not exist", path, node)
            return None
        except IsADirectoryError:
            ctx.add("unreadable-file", f"'{ctx.display(rel)}' is a folder, not a file", path, node)
            return None
        except OSError as e:
            ctx.add("unreadable-file", f"cannot read '{ctx.display(rel)}': {e.strerror or e}",
                    path, node)
            return None
        if len(data) > MAX_SOURCE_BYTES:
            ctx.add("file-too-large", too_large, path, node)
            return None
        return data

    def find(self, source_path: str) -> str | None:
        """The reader path of a source file, or None when it is missing."""
        for rel in candidates(self.ctx, source_path):
            if path_outside(self.ctx.reader, rel):
                continue
            if self.ctx.reader.exists(rel) or _is_broken_link(self.ctx.reader, rel):
                return rel
        return None

    def check_syntax(self, rel: str, node: str | None, path: tuple, line_offset: int = 0,
                     text_only: bytes | None = None) -> None:
        """Syntax of a .py or Jinja2 file (once per file). Problems point into that file."""
        if rel in self.checked and text_only is None:
            return
        self.checked[rel] = True
        is_py = rel.endswith(PY_SUFFIXES)
        if not is_py and not rel.endswith(JINJA_SUFFIXES) and text_only is None:
            return
        data = text_only if text_only is not None else self.read(rel, node, path)
        if data is None:
            return
        ctx = self.ctx
        shown = ctx.display(rel)
        if is_py:
            err = python_error(data, shown)
            if err:
                ctx.add("python-syntax", f"Python syntax error: {err[1]}", node=node,
                        file=shown, line=err[0])
            else:
                self.good_python[rel] = data
            return
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            ctx.add("bad-encoding", f"'{shown}' is not valid UTF-8 (byte 0x{data[e.start]:02x})",
                    node=node, file=shown, line=line + line_offset)
            return
        err, tree = jinja_parse(text)
        if err:
            ctx.add("jinja-syntax", f"Jinja2 syntax error: {err[1]}", node=node, file=shown,
                    line=err[0] + line_offset)
        elif text_only is None:
            self.good_jinja[rel] = tree


    def tool_count_ok(self, rel: str, node: str | None) -> bool:
        """False (once reported) when a python source does not define exactly one @tool."""
        if rel not in self.tool_counts:
            data = self.good_python.get(rel)
            names = tool_names(data, rel, self.tree(rel)) if data is not None else None
            self.tool_counts[rel] = names is None or len(names) == 1
            if names is not None and len(names) != 1:
                what = (f"{len(names)} @tool functions ({', '.join(names)})" if names
                        else "no @tool function")
                self.ctx.add("tool-count", f"'{self.ctx.display(rel)}' defines {what}; promptflow "
                             "needs exactly one per python source", node=node,
                             file=self.ctx.display(rel), line=1)
        return self.tool_counts[rel]

    def signature(self, rel: str):
        if rel not in self.signatures:
            data = self.good_python.get(rel)
            self.signatures[rel] = tool_signature(data, rel, self.tree(rel)) if data is not None else None
        return self.signatures[rel]

    def tree(self, rel: str):
        """The AST of a good python file (None: it does not parse)."""
        if rel not in self.trees:
            self.trees[rel] = parse_module(self.good_python[rel], rel)
        return self.trees[rel]


def check_tool_inputs(ctx: Context, files: SourceFiles, rel: str, node, body) -> None:
    """A python node's inputs against its @tool function's parameters."""
    sig = files.signature(rel)
    if sig is None:
        return
    where = f"{sig.function}() in {ctx.display(rel)}"
    note = variant_note(body.base_path)
    if not sig.any_keyword:
        for k in body.inputs:
            if k not in sig.params:
                ctx.add("unknown-tool-input", f"input '{k}'{note} is not a parameter of {where} "
                        f"(parameters: {', '.join(sig.params) or 'none'})",
                        body.base_path + ("inputs", k), node.name)
    for k in sig.required:
        if k not in body.inputs:
            path = body.base_path + (("inputs",) if "inputs" in body.raw else ())
            if is_connection_annotation(sig.annotations.get(k)):
                # promptflow's own fixture flows/connection_not_provided runs with
                # `connections={"node": {"connection": ...}}` given at submission
                ctx.add("missing-connection", f"connection parameter '{k}' of {where} has no "
                        f"input{note}; a run must supply it (pf run --connections)", path, node.name)
                continue
            ctx.add("missing-tool-input", f"required parameter '{k}' of {where} has no input{note}",
                    path, node.name)


def _is_broken_link(reader, rel: str) -> bool:
    # a symlink loop or dangling link "does not exist" to os.path.exists; reading it says why
    if not hasattr(reader, "root"):
        return False
    import os

    return os.path.islink(os.path.join(reader.root, rel))


def python_error(data: bytes, filename: str) -> tuple | None:
    """(line, message) of the first syntax error in Python source, or None."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. SyntaxWarning for invalid escapes: not our business
        try:
            compile(data, filename, "exec", dont_inherit=True)
        except SyntaxError as e:
            return (e.lineno or 1), e.msg
        except (ValueError, MemoryError, RecursionError) as e:  # null bytes, absurd nesting
            return 1, str(e) or type(e).__name__
    return None


def jinja_error(text: str) -> tuple | None:
    """(line, message) of a Jinja2 syntax error, or None."""
    return jinja_parse(text)[0]


def jinja_parse(text: str) -> tuple:
    """(error, template AST): error is (line, message) of a Jinja2 syntax error or None; the AST
    (None when there is nothing to parse) serves the reserved-name check without parsing twice.

    Compiled, not only parsed: promptflow renders with jinja2.Template(...), which also refuses
    unknown filters and tests (TemplateAssertionError, a TemplateSyntaxError)."""
    if "{" not in text:
        return None, None  # no tag, expression or comment: nothing Jinja2 could reject
    import jinja2

    env = _checking_env()
    try:
        tree = env.parse(text)
        env.compile(tree)
    except jinja2.TemplateSyntaxError as e:
        return ((e.lineno or 1), e.message or "invalid template"), None
    except RecursionError:
        return (1, "template nested too deeply"), None
    except (SyntaxError, ValueError, MemoryError) as e:
        # what Jinja2 lets through to Python's compile: `{% macro m(a, a) %}` ("duplicate
        # argument 'l_1_a'") was an internal error; jinja2.Template(...) refuses it too
        msg = getattr(e, "msg", None) or str(e) or type(e).__name__
        return (1, "the template compiles to invalid Python: " + msg.replace("'l_1_", "'")), None
    return None, tree


def _checking_env():
    """A Jinja2 environment that compiles a template without evaluating any of it.

    Jinja2 folds constant expressions while compiling (its optimizer and the code generator's
    output folding call `as_const`): a plain Environment computed `{{ 'x'|center(10**9) }}` or
    `{{ 'a' * 10**10 }}` during validate (gigabytes, minutes: a pull request's template stalled
    the pre-commit hook and CI) and `{{ 2 ** 100000 }}` was an internal error. Here operators
    count as intercepted (the sandbox's rule: never folded) and every filter and test is a stub
    that needs the render context (never called at compile time), under the real names, so an
    unknown filter or test is still refused as promptflow's jinja2.Template(...) refuses it."""
    global _jinja_env
    if _jinja_env is None:
        import jinja2
        from jinja2.sandbox import SandboxedEnvironment

        @jinja2.pass_context
        def stub(*args, **kwargs):  # pragma: no cover - compiled code is never run
            raise RuntimeError("validate never renders a template")

        class CheckingEnvironment(SandboxedEnvironment):
            intercepted_binops = frozenset(("+", "-", "*", "/", "//", "%", "**"))
            intercepted_unops = frozenset(("+", "-"))

        env = CheckingEnvironment(optimized=False)
        base = jinja2.Environment()
        env.filters = {name: stub for name in base.filters}
        env.tests = {name: stub for name in base.tests}
        _jinja_env = env
    return _jinja_env


def check(ctx: Context) -> None:
    if ctx.reader is None:
        return
    check_includes(ctx)
    files = SourceFiles(ctx)
    has_includes = bool(ctx.flow.additional_includes)
    for node, vid, body, src in _all_sources(ctx):
        if src.type == "package":
            continue  # an installed tool; `path` is not read
        ppath = body.base_path + (("source", "path") if "source" in body.raw else ("tool",))
        if path_outside(ctx.reader, join(ctx.rel_dir, src.path)):
            ctx.add("path-outside-repo", f"source file '{src.path}' resolves outside the "
                    "repository; pfgit does not read it", ppath, node.name)
            continue
        rel = files.find(src.path)
        if rel is None:
            where = (" (own source of a use_variants node, read by `pf flow validate`)" if vid is _OWN
                     else f" (variant '{vid}')" if vid else "")
            looked = " or in additional_includes" if has_includes else ""
            unstaged = getattr(ctx.reader, "unstaged", None)  # set when judging the git index
            if unstaged is not None and any(unstaged(c) for c in candidates(ctx, src.path)):
                looked += " (it is in the worktree but not staged: git add it)"
            ctx.add("missing-source", f"source file '{src.path}'{where} not found in the flow "
                    f"folder{looked}", ppath, node.name)
            continue
        if ctx.reader.is_dir(rel):   # `path: .`, `path: ..`, `path: n1.py/..`: promptflow fails
            ctx.add("unreadable-file", f"'{ctx.display(rel)}' is a folder, not a file", ppath,
                    node.name)
            continue
        if rel not in files.checked:
            if not ctx.reader.exists(rel):  # a broken link: say why it cannot be read
                files.checked[rel] = True
                files.read(rel, node.name, ppath)
                continue
            files.check_syntax(rel, node.name, ppath)
        if vid is _OWN:
            continue  # a use_variants node's own body never runs: only its file is checked
        if body.type == "python" and src.type == "code" and rel.endswith(".py"):
            if files.tool_count_ok(rel, node.name):
                check_tool_inputs(ctx, files, rel, node, body)
                check_assistant_inputs(ctx, files, rel, node, body)
        elif rel in files.good_jinja:
            reserved = reserved_names(body)
            if reserved:
                check_prompt_reserved(ctx, files.good_jinja[rel], reserved, node, ppath)


_OWN = "(own source)"


def _all_sources(ctx: Context):
    """flow.sources(), plus the own source of each use_variants node whose variants replace it.

    promptflow runs the default variant instead of such a node's own body, but `pf flow validate`
    still generates the meta of its own source and reports a missing file (its fixture
    flows/web_classification_invalid expects "nodes.1.source.path: Meta file ... can not be
    found"), so the file is checked for existence and syntax, not its inputs."""
    for item in ctx.flow.sources():
        yield item
    for node in ctx.flow.nodes:
        if node.use_variants and node.name in ctx.flow.node_variants:
            src = node.source
            if src is not None and src.path:
                yield node, _OWN, node, src


# A template variable named like a parameter of the tool that renders it collides with it, and
# promptflow refuses the node (executor/_tool_resolver.py::_validate_duplicated_inputs). The prompt
# tool is render_template_jinja2(template, **kwargs) (fixture flows/prompt_tool_with_duplicated_inputs:
# "duplicated with the reserved parameters of prompt tool"); an llm node's are those of its API
# (flows/llm_tool_with_duplicated_inputs: "{'prompt'} ... duplicated with the parameters of
# AzureOpenAI.completion"). The provider follows the connection's type, known only at run time, so
# for llm nodes only the parameters AzureOpenAI and OpenAI share are taken (promptflow-tools 1.x).
PROMPT_TOOL_PARAMS = frozenset({"template"})
LLM_PARAMS = {
    "completion": frozenset({"prompt", "suffix", "max_tokens", "temperature", "top_p", "n", "stream",
                             "logprobs", "echo", "stop", "presence_penalty", "frequency_penalty",
                             "best_of", "logit_bias", "user"}),
    "chat": frozenset({"prompt", "temperature", "top_p", "stream", "stop", "max_tokens",
                       "presence_penalty", "frequency_penalty", "logit_bias", "user", "function_call",
                       "functions", "tool_choice", "tools", "response_format", "seed"}),
}


def reserved_names(body) -> tuple | None:
    """(names a template of this body may not use, the tool they belong to), or None."""
    if body.type == "prompt":
        return PROMPT_TOOL_PARAMS, "the prompt tool"
    api = body.raw.get("api")
    if body.type == "llm" and api in LLM_PARAMS:
        return LLM_PARAMS[api], f"the llm '{api}' API"
    return None


def check_prompt_reserved(ctx: Context, tree, reserved: tuple, node, ppath: tuple) -> None:
    names, tool = reserved
    if tree is None:
        return  # no Jinja2 syntax at all
    from jinja2 import nodes

    # the variables the template reads and never assigns ({% for %}, {% set %}, macro
    # arguments): what jinja2.meta.find_undeclared_variables gives promptflow, walked cheaply
    loads, stores = set(), set()
    for n in tree.find_all(nodes.Name):
        (stores if n.ctx in ("store", "param") else loads).add(n.name)
    for name in sorted((loads - stores) & names):
        ctx.add("reserved-prompt-input", f"the template uses '{{{{ {name} }}}}', a parameter of "
                f"{tool}; promptflow refuses the node (rename the variable)", ppath, node.name)
