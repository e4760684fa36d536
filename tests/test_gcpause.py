"""pfgit.gcpause: the collector paused while a flow is read, and during a command's start-up."""

from __future__ import annotations

import gc
import subprocess
import sys

from pfgit import gcpause


def test_startup_pause_turns_collection_back_on_and_freezes_on_request():
    was = gc.isenabled()
    try:
        gc.enable()
        gcpause.pause_startup()
        assert not gc.isenabled()
        before = gc.get_freeze_count()
        gcpause.end_startup(freeze=True)
        assert gc.isenabled() and gc.get_freeze_count() > before
        gcpause.end_startup()            # once only
        gc.disable()
        gcpause.end_startup()            # a caller's own setting is left alone
        assert not gc.isenabled()
    finally:
        gc.unfreeze()
        (gc.enable if was else gc.disable)()


def test_every_command_runs_with_collection_on():
    """The entry point pauses the collector for its imports only: a command (here `validate`,
    a light entry, and `connection list`, a typer one) runs with it on."""
    probe = ("import gc, sys\nfrom pfgit.cli import main as m\nseen = []\n"
             "orig = m.end_startup\n"
             "def spy(*a, **k):\n    orig(*a, **k)\n    seen.append(gc.isenabled())\n"
             "m.end_startup = spy\nsys.argv = ['pfgit'] + sys.argv[1:]\n"
             "try:\n    m.run()\nexcept SystemExit:\n    pass\nprint(seen)\n")
    for argv in (["validate", "--json", "."], ["connection", "list"]):
        out = subprocess.run([sys.executable, "-c", probe, *argv], capture_output=True, text=True).stdout
        assert out.strip().splitlines()[-1] == "[True]", out


def test_a_test_chat_runs_with_collection_on(tmp_path):
    """`pfgit test` runs its one line with the start-up pause still on; a conversation
    (`--interactive`) lasts, and turns collection back on first."""
    from run_flows import write_flow
    from test_run_chat import ECHO_CHAT

    flow = write_flow(tmp_path / "chat", ECHO_CHAT)
    probe = ("import gc, sys\nfrom pfgit.gcpause import end_startup\nimport pfgit.gcpause as g\nseen = []\n"
             "def spy(*a, **k):\n    end_startup(*a, **k)\n    seen.append(gc.isenabled())\n"
             "g.end_startup = spy\nfrom pfgit.cli import main as m\nsys.argv = ['pfgit'] + sys.argv[1:]\n"
             "try:\n    m.run()\nexcept SystemExit:\n    pass\nprint(seen)\n")
    out = subprocess.run([sys.executable, "-c", probe, "test", "--flow", str(flow), "--interactive"],
                         input="hi\n", capture_output=True, text=True).stdout
    assert out.strip().splitlines()[-1] == "[True]", out


PROBE_RUN = ("import gc, sys\nfrom pfgit.cli import main as m\n"
             "import pfgit.cli.cmd_runs as r\norig = r.import_and_report\n"
             "def spy(*a, **k):\n    print('import gc', gc.isenabled())\n    return orig(*a, **k)\n"
             "r.import_and_report = spy\nsys.argv = ['pfgit'] + sys.argv[1:]\n"
             "try:\n    m.run()\nexcept SystemExit:\n    pass\n")


def test_a_run_s_lines_and_a_run_source_import_run_with_collection_on(tmp_path):
    """`pfgit run` keeps the collector paused until its lines start (pfgit.run.batch); a path
    that never got there (`run --source`, fixed in 6573232 without a test) ran with it off. A
    tool reports what its line saw, with threads and without."""
    import os

    import pf_runs_gen
    from secure_helpers import make_flow_repo
    from test_runs_import import FIXTURE

    repo = make_flow_repo(tmp_path)
    (repo / "flow" / "echo.py").write_text(
        "import gc\nfrom promptflow.core import tool\n\n\n@tool\ndef echo(q: str) -> str:\n"
        "    return f'gc {gc.isenabled()}'\n")
    (tmp_path / "d.jsonl").write_text('{"q": "a"}\n{"q": "b"}\n')
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for workers in ("1", "2"):
        p = subprocess.run([sys.executable, "-c", PROBE_RUN, "run", "--flow", "flow", "--data",
                            str(tmp_path / "d.jsonl"), "--workers", workers, "--name", f"w{workers}"],
                           cwd=repo, env=env, capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        outs = subprocess.run(["git", "show", f"refs/pfgit/runs/w{workers}:outputs.jsonl"], cwd=repo,
                              capture_output=True, text=True).stdout
        assert outs.count('"gc True"') == 2, outs
    pf_home = pf_runs_gen.materialize(FIXTURE, tmp_path / "pfhome")
    other = tmp_path / "pfrepo"
    pf_runs_gen.make_repo(other)
    p = subprocess.run([sys.executable, "-c", PROBE_RUN, "run", "--source", str(pf_home / ".runs" / "batch1")],
                       cwd=other, env=env, capture_output=True, text=True)
    assert p.returncode == 0 and "import gc True" in p.stdout, (p.stdout, p.stderr)
