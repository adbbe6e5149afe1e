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
    layers = []
    with open(path) as f:
        for no, raw in enumerate(f, 1):
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


def make_layer(t, kv, x):
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
            mod = make_layer(t, kv, outs[ins[0]])
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
