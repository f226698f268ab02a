#!/usr/bin/env bash
# The GPU slice: the quick profile's CUDA cases on a lent GPU machine, with Keras on torch and on
# JAX and native torch, eager and compiled (that machine has no TensorFlow). Usage:
#
#   bash bench/gpu_slice.sh OUTDIR [SECONDS]
#
# Stages, in priority order (a lent machine's minutes may end before the last):
#   1. torch-backend-eager      Keras on torch, eager           against torch eager
#   2. torch-backend-compiled   Keras on torch, torch.compile   against torch's whole-step torch.compile
#   3. stability                `bench stability --runs 3`: stage 1's seed-size cases in 3 more processes,
#                               so the set's intervals carry this GPU's run-to-run noise (noise.json)
#   4. jax-compiled             Keras on JAX with jax.jit       against torch.compile
#   5. jax-eager                Keras on JAX without jax.jit    against torch eager
# Native torch, eager and compiled, is timed in every stage: it is the other arm of each ratio, and a
# pair is timed in one process (stages 1 and 2 time it both ways).
#
# Each stage is a process (stability: three) merging its slice into OUTDIR's
# results/<machine>/ (the machine's own set, named as bench/store/layout.py names it; a fresh
# one, never the committed set); each stops starting cases when its share of what is left of
# SECONDS (default 360) is spent (the cases left skip with the reason) and is killed 60 s after
# that (or 10 s before the whole budget ends). 360 s of stages and the machine's start fit in
# 10 minutes of device time, and leave a rerun room in a 15-minute loan. OUTDIR/gpu-slice.tgz
# holds results/ and logs/ after every stage, so a run cut short still returns what it measured.
#
# A dry run where there is no GPU: TDBENCH_SLICE_DEVICE=cpu times the CPU cases instead, beside the
# CUDA ones, which skip with their reason ("no CUDA device ..."). TDBENCH_SLICE_K narrows every
# stage's cases further (a pytest -k expression), TDBENCH_SLICE_MIN_STAGE_S (default 20) is the
# least share a stage is started with (tests/test_gpu_slice.py runs the whole script that way).
set -u
out=${1:?usage: bash bench/gpu_slice.sh OUTDIR [SECONDS]}
budget=${2:-360}
device=${TDBENCH_SLICE_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
min_stage=${TDBENCH_SLICE_MIN_STAGE_S:-20}
select=$device
if [ "$device" = cpu ]; then select="(cpu or cuda)"; fi
if [ -n "${TDBENCH_SLICE_K:-}" ]; then select="$select and ($TDBENCH_SLICE_K)"; fi
start=$(date +%s)
work=$(mktemp -d)
out=$(mkdir -p "$out" && cd "$out" && pwd)
cd "$(dirname "$0")/.."  # the checkout's root: pytest bench/, python -m bench
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
machine=$(python3 -c 'import sys; from bench.store import layout; print(layout.this_machine_dir(sys.argv[1]).name)' "$work/results")
set_dir="$work/results/$machine"
mkdir -p "$set_dir" "$work/logs"
# GPU timings vary little between rounds: 7 rounds of at least 5 ms, up to 0.5 s per case, in
# 10 blocks (a lent GPU's minutes were sized for 10, and each block adds a warm-up; the CPU default is 40).
timing=(--benchmark-min-rounds=7 --benchmark-max-time=0.5)
blocks=10

# The installed versions, read from the packages' metadata: importing them would take seconds of the
# budget (and `import keras` would load its default backend, TensorFlow, which the GPU machine lacks).
{ nvidia-smi -L; python3 -c 'import sys; from importlib.metadata import version, PackageNotFoundError
def v(p):
    try:
        return version(p)
    except PackageNotFoundError:
        return "not installed"
print(sys.version.split()[0], *(f"{p} {v(p)}" for p in ("torch", "jax", "keras")))'; } > "$work/logs/versions.txt" 2>&1
echo "gpu_slice: device $device, $budget s, cases: $select, set: results/$machine"
cat "$work/logs/versions.txt"

share_of_left() {  # percent -> "soft hard" seconds, or nothing when under the least share
    local left soft hard
    left=$(( budget - ($(date +%s) - start) ))
    soft=$(( left * $1 / 100 ))
    if [ "$soft" -lt "$min_stage" ]; then echo "not $left"; return; fi
    hard=$(( soft + 60 < left - 10 ? soft + 60 : left - 10 ))
    if [ "$hard" -lt 1 ]; then echo "not $left"; return; fi  # under 10 s left: timeout 0 would never kill it
    echo "$soft $hard"
}

pack() {  # what was measured so far, whatever comes next
    tar czf "$out/gpu-slice.tgz" -C "$work" results logs
}

stage() {  # name share-of-what-is-left keras-backend compile
    local name=$1 soft hard
    read -r soft hard < <(share_of_left "$2")
    if [ "$soft" = not ]; then echo "== $name: not run, $hard s left"; return; fi
    echo "== $name: up to $soft s (killed at $hard s)"
    timeout "$hard" python3 -m pytest bench/ --benchmark-only -p no:cacheprovider -q \
        --profile quick --keras-backend "$3" --compile "$4" -k "$select" "${timing[@]}" --blocks "$blocks" \
        --time-budget "$soft" --results-dir "$set_dir" > "$work/logs/$name.log" 2>&1
    echo "== $name: exit $? at $(( $(date +%s) - start )) s"
    tail -n 4 "$work/logs/$name.log"
    pack
}

stability() {  # name share-of-what-is-left: stage 1's slice at the seed size, 3 processes
    local name=$1 soft hard
    read -r soft hard < <(share_of_left "$2")
    if [ "$soft" = not ]; then echo "== $name: not run, $hard s left"; return; fi
    echo "== $name: 3 runs, up to $soft s in all (killed at $hard s)"
    timeout "$hard" python3 -m bench stability --runs 3 --profile quick --keras-backend torch --compile off \
        --blocks "$blocks" --results-dir "$set_dir" --keep "$work/logs/stability" -- \
        -k "($select) and seed" "${timing[@]}" --time-budget $(( soft / 3 )) > "$work/logs/$name.log" 2>&1
    echo "== $name: exit $? at $(( $(date +%s) - start )) s"
    tail -n 4 "$work/logs/$name.log"
    pack
}

stage torch-backend-eager 20 torch off
stage torch-backend-compiled 30 torch on
stability stability 40
stage jax-compiled 50 jax on
stage jax-eager 100 jax off
echo "gpu_slice: done after $(( $(date +%s) - start )) s; $out/gpu-slice.tgz"
