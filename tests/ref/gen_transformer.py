#!/usr/bin/python3
"""
gen_transformer.py - the PyTorch references of deepc's Transformer ops and modules
(tests/test_attention.c, tests/test_transformer.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_transformer.py     (~2 s)
Output is deterministic (seeds derive from case names), so re-running it rewrites byte-identical
files unless a case or PyTorch changed.

It writes tests/ref/transformer/<case>.safetensors (a folder of its own, so that gen.py, which
deletes every .safetensors of tests/ref, leaves them alone). Writer and conventions are gen.py's:
float64 math on float32-representable inputs, written as float32.

Op cases (x0, x1, ... inputs; y output; dy upstream gradient; dx<i> gradients of sum(y * dy)):
    layer_norm_*      x0 input, x1 weight, x2 bias (F.layer_norm over the weight's shape)
    matmul_bcast_*    torch.matmul of two operands with broadcast batch dims
    masked_softmax_*  x0 input, x1 mask (float: added; int64: nonzero hides), softmax(-1)
    attention_*       x0 q [N, H, Tq, D], x1 k, x2 v, then optional attn_mask (float) and
                      key_padding_mask (int64, nonzero hides); softmax(q kᵀ/√D + masks) v, written
                      out by hand (PyTorch 1.13 has no F.scaled_dot_product_attention)
    sinusoidal        y = the Vaswani et al. table [T, E] (no inputs)
PyTorch 1.13 gives NaN for a fully masked softmax row; these cases have none (the C tests check
deepc's 0 there).
"""
import math
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (the safetensors writer, Rand and op_case)
from gen import Rand, op_case, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "transformer")
gen.OUT = OUT   # op_case writes into gen.OUT


# ---------------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------------

def gen_layer_norm():
    r = Rand("layer_norm")
    op_case("layer_norm_affine", lambda x, w, b: F.layer_norm(x, (6,), w, b, 1e-5),
            [r.normal(3, 4, 6, scale=2.0), r.normal(6), r.normal(6)], meta={"dims": 1})
    op_case("layer_norm_2d", lambda x, w, b: F.layer_norm(x, (3, 4), w, b, 1e-5),
            [r.normal(2, 3, 4), r.normal(3, 4), r.normal(3, 4)], meta={"dims": 2})
    op_case("layer_norm_plain", lambda x: F.layer_norm(x, (5,), None, None, 1e-3),
            [r.normal(4, 5)], meta={"dims": 1, "eps": 1e-3})


def gen_matmul_bcast():
    r = Rand("matmul_bcast")
    op_case("matmul_bcast_left", torch.matmul, [r.normal(2, 1, 3, 4), r.normal(3, 4, 5)])
    op_case("matmul_bcast_2d", torch.matmul, [r.normal(3, 4), r.normal(2, 4, 2)])
    op_case("matmul_bcast_4d", torch.matmul, [r.normal(2, 3, 2, 4), r.normal(1, 3, 4, 3)])


def masked(x, mask):
    if mask.dtype == torch.int64:
        return x.masked_fill(mask.bool(), float("-inf"))
    return x + mask


def gen_masked_softmax():
    r = Rand("masked_softmax")
    fm = r.normal(3, 5)
    op_case("masked_softmax_float", lambda x, m: torch.softmax(masked(x, m), -1),
            [r.normal(2, 3, 5), fm], grad=[True, False])
    im = torch.tensor([[0, 1, 0, 0, 1, 0], [1, 0, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0]],
                      dtype=torch.int64)
    op_case("masked_softmax_int", lambda x, m: torch.softmax(masked(x, m), -1),
            [r.normal(2, 3, 6), im], grad=[True, False])


def attention_ref(q, k, v, attn_mask=None, kpm=None, causal=False):
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if attn_mask is not None:
        s = masked(s, attn_mask)
    if kpm is not None:
        s = s.masked_fill(kpm.bool()[:, None, None, :], float("-inf"))
    if causal:
        Tq, Tk = s.shape[-2], s.shape[-1]
        hide = torch.ones(Tq, Tk, dtype=torch.bool).triu(1 + Tk - Tq)
        s = s.masked_fill(hide, float("-inf"))
    return torch.softmax(s, -1) @ v


def gen_attention():
    r = Rand("attention")
    op_case("attention_plain", attention_ref,
            [r.normal(2, 2, 5, 4), r.normal(2, 2, 6, 4), r.normal(2, 2, 6, 3)])
    # causal with Tq < Tk: query i sits at key position Tk - Tq + i (q_offset)
    op_case("attention_causal", lambda q, k, v: attention_ref(q, k, v, causal=True),
            [r.normal(2, 3, 7, 8), r.normal(2, 3, 9, 8), r.normal(2, 3, 9, 8)],
            meta={"q_offset": 2})
    # several blocks of queries (32) and keys (64)
    op_case("attention_blocks_causal", lambda q, k, v: attention_ref(q, k, v, causal=True),
            [r.normal(1, 2, 70, 16), r.normal(1, 2, 70, 16), r.normal(1, 2, 70, 16)])
    am = r.normal(5, 6)
    kpm = torch.tensor([[0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=torch.int64)
    op_case("attention_masks", lambda q, k, v, m, p: attention_ref(q, k, v, m, p),
            [r.normal(2, 2, 5, 4), r.normal(2, 2, 6, 4), r.normal(2, 2, 6, 4), am, kpm],
            grad=[True, True, True, False, False])
    im = torch.tensor([[0, 1, 0, 0, 0, 0], [0, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 0],
                       [0, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]], dtype=torch.int64)
    op_case("attention_bool_mask", lambda q, k, v, m: attention_ref(q, k, v, m),
            [r.normal(1, 2, 5, 4), r.normal(1, 2, 6, 4), r.normal(1, 2, 6, 4), im],
            grad=[True, True, True, False])


def gen_sinusoidal():
    T, E = 12, 10
    pos = torch.arange(T, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, E, 2, dtype=torch.float64) * (-math.log(10000.0) / E))
    pe = torch.zeros(T, E, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)
    write_safetensors(os.path.join(OUT, "sinusoidal.safetensors"), {"y": pe},
                      {"op": "sinusoidal", "T": T, "E": E})
    gen.N_CASES[0] += 1


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    torch.set_num_threads(1)
    gen_layer_norm()
    gen_matmul_bcast()
    gen_masked_softmax()
    gen_attention()
    gen_sinusoidal()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files to %s (%d bytes, torch %s)" % (gen.N_CASES[0], OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
