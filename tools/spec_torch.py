#!/usr/bin/python3
"""Build a PyTorch module from a deepc model spec (docs/model-format.md).

The module's state_dict keys equal deepc's parameter names (a layer called "layer1.0.conv1"
becomes the nested submodule layer1 -> 0 -> conv1), so weights move between the two with
safetensors files and no renaming:

    import spec_torch
    model = spec_torch.build("models/lenet5")
    y = model(torch.zeros(8, 1, 28, 28))

Only what deepc's spec builder knows is accepted: the layer types, their aliases, keys and
defaults come from deepc's layer registry (`deepc layers --json`; the binary is $DEEPC, else
build/deepc of this checkout), so a key deepc does not know is refused here too and every
default is deepc's. Sizes that deepc infers (in_channels, in_features, num_features) are inferred
here the same way, by running each layer once on a zero batch. Used by bench/train_torch.py to
time PyTorch on exactly the model deepc trains.

The Transformer and BERT types are torch.nn's modules (LayerNorm, MultiheadAttention,
TransformerEncoder/DecoderLayer, TransformerEncoder/Decoder: deepc's `causal` and `padding_idx`
become the masks) and Hugging Face's BERT modules written out with their names. A PyTorch model
that keeps a tensor deepc states as an option (a causal mask registered as a buffer) moves with
deepc_state_dict(model, drop=("mask",)) and comes back with
model.load_state_dict({**weights, "mask": model.mask}, strict=True); tests/ref/gen_spec_torch.py
does both for W7's char-GPT.
"""
import json
import math
import os
import subprocess
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def parse(path):
    """[(type, name, {key: value}, line)] in file order."""
    with open(path) as f:
        return parse_text(f.read())


def parse_text(text):
    """parse() of a spec's text."""
    layers = []
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            head = line.strip("[]").split()
            layers.append([head[0].lower(), head[1] if len(head) > 1 else "", {}, no])
        else:
            key, val = (s.strip() for s in line.split("=", 1))
            layers[-1][2][key] = val
    return layers


def deepc_state_dict(module, drop=()):
    """module.state_dict() without the keys in drop: for a PyTorch model that keeps in its
    state_dict a buffer which a deepc spec states as an option instead (a causal mask registered
    with register_buffer: `causal = true`). Loading back into such a model strictly:
    module.load_state_dict({**deepc_weights, "mask": module.mask}, strict=True)."""
    sd = module.state_dict()
    for k in drop:
        if k not in sd:
            raise KeyError(f"deepc_state_dict: '{k}' is not in the state_dict")
        del sd[k]
    return sd


_REGISTRY = None


def registry():
    """{type or lower-case alias: layer} from `deepc layers --json`."""
    global _REGISTRY
    if _REGISTRY is None:
        here = os.path.dirname(os.path.abspath(__file__))
        exe = os.environ.get("DEEPC") or os.path.join(here, "..", "build", "deepc")
        out = subprocess.run([exe, "layers", "--json"], check=True, capture_output=True,
                             text=True).stdout
        _REGISTRY = {}
        for layer in json.loads(out):
            _REGISTRY[layer["type"]] = layer
            for a in layer["aliases"]:
                _REGISTRY.setdefault(a.lower(), layer)
    return _REGISTRY


def complete(t, kv, line):
    """The registry's type for t, and kv with every default filled in (as deepc echoes them);
    unknown types and keys are errors, as in deepc."""
    layer = registry().get(t)
    if layer is None:
        raise ValueError(f"line {line}: unknown layer type '{t}'")
    known = {k["name"]: k for k in layer["keys"]}
    for key in kv:
        if key != "input" and key not in known:
            raise ValueError(f"line {line}: [{t}] {key}: unknown key (known: input, "
                             f"{', '.join(known)})")
    full = dict(kv)
    for k in layer["keys"]:
        d = k["default"]
        if k["name"] in full or d is None:
            continue
        full[k["name"]] = full[d[1:]] if d.startswith("=") else d
    return layer["type"], full


def ints(v):
    return [int(s) for s in v.split(",")]


def pair(v, default):
    p = ints(v) if v is not None else [default]
    return (p[0], p[-1])


class Join(nn.Module):
    def __init__(self, kind, axis=1):
        super().__init__()
        self.kind, self.axis = kind, axis

    def forward(self, *xs):
        if self.kind == "add":
            y = xs[0]
            for x in xs[1:]:
                y = y + x
            return y
        return torch.cat(xs, self.axis)


class SamePad(nn.Module):
    """Explicit (possibly asymmetric) zero padding before a conv, as deepc's 4-value padding."""

    def __init__(self, conv, pads):
        super().__init__()
        self.conv, self.pads = conv, pads  # pads = (left, right, top, bottom)

    def forward(self, x):
        return self.conv(F.pad(x, self.pads))


def _seq_output(cls):
    """nn.RNN / nn.LSTM / nn.GRU giving only the output sequence (deepc's rnn layers), with the
    same state_dict keys (weight_ih_l0, ...) as the plain PyTorch module."""

    class SeqOnly(cls):
        def forward(self, x):
            return super().forward(x)[0]

    SeqOnly.__name__ = cls.__name__
    return SeqOnly


class Lambda(nn.Module):
    """A parameter-free function of the input (fold_time, unfold_time, last_step, onehot)."""

    def __init__(self, fn, text):
        super().__init__()
        self.fn, self.text = fn, text

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.text


def make_view(t, kv, x):
    """The layers that only move data: a torch module, or None if t is not one of them."""
    if t == "reshape":
        return nn.Sequential(nn.Flatten(), nn.Unflatten(1, tuple(ints(kv["shape"]))))
    if t == "fold_time":
        return Lambda(lambda v: v.flatten(0, 1), "flatten(0, 1)")
    if t == "unfold_time":
        steps = int(kv["steps"])
        return Lambda(lambda v: v.unflatten(0, (-1, steps)), f"unflatten(0, (-1, {steps}))")
    if t == "last_step":
        step = int(kv["step"])
        return Lambda(lambda v: v[:, step], f"x[:, {step}]")
    if t == "onehot":
        k = int(kv["num_classes"])
        return Lambda(lambda v: F.one_hot(v, k).float(), f"one_hot({k})")
    return None


def make_rnn(t, kv, x):
    """rnn / lstm / gru (batch_first defaults to true in specs), or None."""
    if t not in ("rnn", "lstm", "gru"):
        return None
    flag = lambda k: kv[k] == "true"  # noqa: E731
    args = dict(input_size=x.shape[-1], hidden_size=int(kv["hidden_size"]),
                num_layers=int(kv["num_layers"]), bias=flag("bias"),
                batch_first=flag("batch_first"), dropout=float(kv["dropout"]),
                bidirectional=flag("bidirectional"))
    if t == "rnn":
        return _seq_output(nn.RNN)(nonlinearity=kv["nonlinearity"], **args)
    return _seq_output(nn.LSTM if t == "lstm" else nn.GRU)(**args)


# ---- Transformer and BERT layers -------------------------------------------------------------

def _flag(kv, k):
    return kv[k] == "true"


def _causal_mask(T):
    """The additive causal mask deepc's `causal = true` stands for: -inf above the diagonal."""
    return torch.triu(torch.full((T, T), float("-inf")), 1)


def _pad_of(kv, key="padding_idx"):
    return None if kv[key] == "none" else int(kv[key])


def _ids_mask(ids, pad, batch_first=True):
    """key_padding_mask [N, T] (True = hidden) from an int64 ids input [N, T] ([T, N] when not
    batch_first) or [N, 2, T] (BERT: ids and segments)."""
    if ids is None or pad is None:
        return None
    ids = ids[:, 0] if ids.dim() == 3 else ids
    return (ids if batch_first else ids.t()) == pad


class Positional(nn.Module):
    """deepc's positional layer: x + P[:T], P learned ("<name>.weight" [max_len, E], an
    Embedding over positions, N(0, 1) init) or the sinusoidal table of Vaswani et al., a buffer
    kept out of the state_dict (persistent=False), as deepc keeps it."""

    def __init__(self, kind, max_len, E, batch_first):
        super().__init__()
        self.batch_first, self.learned = batch_first, kind == "learned"
        if self.learned:
            self.weight = nn.Parameter(torch.randn(max_len, E))
        else:
            pos = torch.arange(max_len, dtype=torch.float64)[:, None]
            w = torch.exp(-torch.arange(0, E, 2, dtype=torch.float64) * math.log(10000.0) / E)
            pe = torch.zeros(max_len, E, dtype=torch.float64)
            pe[:, 0::2] = torch.sin(pos * w)
            pe[:, 1::2] = torch.cos(pos * w)[:, :E // 2]
            self.register_buffer("table", pe.float(), persistent=False)

    def forward(self, x):
        T = x.shape[1] if self.batch_first else x.shape[0]
        p = (self.weight if self.learned else self.table)[:T]
        return x + (p if self.batch_first else p[:, None])


class MHA(nn.MultiheadAttention):
    """nn.MultiheadAttention giving the output only (deepc's multiheadattention): self-attention
    of x, or x over a memory (`input = x, mem`); causal hides later positions. The state_dict
    keys are nn.MultiheadAttention's (in_proj_weight, in_proj_bias, out_proj.*)."""

    def __init__(self, E, H, dropout, bias, batch_first, causal):
        super().__init__(E, H, dropout=dropout, bias=bias, batch_first=batch_first)
        self.causal = causal

    def forward(self, x, mem=None):
        kv = x if mem is None else mem
        Tq, Tk = (x.shape[1], kv.shape[1]) if self.batch_first else (x.shape[0], kv.shape[0])
        mask = _causal_mask(max(Tq, Tk))[:Tq, :Tk] if self.causal else None
        return super().forward(x, kv, kv, attn_mask=mask, need_weights=False)[0]


def _tf_layer_args(kv, x):
    return dict(d_model=x.shape[-1], nhead=int(kv["nhead"]),
                dim_feedforward=int(kv["dim_feedforward"]), dropout=float(kv["dropout"]),
                activation=kv["activation"], layer_norm_eps=float(kv["layer_norm_eps"]),
                batch_first=_flag(kv, "batch_first"), norm_first=_flag(kv, "norm_first"))


class _TfCall:
    """Masks of deepc's encoder / decoder types: causal (self-attention) and the padding of an
    int64 ids input (an encoder's own keys; a decoder's memory)."""

    def _setup(self, kv):
        self.causal, self.pad = _flag(kv, "causal"), _pad_of(kv)
        self.bf = _flag(kv, "batch_first")
        self.seq_dim = 1 if self.bf else 0

    def _self_mask(self, x):
        return _causal_mask(x.shape[self.seq_dim]) if self.causal else None


class EncoderLayer(nn.TransformerEncoderLayer, _TfCall):
    def __init__(self, kv, x):
        super().__init__(**_tf_layer_args(kv, x))
        self._setup(kv)

    def forward(self, x, ids=None):
        return super().forward(x, src_mask=self._self_mask(x),
                               src_key_padding_mask=_ids_mask(ids, self.pad, self.bf))


class DecoderLayer(nn.TransformerDecoderLayer, _TfCall):
    def __init__(self, kv, x):
        super().__init__(**_tf_layer_args(kv, x))
        self._setup(kv)

    def forward(self, x, mem, ids=None):
        return super().forward(x, mem, tgt_mask=self._self_mask(x),
                               memory_key_padding_mask=_ids_mask(ids, self.pad, self.bf))


class Encoder(nn.TransformerEncoder, _TfCall):
    def __init__(self, kv, x):
        a = _tf_layer_args(kv, x)
        norm = nn.LayerNorm(a["d_model"], eps=a["layer_norm_eps"]) if _flag(kv, "norm") else None
        super().__init__(nn.TransformerEncoderLayer(**a), int(kv["num_layers"]), norm=norm,
                         enable_nested_tensor=False)
        self._setup(kv)

    def forward(self, x, ids=None):
        return super().forward(x, mask=self._self_mask(x),
                               src_key_padding_mask=_ids_mask(ids, self.pad, self.bf))


class Decoder(nn.TransformerDecoder, _TfCall):
    def __init__(self, kv, x):
        a = _tf_layer_args(kv, x)
        norm = nn.LayerNorm(a["d_model"], eps=a["layer_norm_eps"]) if _flag(kv, "norm") else None
        super().__init__(nn.TransformerDecoderLayer(**a), int(kv["num_layers"]), norm=norm)
        self._setup(kv)

    def forward(self, x, mem, ids=None):
        return super().forward(x, mem, tgt_mask=self._self_mask(x),
                               memory_key_padding_mask=_ids_mask(ids, self.pad, self.bf))


class BertEmbeddings(nn.Module):
    """Hugging Face's BertEmbeddings (names and order: (word + token_type) + position, LayerNorm,
    dropout) on ids [N, T] or ids and segments [N, 2, T]."""

    def __init__(self, kv):
        super().__init__()
        V, E, self.pad = int(kv["vocab_size"]), int(kv["hidden_size"]), int(kv["pad_token_id"])
        self.word_embeddings = nn.Embedding(V, E, padding_idx=self.pad)
        self.position_embeddings = nn.Embedding(int(kv["max_position_embeddings"]), E)
        self.token_type_embeddings = nn.Embedding(int(kv["type_vocab_size"]), E)
        self.LayerNorm = nn.LayerNorm(E, eps=float(kv["layer_norm_eps"]))
        self.dropout = nn.Dropout(float(kv["dropout"]))

    def forward(self, x):
        ids, seg = (x[:, 0], x[:, 1]) if x.dim() == 3 else (x, torch.zeros_like(x))
        pos = torch.arange(ids.shape[1])
        e = self.word_embeddings(ids) + self.token_type_embeddings(seg)
        return self.dropout(self.LayerNorm(e + self.position_embeddings(pos)))


class _Named(nn.Module):
    """An empty module that only groups children under a Hugging Face name."""


class BertLayer(nn.Module):
    """Hugging Face's BertLayer (post-LN, GELU): attention.self.{query,key,value},
    attention.output.{dense,LayerNorm}, intermediate.dense, output.{dense,LayerNorm}; the
    optional second input is the model's ids, whose pad_token_id positions are hidden keys."""

    def __init__(self, kv, x):
        super().__init__()
        E, F_ = x.shape[-1], int(kv["intermediate_size"])
        self.H, self.pad = int(kv["num_attention_heads"]), int(kv["pad_token_id"])
        eps = float(kv["layer_norm_eps"])
        self.p, self.attn_p = float(kv["dropout"]), float(kv["attention_dropout"])
        self.attention = _Named()
        self.attention.self = _Named()
        for n in ("query", "key", "value"):
            setattr(self.attention.self, n, nn.Linear(E, E))
        self.attention.output = _Named()
        self.attention.output.dense = nn.Linear(E, E)
        self.attention.output.LayerNorm = nn.LayerNorm(E, eps=eps)
        self.intermediate = _Named()
        self.intermediate.dense = nn.Linear(E, F_)
        self.output = _Named()
        self.output.dense = nn.Linear(F_, E)
        self.output.LayerNorm = nn.LayerNorm(E, eps=eps)

    def forward(self, h, ids=None):
        N, T, E = h.shape
        D = E // self.H
        a = self.attention.self
        q, k, v = (m(h).view(N, T, self.H, D).transpose(1, 2) for m in (a.query, a.key, a.value))
        s = q @ k.transpose(-1, -2) / math.sqrt(D)
        kpm = _ids_mask(ids, self.pad)
        if kpm is not None:
            s = s.masked_fill(kpm[:, None, None, :], float("-inf"))
        p = F.dropout(torch.softmax(s, -1), self.attn_p, self.training)
        c = (p @ v).transpose(1, 2).reshape(N, T, E)
        o = self.attention.output
        c = o.LayerNorm(F.dropout(o.dense(c), self.p, self.training) + h)
        f = self.output.dense(F.gelu(self.intermediate.dense(c)))
        return self.output.LayerNorm(F.dropout(f, self.p, self.training) + c)


class BertPooler(nn.Module):
    def __init__(self, x):
        super().__init__()
        self.dense = nn.Linear(x.shape[-1], x.shape[-1])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertLMHead(nn.Module):
    """Hugging Face's BertLMPredictionHead: transform.dense, GELU, transform.LayerNorm, then the
    word embeddings (tied, not registered here: held in a list) and `bias`. The state_dict is
    deepc's (no decoder.* keys; deepc also accepts them from a Hugging Face file)."""

    def __init__(self, kv, x, word):
        super().__init__()
        E = x.shape[-1]
        self.transform = _Named()
        self.transform.dense = nn.Linear(E, E)
        self.transform.LayerNorm = nn.LayerNorm(E, eps=float(kv["layer_norm_eps"]))
        self.bias = nn.Parameter(torch.zeros(word.shape[0]))
        self._word = [word]

    def forward(self, x):
        t = self.transform.LayerNorm(F.gelu(self.transform.dense(x)))
        return F.linear(t, self._word[0], self.bias)


def make_transformer(t, kv, x, net):
    """The Transformer and BERT types, or None. net: the SpecNet being built (the MLM head ties
    to its first bert_embeddings)."""
    if t == "layernorm":
        shape = ints(kv["normalized_shape"]) if "normalized_shape" in kv else [x.shape[-1]]
        return nn.LayerNorm(shape, eps=float(kv["eps"]),
                            elementwise_affine=_flag(kv, "elementwise_affine"))
    if t == "positional":
        return Positional(kv["kind"], int(kv["max_len"]), x.shape[-1], _flag(kv, "batch_first"))
    if t == "multiheadattention":
        return MHA(x.shape[-1], int(kv["num_heads"]), float(kv["dropout"]), _flag(kv, "bias"),
                   _flag(kv, "batch_first"), _flag(kv, "causal"))
    cls = {"transformerencoderlayer": EncoderLayer, "transformerdecoderlayer": DecoderLayer,
           "transformerencoder": Encoder, "transformerdecoder": Decoder}.get(t)
    if cls:
        return cls(kv, x)
    if t == "bert_embeddings":
        return BertEmbeddings(kv)
    if t == "bert_layer":
        return BertLayer(kv, x)
    if t == "bert_pooler":
        return BertPooler(x)
    if t == "bert_mlm_head":
        emb = [m for m in net.modules() if isinstance(m, BertEmbeddings)] if net else []
        if not emb:
            raise ValueError("bert_mlm_head needs a bert_embeddings layer before it")
        return BertLMHead(kv, x, emb[0].word_embeddings.weight)
    return None


def make_layer(t, kv, x, net=None):
    """A torch module for one spec section, given an example input x."""
    if t == "linear":
        return nn.Linear(x.shape[-1], int(kv["out_features"]), bias=kv["bias"] == "true")
    if t == "conv2d":
        kh, kw = pair(kv["kernel"], 1)
        sh, sw = pair(kv["stride"], 1)
        dh, dw = pair(kv["dilation"], 1)
        conv = nn.Conv2d(x.shape[1], int(kv["out_channels"]), (kh, kw), (sh, sw), 0, (dh, dw),
                         int(kv["groups"]), bias=kv["bias"] == "true")
        p = kv["padding"]
        if p == "valid":
            p = "0"
        if p == "same":
            pads = []
            for n, k, s, d in ((x.shape[3], kw, sw, dw), (x.shape[2], kh, sh, dh)):
                out = math.ceil(n / s)
                total = max((out - 1) * s + d * (k - 1) + 1 - n, 0)
                pads += [total // 2, total - total // 2]
            return SamePad(conv, tuple(pads))
        p = ints(p)
        if len(p) == 4:
            return SamePad(conv, (p[2], p[3], p[0], p[1]))
        conv.padding = (p[0], p[-1])
        return conv
    if t == "conv1d":
        k, st, d = int(kv["kernel"]), int(kv["stride"]), int(kv["dilation"])
        conv = nn.Conv1d(x.shape[1], int(kv["out_channels"]), k, st, 0, d, int(kv["groups"]),
                         bias=kv["bias"] == "true")
        p = kv["padding"]
        if p == "same":
            n = x.shape[2]
            total = max((math.ceil(n / st) - 1) * st + d * (k - 1) + 1 - n, 0)
            p = [total // 2, total - total // 2]
        else:
            p = [0] if p == "valid" else ints(p)
        if p[0] != p[-1]:
            return SamePad(conv, (p[0], p[-1]))
        conv.padding = (p[0],)
        return conv
    if t == "groupnorm":
        return nn.GroupNorm(int(kv["num_groups"]), x.shape[1], eps=float(kv["eps"]),
                            affine=kv["affine"] == "true")
    if t in ("maxpool2d", "avgpool2d"):
        k = pair(kv["kernel"], 1)
        s = pair(kv["stride"], k[0])
        p = pair(kv["padding"], 0)
        ceil = kv["ceil_mode"] == "true"
        if t == "maxpool2d":
            return nn.MaxPool2d(k, s, p, ceil_mode=ceil)
        return nn.AvgPool2d(k, s, p, ceil_mode=ceil,
                            count_include_pad=kv["count_include_pad"] == "true")
    if t == "adaptiveavgpool2d":
        return nn.AdaptiveAvgPool2d(pair(kv["output"], 1))
    if t in ("batchnorm1d", "batchnorm2d"):
        cls = nn.BatchNorm2d if t == "batchnorm2d" else nn.BatchNorm1d
        return cls(x.shape[1], eps=float(kv["eps"]), momentum=float(kv["momentum"]),
                   affine=kv["affine"] == "true")
    simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU}
    if t in simple:
        return simple[t]()
    if t == "softmax":
        return nn.Softmax(-1)
    if t == "logsoftmax":
        return nn.LogSoftmax(-1)
    if t == "leakyrelu":
        return nn.LeakyReLU(float(kv["negative_slope"]))
    if t == "dropout":
        return nn.Dropout(float(kv["p"]))
    if t == "flatten":
        return nn.Flatten()
    if t == "add":
        return Join("add")
    if t == "concat":
        return Join("concat", int(kv["axis"]))
    if t == "embedding":
        pad = kv["padding_idx"]
        return nn.Embedding(int(kv["num_embeddings"]), int(kv["embedding_dim"]),
                            padding_idx=None if pad == "none" else int(pad))
    mod = make_view(t, kv, x)
    if mod is None:
        mod = make_rnn(t, kv, x)
    if mod is None:
        mod = make_transformer(t, kv, x, net)
    if mod is not None:
        return mod
    raise ValueError(f"spec_torch: layer type '{t}' is not supported")


class SpecNet(nn.Module):
    def __init__(self, path):
        super().__init__()
        layers = parse(path)
        if not layers or layers[0][0] != "input":
            raise ValueError(f"{path}: the first section must be [input]")
        self.in_shape = tuple(ints(layers[0][2]["shape"]))
        self.order = []  # (name, [input names])
        dtype = torch.int64 if layers[0][2].get("dtype") == "int64" else torch.float32
        outs = {"input": torch.zeros((1,) + self.in_shape, dtype=dtype)}
        counters = set()
        prev = "input"
        for t, name, kv, line in layers[1:]:
            t, kv = complete(t, kv, line)
            if not name:
                k = 1
                while f"{t}{k}" in counters:
                    k += 1
                name = f"{t}{k}"
            counters.add(name)
            ins = [s.strip() for s in kv["input"].split(",")] if "input" in kv else [prev]
            mod = make_layer(t, kv, outs[ins[0]], self)
            self._attach(name, mod)
            mod.eval()
            with torch.no_grad():
                outs[name] = mod(*[outs[i] for i in ins])
            mod.train()
            self.order.append((name, ins))
            prev = name

    def _attach(self, name, mod):
        parts = name.split(".")
        parent = self
        for p in parts[:-1]:
            if not hasattr(parent, p):
                parent.add_module(p, nn.Module())
            parent = getattr(parent, p)
        parent.add_module(parts[-1], mod)

    def _get(self, name):
        m = self
        for p in name.split("."):
            m = getattr(m, p)
        return m

    def forward(self, x):
        outs = {"input": x}
        for name, ins in self.order:
            outs[name] = self._get(name)(*[outs[i] for i in ins])
        return outs[self.order[-1][0]]


def build(path):
    return SpecNet(path)


if __name__ == "__main__":
    net = build(sys.argv[1])
    print(net)
    print("parameters:", sum(p.numel() for p in net.parameters()))
