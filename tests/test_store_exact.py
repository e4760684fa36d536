"""Issue 8 section 3: the run store keeps data exact and secrets out (masking rule, numbers,
bad runs). Self-contained: the flow is written by the tests."""

from __future__ import annotations

import json

import pytest

from pfgit.store.secrets import MASK, Redactor, is_secret_key, secret_values
from pfgit.store.snapshot import record_run
from runs_helpers import all_objects_bytes, open_repo, run_cli
from secure_helpers import git, lines, make_flow_repo


@pytest.fixture
def repo(tmp_path):
    return make_flow_repo(tmp_path)


def _show(repo, rec, path):
    return git(repo, "show", f"{rec.commit}:{path}")


def test_masking_never_changes_data_that_is_not_a_secret(repo, monkeypatch):
    # variables whose names merely contain token/auth/key are not secrets
    for k, v in {"TOKENIZERS_PARALLELISM": "false", "GIT_AUTHOR_NAME": "Ada Lovelace",
                 "KEY_VAULT_NAME": "my-vault-name", "MAX_TOKENS": "12345678"}.items():
        monkeypatch.setenv(k, v)
    r = open_repo(repo)
    outs = [json.dumps({"parallel": False, "author": "Ada Lovelace", "vault": "my-vault-name",
                        "n": 12345678, "flag": "false"}), '{"raw":  1.50, "x":null}']
    rec = record_run(r, "flow", "plain", outs, {"max_tokens": 12345678},
                     {"environment": {"LOG_LEVEL": "debug-verbose", "FLAG": "false"},
                      "extra": {"max_tokens": 256, "author": "Ada Lovelace"}})
    assert _show(repo, rec, "outputs.jsonl").splitlines() == outs     # byte for byte
    assert json.loads(_show(repo, rec, "metrics.json")) == {"max_tokens": 12345678}
    assert json.loads(_show(repo, rec, "run.json"))["settings"] == {"max_tokens": 256,
                                                                    "author": "Ada Lovelace"}
    for name in ("TOKENIZERS_PARALLELISM", "GIT_AUTHOR_NAME", "KEY_VAULT_NAME", "max_tokens",
                 "author", "LOG_LEVEL"):
        assert not is_secret_key(name), name


def test_secret_named_variables_and_connection_secrets_are_masked_by_the_rule(repo, monkeypatch):
    for name in ("OPENAI_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "clientSecret", "api_key",
                 "AWS_SECRET_ACCESS_KEY", "connection_string", "HTTP_AUTH", "PASSWORD_FILE"):
        assert is_secret_key(name), name
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proc-0123456789")
    monkeypatch.setenv("SHORT_TOKEN", "abc1234")                 # under 8 characters: kept
    monkeypatch.setenv("FEATURE_TOKEN", "true")                  # a JSON literal: kept
    monkeypatch.setenv("NUMERIC_SECRET", "1234567890")           # a JSON number: kept
    r = open_repo(repo)
    conn = {"name": "my_conn", "api_key": "conn-key-abcdefgh", "api_base": "https://example.org"}
    outs = lines({"a": "sk-proc-0123456789 / conn-key-abcdefgh / env-token-zyxwvuts"},
                 {"b": "abc1234 true 1234567890 https://example.org"})
    rec = record_run(r, "flow", "masked", outs, {}, {
        "environment": {"SERVICE_TOKEN": "env-token-zyxwvuts"},
        "connections": {"echo.connection": conn}})
    got = [json.loads(x) for x in _show(repo, rec, "outputs.jsonl").splitlines()]
    assert got == [{"a": f"{MASK} / {MASK} / {MASK}"},
                   {"b": "abc1234 true 1234567890 https://example.org"}]
    blob = all_objects_bytes(repo)
    for secret in (b"sk-proc-0123456789", b"conn-key-abcdefgh", b"env-token-zyxwvuts"):
        assert secret not in blob


def test_json_escaped_forms_of_secrets_are_masked(repo):
    r = open_repo(repo)
    secret = "https://h/ключ-é-secret"                         # '/', non-ASCII
    forms = [json.dumps({"v": secret}),                          # non-ASCII escaped as \\u
             json.dumps({"v": secret}, ensure_ascii=False),      # raw UTF-8
             json.dumps({"v": secret}).replace("/", "\\/"),      # \\/ as some encoders write
             json.dumps({"v": secret}).replace("\\u043a", "\\u043A"),  # upper-case hex
             '{"v": "\\u0068ttps://h/ключ-é-secret", "n": 1.50}']  # any char may be escaped
    rec = record_run(r, "flow", "escaped", forms, {}, {"secrets": [secret]},
                     {"log.txt": "\n".join(forms)})
    out = _show(repo, rec, "outputs.jsonl").splitlines()
    assert [json.loads(x)["v"] for x in out] == [MASK] * len(forms)
    assert out[-1].endswith('"n": 1.50}')                       # the rest keeps its bytes
    assert "ключ" not in _show(repo, rec, "logs/log.txt")
    assert "\\u043a" not in _show(repo, rec, "logs/log.txt").lower()


@pytest.mark.parametrize("secret", ['pa"ss-word-123', "pa\\ss-word-123", 'a\\"b-c"d\\e-9'])
def test_a_secret_holding_a_quote_or_backslash_is_masked(repo, secret):
    r = open_repo(repo)
    outs = lines({"echo": f"key={secret}!"}, {secret: 1})
    rec = record_run(r, "flow", "quoted", outs, {}, {"secrets": [secret]},
                     {"logs.txt": f"raw {secret} and json {json.dumps(secret)}\n"})
    got = [json.loads(x) for x in _show(repo, rec, "outputs.jsonl").splitlines()]
    assert got == [{"echo": f"key={MASK}!"}, {MASK: 1}]          # still valid JSON
    log = _show(repo, rec, "logs/logs.txt")
    assert secret not in log and json.dumps(secret)[1:-1] not in log
    assert Redactor([secret]).json_line(json.dumps({"x": secret}).encode()) == b'{"x": "***"}'
    assert secret_values({}, [secret], process_env={}) == [secret]


BIG = 10 ** 400


def test_any_json_number_is_stored_and_read_back(repo, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out.jsonl"
    line = '{"a": 1e400, "b": NaN, "c": %d, "d": -Infinity, "e": 0.1000}' % BIG
    out.write_text(line + "\n")
    met = tmp_path / "m.json"
    met.write_text('{"acc": NaN, "big": %d, "inf": Infinity, "huge": 1e400, "long": %s}'
                   % (BIG, "9" * 5000))
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "record", "--flow", "flow",
                           "--outputs", str(out), "--metrics", str(met), "--name", "nums")
    assert code == 0, err
    assert git(repo, "show", "refs/pfgit/runs/nums:outputs.jsonl") == line   # exact bytes
    for argv in (["runs", "list"], ["runs", "show", "nums"], ["runs", "show", "nums", "--details"],
                 ["runs", "show", "nums", "--metrics"], ["log"], ["metrics", "diff", "nums", "nums"],
                 ["runs", "stream", "nums"]):
        code, stdout, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0 and not err, (argv, err)
    code, stdout, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "nums", "--json")
    m = json.loads(stdout)["run"]["metrics"]
    assert m == {"acc": "NaN", "big": BIG, "inf": "Infinity", "huge": "Infinity",
                 "long": "Infinity"}
    code, stdout, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "nums", "--details",
                              "--json")
    assert json.loads(stdout)["outputs"] == [{"a": "Infinity", "b": "NaN", "c": BIG,
                                              "d": "-Infinity", "e": 0.1}]


def _strict(text: str):
    def no(c):
        raise ValueError(f"non-standard token {c}")
    return json.loads(text, parse_constant=no)


def test_json_output_is_standard_json(repo, tmp_path, monkeypatch, capsys):
    r = open_repo(repo)
    record_run(r, "flow", "nan", lines({"x": 1}), {"acc": float("nan"), "f1": float("-inf")}, {})
    for argv in (["runs", "list", "--json"], ["runs", "show", "nan", "--json"], ["log", "--json"],
                 ["metrics", "diff", "nan", "nan", "--json"], ["runs", "show", "nan", "--metrics", "--json"]):
        code, stdout, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 0, err
        _strict(stdout)  # raises on NaN / Infinity tokens
    code, stdout, _ = run_cli(monkeypatch, capsys, repo, "runs", "show", "nan", "--metrics", "--json")
    assert _strict(stdout) == {"acc": "NaN", "f1": "-Infinity"}


def _bad_runs(repo):
    """A ref to a blob, a run.json of the wrong shape, a run.json that is not JSON."""
    blob = git(repo, "hash-object", "-w", "--stdin", input="not a commit")
    git(repo, "update-ref", "refs/pfgit/runs/blobref", blob)
    for name, text in (("shape", '{"flow": "x", "lines": [1], "status": {"a": 1}, "source": 3}'),
                       ("garbage", "{not json")):
        b = git(repo, "hash-object", "-w", "--stdin", input=text)
        tree = git(repo, "mktree", input=f"100644 blob {b}\trun.json\n")
        c = git(repo, "commit-tree", tree, "-m", f"pfgit run {name}")
        git(repo, "update-ref", f"refs/pfgit/runs/{name}", c)


def test_one_bad_run_never_blocks_listing_the_others(repo, tmp_path, monkeypatch, capsys):
    r = open_repo(repo)
    record_run(r, "flow", "good", lines({"x": 1}), {"acc": 0.5}, {})
    _bad_runs(repo)
    code, stdout, err = run_cli(monkeypatch, capsys, repo, "runs", "list", "--json")
    assert code == 0, err
    names = [x["name"] for x in json.loads(stdout)["runs"]]
    assert "good" in names and "garbage" not in names and "blobref" not in names
    code, _, err = run_cli(monkeypatch, capsys, repo, "runs", "show", "blobref")
    assert code == 2 and err.startswith("pfgit: ") and "Traceback" not in err
    # and in a clone after `pfgit fetch`
    bare = tmp_path / "shared.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "push", "-q", str(bare), "main")
    code, _, err = run_cli(monkeypatch, capsys, repo, "push", str(bare))
    assert code == 0, err
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    code, _, err = run_cli(monkeypatch, capsys, clone, "fetch")
    assert code == 0, err
    code, stdout, err = run_cli(monkeypatch, capsys, clone, "runs", "list")
    assert code == 0 and "good" in stdout, err
    code, stdout, err = run_cli(monkeypatch, capsys, clone, "log")
    assert code == 0 and "good" in stdout, err


def test_read_commands_work_on_a_read_only_git_dir(repo, monkeypatch, capsys):
    import os
    import shutil
    import stat

    r = open_repo(repo)
    record_run(r, "flow", "ro", lines({"x": 1}), {"acc": 0.5}, {})
    gitdir = repo / ".git"
    shutil.rmtree(gitdir / "pfgit")
    (gitdir / "pfgit").write_text("")  # the index cannot be created there, even by root
    modes = {}
    for d, dirs, files in os.walk(gitdir):
        for p in [d] + [os.path.join(d, f) for f in files]:
            modes[p] = os.stat(p).st_mode
            os.chmod(p, modes[p] & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        for argv in (["runs", "list"], ["runs", "show", "ro", "--details"], ["log"],
                     ["metrics", "diff", "ro", "ro"], ["runs", "stream", "ro"], ["diff"],
                     ["validate", "flow"]):
            code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
            assert code == 0 and not err, (argv, err)
            if argv[0] in ("runs", "log") and argv[1:2] != ["stream"]:
                assert "ro" in out, (argv, out)
    finally:
        for p, m in modes.items():
            os.chmod(p, m)


def test_big_untracked_files_and_packed_outputs_stay_in_bounded_memory(repo):
    """The bounded-memory paths (bench/memory.py measures 300 MB / 100 MB end to end)."""
    import os
    import tracemalloc

    from pfgit.store.read import load_run, stream_file

    r = open_repo(repo)
    with open(repo / "flow" / "data.bin", "wb") as f:
        f.write(os.urandom(6 << 20))
    out = [json.dumps({"line_number": i, "t": "y" * 400}) for i in range(15_000)]  # 6.3 MB
    record_run(r, "flow", "warm", lines({"x": 1}), {}, {})
    with open(repo / "flow" / "data.bin", "wb") as f:  # new content: written, not found
        f.write(os.urandom(6 << 20))
    tracemalloc.start()
    rec = record_run(r, "flow", "cap", lines({"x": 1}), {}, {})
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rec.dirty and peak < 3_000_000, peak                   # never the 6 MB file whole
    record_run(r, "flow", "big", out, {}, {})
    git(repo, "gc", "-q", "--prune=now")
    r = open_repo(repo)
    snap = load_run(r, "big")
    tracemalloc.start()
    n = sum(1 for _ in stream_file(r, snap))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert n == len(out) and peak < 2_000_000, peak               # packed, streamed from the pack


def test_malformed_run_snapshots_are_usage_errors_not_internal_errors(repo, tmp_path, monkeypatch, capsys):
    """Fetched run refs are untrusted: wrong types in run.json, a folder where a blob belongs, a
    blob where the flow folder belongs, folders nested thousands deep."""
    r = open_repo(repo)
    good = record_run(r, "flow", "good", lines({"x": 1}), {"acc": 0.5}, {})
    entries = {ln.split("\t")[1]: ln.split("\t")[0] for ln in git(repo, "ls-tree", good.commit).splitlines()}
    flow_tree = entries["flow"].split()[2]

    def craft(name, **over):
        ents = dict(entries, **over)
        tree = git(repo, "mktree", "--missing", input="".join(f"{v}\t{k}\n" for k, v in ents.items()))
        c = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", f"pfgit run {name}")
        git(repo, "update-ref", f"refs/pfgit/runs/{name}", c)

    blob = git(repo, "hash-object", "-w", "--stdin", input='{"flow": "x", "lines": 3, "name": "typed"}')
    craft("typed", **{"run.json": f"100644 blob {blob}"})
    craft("metricsdir", **{"metrics.json": f"040000 tree {flow_tree}", "logs": f"040000 tree {flow_tree}"})
    craft("flowblob", flow=f"100644 blob {blob}")
    from dulwich.objects import Tree

    deep = flow_tree.encode()
    for _ in range(1100):   # dulwich: 1,100 `git mktree` calls take 20 s
        t = Tree()
        t.add(b"d", 0o040000, deep)
        r.object_store.add_object(t)
        deep = t.id
    craft("deep", flow=f"040000 tree {deep.decode()}")
    craft("gitlink", **{"outputs.jsonl": "160000 commit " + "1" * 40})   # a submodule entry
    for argv in (["runs", "show", "gitlink", "--details"], ["runs", "stream", "gitlink"],
                 ["runs", "diff", "gitlink", "good"]):
        code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
        assert code == 2 and "outputs.jsonl in snapshot" in err and "internal" not in err, (argv, err)
    for name, code_want in (("typed", 0), ("metricsdir", 0), ("flowblob", 2), ("deep", 2)):
        for argv in (["checkout-run", name, str(tmp_path / f"co-{name}")],
                     ["export-zip", "--run", name, "-o", str(tmp_path / f"{name}.zip")],
                     ["runs", "show", name, "--details"]):
            code, out, err = run_cli(monkeypatch, capsys, repo, *argv)
            assert "internal error" not in err, (argv, err)
            assert code == (0 if argv[0] == "runs" else code_want), (argv, out, err)
