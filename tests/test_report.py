"""`pfgit report`: the HTML page of metric history, runs, a run comparison and the DAG — its data,
its markup (untrusted names escaped), and the page in a real headless Chromium (Selenium): no
console errors, and the charts and tables show the recorded numbers."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from pfgit.report.dag import layout
from runs_helpers import git, run_cli

FLOW = """\
inputs:
  question: {type: string}
outputs:
  answer: {type: string, reference: '${format.output}'}
nodes:
- name: answer
  type: python
  source: {type: code, path: answer.py}
  inputs: {question: '${inputs.question}', style: v0}
- name: format
  type: python
  source: {type: code, path: format.py}
  inputs: {text: '${answer.output}'}
"""
ANSWER = "from promptflow.core import tool\n\n@tool\ndef answer(question: str, style: str):\n    return question\n"
FORMAT = "from promptflow.core import tool\n\n@tool\ndef format(text: str):\n    return text\n"
ACCURACY = [0.61, 0.7, 0.68, 0.83]


def _record(repo, monkeypatch, capsys, name, metrics, outputs, base=None):
    o = repo.parent / f"{name}.jsonl"
    o.write_text("".join(json.dumps(x) + "\n" for x in outputs))
    ins = repo.parent / f"{name}.in.jsonl"
    ins.write_text("".join(json.dumps({"line_number": i, "question": f"q{i}"}) + "\n"
                           for i in range(len(outputs))))
    args = ["runs", "record", "--flow", "qa", "--outputs", str(o), "--inputs", str(ins), "--name", name]
    if metrics:
        m = repo.parent / f"{name}.m.json"
        m.write_text(json.dumps(metrics))
        args += ["--metrics", str(m)]
    if base:
        args += ["--run", base]
    code, _, err = run_cli(monkeypatch, capsys, repo, *args)
    assert code == 0, err


@pytest.fixture
def repo(tmp_path, monkeypatch, capsys):
    """4 commits of flow qa, each with a run (accuracy, latency); the last on a branch."""
    r = tmp_path / "repo"
    (r / "qa").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "qa" / "answer.py").write_text(ANSWER)
    (r / "qa" / "format.py").write_text(FORMAT)
    for i, acc in enumerate(ACCURACY):
        if i == 3:
            git(r, "checkout", "-q", "-b", "feature")
        (r / "qa" / "flow.dag.yaml").write_text(FLOW.replace("style: v0", f"style: v{i}"))
        git(r, "add", "-A")
        git(r, "commit", "-q", "-m", f"style v{i} <b>bold</b>")
        _record(r, monkeypatch, capsys, f"run-{i}", {"accuracy": acc, "latency": 1.0 + i / 10},
                [{"line_number": 0, "answer": "Paris"},
                 {"line_number": 1, "answer": "Rome" if i < 3 else "Rome, Italy"}])
    return r


def test_report_data_history_series_compare_dag(repo, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, repo, "report", "--baseline", "main", "--json")
    assert code == 0, err
    data = json.loads(out)
    (f,) = data["flows"]
    assert f["path"] == "qa"
    assert [p["value"] for p in f["series"]["accuracy"]] == ACCURACY
    assert [p["branch"] for p in f["series"]["accuracy"]] == [False, False, False, True]
    assert [row["summary"] for row in f["history"]][0] == "style v3 <b>bold</b>"
    assert f["history"][0]["author"] == "Test"
    assert f["compare"]["a"] == "run-2" and f["compare"]["b"] == "run-3"
    assert [ln["differs"] for ln in f["compare"]["lines"]] == [False, True]
    assert f["compare"]["lines"][1]["inputs"] == {"question": "q1"}
    assert f["dag"]["names"] == ["answer", "format"] and f["dag"]["changed"] == ["answer"]


def test_report_escapes_untrusted_text(repo, monkeypatch, capsys, tmp_path):
    out = tmp_path / "r.html"
    code, _, err = run_cli(monkeypatch, capsys, repo, "report", "-o", str(out))
    assert code == 0, err
    html = out.read_text()
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert "<script" not in html  # the page runs no script at all
    assert "default-src 'none'" in html


def test_report_path_without_flow_is_exit_2(repo, monkeypatch, capsys):
    (repo / "empty").mkdir()
    (repo / "empty" / "x.txt").write_text("x")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "x")
    code, _, err = run_cli(monkeypatch, capsys, repo, "report", "empty")
    assert code == 2 and err.strip() == "pfgit: empty: no flow at HEAD"


def test_dag_layout_layers_by_dependency_and_survives_cycles():
    assert layout(["a", "b", "c"], [("a", "b"), ("b", "c")]) == {"a": (0, 0), "b": (1, 0), "c": (2, 0)}
    pos = layout(["x", "a", "b"], [("a", "b"), ("b", "a")])
    assert pos["x"] == (0, 0) and {pos["a"][0], pos["b"][0]} == {1}


def _chromium():
    for binary in ("chromium", "chromium-browser"):
        path = shutil.which(binary)
        if path:
            return path
    return None


@pytest.mark.slow
def test_report_in_headless_chromium(repo, monkeypatch, capsys, tmp_path):
    """The page as a reviewer sees it. Chromium and chromedriver come from Debian's packages
    (.ci/run installs them); screenshots go to $PFGIT_SCREENSHOTS when set (docs/img)."""
    chromium, driver = _chromium(), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("Chromium and chromedriver are needed (apt-get install chromium chromium-driver; "
                    ".ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    out = tmp_path / "report.html"
    code, _, err = run_cli(monkeypatch, capsys, repo, "report", "--baseline", "main", "-o", str(out))
    assert code == 0, err
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--disable-dev-shm-usage", "--window-size=1280,2000",
              f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=opts)
    try:
        browser.get(out.as_uri())
        assert browser.title == "pfgit report"
        points = browser.find_elements(By.CSS_SELECTOR, 'svg.chart[data-metric="accuracy"] circle.pt')
        assert [float(p.get_attribute("data-value")) for p in points] == ACCURACY
        assert all(p.is_displayed() for p in points)
        branch = browser.find_elements(By.CSS_SELECTOR, 'svg.chart[data-metric="accuracy"] circle.branch')
        assert len(branch) == 1
        rows = browser.find_elements(By.CSS_SELECTOR, "table.history tbody tr")
        assert len(rows) == 4
        assert "0.83" in rows[0].text and "branch" in rows[0].text
        assert browser.find_element(By.CSS_SELECTOR, 'table.runs tr[data-run="run-3"]').is_displayed()
        differs = browser.find_elements(By.CSS_SELECTOR, "table.compare tr.differs")
        assert [d.get_attribute("data-line") for d in differs] == ["1"]
        changed = browser.find_elements(By.CSS_SELECTOR, "svg.dag g.node.changed")
        assert [c.get_attribute("data-node") for c in changed] == ["answer"]
        errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]
        assert errors == []
        shots = os.environ.get("PFGIT_SCREENSHOTS") or str(tmp_path)
        os.makedirs(shots, exist_ok=True)
        browser.save_screenshot(os.path.join(shots, "report.png"))
        assert os.path.getsize(os.path.join(shots, "report.png")) > 10_000
    finally:
        browser.quit()
