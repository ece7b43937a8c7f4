#!/usr/bin/env bash
# The README's test command and what CI runs: install (or check) what the tests need, make the offline assets,
# run pytest. Extra arguments go to pytest (e.g. `scripts/test.sh tests/data -x`).
#
#   - Debian's chromium (the browser tests), gcc (the e5 tokenizer test) and apertium with its Spanish and Basque
#     pairs into English (translate-test): installed with apt-get when missing and running as root, else a message
#     saying what to install;
#   - .venv with requirements-dev.lock: the exact versions CI tested (runtime and tests; scripts/lock.sh makes it);
#   - `python -m optical prepare` (idempotent), then pytest; "no tests collected" (exit 5) is a failure.
#
# `scripts/test.sh --latest [pytest args]` is the canary for new upstream releases, outside CI: a separate
# .venv-latest with the newest versions the ranges of requirements-dev.txt allow, then the fast tests (not slow, not
# browser, not the check that the environment is the lock's). A failure there says which release will break the next lock refresh, before a user meets it.
set -euo pipefail
cd "$(dirname "$0")/.."

latest=false
if [ "${1:-}" = "--latest" ]; then
  latest=true
  shift
fi

as_root=false
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  as_root=true
  export DEBIAN_FRONTEND=noninteractive
  if ! compgen -G "${APT_LISTS:-/var/lib/apt/lists}/*_Packages*" >/dev/null; then
    apt-get update -qq  # a fresh machine has no package lists: apt-get install and prepare's download need them
  fi
fi
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
# translate-test with Apertium: the tests run the Spanish and Basque pairs into English
command -v apertium >/dev/null 2>&1 || missing+=(apertium)
modes="${APERTIUM_MODES:-/usr/share/apertium/modes}"
[ -f "$modes/spa-eng.mode" ] || missing+=(apertium-eng-spa)
[ -f "$modes/eu-en.mode" ] || missing+=(apertium-eu-en)
if [ ${#missing[@]} -gt 0 ]; then
  if $as_root; then
    echo "installing ${missing[*]} (apt-get)"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "error: the tests need Debian's ${missing[*]}: run 'sudo apt-get install -y ${missing[*]}', then $0" >&2
    exit 1
  fi
fi

if $latest; then
  venv=.venv-latest
  [ -x $venv/bin/python ] || python3 -m venv $venv
  # the newest releases the ranges allow, every dependency included (eager)
  $venv/bin/pip install -q --upgrade --upgrade-strategy eager -r requirements-dev.txt -e .
  echo "canary: $($venv/bin/python -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in
    ("torch", "transformers", "tokenizers", "pot", "numpy", "pandas", "streamlit", "faiss-cpu", "pytest")))')"
  set -- -m "not slow and not browser and not lock" "$@"
else
  venv=.venv
  [ -x $venv/bin/python ] || python3 -m venv $venv
  $venv/bin/pip install -q -r requirements-dev.lock -e .  # the package itself too (console script `optical`)
fi

$venv/bin/python -m optical prepare

status=0
$venv/bin/python -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests (exit status 5): check the arguments ($*) and tests/" >&2
  exit 1
fi
exit "$status"
