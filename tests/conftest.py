import os
import pathlib

import pytest

import corpus_finder as _corpus

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def corpus() -> pathlib.Path:
    """The real-flow corpus ($PFGIT_CORPUS, else ../shared/corpus); tests using it skip without it."""
    root = _corpus.locate()
    if root is None:
        pytest.skip(f"{_corpus.SKIP_REASON}: {_corpus.how_to_enable()}")
    return root


_CORPUS_SKIP_AT = (__file__, 1 + next(i for i, line in enumerate(open(__file__, encoding="utf-8"))
                                        if "pytest.skip(f\"{_corpus.SKIP_REASON}" in line))


def pytest_configure(config):
    if os.environ.get(_corpus.REQUIRE_ENV) == "1" and _corpus.locate() is None:
        raise pytest.UsageError(f"{_corpus.REQUIRE_ENV}=1 but the real-flow corpus is missing: "
                                f"{_corpus.how_to_enable()}")


def pytest_report_header(config):
    root = _corpus.locate()
    return f"real-flow corpus: {root if root else 'absent (' + _corpus.how_to_enable() + ')'}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # pytest reports a fixture's skip at each test's own line, so `-ra` would list every corpus
    # test; one location makes it fold them into a single line with their count.
    outcome = yield
    rep = outcome.get_result()
    if rep.skipped and isinstance(rep.longrepr, tuple) and _corpus.SKIP_REASON in str(rep.longrepr[2]):
        rep.longrepr = (_CORPUS_SKIP_AT[0], _CORPUS_SKIP_AT[1], rep.longrepr[2])


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch, tmp_path_factory):
    # git identity and an isolated HOME so tests never read the user's config
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for k, v in {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
                 "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com",
                 "PF_DISABLE_TELEMETRY": "true", "NO_COLOR": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("PFGIT_DEBUG", raising=False)
