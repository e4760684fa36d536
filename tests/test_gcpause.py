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
