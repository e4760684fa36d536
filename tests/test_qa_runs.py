"""QA of the run store and index (issue 5): defects found by using the commands as a user would."""

from __future__ import annotations

import pytest

from pfgit.errors import UsageError
from pfgit.gitio import runrefs
from pfgit.store.snapshot import record_run
from runs_helpers import make_repo, open_repo, run_cli


@pytest.fixture
def repo(tmp_path, corpus):
    return make_repo(tmp_path, corpus)


@pytest.mark.parametrize("line", ["[1, 2]", "3", '"text"', "null"])
def test_outputs_line_not_an_object_is_refused(repo, line):
    # was recorded, then `runs show --details` crashed with an internal error
    r = open_repo(repo)
    with pytest.raises(UsageError, match="outputs line 2 is not a JSON object"):
        record_run(r, "flows/acc", "bad", ['{"a": 1}', line], {}, {}, None)
    assert runrefs.get_run(r, "bad") is None


def test_cli_outputs_line_not_an_object_is_one_line_exit_2(repo, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.jsonl"
    out.write_text('{"a": 1}\n[1]\n')
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flows/acc",
                           "--outputs", str(out), "--name", "x")
    assert code == 2 and err.count("\n") == 1 and "not a JSON object" in err
