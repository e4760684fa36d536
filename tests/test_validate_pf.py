"""promptflow's own `pf flow validate` agrees with pfgit on the corpus's genuinely broken flow.

flow-with-symlinks has its sources as symlinks upstream; the corpus keeps no symlinks, so the
files are really missing. Run on a copy: pf writes .promptflow/ into the flow folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pfgit.flow.readers import DirReader
from pfgit.validate import validate_path

SYMLINKS = "examples/flows/standard/flow-with-symlinks"
PF = os.path.join(os.path.dirname(sys.executable), "pf")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(PF), reason="promptflow not installed (extra 'promptflow')")
def test_pf_flow_validate_agrees_the_symlink_flow_is_broken(corpus, tmp_path):
    flow = tmp_path / "flow-with-symlinks"
    shutil.copytree(corpus / SYMLINKS, flow)
    os.chmod(flow, 0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, HOME=str(home), PF_HOME_DIRECTORY=str(home / ".promptflow"),
               PF_DISABLE_TELEMETRY="true")
    subprocess.run([PF, "config", "set", "telemetry.enabled=false"], env=env, check=True,
                   capture_output=True, timeout=120)
    p = subprocess.run([PF, "flow", "validate", "--source", str(flow)], env=env, text=True,
                       capture_output=True, timeout=300)
    assert p.returncode != 0
    result = json.loads(p.stdout[p.stdout.index("{"):])
    assert result["result"] == "Failed"
    pf_missing = {(e["yaml_path"], e["value"]) for e in result["errors"]}

    ours = validate_path(DirReader(str(tmp_path), ""), "flow-with-symlinks")[0].problems
    assert {p.code for p in ours} == {"missing-source"}
    assert {p.message.split("'")[1] for p in ours} == {v for _, v in pf_missing}
    assert len(ours) == len(pf_missing) == 6
    assert all("can not be found" in e["message"] for e in result["errors"])
