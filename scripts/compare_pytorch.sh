#!/usr/bin/env bash
# FID, classes covered and confidence at equal generator iterations: this
# project's snapshots (generator folders named iter_NNNNNN, e.g. a run's
# checkpoints/) against the PyTorch reference's sample files
# (samples_NNNNNN.idx, 1,024 images each), 1,024 images on both sides. Prints
# one JSON line per engine and iteration; snapshots without a PyTorch file at
# the same iteration are scored on their own.
#   bash scripts/compare_pytorch.sh SNAPSHOTS_DIR [PYTORCH_OUT_DIR]
set -eu
ours=$1 torch=${2:-}
for dir in "$ours"/iter_*; do
  it=$(basename "$dir" | sed 's/^iter_//')
  engines=(ours)
  [ -n "$torch" ] && [ -f "$torch/samples_$it.idx" ] && engines+=(pytorch)
  for engine in "${engines[@]}"; do
    if [ "$engine" = ours ]; then src=(--model "$dir" --count 1024); else src=(--samples "$torch/samples_$it.idx"); fi
    line=$(deno task eval "${src[@]}" --no-reference 2>/dev/null | tail -1)
    echo "{\"engine\":\"$engine\",\"iteration\":$((10#$it)),${line#\{}"
  done
done
