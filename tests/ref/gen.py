#!/usr/bin/python3
"""
gen.py - write the PyTorch reference cases of deepc's tests/ref/ folder.

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen.py
Output is deterministic (every case seeds its own generator from its name), so re-running it
rewrites byte-identical files unless a case or PyTorch itself changed.

One .safetensors file per case (written by the small writer below; the `safetensors` package is
not needed). Tensors of an op/loss case:
    x0, x1, ...      inputs (F32 or I64), float32-representable
    dy               random upstream gradient, shape of y
    y                output
    dx0, dx1, ...    d(sum(y * dy))/d(x_i), present only for the inputs that require grad
    class_weight     CrossEntropy/NLL class weights (no grad)
    pos_weight       BCEWithLogits pos_weight (no grad)
    weight, bias, d.weight, d.bias   module parameters and their gradients (module_* cases)
__metadata__ holds the op and its arguments as strings (the C test hard-codes the call anyway).

Optimizer cases (optim_<variant>.safetensors): an MLP Linear(4,8) -> Tanh -> Linear(8,3) named
fc1/fc2 trained full-batch with CrossEntropyLoss for 10 steps:
    fc1.weight, fc1.bias, fc2.weight, fc2.bias   initial parameters (same in every variant)
    X [16, 4], Y [16] (int64)                     the data
    loss{k} [1]                                  loss before step k (k = 1..10)
    step{k}.<param>                              parameters after k steps
    gnorm{k} [1]                                 (clip variant) gradient norm before clipping
    lr{k} [1]                                    (StepLR variant) learning rate used by step k
mlp_init.safetensors holds only the four initial parameters, for a strict dc_model_load.

All math runs in float64 on float32-representable inputs and is rounded to float32 when written,
so a reference is the exact result for its stored inputs, not PyTorch's float32 rounding.
"""
import json
import math
import os
import struct
import zlib

import torch
import torch.nn.functional as F

OUT = os.path.dirname(os.path.abspath(__file__))
torch.set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------------------------

def write_safetensors(path, tensors, meta):
    """u64 LE header length, JSON header padded with spaces to a multiple of 8, then the data of
    every tensor (sorted by name, contiguous, little-endian)."""
    header = {"__metadata__": {k: str(v) for k, v in meta.items()}}
    blobs, off = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        if t.dtype.is_floating_point:
            vals = t.to(torch.float32).flatten().tolist()
            if not all(math.isfinite(v) for v in vals):
                raise ValueError("%s: %s is not finite" % (path, name))
            data, dtype = struct.pack("<%df" % len(vals), *vals), "F32"
        else:
            vals = t.to(torch.int64).flatten().tolist()
            data, dtype = struct.pack("<%dq" % len(vals), *vals), "I64"
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


# ---------------------------------------------------------------------------------------------
# random inputs: float32-representable values held in float64
# ---------------------------------------------------------------------------------------------

class Rand:
    def __init__(self, name):
        self.g = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def normal(self, *shape, scale=1.0):
        return (torch.randn(tuple(shape), generator=self.g, dtype=torch.float64) * scale).float().double()

    def uniform(self, lo, hi, *shape):
        u = torch.rand(tuple(shape), generator=self.g, dtype=torch.float64)
        return (lo + (hi - lo) * u).float().double()

    def away(self, lo, hi, *shape):
        """random sign times U(lo, hi): values bounded away from 0"""
        s = torch.where(torch.rand(tuple(shape), generator=self.g) < 0.5, -1.0, 1.0).double()
        return s * self.uniform(lo, hi, *shape)

    def ints(self, lo, hi, *shape):
        return torch.randint(lo, hi, shape, generator=self.g, dtype=torch.int64)

    def probs(self, n, k):
        return torch.softmax(self.normal(n, k, scale=2.0), dim=1).float().double()


N_CASES = [0]


def op_case(name, fn, inputs, grad=None, meta=None, extra=None):
    """Run fn(*inputs, **extra-free) and write the case. grad[i] says whether input i requires
    grad (default: every float input)."""
    rnd = Rand(name + "/dy")
    if grad is None:
        grad = [t.dtype.is_floating_point for t in inputs]
    xs = [t.clone().requires_grad_(g) for t, g in zip(inputs, grad)]
    y = fn(*xs)
    dy = rnd.normal(*y.shape)
    (y * dy).sum().backward()
    ts = {"dy": dy, "y": y}
    for i, (x, g) in enumerate(zip(xs, grad)):
        ts["x%d" % i] = x
        if g:
            ts["dx%d" % i] = x.grad
    ts.update(extra or {})
    md = {"op": name.split("__")[0]}
    md.update(meta or {})
    write_safetensors(os.path.join(OUT, name + ".safetensors"), ts, md)
    N_CASES[0] += 1


# ---------------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------------

def gen_elementwise():
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    shapes = {"same": ((3, 4), (3, 4)),
              "bcast_right": ((2, 3, 4), (3, 1)),    # b broadcast up to a
              "bcast_left": ((3, 1), (2, 3, 4)),     # a broadcast up to b
              "bcast_mutual": ((4, 1), (2, 1, 5))}   # both broadcast: -> [2, 4, 5]
    for op, fn in binary.items():
        for sname, (sa, sb) in shapes.items():
            name = "%s_%s" % (op, sname)
            r = Rand(name)
            a = r.normal(*sa)
            b = r.away(0.5, 2.0, *sb) if op == "div" else r.normal(*sb)
            op_case(name, fn, [a, b], meta={"a": list(sa), "b": list(sb)})
    r = Rand("add_scalar0d")
    op_case("add_scalar0d", torch.add, [r.normal(3, 4), r.normal()],
            meta={"note": "b is a 0-dim tensor"})

    r = Rand("unary")
    op_case("add_scalar", lambda a: a + 1.5, [r.normal(3, 4)], meta={"s": 1.5})
    op_case("mul_scalar", lambda a: a * -2.5, [r.normal(3, 4)], meta={"s": -2.5})
    op_case("pow_scalar_2", lambda a: a ** 2.0, [r.normal(3, 4)], meta={"p": 2.0})
    op_case("pow_scalar_3", lambda a: a ** 3.0, [r.normal(3, 4)], meta={"p": 3.0})
    op_case("pow_scalar_half", lambda a: a ** 0.5, [r.uniform(0.2, 3.0, 3, 4)], meta={"p": 0.5})
    op_case("pow_scalar_neg", lambda a: a ** -1.5, [r.uniform(0.3, 3.0, 3, 4)], meta={"p": -1.5})
    op_case("neg", torch.neg, [r.normal(3, 4)])
    op_case("exp", torch.exp, [r.normal(3, 4, scale=2.0)])
    op_case("log", torch.log, [r.uniform(0.05, 5.0, 3, 4)])
    op_case("sqrt", torch.sqrt, [r.uniform(0.05, 5.0, 3, 4)])
    op_case("abs", torch.abs, [r.away(0.01, 3.0, 3, 4)])


def gen_matmul():
    r = Rand("matmul")
    op_case("matmul_2d", torch.matmul, [r.normal(3, 4), r.normal(4, 5)])
    op_case("matmul_batched", torch.matmul, [r.normal(2, 3, 4), r.normal(2, 4, 5)])
    op_case("matmul_shared", torch.matmul, [r.normal(2, 3, 4), r.normal(4, 5)],
            meta={"note": "[B,M,K] x [K,N]"})
    op_case("linear_bias", F.linear, [r.normal(5, 4), r.normal(3, 4), r.normal(3)])
    op_case("linear_nobias", F.linear, [r.normal(5, 4), r.normal(3, 4)])
    op_case("linear_3d", F.linear, [r.normal(2, 5, 4), r.normal(3, 4), r.normal(3)])


def gen_reductions():
    r = Rand("reduce")
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        for tag, axis, keep in (("axis1", 1, False), ("axis1_keepdim", 1, True),
                                ("axis_neg1", -1, False), ("axis0_keepdim", 0, True)):
            op_case("%s_%s" % (op, tag), lambda a, f=fn, ax=axis, k=keep: f(a, dim=ax, keepdim=k),
                    [r.normal(2, 3, 4)], meta={"axis": axis, "keepdim": int(keep)})
        op_case("%s_all" % op, fn, [r.normal(2, 3, 4)], meta={"axis": "all", "keepdim": 0})


def gen_shape():
    r = Rand("shape")
    op_case("reshape", lambda a: a.reshape(4, -1), [r.normal(2, 3, 4)], meta={"shape": [4, -1]})
    op_case("flatten_1_end", lambda a: torch.flatten(a, 1, -1), [r.normal(2, 3, 4, 5)],
            meta={"start": 1, "end": -1})
    op_case("flatten_0_1", lambda a: torch.flatten(a, 0, 1), [r.normal(2, 3, 4, 5)],
            meta={"start": 0, "end": 1})
    op_case("transpose_2d", lambda a: a.transpose(0, 1), [r.normal(3, 5)], meta={"dims": [0, 1]})
    op_case("transpose_3d", lambda a: a.transpose(0, 2), [r.normal(2, 3, 4)], meta={"dims": [0, 2]})
    op_case("transpose_neg", lambda a: a.transpose(1, -1), [r.normal(2, 3, 4)],
            meta={"dims": [1, -1]})
    op_case("concat_axis1", lambda *t: torch.cat(t, 1),
            [r.normal(2, 3), r.normal(2, 1), r.normal(2, 4)], meta={"axis": 1})
    op_case("concat_axis0", lambda *t: torch.cat(t, 0), [r.normal(1, 3), r.normal(2, 3)],
            meta={"axis": 0})
    op_case("concat_neg", lambda *t: torch.cat(t, -1), [r.normal(2, 2, 3), r.normal(2, 2, 1)],
            meta={"axis": -1})
    op_case("slice_step2", lambda a: a[:, 1:5:2], [r.normal(3, 7)],
            meta={"axis": 1, "start": 1, "end": 5, "step": 2})
    op_case("slice_neg_start", lambda a: a[-3:5], [r.normal(5, 4)],
            meta={"axis": 0, "start": -3, "end": 5, "step": 1})
    op_case("slice_step3", lambda a: a[:, :, 0:8:3], [r.normal(2, 3, 8)],
            meta={"axis": 2, "start": 0, "end": 8, "step": 3})


def act_input(name, scale=2.0):
    """[4, 6] normals with a few large entries (±30, ±50) to test saturation"""
    x = Rand(name).normal(4, 6, scale=scale)
    x.view(-1)[:6] = torch.tensor([-30.0, 30.0, -50.0, 50.0, 8.0, -8.0], dtype=torch.float64)
    return x


def gen_activations():
    op_case("relu", F.relu, [act_input("relu")])
    op_case("leaky_relu", lambda a: F.leaky_relu(a, 0.2), [act_input("leaky_relu")],
            meta={"slope": 0.2})
    op_case("sigmoid", torch.sigmoid, [act_input("sigmoid")])
    op_case("tanh", torch.tanh, [act_input("tanh")])
    op_case("gelu", F.gelu, [act_input("gelu")], meta={"approximate": "none"})
    op_case("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), [act_input("gelu_tanh")],
            meta={"approximate": "tanh"})
    for op, fn in (("softmax", torch.softmax), ("log_softmax", torch.log_softmax)):
        op_case(op + "_last", lambda a, f=fn: f(a, -1), [act_input(op + "_last")],
                meta={"axis": -1})
        op_case(op + "_axis0", lambda a, f=fn: f(a, 0), [act_input(op + "_axis0")],
                meta={"axis": 0})
        op_case(op + "_3d_axis1", lambda a, f=fn: f(a, 1),
                [Rand(op + "_3d").normal(2, 3, 4, scale=3.0)], meta={"axis": 1})
    op_case("dropout_eval", lambda a: F.dropout(a, 0.5, training=False),
            [Rand("dropout").normal(3, 4)], meta={"p": 0.5, "training": 0})


# ---------------------------------------------------------------------------------------------
# losses
# ---------------------------------------------------------------------------------------------

REDS = ("mean", "sum", "none")


def gen_regression_losses():
    losses = {
        "mse": (lambda x, y, r: F.mse_loss(x, y, reduction=r), {}),
        "l1": (lambda x, y, r: F.l1_loss(x, y, reduction=r), {}),
        "smooth_l1_b1": (lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=1.0),
                         {"beta": 1.0}),
        "smooth_l1_b05": (lambda x, y, r: F.smooth_l1_loss(x, y, reduction=r, beta=0.5),
                          {"beta": 0.5}),
        "huber_d1": (lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=1.0), {"delta": 1.0}),
        "huber_d2": (lambda x, y, r: F.huber_loss(x, y, reduction=r, delta=2.0), {"delta": 2.0}),
    }
    for lname, (fn, md) in losses.items():
        for red in REDS:
            name = "%s_%s" % (lname, red)
            r = Rand(name)
            x, y = r.normal(4, 5, scale=1.5), r.normal(4, 5, scale=1.5)
            m = dict(md, reduction=red, note="target requires grad too (dx1)")
            op_case(name, lambda a, b, f=fn, rd=red: f(a, b, rd), [x, y], meta=m)
    r = Rand("smooth_l1_b0_mean")
    op_case("smooth_l1_b0_mean", lambda a, b: F.smooth_l1_loss(a, b, beta=0.0),
            [r.normal(4, 5), r.normal(4, 5)], meta={"beta": 0.0, "reduction": "mean"})


def ce_case(name, logits, target, reduction="mean", smoothing=0.0, weight=None,
            ignore_index=None, fn=F.cross_entropy):
    kw = {"reduction": reduction}
    meta = {"reduction": reduction}
    extra = {}
    if fn is F.cross_entropy:
        kw["label_smoothing"] = smoothing
        meta["label_smoothing"] = smoothing
    if weight is not None:
        kw["weight"] = weight
        extra["class_weight"] = weight
        meta["weight"] = "class_weight"
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
        meta["ignore_index"] = ignore_index
    op_case(name, lambda a, t: fn(a, t, **kw), [logits, target],
            grad=[True, False], meta=meta, extra=extra)


def large_logits(r, n, k):
    """logits of ±1e4 scale; in every row a runner-up 0.75 below the max, so the softmax is not
    one-hot (exact in float32: ulp(1e4) = 2^-10 divides 0.75)"""
    x = (r.normal(n, k) * 1e4).float().double()
    for i in range(n):
        j = int(torch.argmax(x[i]))
        o = (j + 1) % k
        x[i, o] = x[i, j] - 0.75
    return x


def gen_cross_entropy():
    N, K = 6, 5
    r = Rand("ce")
    for red in REDS:
        ce_case("ce_index_" + red, r.normal(N, K, scale=2.0), r.ints(0, K, N), red)
        ce_case("ce_prob_" + red, r.normal(N, K, scale=2.0), r.probs(N, K), red)
        ce_case("ce_weight_" + red, r.normal(N, K, scale=2.0), r.ints(0, K, N), red,
                weight=r.uniform(0.2, 2.0, K))
    ce_case("ce_smooth_mean", r.normal(N, K, scale=2.0), r.ints(0, K, N), smoothing=0.1)
    ce_case("ce_smooth_sum", r.normal(N, K, scale=2.0), r.ints(0, K, N), "sum", smoothing=0.1)
    ce_case("ce_smooth_prob_mean", r.normal(N, K, scale=2.0), r.probs(N, K), smoothing=0.1)
    ce_case("ce_weight_prob_mean", r.normal(N, K, scale=2.0), r.probs(N, K),
            weight=r.uniform(0.2, 2.0, K))
    t = r.ints(0, K, N)
    t[1] = t[4] = -100
    ce_case("ce_ignore_mean", r.normal(N, K, scale=2.0), t)
    ce_case("ce_ignore_none", r.normal(N, K, scale=2.0), t.clone(), "none")
    t = r.ints(0, K, N)
    t[0], t[3] = 2, 2
    ce_case("ce_ignore_custom_mean", r.normal(N, K, scale=2.0), t, ignore_index=2)
    t = r.ints(0, K, N)
    t[2] = 1
    ce_case("ce_all_mean", r.normal(N, K, scale=2.0), t, smoothing=0.1,
            weight=r.uniform(0.2, 2.0, K), ignore_index=1)
    ce_case("ce_all_sum", r.normal(N, K, scale=2.0), t.clone(), "sum", smoothing=0.1,
            weight=r.uniform(0.2, 2.0, K), ignore_index=1)
    ce_case("ce_large_mean", large_logits(r, N, K), r.ints(0, K, N))
    ce_case("ce_large_none", large_logits(r, N, K), r.ints(0, K, N), "none")
    ce_case("ce_large_prob_mean", large_logits(r, N, K), r.probs(N, K))
    ce_case("ce_large_smooth_mean", large_logits(r, N, K), r.ints(0, K, N), smoothing=0.1)

    r = Rand("nll")
    logp = lambda: torch.log_softmax(r.normal(N, K, scale=2.0), 1).float().double()
    for red in REDS:
        ce_case("nll_" + red, logp(), r.ints(0, K, N), red, fn=F.nll_loss)
    ce_case("nll_weight_mean", logp(), r.ints(0, K, N), weight=r.uniform(0.2, 2.0, K),
            fn=F.nll_loss)
    t = r.ints(0, K, N)
    t[0] = t[5] = 3
    ce_case("nll_ignore_mean", logp(), t, ignore_index=3, weight=r.uniform(0.2, 2.0, K),
            fn=F.nll_loss)


def gen_bce():
    r = Rand("bce")
    for red in REDS:
        op_case("bce_" + red, lambda p, y, rd=red: F.binary_cross_entropy(p, y, reduction=rd),
                [r.uniform(0.02, 0.98, 4, 5), r.uniform(0.0, 1.0, 4, 5)], grad=[True, False],
                meta={"reduction": red})
    y = (r.uniform(0.0, 1.0, 4, 5) > 0.5).double()
    op_case("bce_hard_mean", lambda p, t: F.binary_cross_entropy(p, t),
            [r.uniform(0.001, 0.999, 4, 5), y], grad=[True, False], meta={"reduction": "mean"})
    for red in REDS:
        op_case("bcel_" + red,
                lambda x, t, rd=red: F.binary_cross_entropy_with_logits(x, t, reduction=rd),
                [r.normal(4, 5, scale=3.0), r.uniform(0.0, 1.0, 4, 5)], grad=[True, False],
                meta={"reduction": red})
    for red in ("mean", "none"):
        pw = r.uniform(0.3, 3.0, 5)
        op_case("bcel_posw_" + red,
                lambda x, t, rd=red, w=pw: F.binary_cross_entropy_with_logits(
                    x, t, reduction=rd, pos_weight=w),
                [r.normal(4, 5, scale=3.0), r.uniform(0.0, 1.0, 4, 5)], grad=[True, False],
                meta={"reduction": red, "pos_weight": "pos_weight"}, extra={"pos_weight": pw})
    x = act_input("bcel_large", scale=10.0)
    x.view(-1)[6:10] = torch.tensor([100.0, -100.0, 1e4, -1e4], dtype=torch.float64)
    op_case("bcel_large_mean", lambda a, t: F.binary_cross_entropy_with_logits(a, t),
            [x, r.uniform(0.0, 1.0, 4, 6)], grad=[True, False], meta={"reduction": "mean"})


def gen_modules():
    for name, bias in (("module_linear", True), ("module_linear_nobias", False)):
        r = Rand(name)
        lin = torch.nn.Linear(4, 3, bias=bias).double()
        with torch.no_grad():
            lin.weight.copy_(r.normal(3, 4, scale=0.5))
            if bias:
                lin.bias.copy_(r.normal(3, scale=0.5))
        x = r.normal(5, 4).requires_grad_(True)
        y = lin(x)
        dy = Rand(name + "/dy").normal(*y.shape)
        (y * dy).sum().backward()
        ts = {"x0": x, "dx0": x.grad, "y": y, "dy": dy, "weight": lin.weight,
              "d.weight": lin.weight.grad}
        if bias:
            ts.update({"bias": lin.bias, "d.bias": lin.bias.grad})
        write_safetensors(os.path.join(OUT, name + ".safetensors"), ts,
                          {"op": "Linear", "in": 4, "out": 3, "bias": int(bias)})
        N_CASES[0] += 1


# ---------------------------------------------------------------------------------------------
# optimizer trajectories
# ---------------------------------------------------------------------------------------------

class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.act = torch.nn.Tanh()
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def mlp_data():
    torch.manual_seed(1234)
    init = {k: v.detach().clone().double() for k, v in MLP().state_dict().items()}
    r = Rand("mlp_data")
    X = r.normal(16, 4)
    # labels from a fixed rule plus noise, so the loss actually moves
    score = torch.stack([X[:, 0] + X[:, 1], X[:, 2] - X[:, 0], X[:, 3]], 1)
    Y = torch.argmax(score + 0.5 * r.normal(16, 3), 1)
    return init, X, Y


O = torch.optim
OPTIMS = [
    # name, constructor, hyper-parameters (all of them, PyTorch 1.13 defaults included), options
    ("sgd", O.SGD, dict(lr=0.1), {}),
    ("sgd_momentum", O.SGD, dict(lr=0.1, momentum=0.9), {}),
    ("sgd_dampening", O.SGD, dict(lr=0.1, momentum=0.9, dampening=0.5), {}),
    ("sgd_nesterov", O.SGD, dict(lr=0.1, momentum=0.9, nesterov=True), {}),
    ("sgd_wd", O.SGD, dict(lr=0.1, weight_decay=1e-2), {}),
    ("sgd_clip", O.SGD, dict(lr=0.1, momentum=0.9), {"clip": 0.5}),
    ("sgd_steplr", O.SGD, dict(lr=0.1, momentum=0.9), {"steplr": (3, 0.5)}),
    ("adagrad", O.Adagrad, dict(lr=0.1, lr_decay=0.01, weight_decay=1e-3,
                                initial_accumulator_value=0.1, eps=1e-10), {}),
    ("rmsprop", O.RMSprop, dict(lr=0.01, alpha=0.99, eps=1e-8), {}),
    ("rmsprop_momentum", O.RMSprop, dict(lr=0.01, alpha=0.99, eps=1e-8, momentum=0.9), {}),
    ("rmsprop_centered", O.RMSprop, dict(lr=0.01, alpha=0.99, eps=1e-8, centered=True), {}),
    ("rmsprop_centered_momentum_wd", O.RMSprop,
     dict(lr=0.01, alpha=0.99, eps=1e-8, centered=True, momentum=0.9, weight_decay=1e-2), {}),
    ("adadelta", O.Adadelta, dict(lr=1.0, rho=0.9, eps=1e-6), {}),
    ("adadelta_rho_wd", O.Adadelta, dict(lr=1.0, rho=0.5, eps=1e-6, weight_decay=1e-2), {}),
    ("adam", O.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8), {}),
    ("adam_amsgrad", O.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, amsgrad=True), {}),
    ("adam_wd", O.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2), {}),
    ("adamw", O.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1), {}),
    ("adamw_amsgrad", O.AdamW, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1,
                                    amsgrad=True), {}),
]


def gen_optim():
    init, X, Y = mlp_data()
    write_safetensors(os.path.join(OUT, "mlp_init.safetensors"), init,
                      {"model": "Linear(4,8) fc1 -> Tanh act -> Linear(8,3) fc2"})
    N_CASES[0] += 1
    for name, ctor, hp, opts in OPTIMS:
        model = MLP().double()
        model.load_state_dict(init)
        opt = ctor(model.parameters(), **hp)
        sched = None
        if "steplr" in opts:
            sched = O.lr_scheduler.StepLR(opt, step_size=opts["steplr"][0],
                                          gamma=opts["steplr"][1])
        ts = dict(init)
        ts["X"], ts["Y"] = X, Y
        for k in range(1, 11):
            opt.zero_grad()
            loss = F.cross_entropy(model(X), Y)
            loss.backward()
            ts["loss%d" % k] = loss.detach().reshape(1)
            if "clip" in opts:
                n = torch.nn.utils.clip_grad_norm_(model.parameters(), opts["clip"])
                ts["gnorm%d" % k] = n.detach().reshape(1)
            if sched is not None:
                ts["lr%d" % k] = torch.tensor([opt.param_groups[0]["lr"]])
            opt.step()
            if sched is not None:
                sched.step()
            for pn, p in model.state_dict().items():
                ts["step%d.%s" % (k, pn)] = p.detach().clone()
        meta = {"optimizer": ctor.__name__, "steps": 10, "loss": "CrossEntropyLoss mean"}
        meta.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in hp.items()})
        if "clip" in opts:
            meta["clip_grad_norm"] = opts["clip"]
        if "steplr" in opts:
            meta["StepLR"] = "step_size=%d gamma=%g, stepped after every step" % opts["steplr"]
        write_safetensors(os.path.join(OUT, "optim_%s.safetensors" % name), ts, meta)
        N_CASES[0] += 1


def main():
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    gen_elementwise()
    gen_matmul()
    gen_reductions()
    gen_shape()
    gen_activations()
    gen_regression_losses()
    gen_cross_entropy()
    gen_bce()
    gen_modules()
    gen_optim()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files to %s (%d bytes in the folder, torch %s)"
          % (N_CASES[0], OUT, total, torch.__version__))


if __name__ == "__main__":
    main()
