"""One help style for every command, as git and click print it: `BRANCH`, `[PATH]...`, `--flow PATH`.

typer 0.27 prints a required argument as `{branch}` and an option's value as `<str>`; this pass
over the built click command gives every parameter without a metavar of its own a real one.
Applied in pfgit/cli/main.py to the whole command tree before it runs.
"""

from __future__ import annotations

try:  # typer >= 0.20 builds commands from its vendored click
    from typer._click import _textwrap, types
except ImportError:  # pragma: no cover
    from click import _textwrap, types


class _WholeWords(_textwrap.TextWrapper):
    """Help lines break between words only: never `--no-` / `index`."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("break_on_hyphens", False)
        super().__init__(*args, **kwargs)


_textwrap.TextWrapper = _WholeWords  # click's wrap_text imports it at each call

# an option's value named by what it is, not by its Python type
OPTION_METAVARS = {
    "flow": "PATH", "commit": "REV", "rev": "REV", "baseline": "REV", "base": "REV",
    "message": "MSG", "color": "WHEN", "metric": "NAME", "name": "NAME", "remote": "REMOTE",
    "output": "FILE", "outputs": "FILE", "inputs": "FILE", "metrics": "FILE", "data": "FILE",
    "log": "FILE", "column-mapping": "KEY=VALUE", "connections": "NODE.CONNECTION=NAME",
    "start-time": "TIME", "end-time": "TIME", "run": "RUN",
    "environment-variables": "K=V|.ENV", "init": "K=V|FILE", "tags": "K=V", "set": "KEY=VALUE",
    "display-name": "NAME", "description": "WORDS", "resume": "NAME", "resume-from": "NAME",
    "llm-cache": "DIR", "llm-mode": "MODE", "engine": "ENGINE", "source": "DIR",
    "inputs-file": "FILE", "node": "NODE",
}


def _usage_metavar(param) -> str:
    name = (param.name or "arg").upper().replace("_", "-")
    if param.nargs == -1:
        return f"{name}..." if param.required else f"[{name}]..."
    return name if param.required else f"[{name}]"


def _option_metavar(param) -> str:
    if isinstance(param.type, types.IntParamType):
        return "N"
    if isinstance(param.type, types.FloatParamType):
        return "NUMBER"
    long = max(param.opts, key=len).lstrip("-")
    return OPTION_METAVARS.get(long, long.upper())


def _fixed_argument(cls):
    """A subclass of the argument class whose metavar is printed as given, in usage lines too."""

    class FixedMetavarArgument(cls):
        def make_metavar(self, ctx=None, *args, **kwargs) -> str:
            return self.metavar

        def get_usage_pieces(self, ctx) -> list:
            return [self.metavar]

    return FixedMetavarArgument


_FIXED: dict = {}


def restyle(cmd) -> None:
    """Set real metavars on `cmd` and all its subcommands (in place)."""
    for param in cmd.params:
        if param.param_type_name == "argument":
            if param.metavar is None:
                param.metavar = _usage_metavar(param)
            cls = type(param)
            if cls not in _FIXED.values():
                param.__class__ = _FIXED.setdefault(cls, _fixed_argument(cls))
        elif param.param_type_name == "option" and not (param.is_flag or param.count):
            if param.metavar is None:
                param.metavar = _option_metavar(param)
    for sub in getattr(cmd, "commands", {}).values():
        restyle(sub)
