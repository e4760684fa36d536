import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = pathlib.Path(os.environ.get("PFGIT_CORPUS") or ROOT / ".." / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def corpus() -> pathlib.Path:
    assert CORPUS.is_dir(), f"corpus not found at {CORPUS}"
    return CORPUS


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
