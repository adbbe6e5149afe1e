#!/usr/bin/python3
"""
gen_rnn.py - the PyTorch references of deepc's recurrent layers (tests/test_rnn.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_rnn.py     (~5 s)
Deterministic (seeds derive from case names); the writer and conventions are gen.py's: float64
math on float32-representable inputs and parameters, written as float32.

tests/ref/rnn/<case>.safetensors - one nn.RNN / nn.LSTM / nn.GRU module called "rnn":
    rnn.<param>          its state_dict (PyTorch names), U(-0.5, 0.5)
    x, h0, c0            the input and the initial states [L·D, N, H] (c0 for LSTM only)
    y, h_n, c_n          the output sequence and the final states
    dy, dh_n, dc_n       upstream gradients; the loss is Σ y·dy + Σ h_n·dh_n (+ Σ c_n·dc_n)
    dx, dh0, dc0, d.rnn.<param>   the gradients of that loss
    metadata             kind, num_layers, bidirectional, batch_first, bias, nonlinearity

tests/data/rnn_torch/ - two sequence models trained by PyTorch (float32, 150 Adam steps on a
synthetic task: every step predicts the running mean and the last-minus-first difference of the
inputs), each an RNN module "rnn" followed by a per-step Linear "fc", matching the spec files
there: <model>.spec, <model>_weights.safetensors (state_dict), <model>_x.npy [8, 6, 3] and
<model>_y.npy [8, 6, 2] (eval-mode outputs, float64 math on the float32 weights).
    lstm2      2-layer LSTM, hidden 8
    gru_bidir  bidirectional GRU, hidden 6
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen import Rand, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "rnn")
DATA = os.path.join(HERE, "..", "data", "rnn_torch")
KINDS = {"rnn_tanh": nn.RNN, "rnn_relu": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def ref_case(name, kind, I, H, T, N, layers=1, bidir=False, batch_first=False, bias=True,
             states=True):
    r = Rand(name)
    kw = dict(num_layers=layers, bidirectional=bidir, batch_first=batch_first, bias=bias)
    if kind.startswith("rnn"):
        kw["nonlinearity"] = kind[4:]
    m = KINDS[kind](I, H, **kw).double()
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(r.uniform(-0.5, 0.5, *p.shape))
    D = 2 if bidir else 1
    x = r.normal(*((N, T, I) if batch_first else (T, N, I))).requires_grad_()
    h0 = r.normal(layers * D, N, H, scale=0.5).requires_grad_() if states else None
    c0 = r.normal(layers * D, N, H, scale=0.5).requires_grad_() if states and kind == "lstm" \
        else None
    if kind == "lstm":
        y, (hn, cn) = m(x, (h0, c0) if states else None)
    else:
        y, hn = m(x, h0)
        cn = None
    ts = {"x": x, "y": y, "h_n": hn}
    ts["dy"] = r.normal(*y.shape)
    ts["dh_n"] = r.normal(*hn.shape)
    loss = (y * ts["dy"]).sum() + (hn * ts["dh_n"]).sum()
    if cn is not None:
        ts["c_n"] = cn
        ts["dc_n"] = r.normal(*cn.shape)
        loss = loss + (cn * ts["dc_n"]).sum()
    loss.backward()
    ts["dx"] = x.grad
    if h0 is not None:
        ts["h0"], ts["dh0"] = h0, h0.grad
    if c0 is not None:
        ts["c0"], ts["dc0"] = c0, c0.grad
    for k, p in m.named_parameters():
        ts["rnn." + k] = p
        ts["d.rnn." + k] = p.grad
    meta = dict(kind=kind, num_layers=layers, bidirectional=int(bidir),
                batch_first=int(batch_first), bias=int(bias))
    write_safetensors(os.path.join(OUT, name + ".safetensors"), ts, meta)


def gen_refs():
    ref_case("lstm_2layer", "lstm", 4, 5, 4, 3, layers=2, batch_first=True)
    ref_case("lstm_bidir_nobias", "lstm", 3, 4, 3, 2, bidir=True, bias=False)
    ref_case("gru_bidir", "gru", 4, 5, 4, 3, bidir=True)
    ref_case("gru_2layer_bidir", "gru", 3, 4, 3, 2, layers=2, bidir=True, batch_first=True)
    ref_case("rnn_tanh", "rnn_tanh", 4, 5, 4, 3, layers=2, batch_first=True)
    ref_case("rnn_relu_nostate", "rnn_relu", 3, 4, 5, 2, states=False)


class SeqModel(nn.Module):
    def __init__(self, cell, **kw):
        super().__init__()
        self.rnn = cell(3, kw.pop("hidden"), batch_first=True, **kw)
        D = 2 if kw.get("bidirectional") else 1
        self.fc = nn.Linear(self.rnn.hidden_size * D, 2)

    def forward(self, x):
        return self.fc(self.rnn(x)[0])


def task(g, n, T=6):
    x = torch.randn(n, T, 3, generator=g)
    s = x.sum(2)
    run = torch.cumsum(s, 1) / torch.arange(1, T + 1)
    diff = (s[:, -1:] - s[:, :1]).expand(n, T)
    return x, torch.stack([run, diff], 2)


SPECS = {
    "lstm2": "# 2-layer LSTM + a per-step linear (tests/ref/gen_rnn.py trains it)\n[input]\n"
             "shape = 6, 3\n\n[lstm rnn]\nhidden_size = 8\nnum_layers = 2\n\n[linear fc]\n"
             "out_features = 2\n",
    "gru_bidir": "# bidirectional GRU + a per-step linear (tests/ref/gen_rnn.py trains it)\n"
                 "[input]\nshape = 6, 3\n\n[gru rnn]\nhidden_size = 6\nbidirectional = true\n\n"
                 "[linear fc]\nout_features = 2\n",
}


def train(name, model):
    g = torch.Generator().manual_seed(11)
    torch.manual_seed(11)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(150):
        x, y = task(g, 32)
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
    x, _ = task(g, 8)
    model.eval()
    with torch.no_grad():
        out = model.double()(x.double())
    write_safetensors(os.path.join(DATA, name + "_weights.safetensors"), model.state_dict(),
                      {"model": name, "trained": "150 Adam steps, lr 1e-2", "loss": float(loss)})
    np.save(os.path.join(DATA, name + "_x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(DATA, name + "_y.npy"), out.numpy().astype(np.float32))
    with open(os.path.join(DATA, name + ".spec"), "w") as f:
        f.write(SPECS[name])
    print("trained %s: last loss %.4f" % (name, float(loss)))


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(DATA, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    gen_refs()
    train("lstm2", SeqModel(nn.LSTM, hidden=8, num_layers=2))
    train("gru_bidir", SeqModel(nn.GRU, hidden=6, bidirectional=True))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %s (%d bytes, torch %s)" % (OUT, total, torch.__version__))


if __name__ == "__main__":
    main()
