"""Connections: promptflow's YAML, stored in the user's config folder with mode 0600, masked on
show/list, `${env:VAR}` resolved at use, secrets handed to the store's redaction."""

import json
import os
import stat
import textwrap

import pytest

from pfgit.cli.main import main
from pfgit.errors import PfgitError
from pfgit.run.connections import ConnectionStore, load_file


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    monkeypatch.setenv("PF_HOME_DIRECTORY", str(tmp_path / "pfhome"))
    return tmp_path / "cfg" / "pfgit" / "connections"


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return str(p)


def test_create_list_show_delete(cfg, tmp_path, capsys):
    f = write(tmp_path, "c.yaml", """\
        $schema: https://azuremlschemas.azureedge.net/promptflow/latest/AzureOpenAIConnection.schema.json
        name: aoai
        type: azure_open_ai
        api_key: "<user-input>"
        api_base: https://x.openai.azure.com/
        api_version: 2024-02-01
        """)
    assert main(["connection", "create", "--file", f]) == 2
    assert "still '<user-input>'" in capsys.readouterr().err
    assert main(["connection", "create", "--file", f, "--set", "api_key=sk-very-secret"]) == 0
    path = cfg / "aoai.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(cfg.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["api_version"] == "2024-02-01"  # promptflow's default
    capsys.readouterr()
    assert main(["connection", "show", "aoai", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["api_key"] == "******" and shown["api_base"] == "https://x.openai.azure.com/"
    assert main(["connection", "list"]) == 0
    out = capsys.readouterr().out
    assert "aoai" in out and "azure_open_ai" in out and "sk-very-secret" not in out
    assert main(["connection", "delete", "aoai"]) == 0
    assert main(["connection", "delete", "aoai"]) == 1
    assert main(["connection", "show", "aoai"]) == 2
    assert "unknown connection 'aoai'" in capsys.readouterr().err


def test_custom_env_refs_and_secret_values(cfg, tmp_path, monkeypatch):
    f = write(tmp_path, "c.yaml", """\
        name: my_custom
        type: custom
        configs: {prefix: P}
        secrets: {token: "${env:MY_TOKEN}"}
        """)
    store = ConnectionStore()
    store.save(load_file(f, ["secrets.extra=xyz123"]))
    c = store.get("my_custom")
    assert "MY_TOKEN" in (cfg / "my_custom.json").read_text()  # the file holds the reference only
    assert c.masked()["secrets"] == {"token": "******", "extra": "******"}
    with pytest.raises(PfgitError, match=r"token refers to \$\{env:MY_TOKEN\}, which is not set"):
        c.resolved()
    monkeypatch.setenv("MY_TOKEN", "tok-4242")
    assert c.resolved().secrets == {"token": "tok-4242", "extra": "xyz123"}
    assert c.resolved().configs == {"prefix": "P"} and c.class_name == "CustomConnection"
    assert sorted(c.secret_values()) == ["tok-4242", "xyz123"]


def test_bad_files_and_names(cfg, tmp_path):
    for text, msg in [("name: x\ntype: nope\napi_key: k\n", "unknown connection type"),
                      ("name: x\ntype: open_ai\n", "needs api_key"),
                      ("name: ../x\ntype: open_ai\napi_key: k\n", "invalid connection name"),
                      ("name: [\n", "not valid YAML")]:
        with pytest.raises(PfgitError, match=msg):
            load_file(write(tmp_path, "b.yaml", text))
    (cfg).mkdir(parents=True)
    (cfg / "broken.json").write_text("{")
    assert ConnectionStore().list() == []  # one bad file hides nothing else and breaks nothing


def test_promptflow_connections_are_listed(cfg, tmp_path, capsys):
    import sqlite3

    home = tmp_path / "pfhome"
    home.mkdir()
    db = sqlite3.connect(home / "pf.sqlite")
    db.execute("CREATE TABLE connection (connectionName TEXT, connectionType TEXT, configs TEXT)")
    db.execute("INSERT INTO connection VALUES ('pf_conn', 'OpenAI', '{\"api_key\": \"encrypted\"}')")
    db.commit()
    db.close()
    assert main(["connection", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"name": "pf_conn", "type": "open_ai", "module": "promptflow.connections",
                       "source": "promptflow"}]


@pytest.mark.slow
def test_promptflow_connection_read_through_its_api(cfg, tmp_path):
    """A connection only promptflow has: listed, and its secret read through promptflow's API
    when a run needs it (child processes: promptflow stays out of the test process)."""
    import subprocess
    import sys

    from pfgit.run.engine.select import promptflow_installed

    if not promptflow_installed():
        pytest.skip("promptflow not installed")
    home = tmp_path / "pfhome"
    home.mkdir()
    (home / "pf.yaml").write_text("telemetry:\n  enabled: 'false'\ntrace:\n  destination: none\n")
    env = dict(os.environ, PF_HOME_DIRECTORY=str(home), PF_DISABLE_TELEMETRY="true")
    subprocess.run([sys.executable, "-c", (
        "from promptflow.client import PFClient\nfrom promptflow.connections import OpenAIConnection\n"
        "PFClient().connections.create_or_update(OpenAIConnection(name='pf_only', api_key='sk-pf-7777',"
        " base_url='http://127.0.0.1:9/v1'))\n")], env=env, check=True, capture_output=True, cwd=tmp_path)
    out = subprocess.run([sys.executable, "-c", (
        "import json\nfrom pfgit.run.connections import get_connection\n"
        "print(json.dumps(get_connection('pf_only')))\n")], env=env, check=True, capture_output=True,
        text=True, cwd=tmp_path).stdout
    conn = json.loads(out.strip().splitlines()[-1])
    assert (conn["type"], conn["api_key"], conn["base_url"]) == ("open_ai", "sk-pf-7777", "http://127.0.0.1:9/v1")


def test_secret_named_fields_and_url_passwords_are_masked_everywhere(cfg, tmp_path, capsys, monkeypatch):
    f = write(tmp_path, "c.yaml", """\
        name: aad
        type: azure_open_ai
        api_base: https://svc:URLPASS-5678@x.openai.azure.com/
        api_key: ${env:AOAI_K}
        client_secret: CLIENT-SECRET-1234
        """)
    assert main(["connection", "create", "--file", f, "--json"]) == 0
    for argv in (["connection", "show", "aad"], ["connection", "show", "aad", "--json"],
                 ["connection", "list"], ["connection", "list", "--json"]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "CLIENT-SECRET" not in out and "URLPASS" not in out and "svc:******@x.openai" in out, argv
    monkeypatch.setenv("AOAI_K", "sk-key-from-env")
    from pfgit.run.connections import get_connection, secret_values_of

    assert sorted(secret_values_of(get_connection("aad"))) == [   # what a run's snapshot masks
        "CLIENT-SECRET-1234", "URLPASS-5678", "sk-key-from-env"]
    bad = write(tmp_path, "b.yaml", "name: b\ntype: open_ai\napi_key: [sk-in-a-list-999]\n")
    assert main(["connection", "create", "--file", bad]) == 2
    err = capsys.readouterr().err
    assert "'api_key' must be a string, not a list" in err and "sk-in-a-list" not in err


ENV_FLOW = {
    "flow.dag.yaml": """\
environment_variables:
  PLAIN: ${c.api_key}
inputs:
  q: {type: string}
outputs:
  o: {type: string, reference: "${p.output}"}
nodes:
- name: p
  type: python
  source: {type: code, path: p.py}
  inputs: {q: "${inputs.q}"}
""",
    "p.py": "import os\nfrom promptflow.core import tool\n\n\n@tool\ndef p(q: str) -> str:\n"
            "    return 'env=' + os.environ.get('PLAIN', '')\n",
}


def test_a_connection_secret_pulled_into_the_environment_is_masked_in_the_snapshot(cfg, tmp_path, monkeypatch):
    from pfgit.run.batch import Console, run_batch
    from pfgit.run.spec import RunSpec
    from run_flows import make_repo, write_jsonl
    from runs_helpers import all_objects_bytes

    ConnectionStore().save(load_file(write(tmp_path, "c.yaml", "name: c\ntype: open_ai\napi_key: sk-ENV-PULLED-77\n")))
    repo = make_repo(tmp_path, {"f": ENV_FLOW})
    write_jsonl(repo / "d.jsonl", [{"q": "x"}])
    monkeypatch.chdir(repo)
    out = run_batch(RunSpec(flow="f", data="d.jsonl", name="e"), Console(quiet=True))
    assert out.status == "Completed"
    assert b"sk-ENV-PULLED-77" not in all_objects_bytes(repo) and b'"o": "env=***"' in all_objects_bytes(repo)


def test_set_on_a_file_that_is_not_a_mapping_is_one_clean_error(cfg, tmp_path):
    """`--set k=v` wrote into a YAML list or scalar: 'internal error: TypeError'."""
    for text in ("- a\n- b\n", "hello\n"):
        with pytest.raises(PfgitError, match="must be a YAML mapping"):
            load_file(write(tmp_path, "l.yaml", text), ["api_key=x"])


# every connection type of promptflow-format.md 6: its required keys, its optional ones accepted
PF_TYPES = {
    "open_ai": ({"api_key": "k"}, {"organization": "o", "base_url": "http://127.0.0.1:1/v1"}),
    "azure_open_ai": ({"api_base": "https://x"}, {"api_key": "k", "api_type": "azure", "api_version": "2024-02-01",
                                                  "auth_mode": "key", "resource_id": "r"}),
    "serp": ({"api_key": "k"}, {}),
    "cognitive_search": ({"api_base": "https://x"}, {"api_key": "k", "api_version": "v", "auth_mode": "key"}),
    "azure_content_safety": ({"api_key": "k", "endpoint": "e"}, {"api_version": "v", "api_type": "t"}),
    "form_recognizer": ({"api_key": "k", "endpoint": "e"}, {"api_version": "v", "api_type": "t"}),
    "azure_ai_services": ({"endpoint": "e"}, {"api_key": "k", "auth_mode": "key"}),
    "serverless": ({"api_key": "k", "api_base": "b"}, {}),
    "qdrant": ({"api_key": "k", "api_base": "b"}, {}),
    "weaviate": ({"api_key": "k", "api_base": "b"}, {}),
    "custom": ({"secrets": {"t": "x"}}, {"configs": {"a": "b"}}),
}


@pytest.mark.parametrize("ctype", list(PF_TYPES))
def test_every_promptflow_connection_type_with_its_required_and_optional_keys(ctype, cfg, tmp_path, capsys):
    import yaml

    required, optional = PF_TYPES[ctype]
    doc = {"$schema": "https://azuremlschemas.azureedge.net/promptflow/latest/X.schema.json", "name": "c1",
           "type": ctype, "module": "promptflow.connections", **required, **optional}
    f = tmp_path / "c.yaml"
    f.write_text(yaml.safe_dump(doc))
    assert main(["connection", "create", "--file", str(f)]) == 0, capsys.readouterr().err
    for key in required:
        f.write_text(yaml.safe_dump({k: v for k, v in doc.items() if k != key}))
        capsys.readouterr()
        assert main(["connection", "create", "--file", str(f)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"pfgit: {f}: ") and key in err and err.count("\n") == 1


def test_custom_strong_typed_connection_file_is_accepted(cfg, tmp_path, capsys):
    # promptflow-format.md 6: "custom strong-typed | as custom + module, custom_type, package, package_version"
    f = write(tmp_path, "c.yaml", """\
        name: strong
        type: custom
        module: my_tools.connections
        custom_type: MyCustomConnection
        package: my-tools
        package_version: 0.0.1
        configs: {api_base: https://x}
        secrets: {api_key: strong-secret-1}
        """)
    assert main(["connection", "create", "--file", f]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["connection", "show", "strong", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["custom_type"] == "MyCustomConnection" and shown["module"] == "my_tools.connections"
    assert shown["package"] == "my-tools" and shown["package_version"] == "0.0.1"
    assert shown["secrets"] == {"api_key": "******"}
    conn = ConnectionStore().get("strong")
    assert conn.secrets == {"api_key": "strong-secret-1"} and conn.configs == {"api_base": "https://x"}
    from pfgit.run.compat import make_connection

    obj = make_connection(conn.resolved_dict(), "CustomConnection")
    assert obj.secrets == {"api_key": "strong-secret-1"} and "custom_type" not in obj.configs


def test_an_unknown_connection_type_names_the_file(cfg, tmp_path, capsys):
    f = write(tmp_path, "c.yaml", "name: c\ntype: bogus\napi_key: k\n")
    assert main(["connection", "create", "--file", f]) == 2
    assert capsys.readouterr().err.startswith(f"pfgit: {f}: unknown connection type 'bogus'")
