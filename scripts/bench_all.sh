#!/usr/bin/env bash
# Side by side, in one run: ms per dcgan28 WGAN iteration (batch 64) for the
# PyTorch reference and each backend. Prints each engine's final JSON line.
#   bash scripts/bench_all.sh [ITERATIONS] [PATH/TO/torch_wgan.py]
# Without the PyTorch script only the backends run.
set -u
n=${1:-5}
torch_script=${2:-}
cd "$(dirname "$0")/.."
if [ -n "$torch_script" ] && [ -f "$torch_script" ]; then
  /usr/bin/python3 "$torch_script" --arch S --iters "$n" --warmup 1 --threads 2 | grep RESULT
fi
for backend in blas wasm webgpu; do
  deno task bench --arch dcgan28 --batch 64 --backend "$backend" --iterations "$n" 2>&1 | tail -1
done
