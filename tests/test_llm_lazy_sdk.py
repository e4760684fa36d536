"""Importing the openai SDK with its re-export packages lazy (pfgit.run.llm.lazy_packages): what a
batch needs is imported, the rest only when asked for, and what is asked for is exactly what an
eager import gives. Synthetic packages show the rules; the real SDK is checked in child processes
(the test process may have imported it eagerly already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from pfgit.run.llm.lazy_packages import _reexports_only, import_lazily

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write(root, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


HEAVY = "import builtins\nbuiltins.LAZY_TEST_LOADED.append(__name__)\n"


@pytest.fixture
def pkg(tmp_path, monkeypatch):
    """`lzpkg`: a top package importing `lzpkg.types.small`; `lzpkg.types` re-exports `Big`
    from a module that records its import; `lzpkg.effects` has a side effect in `__init__`."""
    _write(tmp_path, {
        "lzpkg/__init__.py": "from .types.small import Small\n",
        "lzpkg/types/__init__.py": '''\
            """re-exports"""
            import typing as _t
            from .big import Big as Big
            from .small import Small as Small
            if _t.TYPE_CHECKING:
                from .big import Big
            __all__ = ["Big", "Small"]
            ''',
        "lzpkg/types/big.py": HEAVY + "class Big: pass\n",
        "lzpkg/types/small.py": HEAVY + "class Small: pass\n",
        "lzpkg/effects/__init__.py": HEAVY + "from .leaf import Leaf\n",
        "lzpkg/effects/leaf.py": "class Leaf: pass\n",
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    import builtins
    import importlib

    monkeypatch.setattr(builtins, "LAZY_TEST_LOADED", [], raising=False)
    importlib.invalidate_caches()
    yield builtins.LAZY_TEST_LOADED
    for name in [m for m in sys.modules if m == "lzpkg" or m.startswith("lzpkg.")]:
        del sys.modules[name]


def test_a_reexport_package_runs_its_init_only_when_a_name_is_asked(pkg, monkeypatch):
    monkeypatch.delenv("PFGIT_LLM_LAZY_SDK", raising=False)
    top = import_lazily("lzpkg")
    assert pkg == ["lzpkg.types.small"]               # big.py not run: the package's init is deferred
    assert top.Small.__module__ == "lzpkg.types.small"
    from lzpkg.types import small                      # a submodule by name: still no init
    assert pkg == ["lzpkg.types.small"] and small.Small is top.Small
    from lzpkg.types import Big                        # a re-exported name: the real init runs, once
    assert pkg == ["lzpkg.types.small", "lzpkg.types.big"]
    types = sys.modules["lzpkg.types"]
    assert types.__all__ == ["Big", "Small"] and types.Big is Big
    assert "__getattr__" not in vars(types)            # afterwards it is an ordinary package
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        types.Nope


def test_threads_asking_while_the_init_runs_wait_for_it(pkg, tmp_path):
    """A batch's line threads import from the SDK at once: none may see a half-run `__init__`
    (the first version raised "cannot import name 'Completion' from 'openai.types'")."""
    import threading

    (tmp_path / "lzpkg/types/big.py").write_text(HEAVY + "import time\ntime.sleep(0.3)\nclass Big: pass\n")
    (tmp_path / "lzpkg/types/__init__.py").write_text(
        "from .big import Big as Big\nfrom .small import Small as Small\nfrom .zlast import Last as Last\n")
    (tmp_path / "lzpkg/types/zlast.py").write_text("class Last: pass\n")
    import_lazily("lzpkg")
    got, errors = [], []

    def ask(name):
        try:
            ns: dict = {}
            exec(f"from lzpkg.types import {name}", ns)
            got.append(ns[name].__name__)
        except Exception as e:
            errors.append(repr(e))

    threads = [threading.Thread(target=ask, args=(n,)) for n in ["Big", "Last", "Small", "Last"] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and sorted(got) == sorted(["Big", "Last", "Small", "Last"] * 3)
    assert pkg.count("lzpkg.types.big") == 1           # the init ran once


def test_dir_and_star_import_see_the_whole_package(pkg):
    import_lazily("lzpkg")
    types = sys.modules["lzpkg.types"]
    assert "Big" in dir(types)
    ns: dict = {}
    exec("from lzpkg.types import *", ns)
    assert {"Big", "Small"} <= set(ns)


def test_a_package_whose_init_does_more_than_import_is_imported_as_usual(pkg):
    import_lazily("lzpkg")
    import lzpkg.effects.leaf  # noqa: F401
    assert "lzpkg.effects" in pkg                      # its init ran at import


def test_switched_off_by_the_environment(pkg, monkeypatch):
    monkeypatch.setenv("PFGIT_LLM_LAZY_SDK", "0")
    import_lazily("lzpkg")
    assert "lzpkg.types.big" in pkg


@pytest.mark.parametrize("text,lazy", [
    ("from .a import B as B\n__all__ = ['B']\n__version__ = '1'\n", True),
    ("import typing as _t\nif _t.TYPE_CHECKING:\n    from .a import B\n", True),
    ("from .a import B\nB.x = 1\n", False),
    ("from .a import B\nprint('hi')\n", False),
    ("def __getattr__(name):\n    return name\n", False),
    ("import typing as _t\nif _t.TYPE_CHECKING:\n    pass\nelse:\n    def f(): pass\n", False),
    ("__all__ = [x for x in 'ab']\n", False),
    ("VALUE = 1\n", False),
    ("from .a import (\n", False),
])
def test_which_inits_count_as_reexports_only(tmp_path, text, lazy):
    p = tmp_path / "__init__.py"
    p.write_text(text)
    assert _reexports_only(str(p)) is lazy


def _child(code: str, **env) -> dict:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=ROOT, **env), timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


_SDK_PROBE = """
    import json, sys
    from pfgit.run.llm import client
    client.preload()
    before = len([m for m in sys.modules if m.startswith("openai.")])
    batch_loaded = "openai.types.batch" in sys.modules
    import openai
    from openai.types import Batch, Completion
    from openai.types.chat import ChatCompletion
    print(json.dumps({"before": before, "batch_loaded": batch_loaded,
                      "types": sorted(k for k in vars(openai.types) if not k.startswith("_")),
                      "batch": Batch.__module__, "chat": ChatCompletion.__module__,
                      "fields": sorted(Completion.model_fields)}))
"""


def test_the_real_sdk_imports_less_and_then_looks_the_same():
    lazy = _child(_SDK_PROBE)
    eager = _child(_SDK_PROBE, PFGIT_LLM_LAZY_SDK="0")
    assert eager["batch_loaded"] and not lazy["batch_loaded"]
    assert lazy["before"] < eager["before"] / 2        # ~130 of ~520 SDK modules
    for k in ("types", "batch", "chat", "fields"):
        assert lazy[k] == eager[k], k


def test_an_llm_batch_through_the_lazy_sdk_gets_its_replies(tmp_path):
    """preload() then real chat, completion and embedding calls, against the fake server in the
    child: each gets the reply the fake server builds."""
    out = _child(f"""
        import json, sys
        sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
        from fake_openai import FakeOpenAI
        from pfgit.run.llm import client
        client.preload()
        with FakeOpenAI() as srv:
            conn = {{"type": "open_ai", "api_key": "sk-x", "base_url": srv.url}}
            pol = client.RetryPolicy()
            chat = client.send("chat", conn, {{"model": "m", "messages": [{{"role": "user", "content": "hi"}}]}},
                               None, pol)
            comp = client.send("completion", conn, {{"model": "m", "prompt": "say"}}, None, pol)
            emb = client.send("embedding", conn, {{"model": "e", "input": "x"}}, None, pol)
        print(json.dumps({{"chat": chat["choices"][0]["message"]["role"], "comp": comp["object"],
                          "emb": len(emb["data"][0]["embedding"]),
                          "lazy": "openai.types.batch" not in sys.modules}}))
    """)
    assert out == {"chat": "assistant", "comp": "text_completion", "emb": out["emb"], "lazy": True}
    assert out["emb"] > 0
