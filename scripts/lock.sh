#!/usr/bin/env bash
# Refresh the lock files from the ranges, with pip-tools' pip-compile (pinned here) in its own venv:
#   requirements.lock      <- requirements.txt       (runtime: README command 1)
#   requirements-dev.lock  <- requirements-dev.txt   (runtime + tests: README command 2, CI), the runtime pins kept
# Then run scripts/test.sh (it installs from the new locks) and commit the three files together.
# `--upgrade` takes the newest versions the ranges allow; without it pip-compile keeps the current pins where the
# ranges still accept them (add a package to the ranges, run this, and only that package and its needs move).
set -euo pipefail
cd "$(dirname "$0")/.."

tools=.venv-lock
if [ ! -x "$tools/bin/pip-compile" ]; then
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q "pip-tools==7.7.0"
fi
compile=("$tools/bin/pip-compile" -q --strip-extras --no-emit-index-url --no-emit-find-links --allow-unsafe
         --resolver=backtracking "$@")
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "${compile[@]}" -o requirements.lock requirements.txt
# the dev lock is resolved with the runtime lock as constraints, so both install the same runtime versions
CUSTOM_COMPILE_COMMAND="scripts/lock.sh" "${compile[@]}" -c requirements.lock -o requirements-dev.lock requirements-dev.txt
# pip resolved torch to the CPU build on disk (2.13.0+cpu); the lock names the release, which pip matches to that
# file where it lies on disk (this workplace, CI) and to the registry's build elsewhere
sed -i -E 's/^torch==([0-9.]+)\+cpu$/torch==\1/' requirements.lock requirements-dev.lock
echo "wrote requirements.lock ($(grep -c '==' requirements.lock) pins), requirements-dev.lock ($(grep -c '==' requirements-dev.lock) pins)"
