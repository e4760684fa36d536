"""`pfgit run --source DIR` takes what `pf run create --source DIR` takes besides the folder:
`--set display_name=...`, `description=...`, `tags.K=...` (pfgit's `--display-name`,
`--description`, `--tags` too), recorded in the new snapshot's settings and shown by `pf run
list`. Any other option or --set key is still refused in one line."""

from __future__ import annotations

import json

import pf_runs_gen
from run_flows import git
from test_run_resume_from import cli, run_json
from test_runs_import import FIXTURE


def _setup(tmp_path, monkeypatch):
    pf_home = pf_runs_gen.materialize(FIXTURE, tmp_path / "pfhome")
    repo = tmp_path / "repo"
    pf_runs_gen.make_repo(repo)
    monkeypatch.chdir(repo)
    return repo, pf_home


def test_source_takes_display_name_description_and_tags_as_pf(tmp_path, monkeypatch, capsys):
    repo, pf_home = _setup(tmp_path, monkeypatch)
    folder = str(pf_home / ".runs" / "batch1")
    head = git(repo, "rev-parse", "HEAD")
    rc, out, err = cli(capsys, "run", "--source", folder, "--set", "display_name=nightly",
                       "description=from the lab", "tags.team=qa", "--tags", "env=ci")
    assert (rc, out, err) == (0, f"run batch1: linked to {head[:8]} (flows/if_else)\n", "")
    settings = run_json(repo, "batch1")["settings"]
    assert settings["display_name"] == "nightly" and settings["description"] == "from the lab"
    assert {"team": "qa", "env": "ci"}.items() <= settings["tags"].items()
    rc, out, _ = cli(capsys, "runs", "list", "--format", "pf")
    shown = [r for r in json.loads(out) if r["name"] == "batch1"][0]
    assert (shown["display_name"], shown["description"]) == ("nightly", "from the lab")
    assert shown["tags"]["team"] == "qa"
    # pfgit's own option for the same field, as the pf alias passes it
    folder2 = str(pf_home / ".runs" / "eval1")
    assert cli(capsys, "run", "create", "--source", folder2, "--display-name", "e")[0] == 0
    assert run_json(repo, "eval1")["settings"]["display_name"] == "e"


def test_source_still_refuses_what_pf_does_not_take_there(tmp_path, monkeypatch, capsys):
    _, pf_home = _setup(tmp_path, monkeypatch)
    folder = str(pf_home / ".runs" / "batch1")
    rc, _, err = cli(capsys, "run", "--source", folder, "--set", "variant=${x.v}")
    assert rc == 2 and err == ("pfgit: --source cannot be combined with --set variant (only display_name, "
                               "description, tags.K, as pf run create --source: the run's settings are "
                               "the folder's)\n")
    rc, _, err = cli(capsys, "run", "--source", folder, "--set", "display_name=a", "display_name=b")
    assert (rc, err) == (2, "pfgit: --set display_name given twice\n")
    rc, _, err = cli(capsys, "run", "--source", folder, "--name", "x", "--set", "display_name=a")
    assert (rc, err) == (2, "pfgit: --source cannot be combined with --name (the run's settings are the folder's)\n")
