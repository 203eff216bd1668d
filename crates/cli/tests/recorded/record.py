#!/usr/bin/env python3
"""Records `dockhand plan`'s answers to a history of pushes, for tests/recorded.rs.

Run from the workspace root with the dockhand binary to record:
    python3 crates/cli/tests/recorded/record.py target/debug/dockhand
It rebuilds the history (git, fixed dates: the same commits every time), writes each
push's inputs under inputs/, the repository as history.bundle, and each case's stdout,
stderr and exit status under out/ and cases.tsv. Re-record only when a change of the
plan's output is meant, and say so in the commit.
"""
import json, os, shutil, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DOCKHAND = os.path.abspath(sys.argv[1])
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"

def git(work, *args):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@e", GIT_AUTHOR_DATE="2026-11-21T20:58:03Z",
               GIT_COMMITTER_DATE="2026-11-21T20:58:03Z", GIT_CONFIG_GLOBAL="/dev/null",
               GIT_CONFIG_NOSYSTEM="1")
    return subprocess.run(["git", "-C", work, *args], check=True, capture_output=True, text=True, env=env).stdout

def write(work, path, text=None):
    full = os.path.join(work, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "a" if text is None else "w") as f:
        f.write(f"{path}\n" if text is None else text)

def remove(work, path):
    os.remove(os.path.join(work, path))

# (name, change) in order: each step is one commit pushed to main.
STEPS = [
    ("first", lambda w: [write(w, p) for p in [
        "Dockerfile", "app.py", "README.md", "web/Dockerfile", "web/index.html", "chrome/Dockerfile",
        "chrome/stable/Dockerfile", "chrome/beta/Dockerfile", "chrome/beta/setup.sh",
        "tools/lint/Dockerfile", "tools/lint/run.sh", "docs/guide.md", "api/v1/Dockerfile"]]),
    ("web-file", lambda w: write(w, "web/index.html")),
    ("two-suites", lambda w: [write(w, "chrome/stable/Dockerfile"), write(w, "chrome/beta/setup.sh")]),
    ("root-file", lambda w: write(w, "README.md")),
    ("nested-and-plain-dir", lambda w: [write(w, "tools/lint/run.sh"), write(w, "tools/README.md")]),
    ("dockerfile-removed", lambda w: remove(w, "chrome/beta/Dockerfile")),
    ("rename-across", lambda w: git(w, "mv", "web", "site")),
    ("move-into-chrome", lambda w: git(w, "mv", "app.py", "chrome/app.py")),
    ("repo-config", lambda w: write(w, ".dockhand.yml", "naming: suite\ntags: [nightly]\nignore: [docs]\nbuild_args:\n  VERSION: \"1.0\"\n")),
    ("ignored-dir", lambda w: write(w, "docs/guide.md")),
    ("suite-names", lambda w: [write(w, "chrome/Dockerfile"), write(w, "chrome/stable/Dockerfile")]),
    ("deeper", lambda w: write(w, "base/alpine/3.20/Dockerfile")),
    ("bad-repo-config", lambda w: write(w, ".dockhand.yml", "naming: [not, a, preset]\n")),
    ("spaces-and-caps", lambda w: [write(w, "Web App/Dockerfile"), write(w, "UPPER/Dockerfile"), write(w, ".dockhand.yml", "ignore: [docs]\n")]),
    ("clash", lambda w: [write(w, "x/tools/Dockerfile"), write(w, "tools/Dockerfile")]),
    ("root-removed", lambda w: [remove(w, "Dockerfile"), write(w, "README.md")]),
]

CONFIGS = {
    "hub": json.load(open(os.path.join(HERE, "../../../../tests/fixtures/config.json"))),
}
CONFIGS["suite"] = dict(CONFIGS["hub"], naming="suite", repository_tags=True,
                        images={"api/v1": "api-server", "tools": "toolbox"})
CONFIGS["ecr"] = dict(CONFIGS["hub"], registry={"type": "ecr", "registry": "123456789012.dkr.ecr.eu-west-1.amazonaws.com", "prefix": "team"},
                      github_token_parameter="/dockhand/github-token", images={"x/tools": "tools"})

def push(ref, before, after, changes, private=False, commits=True, forced=False):
    added, removed, modified = changes
    commit = {"id": after, "message": f"commit {after}\n\nwith a body; rm -rf / $(x) `y`",
              "timestamp": "2026-11-21T20:58:03Z",
              "url": f"https://github.com/acme/images/commit/{after}",
              "author": {"name": "t", "email": "t@e", "username": "t"},
              "added": added, "removed": removed, "modified": modified}
    return {"ref": ref, "before": before or "0" * 40, "after": after, "created": before is None,
            "deleted": False, "forced": forced, "commits": [commit] if commits else [],
            "head_commit": commit,
            "repository": {"name": "images", "full_name": "acme/images",
                           "clone_url": "https://github.com/acme/images.git",
                           "html_url": "https://github.com/acme/images", "private": private,
                           "default_branch": "main", "owner": {"login": "acme", "name": "acme"}},
            "pusher": {"name": "t", "email": "t@e"}}

def name_status(work, before, after):
    added, removed, modified = [], [], []
    for line in git(work, "diff", "--name-status", "-M", before or EMPTY_TREE, after).splitlines():
        f = line.split("\t")
        s = f[0][0]
        if s in "AC": added.append(f[-1])
        elif s in "MT": modified.append(f[1])
        elif s == "D": removed.append(f[1])
        elif s == "R": removed.append(f[1]); added.append(f[2])
    return added, removed, modified

def main():
    for d in ("inputs", "out"):
        shutil.rmtree(os.path.join(HERE, d), ignore_errors=True)
        os.makedirs(os.path.join(HERE, d))
    for name, config in CONFIGS.items():
        with open(os.path.join(HERE, "inputs", f"config-{name}.json"), "w") as f:
            json.dump(config, f, indent=1)
    work = tempfile.mkdtemp()
    git(work, "init", "-q", "-b", "main")
    cases = []
    def inp(name, text):
        with open(os.path.join(HERE, "inputs", name), "w") as f:
            f.write(text)
        return "@/inputs/" + name
    before = None
    for i, (step, change) in enumerate(STEPS):
        change(work)
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", step)
        after = git(work, "rev-parse", "HEAD").strip()
        changes = name_status(work, before, after)
        tag = f"{i:02}-{step}"
        event = inp(f"push-{tag}.json", json.dumps(push("refs/heads/main", before, after, changes), indent=1))
        tree = inp(f"tree-{tag}", git(work, "ls-tree", "-r", after))
        extra = []
        try:
            extra = ["--repo-config", inp(f"dockhand-{tag}.yml", git(work, "show", f"{after}:.dockhand.yml"))]
        except subprocess.CalledProcessError:
            pass
        for config in CONFIGS:
            cfg = ["--config", f"@/inputs/config-{config}.json"]
            cases.append((f"{tag}-tree-{config}", ["--event", event, "--tree", tree, *extra, *cfg]))
            cases.append((f"{tag}-repo-{config}", ["--event", event, "--repo", "@repo", *cfg]))
        cases.append((f"{tag}-payload", ["--event", event, "--payload-only", "--config", "@/inputs/config-hub.json"]))
        cases.append((f"{tag}-defaults", ["--event", event, "--tree", tree, *extra]))
        if before:
            forced = inp(f"push-{tag}-forced.json", json.dumps(push("refs/heads/main", before, after, ([], [], []), commits=False, forced=True), indent=1))
            diff = inp(f"changes-{tag}", git(work, "diff", "--name-status", "-M", before, after))
            cases.append((f"{tag}-compare", ["--event", forced, "--tree", tree, "--changes", diff, *extra, "--config", "@/inputs/config-hub.json"]))
            cases.append((f"{tag}-compare-missing", ["--event", forced, "--tree", tree, "--config", "@/inputs/config-hub.json"]))
            cases.append((f"{tag}-compare-repo", ["--event", forced, "--repo", "@repo", "--config", "@/inputs/config-hub.json"]))
        before = after
    # Other refs and repositories, at the last commit.
    for ref, label in [("refs/tags/v1.2.3", "semver-tag"), ("refs/tags/nightly", "tag"), ("refs/heads/feature/x", "other-branch")]:
        event = inp(f"push-{label}.json", json.dumps(push(ref, None, before, name_status(work, None, before)), indent=1))
        for config in CONFIGS:
            cases.append((f"{label}-tree-{config}", ["--event", event, "--tree", tree, *extra, "--config", f"@/inputs/config-{config}.json"]))
            cases.append((f"{label}-repo-{config}", ["--event", event, "--repo", "@repo", "--config", f"@/inputs/config-{config}.json"]))
    event = inp("push-private.json", json.dumps(push("refs/heads/main", None, before, name_status(work, None, before), private=True), indent=1))
    for config in CONFIGS:
        cases.append((f"private-tree-{config}", ["--event", event, "--tree", tree, *extra, "--config", f"@/inputs/config-{config}.json"]))
        cases.append((f"private-payload-{config}", ["--event", event, "--payload-only", "--config", f"@/inputs/config-{config}.json"]))
    # The repository's own fixtures.
    fixtures = "@/../../../../tests/fixtures/"
    cases.append(("fixture-monorepo-tree", ["--event", fixtures + "push-monorepo.json", "--tree", fixtures + "monorepo.tree", "--config", fixtures + "config.json"]))
    cases.append(("fixture-monorepo-payload", ["--event", fixtures + "push-monorepo.json", "--payload-only", "--config", fixtures + "config.json"]))
    cases.append(("fixture-monorepo-defaults", ["--event", fixtures + "push-monorepo.json", "--tree", fixtures + "monorepo.tree"]))
    bundle = os.path.join(HERE, "history.bundle")
    git(work, "bundle", "create", bundle, "HEAD", "main")
    checkout = tempfile.mkdtemp()
    subprocess.run(["git", "clone", "-q", "-b", "main", bundle, checkout + "/repo"], check=True, capture_output=True)
    with open(os.path.join(HERE, "cases.tsv"), "w") as manifest:
        for name, args in cases:
            real = [a.replace("@/", HERE + "/").replace("@repo", checkout + "/repo") for a in args]
            r = subprocess.run([DOCKHAND, "plan", *real], capture_output=True, text=True,
                               env=dict(os.environ, GITHUB_API_URL="http://127.0.0.1:9", GITHUB_TOKEN=""))
            norm = lambda s: s.replace(HERE + "/", "@/").replace(checkout + "/repo", "@repo")
            with open(os.path.join(HERE, "out", name + ".out"), "w") as f:
                f.write(norm(r.stdout))
            with open(os.path.join(HERE, "out", name + ".err"), "w") as f:
                f.write(norm(r.stderr))
            manifest.write("\t".join([name, str(r.returncode), *args]) + "\n")
    shutil.rmtree(work)
    shutil.rmtree(checkout)
    print(f"{len(cases)} cases recorded")

main()
