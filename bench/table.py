#!/usr/bin/python3
"""Print the `make bench` table: deepc's figures (median over repetitions) next to the peers'
(from ../shared/bench/peers/run_all.sh JSON files) and the ratio deepc / the peer's best thread
setting. Usage: bench/table.py OUT   (OUT/deepc/results.jsonl, OUT/deepc/w5_t*.txt,
OUT/deepc/cli_us.txt, OUT/deepc/true_us.txt, OUT/peers/*.json)."""
import glob
import json
import os
import re
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "build/bench"


def deepc_rows():
    rows = []
    path = os.path.join(out, "deepc", "results.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return rows


def deepc_fig(rows, workload, key, threads):
    v = [r[key] for r in rows if r["workload"] == workload and r["threads"] == threads and key in r]
    return (statistics.median(v), min(v), max(v)) if v else None


def peer(name_glob, key, lower_better=False):
    """(best value over the peer's thread settings, which file)."""
    best = None
    for p in glob.glob(os.path.join(out, "peers", name_glob + ".json")):
        with open(p) as f:
            v = json.load(f).get(key)
        if v is None:
            continue
        if best is None or (v < best[0] if lower_better else v > best[0]):
            best = (v, os.path.basename(p)[:-5])
    return best


def fmt(x):
    return "—" if x is None else (f"{x:,.0f}" if x >= 100 else f"{x:,.1f}")


rows = deepc_rows()
table = [
    ("W1 LeNet-5 train, img/s", "w1_lenet_train", "images_per_s_median", "w1_lenet_train_t*",
     "img_per_s_median", False, 3.0),
    ("W2 LeNet-5 infer batch 1, µs", "w2_lenet_infer", "batch1_latency_us_median",
     "w2_lenet_infer_t*", "b1_latency_us_median", True, 10.0),
    ("W2 LeNet-5 infer batch 256, img/s", "w2_lenet_infer", "batch256_images_per_s_median",
     "w2_lenet_infer_t*", "b256_img_per_s_median", False, 3.0),
    ("W3 char-LM LSTM, tok/s", "w3_charlm_lstm", "tokens_per_s_median", "w3_charlm_lstm_t*",
     "tokens_per_s_median", False, 1.5),
    ("W3 char-LM GRU, tok/s", "w3_charlm_gru", "tokens_per_s_median", "w3_charlm_gru_t*",
     "tokens_per_s_median", False, 1.5),
    ("W3 char-LM RNN, tok/s", "w3_charlm_rnn", "tokens_per_s_median", "w3_charlm_rnn_t*",
     "tokens_per_s_median", False, 1.5),
    # PyTorch's best of its settings: threads and memory format (NCHW and channels_last)
    ("W6 ResNet train, img/s", "w6_resnet", "train_images_per_s_median", "w6_resnet_n*_t*",
     "train_img_per_s_median", False, 1.0),
    ("W6 ResNet infer, img/s", "w6_resnet", "infer_images_per_s_median", "w6_resnet_n*_t*",
     "infer_img_per_s_median", False, 1.0),
    # W7, W8 (issue 18): targets (target, stretch); W8 against PyTorch and ONNX Runtime
    ("W7 char-GPT train, tok/s", "w7_chargpt", "tokens_per_s_median", "w7_chargpt_t*",
     "tokens_per_s_median", False, (2.5, 3.5)),
    ("W8 BERT-mini batch 1, ms (ONNX Runtime)", "w8_bert_mini", "batch1_ms_median",
     "w8_ort_mini_t*", "batch1_ms_median", True, (1.2, 2.0)),
    ("W8 BERT-mini batch 1, ms (PyTorch)", "w8_bert_mini", "batch1_ms_median",
     "w8_bert_mini_t*", "batch1_ms_median", True, 3.0),
    ("W8 BERT-mini batch 8, seq/s (ONNX Runtime)", "w8_bert_mini", "batch8_seq_per_s_median",
     "w8_ort_mini_t*", "batch8_seq_per_s_median", False, (1.0, 1.5)),
    ("W8 BERT-mini batch 8, seq/s (PyTorch)", "w8_bert_mini", "batch8_seq_per_s_median",
     "w8_bert_mini_t*", "batch8_seq_per_s_median", False, None),
    ("W8 BERT-base batch 1, ms (ONNX Runtime)", "w8_bert_base", "batch1_ms_median",
     "w8_ort_base_t*", "batch1_ms_median", True, (1.0, 1.3)),
    ("W8 BERT-base batch 1, ms (PyTorch)", "w8_bert_base", "batch1_ms_median",
     "w8_bert_base_t*", "batch1_ms_median", True, 1.5),
    ("W8 BERT-base batch 8, seq/s (ONNX Runtime)", "w8_bert_base", "batch8_seq_per_s_median",
     "w8_ort_base_t*", "batch8_seq_per_s_median", False, (1.0, 1.3)),
    ("W8 BERT-base batch 8, seq/s (PyTorch)", "w8_bert_base", "batch8_seq_per_s_median",
     "w8_bert_base_t*", "batch8_seq_per_s_median", False, None),
    # opt-in bfloat16 products (weights and inputs of the GEMMs rounded to bfloat16, float32
    # sums; `--bf16`) against the peers' float32: no target of their own, shown for scale
    ("W8 BERT-mini batch 1, ms, deepc bf16 (ONNX Runtime)", "w8_bert_mini_bf16",
     "batch1_ms_median", "w8_ort_mini_t*", "batch1_ms_median", True, None),
    ("W8 BERT-mini batch 8, seq/s, deepc bf16 (ONNX Runtime)", "w8_bert_mini_bf16",
     "batch8_seq_per_s_median", "w8_ort_mini_t*", "batch8_seq_per_s_median", False, None),
    ("W8 BERT-base batch 1, ms, deepc bf16 (ONNX Runtime)", "w8_bert_base_bf16",
     "batch1_ms_median", "w8_ort_base_t*", "batch1_ms_median", True, None),
    ("W8 BERT-base batch 8, seq/s, deepc bf16 (ONNX Runtime)", "w8_bert_base_bf16",
     "batch8_seq_per_s_median", "w8_ort_base_t*", "batch8_seq_per_s_median", False, None),
]
print("| workload | deepc 1 thread | deepc 2 threads | peer best (setting) | ratio | target |")
print("|---|---|---|---|---|---|")
for label, w, key, pglob, pkey, lower, target in table:
    d1, d2 = deepc_fig(rows, w, key, 1), deepc_fig(rows, w, key, 2)
    cands = [d[0] for d in (d1, d2) if d]
    dbest = (min(cands) if lower else max(cands)) if cands else None
    p = peer(pglob, pkey, lower)
    ratio = None
    if dbest and p:
        ratio = p[0] / dbest if lower else dbest / p[0]
    cell = lambda d: "—" if not d else f"{fmt(d[0])} ({fmt(d[1])}–{fmt(d[2])})"
    if target is None:
        tcell = "—"
    elif isinstance(target, tuple):
        tcell = f"≥ {target[0]:g}× (stretch {target[1]:g}×)"
    else:
        tcell = f"≥ {target:g}×"
    if not cands and not p:
        continue  # a workload this run did not include
    print(f"| {label} | {cell(d1)} | {cell(d2)} | {fmt(p[0]) + ' (' + p[1] + ')' if p else '—'} "
          f"| {'—' if ratio is None else f'{ratio:.2f}×'} | {tcell} |")

# W5: the built-in GEMM's best GFLOP/s per size against OpenBLAS's best from the peers' run at
# the same thread count (its auto-selected and its Haswell kernels: w5_gemm_t*, _haswell_t*)
def openblas_best(threads, n):
    best = None  # the C peer prints its JSON to stdout: run_all.sh keeps it as NAME.log
    for p in glob.glob(os.path.join(out, "peers", f"w5_gemm*_t{threads}.*")):
        if not p.endswith((".json", ".log")):
            continue
        try:
            with open(p) as f:
                res = json.load(f).get("results", [])
        except (OSError, ValueError):
            continue
        for r in res:
            if r.get("n") == n and (best is None or r["gflops_best"] > best[0]):
                best = (r["gflops_best"], os.path.splitext(os.path.basename(p))[0])
    return best


for t in (1, 2):
    path = os.path.join(out, "deepc", f"w5_t{t}.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+threads (\d+).*best\s+([\d.]+) GFLOP/s", line)
                if m and m.group(1) == m.group(2) == m.group(3) and int(m.group(4)) == t:
                    n, g = int(m.group(1)), float(m.group(5))
                    p = openblas_best(t, n)
                    ratio = "—" if not p else f"{g / p[0]:.2f}×"
                    cell = "—" if not p else f"{p[0]:.1f} ({p[1]})"
                    print(f"| W5 GEMM n={n}, {t} thread(s), GFLOP/s | {g:.1f} (built-in) | | "
                          f"{cell} | {ratio} | ≥ 0.9× |")

rss = [r["peak_rss_kb"] for r in rows if r["workload"] == "w1_lenet_train"]
if rss:
    print(f"\nW1 peak RSS: {statistics.median(rss) / 1024:.0f} MB (PyTorch ≈ 540 MB; target ≤ 1/5)")


def peer_rss_mb(name_glob):
    """The smallest peak RSS (MB) over the peer's runs (/usr/bin/time -v in NAME.time.txt)."""
    best = None
    for p in glob.glob(os.path.join(out, "peers", name_glob + ".time.txt")):
        with open(p) as f:
            m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", f.read())
        if m and (best is None or int(m.group(1)) < best):
            best = int(m.group(1))
    return None if best is None else best / 1024


rss = [r["peak_rss_kb"] for r in rows if r["workload"] == "w7_chargpt"]
if rss:
    d, p = min(rss) / 1024, peer_rss_mb("w7_chargpt_t*")
    ratio = f"{p / d:.1f}× less" if p else "PyTorch not run"
    print(f"W7 peak RSS: deepc {d:.0f} MB, PyTorch {fmt(p)} MB: {ratio} (target ≥ 3×, stretch 5×)")


def fma_peak(threads):
    """The AVX-512 FMA peak, GFLOP/s (the peers' w5_peak, run by bench/run.sh for W8)."""
    try:
        with open(os.path.join(out, "deepc", "fma_peak.json")) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    v = [r["gflops_best"] for r in res if r.get("isa") == "avx512" and r.get("threads") == threads]
    return max(v) if v else None


gemm = os.path.join(out, "deepc", "w8_gemm.txt")
if os.path.exists(gemm):
    print("\nW8 BERT's GEMMs (y = x·Wᵀ, built-in), GFLOP/s best and fraction of the FMA peak "
          "(target ≥ 70%, stretch 85%):")
    with open(gemm) as f:
        for line in f:
            m = re.match(r"\s*(\d+)\s+(\d+)\s+(\d+)\s+Bt threads (\d+).*"
                         r"best\s+([\d.]+) GFLOP/s", line)
            if m:
                t, g = int(m.group(4)), float(m.group(5))
                pk = fma_peak(t)
                frac = f"{100 * g / pk:.0f}% of {pk:.0f}" if pk else "peak not measured"
                print(f"  M={m.group(1)} N={m.group(2)} K={m.group(3)}, {t} thread(s): {g:.1f} "
                      f"({frac})")
cli = os.path.join(out, "deepc", "cli_us.txt")
if os.path.exists(cli):
    with open(cli) as f:
        v = [int(x) for x in f.read().split()]
    if v:
        base = os.path.join(out, "deepc", "true_us.txt")
        t = []
        if os.path.exists(base):
            with open(base) as f:
                t = [int(x) for x in f.read().split()]
        extra = (f"; /bin/true timed the same way: {statistics.median(t) / 1000:.1f} ms"
                 if t else "")
        print(f"CLI start + load LeNet-5 + predict one image: {statistics.median(v) / 1000:.1f} ms "
              f"median of {len(v)} (target ≤ 10 ms{extra})")
