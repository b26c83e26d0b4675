#!/usr/bin/env bash
# Packs what the GPU comparison needs on a device machine (no Node, no network there; ../shared/notes/gpu.md) into
# the git-ignored folders .gpu/ and .gl/, which the device tool carries:
#   .gpu/node.xz                  this machine's Node binary
#   .gpu/app/bench-train.mjs      bench/train.ts as one ESM bundle (webgpu left external, loaded from app/node_modules)
#   .gpu/app/node_modules/...     webgpu (index.js + the linux-x64 dawn.node) and tfjs-backend-wasm's .wasm files
#   .gpu/twin/                    the PyTorch twins (bench/gpu/torch-twin.ts --check)
#   .gl/*.deb                     the Vulkan loader (libvulkan1) for Dawn
# Then, on the device machine: bash bench/gpu/device.sh (see that file). Run from anywhere: npm run bench:gpu:pack
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .gpu && mkdir -p .gpu/app/node_modules/webgpu/dist/linux-x64 .gpu/app/node_modules/@tensorflow/tfjs-backend-wasm/dist
xz -T2 -c "$(command -v node)" > .gpu/node.xz
# ESM bundles have no require/__dirname: the banner defines them for the bundled CommonJS modules.
npx esbuild bench/train.ts --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --external:webgpu --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --banner:js="import { createRequire as __kserRequire } from 'node:module'; import { fileURLToPath as __kserPath } from 'node:url'; import { dirname as __kserDir } from 'node:path'; const require = __kserRequire(import.meta.url); const __filename = __kserPath(import.meta.url); const __dirname = __kserDir(__filename);" \
  --outfile=.gpu/app/bench-train.mjs
# The bundle registers tfjs's gradients through this resolution hook, and probes the webgpu backend's package with
# require.resolve before importing its (bundled) code.
cp trainer/accel/patches/tfjs-esm-resolve-hook.mjs .gpu/app/
mkdir -p .gpu/app/node_modules/@tensorflow/tfjs-backend-webgpu/dist
cp node_modules/@tensorflow/tfjs-backend-webgpu/package.json .gpu/app/node_modules/@tensorflow/tfjs-backend-webgpu/
cp node_modules/@tensorflow/tfjs-backend-webgpu/dist/tf-backend-webgpu.node.js .gpu/app/node_modules/@tensorflow/tfjs-backend-webgpu/dist/
cp node_modules/webgpu/package.json node_modules/webgpu/index.js .gpu/app/node_modules/webgpu/
cp node_modules/webgpu/dist/linux-x64/dawn.node .gpu/app/node_modules/webgpu/dist/linux-x64/
cp node_modules/@tensorflow/tfjs-backend-wasm/package.json .gpu/app/node_modules/@tensorflow/tfjs-backend-wasm/
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm .gpu/app/node_modules/@tensorflow/tfjs-backend-wasm/dist/
npx tsx bench/gpu/torch-twin.ts --out .gpu/twin --check >/dev/null
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p .gl
  lists=$(mktemp -d) && mkdir -p "$lists/partial"
  apt_opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 "-oDir::State::Lists=$lists")
  apt-get "${apt_opts[@]}" update -qq
  (cd .gl && apt-get "${apt_opts[@]}" download libvulkan1 >/dev/null)
fi
du -sh .gpu .gl
