#!/usr/bin/python3
"""
gen_spec_torch.py - tools/spec_torch.py on the Transformer and BERT spec types, and a PyTorch
char-GPT written as the W7 workload writes it, moved into deepc (tests/test_tf_interop.c).

Run with Debian's python3-torch (needs build/deepc, or $DEEPC, for the layer registry):
    /usr/bin/python3 tests/ref/gen_spec_torch.py      (~3 s)

For every case it writes tests/ref/spec_torch/:
    <case>.spec          the deepc spec
    <case>.safetensors   the PyTorch module's state_dict, exactly (deepc loads it strictly)
    <case>_io.safetensors  x (a batch of inputs) and y (the module's output in eval mode)
Spec cases are built by spec_torch.build from the spec; their parameters are drawn again
N(0, 0.3²) around PyTorch's init so that no bias is 0 and no norm weight 1. The cases cover
every new type: layernorm, positional (learned and sinusoidal), multiheadattention (causal
self-attention, attention over a memory), transformerencoderlayer / transformerdecoderlayer
(post-LN relu and pre-LN gelu, causal, padding, batch_first false), transformerencoder /
transformerdecoder (with final norms) and bert_embeddings, bert_layer, bert_pooler,
bert_mlm_head.

The W7 case is the other direction: CharGPT below is the bench's W7 model (tok and pos
Embeddings, nn.TransformerEncoder of pre-LN GELU layers under a causal mask, ln_f, head) sized
down, written in plain PyTorch with no deepc in sight. It registers its causal mask as a buffer,
so its state_dict holds "mask" besides the parameters. deepc's spec says `causal = true`
instead, so the export drops the buffer explicitly (spec_torch.deepc_state_dict(model,
drop=("mask",))) and the deepc spec (w7_chargpt.spec, models/char_gpt's layout) loads the rest
strictly; the way back is load_state_dict({**deepc_weights, "mask": model.mask}, strict=True),
checked here against spec_torch's build of the same spec. Output is deterministic.
"""
import os
import sys
import zlib

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "spec_torch")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
from gen import write_safetensors  # noqa: E402
import spec_torch  # noqa: E402

torch.set_num_threads(1)

CASES = {
    # embedding -> sinusoidal positions -> encoder stack (padding, final norm) -> pre-LN gelu
    # causal decoder layer over it -> attention over the encoder -> layernorm -> linear
    "tf_encdec": """[input]
shape = 7
dtype = int64
[embedding tok]
num_embeddings = 11
embedding_dim = 16
[positional pos]
kind = sinusoidal
max_len = 10
[transformerencoder enc]
input = pos, input
num_layers = 2
nhead = 2
dim_feedforward = 24
dropout = 0
padding_idx = 0
norm = true
[transformerdecoderlayer dec]
input = pos, enc, input
nhead = 4
dim_feedforward = 20
dropout = 0
activation = gelu
norm_first = true
causal = true
padding_idx = 0
[multiheadattention mha]
input = dec, enc
num_heads = 2
[layernorm ln]
eps = 1e-6
[linear head]
out_features = 11
""",
    # sequence-first layers: learned positions, a post-LN relu encoder layer with padding, a
    # causal decoder stack with a final norm
    "tf_seqfirst": """[input]
shape = 6
dtype = int64
[embedding tok]
num_embeddings = 9
embedding_dim = 12
[positional pos]
max_len = 8
batch_first = false
[transformerencoderlayer enc]
input = pos, input
nhead = 3
dim_feedforward = 16
dropout = 0
batch_first = false
padding_idx = 0
[transformerdecoder dec]
input = pos, enc, input
num_layers = 2
nhead = 2
dim_feedforward = 10
dropout = 0
batch_first = false
causal = true
padding_idx = 0
norm = true
layer_norm_eps = 1e-4
[linear head]
out_features = 9
""",
    # float input: causal self-attention, a layernorm without affine
    "tf_mha_causal": """[input]
shape = 5, 8
[multiheadattention att]
num_heads = 2
causal = true
[layernorm ln]
elementwise_affine = false
[linear out]
out_features = 3
""",
    # BERT: ids and segments -> embeddings -> a layer (padding from the ids) -> MLM head (tied)
    "bert_mlm": """[input]
shape = 2, 6
dtype = int64
[bert_embeddings bert.embeddings]
vocab_size = 30
hidden_size = 16
max_position_embeddings = 12
[bert_layer bert.encoder.layer.0]
input = bert.embeddings, input
num_attention_heads = 2
intermediate_size = 24
[bert_mlm_head cls.predictions]
""",
    "bert_pool": """[input]
shape = 6
dtype = int64
[bert_embeddings emb]
vocab_size = 20
hidden_size = 8
max_position_embeddings = 6
pad_token_id = 1
[bert_layer layer]
input = emb, input
num_attention_heads = 2
intermediate_size = 12
pad_token_id = 1
[bert_pooler pool]
[linear cls]
out_features = 2
""",
}

# the W7 char-GPT sized down (W7: D 256, 4 heads, FF 1024, 4 layers, SEQ 128)
D, HEADS, FF, LAYERS, SEQ, VOCAB = 32, 4, 48, 2, 12, 17

W7_SPEC = f"""# the W7 char-GPT (bench peers' w7_chargpt.py) sized down: models/char_gpt's layout
[input]
shape = {SEQ}
dtype = int64
[embedding tok]
num_embeddings = {VOCAB}
embedding_dim = {D}
[positional pos]
kind = learned
max_len = {SEQ}
[transformerencoder blocks]
num_layers = {LAYERS}
nhead = {HEADS}
dim_feedforward = {FF}
dropout = 0
activation = gelu
norm_first = true
causal = true
[layernorm ln_f]
[linear head]
out_features = {VOCAB}
"""


class CharGPT(nn.Module):
    """W7's model: tok + pos embeddings, pre-LN GELU encoder layers under a causal mask kept as a
    buffer, a final LayerNorm and a linear head."""

    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, D)
        self.pos = nn.Embedding(SEQ, D)
        layer = nn.TransformerEncoderLayer(D, HEADS, FF, dropout=0.0, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, LAYERS, enable_nested_tensor=False)
        self.ln_f = nn.LayerNorm(D)
        self.head = nn.Linear(D, VOCAB)
        self.register_buffer("mask", torch.triu(torch.full((SEQ, SEQ), float("-inf")), 1))

    def forward(self, x):
        h = self.tok(x) + self.pos(torch.arange(x.shape[1]))
        return self.head(self.ln_f(self.blocks(h, mask=self.mask)))


def example_input(text, g):
    """A batch of 3 inputs of the spec's shape: ids in [0, V) with padding (id 0, BERT's
    pad_token_id) at the ends of some rows, segments 0/1 for a [2, T] BERT input."""
    layers = spec_torch.parse_text(text)
    shape = tuple(int(s) for s in layers[0][2]["shape"].split(","))
    if layers[0][2].get("dtype") != "int64":
        return torch.randn((3,) + shape, generator=g)
    V = min(int(kv[k]) for _, _, kv, _ in layers for k in ("num_embeddings", "vocab_size")
            if k in kv)
    pad = next((int(kv["pad_token_id"]) for _, _, kv, _ in layers if "pad_token_id" in kv), 0)
    x = torch.randint(2, V, (3,) + shape, generator=g)
    if len(shape) == 2:                      # BERT ids and segments
        x[:, 1] = torch.randint(0, 2, (3, shape[1]), generator=g)
        x[1, 0, -2:] = pad
        x[2, 0, -1:] = pad
        return x
    x[1, -2:] = pad
    x[2, -3:] = pad
    return x


def spec_case(name, text):
    path = os.path.join(OUT, name + ".spec")
    with open(path, "w") as f:
        f.write(text)
    torch.manual_seed(zlib.crc32(name.encode()))
    m = spec_torch.build(path)
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()) + 1)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=g))
    m.eval()
    x = example_input(text, g)
    with torch.no_grad():
        y = m(x)
    write_safetensors(os.path.join(OUT, name + ".safetensors"), m.state_dict(), {"case": name})
    write_safetensors(os.path.join(OUT, name + "_io.safetensors"), {"x": x, "y": y},
                      {"case": name})
    return m


def w7_case():
    torch.manual_seed(0)
    w7 = CharGPT().eval()
    if "mask" not in w7.state_dict():
        raise RuntimeError("W7's mask buffer should be in its state_dict")
    sd = spec_torch.deepc_state_dict(w7, drop=("mask",))
    path = os.path.join(OUT, "w7_chargpt.spec")
    with open(path, "w") as f:
        f.write(W7_SPEC)
    # the same spec built by spec_torch loads W7's weights strictly and gives W7's outputs
    m = spec_torch.build(path).eval()
    m.load_state_dict(sd, strict=True)
    g = torch.Generator().manual_seed(7)
    x = torch.randint(0, VOCAB, (3, SEQ), generator=g)
    with torch.no_grad():
        y, y2 = w7(x), m(x)
    if not torch.allclose(y, y2, rtol=1e-5, atol=1e-6):
        raise RuntimeError("W7 and spec_torch's build of its spec differ")
    # and back: deepc's names (no mask) load strictly into W7 once its own mask is added
    back = CharGPT()
    back.load_state_dict({**m.state_dict(), "mask": back.mask}, strict=True)
    write_safetensors(os.path.join(OUT, "w7_chargpt.safetensors"), sd, {"case": "w7_chargpt"})
    write_safetensors(os.path.join(OUT, "w7_chargpt_io.safetensors"), {"x": x, "y": y},
                      {"case": "w7_chargpt"})


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".spec", ".safetensors")):
            os.remove(os.path.join(OUT, f))
    for name, text in CASES.items():
        spec_case(name, text)
    w7_case()
    print("wrote %d cases to %s" % (len(CASES) + 1, OUT))


if __name__ == "__main__":
    main()
