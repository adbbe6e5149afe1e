#!/usr/bin/python3
"""Train a deepc model spec in PyTorch with the settings `deepc train` uses, to time the peer on
exactly the same model, data and hyper-parameters (docs/results.md).

    /usr/bin/python3 bench/train_torch.py models/lenet5 --epochs 1 --optimizer adam --lr 0.002

Data: Fashion-MNIST from Debian's dataset-fashion-mnist, pixels (p/255 - 0.2860)/0.3530 like
deepc; 5000 training images held out (deepc's --val default), batch shuffled every epoch.
Threads: BENCH_THREADS (default 1) sets torch and OpenBLAS threads.
Prints one line per epoch (seconds, images/s) and the test accuracy.
"""
import argparse
import gzip
import os
import struct
import sys
import time

import numpy as np

threads = os.environ.get("BENCH_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", threads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", threads)

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import spec_torch  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist"


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 0x801:
        return np.frombuffer(data, np.uint8, offset=8).astype(np.int64)
    h, w = struct.unpack(">II", data[8:16])
    return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, h, w)


def load(split):
    x = idx(f"{FMNIST}/{split}-images-idx3-ubyte.gz")
    y = idx(f"{FMNIST}/{split}-labels-idx1-ubyte.gz")
    x = (torch.from_numpy(x.astype(np.float32)) / 255.0 - 0.2860) / 0.3530
    return x, torch.from_numpy(y)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--optimizer", default="sgd")
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--momentum", type=float, default=0.0)  # deepc train's (PyTorch's) default
    ap.add_argument("--scheduler", default="none")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(int(threads))
    torch.manual_seed(a.seed)
    model = spec_torch.build(a.model)
    if a.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=a.momentum)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs) if a.scheduler == "cosine" else None
    x, y = load("train")
    xte, yte = load("t10k")
    g = torch.Generator().manual_seed(a.seed)
    perm = torch.randperm(x.shape[0], generator=g)
    tr = perm[:-5000]
    total = 0.0
    for ep in range(1, a.epochs + 1):
        model.train()
        order = tr[torch.randperm(tr.numel(), generator=g)]
        t0 = time.perf_counter()
        for i in range(0, order.numel(), a.batch):
            b = order[i:i + a.batch]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        dt = time.perf_counter() - t0
        total += dt
        if sched:
            sched.step()
        print(f"torch epoch {ep}/{a.epochs}  {dt:.1f}s  {order.numel() / dt:.0f} ex/s  threads {threads}",
              flush=True)
    model.eval()
    with torch.no_grad():
        correct = sum((model(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item()
                      for i in range(0, xte.shape[0], 1000))
    print(f"torch training time {total:.1f}s  test accuracy {correct / xte.shape[0]:.4f}")


if __name__ == "__main__":
    main()
