"""How the runner finds connections: pfgit.run.connections (the connection store) when present."""

from __future__ import annotations


def connection_getter():
    """A function name -> connection dict (promptflow YAML shape) raising KeyError when unknown,
    or None when no connection store is available."""
    try:
        from . import connections
    except ImportError:
        return None
    fn = getattr(connections, "get_connection", None)
    return fn


def bridge_promptflow(get_connection):
    """Let the installed promptflow's prompty loader find pfgit's connections.

    A flow run in-process with the real package (a flex flow calling `Prompty.load(model=
    {"configuration": AzureOpenAIModelConfiguration(connection="name")})`, corpus:
    chat-basic) has promptflow look the name up in its own local store (`PFClient`), which
    knows nothing of `pfgit connection`. While the flow runs, the lookup tries pfgit's store
    first and promptflow's after. Returns the function that undoes it (a no-op when this
    promptflow has no such lookup)."""
    if get_connection is None:
        return lambda: None
    try:
        from promptflow.core import _prompty_utils as utils
    except Exception:   # no promptflow, or one laid out differently: its own lookup stays
        return lambda: None
    original = getattr(utils, "get_connection_by_name", None)
    if original is None:
        return lambda: None

    def get_connection_by_name(connection_name):
        try:
            conn = get_connection(str(connection_name))
        except KeyError:
            return original(connection_name)
        from .compat import make_connection

        obj = make_connection(dict(conn, name=str(connection_name)), None, real=True)
        return obj._to_execution_connection_dict()["value"], obj.TYPE

    utils.get_connection_by_name = get_connection_by_name

    def undo():
        if utils.get_connection_by_name is get_connection_by_name:
            utils.get_connection_by_name = original
    return undo
