"""The `promptflow` names python tools import, for when the real package is not used.

Served by an import hook (a sys.meta_path finder) installed only while the runner executes tools:
nothing named `promptflow` is ever put on sys.path, so other code never mistakes it for the real
package. Covers the public tool API (promptflow-format.md §7): `tool`, `log_metric`, `ToolProvider`,
the connection classes, `trace`, the model configurations, each module exporting only names the
real module has. Whether a flow gets this layer or the installed package is decided per flow by
pfimports.py (an import the layer lacks means the real package, or an error without it).
"""

from __future__ import annotations

import contextvars
import dataclasses
import importlib.abc
import importlib.machinery
import sys
from concurrent.futures import ThreadPoolExecutor

from .metrics import log_metric


def tool(func=None, *, name=None, description=None, type=None, input_settings=None,
         streaming_option_parameter=None, **kwargs):
    """@tool / @tool(...): marks the function; calling it is unchanged."""
    def mark(f):
        try:
            f.__pfgit_tool__ = True
        except AttributeError:  # a builtin or bound method: wrap it
            def g(*a, **kw):
                return f(*a, **kw)
            g.__pfgit_tool__ = True
            g.__name__ = getattr(f, "__name__", "tool")
            return g
        return f
    return mark(func) if callable(func) else mark


def trace(func=None, **kwargs):
    """@trace / @trace(...): promptflow records spans; values are unchanged."""
    return func if callable(func) else (lambda f: f)


def start_trace(*args, **kwargs):
    return None


class ThreadPoolExecutorWithContext(ThreadPoolExecutor):
    """promptflow.tracing's: threads start in a copy of the creating thread's contextvars (so
    traced calls keep their parent span)."""

    def __init__(self, max_workers=None, thread_name_prefix="", initializer=None, initargs=()):
        context = contextvars.copy_context()

        def start():
            for var, value in context.items():
                var.set(value)
            if initializer is not None:
                initializer(*initargs)
        super().__init__(max_workers, thread_name_prefix, start)


class ToolProvider:
    def __init__(self, *args, **kwargs):
        pass


class _Connection:
    """configs/secrets as promptflow's connection entities expose them."""
    TYPE = "custom"

    def __init__(self, configs: dict | None = None, secrets: dict | None = None, name: str | None = None, **fields):
        self.__dict__["name"] = name
        self.__dict__["configs"] = dict(configs or {})
        self.__dict__["secrets"] = dict(secrets or {})
        for k, v in fields.items():
            (self.secrets if k in _SECRET_FIELDS else self.configs)[k] = v

    def __getattr__(self, key):
        d = self.__dict__
        if key in d.get("secrets", {}):
            return d["secrets"][key]
        if key in d.get("configs", {}):
            return d["configs"][key]
        if key in ("api_key", "organization", "base_url", "api_base", "api_version", "api_type",
                   "endpoint", "auth_mode", "resource_id"):
            return None
        raise AttributeError(key)

    def __setattr__(self, key, value):
        (self.secrets if key in self.secrets or key in _SECRET_FIELDS else self.configs)[key] = value

    def keys(self) -> list:
        """Config then secret keys, as promptflow's: `dict(connection)` and `**connection` work."""
        return list(self.configs) + list(self.secrets)

    def __getitem__(self, key):
        if key in self.secrets:
            return self.secrets[key]
        if key in self.configs:
            return self.configs[key]
        raise KeyError(f"Key {key!r} not found in connection {self.name!r}.")

    def __repr__(self):
        return f"{type(self).__name__}(name={self.name!r})"


_SECRET_FIELDS = {"api_key", "key"}


class CustomConnection(_Connection):
    TYPE = "custom"


class CustomStrongTypeConnection(_Connection):
    TYPE = "custom"


class OpenAIConnection(_Connection):
    TYPE = "open_ai"


class AzureOpenAIConnection(_Connection):
    TYPE = "azure_open_ai"


class ServerlessConnection(_Connection):
    TYPE = "serverless"


class SerpConnection(_Connection):
    TYPE = "serp"


class CognitiveSearchConnection(_Connection):
    TYPE = "cognitive_search"


class AzureContentSafetyConnection(_Connection):
    TYPE = "azure_content_safety"


class FormRecognizerConnection(_Connection):
    TYPE = "form_recognizer"


class AzureAIServicesConnection(_Connection):
    TYPE = "azure_ai_services"


class QdrantConnection(_Connection):
    TYPE = "qdrant"


class WeaviateConnection(_Connection):
    TYPE = "weaviate"


CONNECTION_CLASSES = {c.__name__: c for c in (
    CustomConnection, CustomStrongTypeConnection, OpenAIConnection, AzureOpenAIConnection,
    ServerlessConnection, SerpConnection, CognitiveSearchConnection, AzureContentSafetyConnection,
    FormRecognizerConnection, AzureAIServicesConnection, QdrantConnection, WeaviateConnection)}
CLASS_BY_TYPE = {c.TYPE: c for c in CONNECTION_CLASSES.values() if c is not CustomStrongTypeConnection}


@dataclasses.dataclass
class OpenAIModelConfiguration:
    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    organization: str | None = None
    connection: str | None = None

    @classmethod
    def from_connection(cls, connection, model: str):
        return cls(model=model, base_url=connection.base_url, api_key=connection.api_key,
                   organization=connection.organization)


@dataclasses.dataclass
class AzureOpenAIModelConfiguration:
    azure_deployment: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    api_key: str | None = None
    connection: str | None = None

    @classmethod
    def from_connection(cls, connection, azure_deployment: str):
        return cls(azure_deployment=azure_deployment, azure_endpoint=connection.api_base,
                   api_version=connection.api_version, api_key=connection.api_key)


_TOOL_API = {"tool": tool, "log_metric": log_metric, "ToolProvider": ToolProvider}


def _without(d: dict, *names) -> dict:
    return {k: v for k, v in d.items() if k not in names}


# each module exports exactly the names the real one (promptflow 1.18) has, so a tool that works
# with the layer works with the package and pfimports can tell what the layer covers
MODULES = {
    "promptflow": dict(_TOOL_API),
    "promptflow.core": dict(_TOOL_API, OpenAIModelConfiguration=OpenAIModelConfiguration,
                            AzureOpenAIModelConfiguration=AzureOpenAIModelConfiguration),
    "promptflow.connections": _without(CONNECTION_CLASSES, "QdrantConnection", "WeaviateConnection"),
    "promptflow.entities": _without(CONNECTION_CLASSES, "CustomStrongTypeConnection", "ServerlessConnection",
                                    "AzureAIServicesConnection", "WeaviateConnection"),
    "promptflow.tracing": {"trace": trace, "start_trace": start_trace,
                           "ThreadPoolExecutorWithContext": ThreadPoolExecutorWithContext},
    "promptflow._core": {},
    "promptflow._core.tool": {"tool": tool, "ToolProvider": ToolProvider},
    "promptflow._core.metric_logger": {"log_metric": log_metric},
}


class _Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MODULES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        if fullname.startswith("promptflow."):   # only reached by a dynamic import the scan missed
            raise ModuleNotFoundError(f"No module named '{fullname}' in pfgit's promptflow compatibility "
                                      f"layer (pip install promptflow, PFGIT_PROMPTFLOW_IMPORTS=real)",
                                      name=fullname)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__dict__.update(MODULES[module.__name__])
        module.__path__ = []          # a package, so `promptflow.core` resolves through us
        module.__pfgit_compat__ = True


_FINDER = _Finder()


def _promptflow_modules() -> list:
    return [n for n in sys.modules if n == "promptflow" or n.startswith("promptflow.")]


def install() -> dict:
    """Serve `promptflow.*` from this layer. The real package, when this process imported it
    already, is set aside (returned, for uninstall) so the flow never sees a mix of both."""
    hidden = {n: sys.modules.pop(n) for n in _promptflow_modules()
              if not getattr(sys.modules[n], "__pfgit_compat__", False)}
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    return hidden


def uninstall(hidden: dict | None = None) -> None:
    if _FINDER in sys.meta_path:
        sys.meta_path.remove(_FINDER)
    for name in _promptflow_modules():
        if getattr(sys.modules[name], "__pfgit_compat__", False):
            del sys.modules[name]
    sys.modules.update(hidden or {})


def is_tool(obj) -> bool:
    """Marked by our @tool or promptflow's (which sets `__tool`)."""
    return bool(getattr(obj, "__pfgit_tool__", False)) or "__tool" in getattr(obj, "__dict__", {})


def make_connection(conn: dict, class_name: str | None = None, real: bool = False):
    """A connection object for a tool parameter, from promptflow's connection-YAML shape: one of
    the real package's classes when the flow's tools import the real package (`real`)."""
    ctype = str(conn.get("type") or "custom")
    fields = {k: v for k, v in conn.items() if k not in ("type", "name", "module", "$schema",
                                                          "configs", "secrets", "custom_type",
                                                          "package", "package_version")}
    if real:
        import promptflow.connections as pc

        cls_name = class_name or {c.TYPE: n for n, c in CONNECTION_CLASSES.items()}.get(ctype, "CustomConnection")
        cls = getattr(pc, cls_name, None) or pc.CustomConnection
        if ctype == "custom":
            return cls(configs=dict(conn.get("configs") or {}), secrets=dict(conn.get("secrets") or {}),
                       name=conn.get("name"))
        return cls(name=conn.get("name"), **fields)
    cls = CONNECTION_CLASSES.get(class_name or "") or CLASS_BY_TYPE.get(ctype, CustomConnection)
    return cls(configs=conn.get("configs"), secrets=conn.get("secrets"), name=conn.get("name"), **fields)
