#!/usr/bin/env bash
# Mutation testing of the physics, the tiles, on-chip training and the presets with mutmut
# (scope and pytest options: [tool.mutmut] in pyproject.toml). Not part of the default test
# run: the full scope takes hours on 2 cores.
#
#   scripts/mutation_test.sh [WORKDIR] [ONLY_MUTATE_GLOB ...]
#
# WORKDIR (default /tmp/aimc-mutation) receives a copy of this checkout, so mutmut's
# mutants/ folder never touches the repository; re-running in the same WORKDIR resumes
# (mutmut keeps its results in WORKDIR/mutants). Extra arguments replace the only_mutate
# globs, e.g. `scripts/mutation_test.sh /tmp/m "src/aimc/presets.py"`.
# MUTMUT_CHILDREN sets the parallel workers (default: all cores).
# Needs the dev virtual environment (.venv) of this checkout; installs mutmut 3.8.1 into it.
# Writes WORKDIR/summary.txt (counts and score) and WORKDIR/survivors.txt (one diff per
# surviving mutant); docs/testing.md records the last run and the survivors judged harmless.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-/tmp/aimc-mutation}"
shift || true
PY="$ROOT/.venv/bin/python"
"$PY" -m pip install -q mutmut==3.8.1
mkdir -p "$WORK"
# copy the tracked and untracked-but-not-ignored files (not .venv, runs/, mutants/)
(cd "$ROOT" && git ls-files -co --exclude-standard -z) \
    | (cd "$ROOT" && xargs -0 cp --parents -t "$WORK")
cd "$WORK"
if [ "$#" -gt 0 ]; then
    globs=$(printf '"%s", ' "$@")
    "$PY" - "$globs" <<'EOF'
import re, sys
text = open("pyproject.toml").read()
text = re.sub(r"only_mutate = \[[^\]]*\]", f"only_mutate = [{sys.argv[1].rstrip(', ')}]", text)
open("pyproject.toml", "w").write(text)
EOF
fi
MUTMUT="$ROOT/.venv/bin/mutmut"
"$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-$(nproc)}" || true
"$MUTMUT" results --all true > results.txt 2>&1 || true
"$PY" - <<'EOF'
import collections, re
status = collections.Counter()
for line in open("results.txt"):
    m = re.match(r"\s*(\S+): (\w[\w ]*)$", line)
    if m:
        status[m.group(2).strip()] += 1
killed = status.get("killed", 0) + status.get("timeout", 0)
tested = sum(v for k, v in status.items() if k not in ("skipped", "not checked"))
with open("summary.txt", "w") as f:
    for k, v in sorted(status.items()):
        f.write(f"{k}: {v}\n")
    f.write(f"score: {killed}/{tested} = {100 * killed / max(tested, 1):.1f} %\n")
print(open("summary.txt").read())
EOF
grep ": survived" results.txt | sed 's/: survived//' | while read -r name; do
    echo "### $name"
    "$MUTMUT" show "$name" 2>/dev/null || true
done > survivors.txt
echo "survivors: $WORK/survivors.txt"
