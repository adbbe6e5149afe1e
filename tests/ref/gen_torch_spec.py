#!/usr/bin/python3
"""
gen_torch_spec.py - round-trip check of tools/torch_spec.py (PyTorch module -> deepc spec), and
the fixtures of tests/test_torch_spec.c.

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_torch_spec.py     (~10 s)

For every spec in models/ but those with Transformer or BERT layers (the char-* models with
$vocab = 40; spec_torch builds those, see gen_spec_torch.py, but to_spec does not convert them
back yet): spec_torch.build(spec) gives a
PyTorch module M; torch_spec.to_spec(M) gives a spec S; spec_torch.build(S) gives M2. M2 must
have M's state_dict keys and shapes and, with M's weights, M's outputs (eval mode) on a random
batch, to 1e-6. Three plain PyTorch models (an nn.Sequential with PyTorch's class names, a module
tree with a residual add and a view written in forward, a Conv1d/GroupNorm Sequential) are
converted too. Every spec S is written
to tests/ref/torch_spec/<model>.spec; the C test builds each with deepc and, for the models/
specs, checks that the original's weights load into it strictly (the same names and shapes) and
give the same outputs. A mismatch here raises.
"""
import os
import re
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "torch_spec")
sys.path.insert(0, os.path.join(ROOT, "tools"))
import spec_torch  # noqa: E402
import torch_spec  # noqa: E402

torch.set_num_threads(1)
VOCAB = 40


class Residual(nn.Module):
    """A module tree (not a Sequential) with an add in forward, as PyTorch users write it."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.block = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                   nn.Conv2d(8, 8, 3, padding=1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.stem(x)))
        x = torch.relu(x + self.block(x))
        x = self.pool(x)
        return self.fc(x.view(x.size(0), -1))


def plain_models():
    seq = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.LeakyReLU(0.2), nn.MaxPool2d(2),
                        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(400, 64), nn.GELU(), nn.Dropout(0.25),
                        nn.Linear(64, 10), nn.LogSoftmax(dim=1))
    seq1d = nn.Sequential(nn.Conv1d(2, 8, 5, padding=2), nn.GroupNorm(2, 8), nn.ReLU(),
                          nn.Conv1d(8, 8, 3, stride=2, dilation=2, groups=2, bias=False),
                          nn.Flatten(), nn.Linear(8 * 6, 3))
    return [("torch_sequential", seq, (1, 28, 28)), ("torch_residual", Residual(), (1, 12, 12)),
            ("torch_conv1d", seq1d, (2, 16))]


def deepc_only_models():
    """Layers spec_torch does not build yet: only written (the C test builds them in deepc)."""
    return [("torch_layernorm", nn.Sequential(nn.Linear(6, 16), nn.LayerNorm(16, eps=1e-6),
                                              nn.GELU(), nn.Linear(16, 4)), (5, 6))]


def spec_text(path):
    with open(path) as f:
        return re.sub(r"\$vocab\b", str(VOCAB), f.read())


def input_of(text):
    shape = tuple(int(s) for s in re.search(r"^shape\s*=\s*(.*)$", text, re.M).group(1)
                  .split("#")[0].split(","))
    return shape, ("int64" if re.search(r"^dtype\s*=\s*int64", text, re.M) else "float32")


def check(name, m1, shape, dtype):
    """to_spec(m1) rebuilt by spec_torch: the same parameters and outputs. Returns the spec."""
    text = torch_spec.to_spec(m1, shape, dtype=dtype, comment=name)
    path = os.path.join(OUT, name + ".spec")
    with open(path, "w") as f:
        f.write(text)
    m2 = spec_torch.build(path)
    s1, s2 = m1.state_dict(), m2.state_dict()
    if [(k, tuple(v.shape)) for k, v in s1.items()] != [(k, tuple(v.shape)) for k, v in s2.items()]:
        raise RuntimeError("%s: state_dict differs:\n%s\n%s" % (name, list(s1), list(s2)))
    m2.load_state_dict(s1)
    m1.eval()
    m2.eval()
    g = torch.Generator().manual_seed(1)
    x = torch.randint(0, VOCAB, (3,) + shape, generator=g) if dtype == "int64" else \
        torch.randn((3,) + shape, generator=g)
    with torch.no_grad():
        y1, y2 = m1(x), m2(x)
    if y1.shape != y2.shape or not torch.allclose(y1, y2, rtol=1e-6, atol=1e-6):
        raise RuntimeError("%s: outputs differ (%s vs %s)" % (name, y1.shape, y2.shape))
    return text


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".spec"):
            os.remove(os.path.join(OUT, f))
    n = 0
    models = sorted(os.listdir(os.path.join(ROOT, "models")))
    for model in models:
        text = spec_text(os.path.join(ROOT, "models", model))
        if re.search(r"^\[(positional|multiheadattention|transformer\w*|bert_\w+)\b", text, re.M):
            # spec_torch builds these (tests/ref/gen_spec_torch.py); to_spec does not convert
            # them back yet
            print("%-16s skipped: Transformer / BERT layers" % model)
            continue
        tmp = os.path.join(OUT, model + ".orig.tmp")
        with open(tmp, "w") as f:
            f.write(text)
        torch.manual_seed(0)
        try:
            m1 = spec_torch.build(tmp)
        except ValueError as e:     # a layer spec_torch cannot build yet (the transformers')
            print("%-16s skipped: %s" % (model, e))
            continue
        finally:
            os.remove(tmp)
        shape, dtype = input_of(text)
        check(model, m1, shape, dtype)
        n += 1
        print("%-16s ok (%d parameters)" % (model, sum(p.numel() for p in m1.parameters())))
    torch.manual_seed(0)
    for name, m, shape in plain_models():
        check(name, m, shape, "float32")
        n += 1
        print("%-16s ok" % name)
    for name, m, shape in deepc_only_models():
        with open(os.path.join(OUT, name + ".spec"), "w") as f:
            f.write(torch_spec.to_spec(m, shape, comment=name))
        n += 1
        print("%-16s written (%d parameters)" % (name, sum(p.numel() for p in m.parameters())))
    print("wrote %d specs to %s (torch %s)" % (n, OUT, torch.__version__))


if __name__ == "__main__":
    main()
