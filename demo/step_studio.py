"""Demo step: the cloud studio round trip (export-zip, edits in the studio and in git meanwhile,
import-zip merging both) and the exact flow of a run checked out for deployment."""

from __future__ import annotations

import os

# Stands in for the studio's visual editor: it saves flow.dag.yaml re-dumped as a whole (sorted
# keys, 4-space indent) after a node edit, and the user downloads the flow folder as a zip.
STUDIO = '''
import sys, zipfile, yaml
src, out = sys.argv[1:3]
with zipfile.ZipFile(src) as z:
    files = {n: z.read(n) for n in z.namelist()}
name = next(n for n in files if n.endswith("/flow.dag.yaml"))
flow = yaml.safe_load(files[name])
node = next(n for n in flow["nodes"] if n["name"] == "answer")
node["inputs"]["style"] = "concise"
files[name] = yaml.safe_dump(flow, sort_keys=True, indent=4).encode()
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for n, data in files.items():
        z.writestr(n, data)
print(f"studio: re-formatted {name}, answer.inputs.style = concise")
'''

GIT_EDIT = '''
p = "qa/flow.dag.yaml"
text = open(p).read()
old = "    default: What is the capital of France?\\n"
assert old in text
open(p, "w").write(text.replace(old, "    default: What is the capital of Italy?\\n"))
'''


def run(demo) -> None:
    root = demo.root
    for name, text in (("studio_edit.py", STUDIO), ("git_edit.py", GIT_EDIT)):
        with open(os.path.join(root, name), "w", encoding="utf-8") as f:
            f.write(text)
    demo.title("The studio round trip: export the flow, edit it in the studio and in git, import it")
    if demo.sh("git status --porcelain").stdout.strip():
        demo.sh("git add -A && git commit -q -m 'Keep the edits of the previous steps' && echo committed")
    demo.sh("pfgit export-zip qa -o ../qa.zip")
    demo.sh("pfgit export-zip qa -o ../qa-again.zip && cmp ../qa.zip ../qa-again.zip && echo 'same bytes'")
    demo.sh("python -m zipfile -l ../qa.zip")
    demo.sh("python ../studio_edit.py ../qa.zip ../from-studio.zip")
    print("\nmeanwhile in git: the default question changes", flush=True)
    demo.sh("python ../git_edit.py && git commit -q -am 'Ask about Italy by default' && "
            "git --no-pager log --oneline -1")
    demo.sh("pfgit import-zip ../from-studio.zip --dry-run")
    demo.sh("pfgit import-zip ../from-studio.zip")
    print("\nboth edits are in; the studio's re-format is not (the file keeps git's layout):",
          flush=True)
    demo.sh("git --no-pager diff --stat && grep -n -e 'default:' -e 'style:' qa/flow.dag.yaml")
    demo.sh("git commit -q -am 'Studio: concise answers' && git --no-pager log --oneline -1 "
            "refs/pfgit/imports/qa")

    demo.title("Deploy the flow that produced a run: check out its exact folder")
    demo.sh("pfgit checkout-run qa-v1 ../deploy-qa-v1")
    demo.sh("ls -A ../deploy-qa-v1 && cat ../deploy-qa-v1/.pfgit-run.json")
    demo.sh("pfgit checkout-run qa-v1 ../deploy-qa-v1", check_codes=(2,))
    demo.sh("pfgit export-zip --run qa-v1 -o ../qa-v1.zip")
