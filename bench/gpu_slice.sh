#!/usr/bin/env bash
# The GPU slice: the quick profile's CUDA cases on a lent GPU machine, with Keras on JAX and on
# torch and native torch, eager and compiled (that machine has no TensorFlow). Usage:
#
#   bash bench/gpu_slice.sh OUTDIR [SECONDS]
#
# Stages run one after another, each a pytest process merging its slice into OUTDIR/results;
# each stops starting cases when its share of SECONDS (default 540) is spent (the cases left
# skip with the reason) and is killed 60 s after that (or before the whole budget ends). OUTDIR/gpu-slice.tgz holds the results
# and logs after every stage, so a run cut short still returns what it measured.
set -u
out=${1:?usage: bash bench/gpu_slice.sh OUTDIR [SECONDS]}
budget=${2:-540}
device=${TDBENCH_SLICE_DEVICE:-cuda}  # cpu: a dry run of this script on a machine without a GPU
start=$(date +%s)
work=$(mktemp -d)
mkdir -p "$out" "$work/results"
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
# GPU timings vary little between rounds: 7 rounds of at least 5 ms, up to 0.5 s per case, in
# 10 blocks (a lent GPU's minutes were sized for 10, and each block adds a warm-up; the CPU default is 40).
timing=(--benchmark-min-rounds=7 --benchmark-max-time=0.5 --blocks 10)

{ nvidia-smi -L; python3 -c 'import sys, torch, jax, keras; print(sys.version.split()[0], "torch", torch.__version__, "jax", jax.__version__, "keras", keras.__version__)'; } > "$work/versions.txt" 2>&1
cat "$work/versions.txt"

stage() {  # name share-of-what-is-left keras-backend compile
    local name=$1 share=$2 left soft hard
    left=$(( budget - ($(date +%s) - start) ))
    soft=$(( left * share / 100 ))
    if [ "$soft" -lt 20 ]; then echo "== $name: not run, $left s left"; return; fi
    echo "== $name: up to $soft s"
    hard=$(( soft + 60 < left - 10 ? soft + 60 : left - 10 ))
    timeout "$hard" python3 -m pytest bench/ --benchmark-only -p no:cacheprovider -q \
        --profile quick --keras-backend "$3" --compile "$4" -k "$device" "${timing[@]}" \
        --time-budget "$soft" --results-dir "$work/results" > "$work/$name.log" 2>&1
    echo "== $name: exit $? at $(( $(date +%s) - start )) s"
    tail -n 4 "$work/$name.log"
    tar czf "$out/gpu-slice.tgz" -C "$work" .
}

stage jax-eager 30 jax off
stage torch-backend-eager 30 torch off
stage jax-compiled 75 jax on
stage torch-backend-compiled 85 torch on
echo "gpu_slice: done after $(( $(date +%s) - start )) s"
