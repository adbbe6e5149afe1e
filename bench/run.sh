#!/bin/sh
# make bench: every workload of ../shared/bench/peers/README.md for deepc and its peers in the same
# run, at 1 and 2 threads, deepc REPS times (median), then a table of figures and ratios
# (deepc ÷ the peer's best thread setting): bench/table.py. Results in $OUT (build/bench).
# The peer side is the shared scripts themselves (run_all.sh), not a copy; it is skipped with a
# note when PyTorch is not installed. WORKLOADS picks a subset (default: w5 w1 w2 w3 w6 w7 w8;
# `WORKLOADS="w7 w8" make bench` runs the Transformer ones). W8's peers are PyTorch and ONNX
# Runtime (run_all.sh w8 installs npm's onnxruntime-node on its first run). W8 also times the
# built-in GEMM in BERT-base's shapes (x·Wᵀ as dc_linear calls it) against the FMA peak.
set -u
BUILD=${BUILD:-build}
OUT=${OUT:-build/bench}
REPS=${REPS:-3}
PEERS=${PEERS:-../shared/bench/peers}
WORKLOADS=${WORKLOADS:-w5 w1 w2 w3 w6 w7 w8}
B=$BUILD/bench_deepc
mkdir -p "$OUT/deepc" "$OUT/peers"
: > "$OUT/deepc/results.jsonl"

deepc() { # THREADS ARGS...: one JSON line per repetition, with peak RSS (KiB) added
    t=$1; shift
    for r in $(seq "$REPS"); do
        /usr/bin/time -f '%M' -o "$OUT/deepc/rss.txt" "$B" --threads "$t" "$@" > "$OUT/deepc/one.json" \
            || { echo "bench_deepc $* failed" >&2; return 1; }
        rss=$(tail -1 "$OUT/deepc/rss.txt")
        sed "s/}\$/, \"rep\": $r, \"peak_rss_kb\": $rss}/" "$OUT/deepc/one.json" >> "$OUT/deepc/results.jsonl"
    done
}

# Each workload runs for deepc and then at once for its peers, so that the two sides of a ratio
# are minutes apart, not the length of the whole run (this machine's speed drifts by 5-15%).
have_peers=0
if /usr/bin/python3 -c 'import torch' 2> /dev/null && [ -x "$PEERS/run_all.sh" ]; then
    have_peers=1
else
    echo "== peers skipped: PyTorch (/usr/bin/python3 with torch, Debian python3-torch) or" \
         "$PEERS/run_all.sh is missing"
fi

for w in $WORKLOADS; do
    echo "== $(date +%T) deepc $w"
    case $w in
    w1) for t in 1 2; do deepc $t w1 3; done ;;
    w2) for t in 1 2; do deepc $t w2; done ;;
    w3) for c in lstm gru rnn; do for t in 1 2; do deepc $t w3 $c; done; done ;;
    w5) for t in 1 2; do
            OMP_NUM_THREADS=$t "$BUILD/bench_gemm" --builtin > "$OUT/deepc/w5_t$t.txt" 2>&1 \
                || "$BUILD/bench_gemm" > "$OUT/deepc/w5_t$t.txt" 2>&1
        done ;;
    w6) for t in 1 2; do deepc $t w6; done ;;
    w7) for t in 1 2; do deepc $t w7; done ;;
    w8) for m in mini base; do for t in 1 2; do deepc $t w8 $m; done; done
        # the opt-in bfloat16 products (dc_model_freeze_bf16, `--bf16`): rows of their own
        for m in mini base; do for t in 1 2; do deepc $t w8 $m bf16; done; done
        # BERT-base's GEMMs (M = 128 tokens or 1024 = batch 8; y = x·Wᵀ) and the FMA peak
        "$BUILD/bench_gemm" --builtin --bt 128 768 768 128 3072 768 128 768 3072 \
            1024 768 768 1024 3072 768 1024 768 3072 > "$OUT/deepc/w8_gemm.txt" 2>&1
        mkdir -p "$OUT/peers-bin"
        gcc -O2 -march=native -fopenmp "$PEERS/w5_peak.c" -o "$OUT/peers-bin/w5_peak" &&
            "$OUT/peers-bin/w5_peak" > "$OUT/deepc/fma_peak.json" 2>&1 ;;
    esac
    if [ "$have_peers" = 1 ]; then
        echo "== $(date +%T) peers $w ($PEERS/run_all.sh $w)"
        PEERS_RESULTS=$(readlink -f "$OUT/peers") PEERS_BUILD=$(readlink -f "$OUT/peers-bin") \
            "$PEERS/run_all.sh" "$w"
    fi
done

# CLI start + load LeNet-5 + predict one image: wall µs of each of 11 runs, timed with bash's
# $EPOCHREALTIME (bash >= 5; no clock process of its own, where `date +%s%N` around the command
# added about 15 ms on a 2-vCPU guest); true_us.txt: /bin/true timed the same way, what any
# process start costs on this machine
time11() {
    bash -c '[ -n "${EPOCHREALTIME-}" ] || { echo "bench: EPOCHREALTIME needs bash >= 5" >&2; exit 1; }
    for r in $(seq 11); do
        s=${EPOCHREALTIME/[.,]/}; "$@" > /dev/null || exit 1; e=${EPOCHREALTIME/[.,]/}
        echo $((e - s)); done' time11 "$@"
}
rm -f "$OUT/deepc/cli_us.txt" "$OUT/deepc/true_us.txt"
"$B" prepare "$OUT/deepc" &&
    time11 "$BUILD/deepc" predict models/lenet5 --weights "$OUT/deepc/lenet.safetensors" \
        --image "$OUT/deepc/img.pgm" > "$OUT/deepc/cli_us.txt" &&
    time11 /bin/true > "$OUT/deepc/true_us.txt"

/usr/bin/python3 bench/table.py "$OUT"
