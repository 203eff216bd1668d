#!/usr/bin/env bash
# `make demo`: plan a sample monorepo push exactly as the spawner would, and show it.
set -euo pipefail
dockhand=${1:-target/debug/dockhand}
here=$(cd "$(dirname "$0")" && pwd)
fixtures="$here/fixtures"
plan=$(mktemp)
trap 'rm -f "$plan"' EXIT

echo "== The push: $fixtures/push-monorepo.json (acme/images, refs/heads/main, 2 commits)"
python3 - "$fixtures/push-monorepo.json" <<'PY'
import json, sys
push = json.load(open(sys.argv[1]))
for c in push["commits"]:
    print(f"   {c['id'][:7]} {c['message'].splitlines()[0]}")
    for kind in ("added", "modified", "removed"):
        for p in c[kind]:
            print(f"       {kind:<8} {p}")
PY
echo
echo "== dockhand plan --event push-monorepo.json --tree monorepo.tree --config config.json"
"$dockhand" plan --event "$fixtures/push-monorepo.json" --tree "$fixtures/monorepo.tree" \
    --config "$fixtures/config.json" --delivery 72d3162e-cc78-11e3-81ab-4c9367dc0958 > "$plan"
python3 - "$plan" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for l in lines:
    if l["kind"] == "build":
        env = l["request"]["environmentVariablesOverride"]
        print(f"   build  {l['context']:<12} -> {l['image']}:{{{','.join(l['tags'])}}}"
              f"  ({len(env)} environment overrides, token {l['request']['idempotencyToken'][:12]}…)")
    else:
        print(f"   skip   {l['context']:<12} -- {l['reason']}")
first = next(l for l in lines if l["kind"] == "build")
req = dict(first["request"])
req["buildspecOverride"] = f"<{len(req['buildspecOverride'].splitlines())} lines, the same for every push: buildspecs/build.yml>"
print()
print(f"== The StartBuild request for {first['context']} (what the spawner sends to CodeBuild)")
print(json.dumps(req, indent=2))
PY
echo
echo "== With --payload-only, dockhand knows only what the push names (no tree, no GitHub):"
"$dockhand" plan --event "$fixtures/push-monorepo.json" --payload-only --config "$fixtures/config.json" \
    | python3 -c 'import json,sys
for l in map(json.loads, sys.stdin):
    print("   %-6s %-12s %s" % (l["kind"], l["context"], l.get("image", l.get("reason", ""))))'
