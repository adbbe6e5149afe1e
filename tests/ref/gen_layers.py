#!/usr/bin/python3
"""
gen_layers.py - PyTorch references for the layers added through the registry: Conv1d and
GroupNorm (tests/test_layers_ref.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_layers.py     (~2 s)
Writes tests/ref/layers/<case>.safetensors in gen.py's format (float64 math on
float32-representable inputs, written as float32): x0 (input), x1 (weight), x2 (bias) when
present, dy, y, dx0, dx1, dx2. Deterministic: seeds derive from the case names.
"""
import os
import sys

import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (the safetensors writer, Rand and op_case)
from gen import Rand, op_case  # noqa: E402

gen.OUT = os.path.join(HERE, "layers")


def conv1d_case(name, x_shape, w_shape, bias=True, stride=1, padding=0, dilation=1, groups=1):
    r = Rand(name)
    fan_in = w_shape[1] * w_shape[2]
    ins = [r.normal(*x_shape), r.normal(*w_shape, scale=fan_in ** -0.5)]
    if bias:
        ins.append(r.normal(w_shape[0], scale=0.5))
    fn = lambda x, w, b=None: F.conv1d(x, w, b, stride, padding, dilation, groups)  # noqa: E731
    op_case(name, fn, ins, meta={"stride": str(stride), "padding": str(padding),
                                 "dilation": str(dilation), "groups": str(groups)})


def group_norm_case(name, x_shape, groups, affine=True, eps=1e-5):
    r = Rand(name)
    c = x_shape[1]
    ins = [r.normal(*x_shape, scale=2.0)]
    if affine:
        ins += [r.uniform(0.5, 1.5, c), r.normal(c, scale=0.5)]
    fn = lambda x, w=None, b=None: F.group_norm(x, groups, w, b, eps)  # noqa: E731
    op_case(name, fn, ins, meta={"groups": str(groups), "eps": str(eps)})


def main():
    os.makedirs(gen.OUT, exist_ok=True)
    conv1d_case("conv1d_plain", (2, 4, 11), (6, 4, 3))
    conv1d_case("conv1d_s2_p1_d2", (2, 4, 11), (6, 4, 3), stride=2, padding=1, dilation=2)
    conv1d_case("conv1d_groups2_nobias", (2, 4, 9), (6, 2, 5), bias=False, padding=2, groups=2)
    group_norm_case("group_norm_ncl_g2", (3, 4, 7), 2)
    group_norm_case("group_norm_nchw_g3", (2, 6, 4, 3), 3)
    group_norm_case("group_norm_g1_noaffine", (2, 3, 5), 1, affine=False)
    print("wrote", gen.N_CASES[0], "cases to", gen.OUT)


if __name__ == "__main__":
    main()
