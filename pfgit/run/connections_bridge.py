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
