#!/usr/bin/env bash
# The GPU comparison of issue #4, in one run on a device machine (H200; no Node, no network; ../shared/notes/gpu.md).
# Prepare here with `npm run bench:gpu:pack`, then call the device tool's run with carry [".gpu", ".gl"] and
#   bash bench/gpu/device.sh
# (timeout_s 540). It runs bench:train on WebGPU (Dawn on the NVIDIA Vulkan driver) and on WASM, checks the
# PyTorch twin against tfjs, times the twin on the GPU and on one CPU thread, and prints the PyTorch / tfjs ratios.
# Logs go to $OUT (webgpu.log, wasm.log, twin-check.json, torch-cuda.log, torch-cpu1.log); the LAST line printed is
# one JSON object with everything.
set -uo pipefail
OUT=${OUT:-$(mktemp -d)}
for f in .gl/*.deb; do [ -e "$f" ] && dpkg -x "$f" /; done
ldconfig
mkdir -p /tmp/kser-node && xz -dc .gpu/node.xz > /tmp/kser-node/node && chmod +x /tmp/kser-node/node
export PATH=/tmp/kser-node:$PATH
node --version
nvidia-smi -L || true
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"

(cd .gpu/app && timeout 240 node bench-train.mjs --backend webgpu) > "$OUT/webgpu.log" 2>&1
echo "webgpu bench: exit $?"; tail -1 "$OUT/webgpu.log"
(cd .gpu/app && timeout 150 node bench-train.mjs --backend wasm --only reference) > "$OUT/wasm.log" 2>&1
echo "wasm bench: exit $?"; tail -1 "$OUT/wasm.log"
timeout 60 python3 bench/gpu/torch_twin.py .gpu/twin --check > "$OUT/twin-check.json" 2>&1
echo "twin check: exit $?"; tail -1 "$OUT/twin-check.json"
PYTHONUNBUFFERED=1 timeout 120 python3 bench/gpu/torch_twin.py .gpu/twin --device cuda --compare "$OUT/webgpu.log" > "$OUT/torch-cuda.log" 2>&1
echo "torch cuda: exit $?"
PYTHONUNBUFFERED=1 timeout 120 python3 bench/gpu/torch_twin.py .gpu/twin --device cpu --threads 1 --steps 10 --batches 1024 --compare "$OUT/wasm.log" > "$OUT/torch-cpu1.log" 2>&1
echo "torch cpu x1: exit $?"
python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
def last(name):
    try:
        lines = [l for l in open(os.path.join(out, name), encoding="utf-8").read().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else None
    except OSError:
        return None
print(json.dumps({"webgpu": last("webgpu.log"), "wasm": last("wasm.log"), "twinCheck": last("twin-check.json"),
                  "torchCuda": last("torch-cuda.log"), "torchCpu1": last("torch-cpu1.log")}))
PY
