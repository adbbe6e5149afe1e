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

Module cases go to tests/ref/transformer_nn/<case>.safetensors (tests/test_transformer.c): the
module's state_dict under its own names (parameters drawn N(0, 0.3²) so that no bias is 0 and no
norm weight 1), inputs x0 (and x1: the memory / the key and value), masks attn_mask (float),
kpm / mem_kpm (int64, nonzero = padding), output y, upstream gradient dy, dx0 / dx1 and
"d.<name>" for every parameter. Their configuration is in __metadata__ and hard-coded in the C
test. Dropout is 0, so the same file checks training and eval mode.
"""
import math
import os
import sys

import torch
import torch.nn as nn
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


# ---------------------------------------------------------------------------------------------
# modules
# ---------------------------------------------------------------------------------------------

NN_OUT = os.path.join(HERE, "transformer_nn")


def randomize(module, name):
    r = Rand(name + "/params")
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(r.normal(*p.shape, scale=0.3))


def causal_mask(T):
    return torch.zeros(T, T, dtype=torch.float64).masked_fill(
        torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))


def module_case(name, module, inputs, run, masks=None, meta=None, prefix=""):
    """prefix: put before every parameter name (the deepc module's name). inputs: float tensors (x0, x1, ...) that require grad; run(module, *xs) -> y (or (y, w))."""
    module = module.double()
    randomize(module, name)
    xs = [t.clone().requires_grad_(True) for t in inputs]
    out = run(module, *xs)
    y, w = (out if isinstance(out, tuple) else (out, None))
    dy = Rand(name + "/dy").normal(*y.shape)
    (y * dy).sum().backward()
    ts = {"y": y, "dy": dy}
    for i, x in enumerate(xs):
        ts["x%d" % i] = x
        ts["dx%d" % i] = x.grad
    for k, p in module.named_parameters():
        ts[prefix + k] = p
        ts["d." + prefix + k] = p.grad
    if w is not None:
        ts["w"] = w
    for k, m in (masks or {}).items():
        ts[k] = m
    write_safetensors(os.path.join(NN_OUT, name + ".safetensors"), ts, meta or {})
    gen.N_CASES[0] += 1


def gen_mha():
    r = Rand("mha")
    E, H = 8, 2
    module_case("mha_self", nn.MultiheadAttention(E, H, dropout=0.0, batch_first=True),
                [r.normal(2, 5, E)],
                lambda m, x: m(x, x, x, need_weights=True),
                meta={"E": E, "H": H, "batch_first": 1}, prefix="mha.")
    am = r.normal(4, 6)
    kpm = torch.tensor([[0, 0, 1, 0, 0, 1], [0, 1, 0, 0, 0, 0]], dtype=torch.int64)
    module_case("mha_cross_masks", nn.MultiheadAttention(E, H, dropout=0.0),
                [r.normal(4, 2, E), r.normal(6, 2, E)],
                lambda m, q, kv: m(q, kv, kv, key_padding_mask=kpm.bool(), attn_mask=am),
                masks={"attn_mask": am, "kpm": kpm}, meta={"E": E, "H": H, "batch_first": 0},
                prefix="mha.")
    am3 = r.normal(2 * H, 3, 4)
    module_case("mha_qkv_3dmask", nn.MultiheadAttention(E, H, dropout=0.0, batch_first=True),
                [r.normal(2, 3, E), r.normal(2, 4, E), r.normal(2, 4, E)],
                lambda m, q, k, v: m(q, k, v, attn_mask=am3, need_weights=False)[0],
                masks={"attn_mask": am3}, meta={"E": E, "H": H, "batch_first": 1},
                prefix="mha.")


def gen_layers():
    r = Rand("layers")
    E, H, F_ = 8, 2, 16
    kpm = torch.tensor([[0, 0, 0, 0, 1], [0, 0, 1, 0, 0]], dtype=torch.int64)
    for pre, act, bf in ((False, "relu", True), (True, "gelu", False)):
        tag = ("pre_" if pre else "post_") + act
        layer = nn.TransformerEncoderLayer(E, H, F_, dropout=0.0, activation=act,
                                           batch_first=bf, norm_first=pre)
        x = r.normal(2, 5, E) if bf else r.normal(5, 2, E)
        module_case("enc_" + tag, layer, [x],
                    lambda m, xx: m(xx, src_mask=causal_mask(5), src_key_padding_mask=kpm.bool()),
                    masks={"kpm": kpm},
                    meta={"E": E, "H": H, "F": F_, "norm_first": int(pre), "gelu": int(act == "gelu"),
                          "batch_first": int(bf), "causal": 1}, prefix="layer.")
        dec = nn.TransformerDecoderLayer(E, H, F_, dropout=0.0, activation=act, batch_first=bf,
                                         norm_first=pre)
        t, mem = (r.normal(2, 4, E), r.normal(2, 5, E)) if bf else (r.normal(4, 2, E),
                                                                      r.normal(5, 2, E))
        module_case("dec_" + tag, dec, [t, mem],
                    lambda m, tt, mm: m(tt, mm, tgt_mask=causal_mask(4),
                                        memory_key_padding_mask=kpm.bool()),
                    masks={"mem_kpm": kpm},
                    meta={"E": E, "H": H, "F": F_, "norm_first": int(pre), "gelu": int(act == "gelu"),
                          "batch_first": int(bf), "causal": 1}, prefix="layer.")
    layer = nn.TransformerEncoderLayer(E, H, F_, dropout=0.0, activation="gelu", batch_first=True,
                                       norm_first=True)
    stack = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E), enable_nested_tensor=False)
    module_case("encoder_stack", stack, [r.normal(2, 6, E)],
                lambda m, xx: m(xx, mask=causal_mask(6)),
                meta={"E": E, "H": H, "F": F_, "layers": 2, "norm_first": 1, "gelu": 1,
                      "batch_first": 1, "causal": 1}, prefix="stack.")


def gen_full_transformer():
    r = Rand("transformer")
    E, H, F_ = 8, 2, 16
    model = nn.Transformer(E, H, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=F_,
                           dropout=0.0, batch_first=True)
    src_kpm = torch.tensor([[0, 0, 0, 0, 0, 1], [0, 0, 0, 1, 1, 1]], dtype=torch.int64)
    module_case("transformer", model, [r.normal(2, 6, E), r.normal(2, 4, E)],
                lambda m, s, t: m(s, t, tgt_mask=causal_mask(4),
                                  src_key_padding_mask=src_kpm.bool(),
                                  memory_key_padding_mask=src_kpm.bool()),
                masks={"kpm": src_kpm},
                meta={"E": E, "H": H, "F": F_, "layers": 2, "batch_first": 1})


class TinyGPT(nn.Module):
    """models/char_gpt in small (tests/test_transformer.c gpt_spec): V 11, E 8, 2 pre-LN gelu
    blocks of 2 heads and feed-forward 16 with a final norm, context 12."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(11, 8)
        self.pos = nn.Embedding(12, 8)
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8),
                                            enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(8)
        self.head = nn.Linear(8, 11)

    def forward(self, x):
        T = x.shape[1]
        h = self.tok(x) + self.pos(torch.arange(T))
        return self.head(self.ln_f(self.blocks(h, mask=causal_mask(T))))


def gen_gpt_adamw():
    """4 AdamW steps (lr 1e-2, weight decay 0.01, clip 1) of the tiny GPT from given weights on
    given ids: init.<name>, x, y [4, 12], loss [4] (before each step), final.<name>."""
    name, steps = "gpt_adamw", 4
    model = TinyGPT().double()
    randomize(model, name)
    r = Rand(name)
    x, y = r.ints(0, 11, 4, 12), r.ints(0, 11, 4, 12)
    ts = {"x": x, "y": y}
    for k, p in model.named_parameters():
        ts["init." + k] = p.detach().clone()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.01)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(x).reshape(-1, 11), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
    ts["loss"] = torch.tensor(losses, dtype=torch.float64)
    for k, p in model.named_parameters():
        ts["final." + k] = p.detach()
    write_safetensors(os.path.join(NN_OUT, name + ".safetensors"), ts,
                      {"steps": steps, "lr": 1e-2, "weight_decay": 0.01, "clip": 1.0})
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
    os.makedirs(NN_OUT, exist_ok=True)
    for f in os.listdir(NN_OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(NN_OUT, f))
    gen_mha()
    gen_layers()
    gen_full_transformer()
    gen_gpt_adamw()
    total = sum(os.path.getsize(os.path.join(d, f)) for d in (OUT, NN_OUT) for f in os.listdir(d))
    print("wrote %d files to %s and %s (%d bytes, torch %s)" % (gen.N_CASES[0], OUT, NN_OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
