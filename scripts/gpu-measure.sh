#!/usr/bin/env bash
# The one prepared script a session with a GPU machine runs (issue 11): what the ladder picks there and why, the
# GPU's name and driver, and on the webgpu rung
#   - LM training (ascii-64x4, paper batch 128 × 128)           bench lm
#   - SAE training: TopK ×8 tblock and Staircase (batch 128)   bench sae
#   - SAE training: JSAE pairs (fflayer, batch 128)             bench jsae
#   - one SCALAR pair at paper settings (tblock TopK pair 1)    bench scalar
#   - the quick pipeline's wall time                            pipeline --preset quick
# each with tokens/s, GFLOP/s (model FLOPs) and the adapter. Results: $OUT/*.json, a summary in $OUT/summary.json
# and $OUT/log.txt. Every step has its own timeout and the whole run a budget, so a slow step cannot eat the
# machine's time; steps that do not fit are skipped and say so.
#
# Usage: scripts/gpu-measure.sh [--out DIR] [--budget SECONDS] [--only lm,sae,jsae,scalar,pipeline] [--batch B]
#        [--wasm]   (also measure lm and sae on the wasm rung, for the ratio on the same machine)
# Needs: this checkout with node_modules installed (`npm ci`, or a copy carried from a machine that has it),
# node ≥ 20.19, and a GPU driver with Vulkan (Linux: the vendor's driver and its ICD, e.g.
# /usr/share/vulkan/icd.d/nvidia_icd.json, libvulkan1; in a container the NVIDIA runtime must expose the
# graphics capability: NVIDIA_DRIVER_CAPABILITIES=all). Without a hardware adapter the ladder says why.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=gpu-measure-out
BUDGET=780
ONLY=lm,sae,jsae,scalar,pipeline
BATCH=128
WASM=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --batch) BATCH=$2; shift 2 ;;
    --wasm) WASM=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
exec > >(tee "$OUT/log.txt") 2>&1
START=$(date +%s)
left() { echo $((BUDGET - ($(date +%s) - START))); }
export SCALAR_KERNEL_CACHE="$PWD/$OUT/kernel-cache"

echo "== machine"
uname -srm; nproc; free -g | head -2; node --version
echo "== GPU"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | tee "$OUT/nvidia-smi.txt" || true
ls -l /dev/nvidia* /dev/dri 2>&1 | head -20
ls /usr/share/vulkan/icd.d /etc/vulkan/icd.d 2>&1
[ -d node_modules/webgpu ] || { echo "node_modules is missing: run npm ci (or carry node_modules) first"; exit 1; }

echo "== ladder (automatic choice) and the forced webgpu rung"
cat > "$OUT/ladder.mjs" <<'EOF'
const { initBackend } = await import(process.argv[2]);
const report = await initBackend(process.argv[3] || undefined);
console.log(JSON.stringify(report));
process.exit(0);
EOF
for which in auto webgpu; do
  arg=$([ $which = auto ] && echo "" || echo webgpu)
  timeout 120 node --import tsx "$OUT/ladder.mjs" "$PWD/src-main/engine/backend.ts" $arg > "$OUT/ladder-$which.json" 2> "$OUT/ladder-$which.err"
  echo "$which: $(tail -c 2000 "$OUT/ladder-$which.json")"
  tail -3 "$OUT/ladder-$which.err"
done

# step NAME MIN_SECONDS CLI-ARGS...: runs `scalar CLI-ARGS` with a timeout of what is left of the budget.
step() {
  local name=$1 min=$2; shift 2
  case ",$ONLY," in *",${name%%-*},"*) ;; *) return ;; esac
  local t; t=$(left)
  if [ "$t" -lt "$min" ]; then echo "== $name: skipped ($t s of the budget left, needs ≥ $min)"; return; fi
  echo "== $name (timeout ${t}s): scalar $*"
  local t0; t0=$(date +%s)
  timeout "$t" node bin/scalar.mjs "$@" > "$OUT/$name.out" 2> "$OUT/$name.err"
  local rc=$?
  tail -1 "$OUT/$name.out" > "$OUT/$name.json"
  echo "rc $rc, $(( $(date +%s) - t0 )) s: $(head -c 1500 "$OUT/$name.json")"
  [ $rc -eq 0 ] || tail -5 "$OUT/$name.err"
}

step lm 60 bench lm --backend webgpu --no-peer --batch "$BATCH"
step sae 90 bench sae --backend webgpu --no-peer --batch "$BATCH"
step jsae 60 bench jsae --backend webgpu --batch "$BATCH"
step scalar 180 bench scalar --backend webgpu --no-peer
step pipeline 120 pipeline --preset quick --backend webgpu --data-dir "$OUT/pipeline-data" --json
if [ $WASM = 1 ]; then
  step lm-wasm 60 bench lm --backend wasm --no-peer --batch "$BATCH"
  step sae-wasm 90 bench sae --backend wasm --no-peer --batch "$BATCH"
fi

echo "== summary"
node - "$OUT" <<'EOF'
const fs = require('node:fs');
const path = require('node:path');
const out = process.argv[2];
const read = (f) => {
  try {
    return JSON.parse(fs.readFileSync(path.join(out, f), 'utf8').trim().split('\n').pop());
  } catch {
    return null;
  }
};
const pick = (o) =>
  o && {
    tokens_per_s: o.tokens_per_s,
    gflops_per_s: o.gflops_per_s,
    ms_per_step: o.ms_per_step_median,
    batch: o.batch,
  };
const lm = read('lm.json');
const sae = read('sae.json');
const jsae = read('jsae.json');
const scalar = read('scalar.json');
const pipeline = read('pipeline.json');
const summary = {
  gpu: fs.existsSync(path.join(out, 'nvidia-smi.txt')) ? fs.readFileSync(path.join(out, 'nvidia-smi.txt'), 'utf8').trim() : null,
  ladder_auto: read('ladder-auto.json') && { name: read('ladder-auto.json').name, device: read('ladder-auto.json').device, skipped: read('ladder-auto.json').skipped },
  webgpu: read('ladder-webgpu.json') && { device: read('ladder-webgpu.json').device, adapter: read('ladder-webgpu.json').adapter },
  lm_training: pick(lm?.ours),
  sae_topk_tblock: pick(sae?.ours?.topk),
  sae_staircase_tblock: pick(sae?.ours?.staircase),
  sae_jsae_fflayer: pick(jsae?.ours?.jsae),
  scalar_pair_paper: scalar?.ours ?? null,
  pipeline_quick_wall_seconds: pipeline?.wall_seconds ?? pipeline?.wallSeconds ?? null,
  wasm: { lm: pick(read('lm-wasm.json')?.ours), sae_topk: pick(read('sae-wasm.json')?.ours?.topk) },
};
fs.writeFileSync(path.join(out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
EOF
echo "total $(( $(date +%s) - START )) s"
