#!/usr/bin/env bash
# The README's test command and what CI runs: install (or check) what the tests need, make the offline assets,
# run pytest. Extra arguments go to pytest (e.g. `scripts/test.sh tests/data -x`).
#
#   - Debian's chromium (the browser tests), gcc (the e5 tokenizer test) and apertium with its Spanish and Basque
#     pairs into English (translate-test): installed with apt-get when missing and running as root, else a message
#     saying what to install;
#   - .venv with requirements-dev.txt (pytest, playwright on top of requirements.txt);
#   - `python -m optical prepare` (idempotent), then pytest; "no tests collected" (exit 5) is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

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

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install -q -r requirements-dev.txt -e .  # the package itself too (console script `optical`)

.venv/bin/python -m optical prepare

status=0
.venv/bin/python -m pytest -q "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "error: pytest collected no tests (exit status 5): check the arguments ($*) and tests/" >&2
  exit 1
fi
exit "$status"
