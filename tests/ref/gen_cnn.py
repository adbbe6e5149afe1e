#!/usr/bin/python3
"""
gen_cnn.py - the PyTorch references of deepc's convolutional part (tests/test_ref_cnn.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_cnn.py     (~10 s)
Output is deterministic (seeds derive from case names), so re-running it rewrites byte-identical
files unless a case or PyTorch changed.

It writes two things:

tests/ref/cnn/<case>.safetensors - in a folder of its own, so that gen.py (which deletes every
.safetensors of tests/ref) and test_ref.c (which wants a test for every file there) leave them
alone. The writer and the conventions are gen.py's: float64 math on float32-representable
inputs, written as float32.
    op cases          x0 (input), x1 (weight), x2 (bias), dy, y, dx0, dx1, dx2 - as gen.py
    batch-norm cases  x0, x1 (weight), x2 (bias), dy, y, dx0.., and the buffers before the call
                      (running_mean, running_var, num_batches_tracked) and after it
                      (after.running_mean, ...)
    model cases       <model>_weights.safetensors: the state_dict only (for a strict load);
                      <model>.safetensors: x, target (int64), logits, loss [1], d.<param> (the
                      gradient of the mean cross-entropy for every parameter) and after.<buffer>
                      (BatchNorm running statistics after the training-mode step)

tests/data/lenet5_torch/ - a LeNet-5 (models/lenet5) trained by PyTorch in float32 for 300 Adam
steps on synthetic 10-class images (a class-dependent blob plus noise): weights.safetensors (the
state_dict), x.npy [16, 1, 28, 28] float32 and y.npy [16, 10], PyTorch's eval-mode outputs (float64
math on the stored float32 weights and inputs).
"""
import os
import sys
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (the safetensors writer, Rand and op_case)
from gen import Rand, op_case, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "cnn")
DATA = os.path.join(HERE, "..", "data", "lenet5_torch")
gen.OUT = OUT   # op_case writes into gen.OUT


# ---------------------------------------------------------------------------------------------
# ops
# ---------------------------------------------------------------------------------------------

def conv_case(name, x_shape, w_shape, bias=True, meta=None, **kw):
    """kw: stride, padding, dilation, groups of F.conv2d, or pad=(left, right, top, bottom) for
    explicit (asymmetric) zero padding before the convolution"""
    r = Rand(name)
    fan_in = w_shape[1] * w_shape[2] * w_shape[3]
    ins = [r.normal(*x_shape), r.normal(*w_shape, scale=fan_in ** -0.5)]
    if bias:
        ins.append(r.normal(w_shape[0], scale=0.5))
    pad = kw.pop("pad", None)

    def fn(x, w, b=None):
        if pad is not None:
            x = F.pad(x, pad)
        return F.conv2d(x, w, b, **kw)
    m = dict(kw, bias=int(bias))
    if pad is not None:
        m["pad_left_right_top_bottom"] = list(pad)
    m.update(meta or {})
    op_case(name, fn, ins, meta=dict(m, op="conv2d"))


def gen_conv():
    conv_case("conv_plain", (2, 3, 7, 6), (4, 3, 3, 3))
    conv_case("conv_stride2", (2, 3, 9, 8), (4, 3, 3, 3), stride=2)
    conv_case("conv_pad1", (2, 3, 6, 5), (4, 3, 3, 3), padding=1)
    conv_case("conv_asym_pad", (2, 3, 6, 5), (4, 3, 3, 3), pad=(0, 2, 1, 0))
    conv_case("conv_dilation2", (2, 3, 9, 8), (4, 3, 3, 3), dilation=2, padding=1)
    conv_case("conv_groups2", (2, 4, 7, 6), (6, 2, 3, 3), groups=2)
    conv_case("conv_depthwise", (2, 4, 6, 6), (4, 1, 3, 3), groups=4, padding=1)
    conv_case("conv_nobias", (2, 3, 7, 6), (4, 3, 3, 3), bias=False, padding=1)
    conv_case("conv_1x1", (2, 5, 4, 3), (3, 5, 1, 1))
    conv_case("conv_rect", (2, 3, 8, 9), (4, 3, 2, 3), stride=(1, 2), padding=(1, 0))
    conv_case("conv_all", (2, 4, 9, 10), (6, 2, 3, 2), bias=True, pad=(1, 0, 2, 1),
              stride=(2, 1), dilation=(1, 2), groups=2)


def pool_case(name, fn, shape, meta):
    x = Rand(name).normal(*shape)
    op_case(name, fn, [x], meta=meta)


def gen_pool():
    mp = F.max_pool2d
    pool_case("maxpool_k2s2", lambda x: mp(x, 2, 2), (2, 3, 8, 6),
              {"op": "max_pool2d", "kernel": 2, "stride": 2})
    pool_case("maxpool_k3s2p1", lambda x: mp(x, 3, 2, 1), (2, 3, 7, 8),
              {"op": "max_pool2d", "kernel": 3, "stride": 2, "padding": 1})
    pool_case("maxpool_ceil", lambda x: mp(x, 3, 2, 0, ceil_mode=True), (2, 3, 8, 7),
              {"op": "max_pool2d", "kernel": 3, "stride": 2, "ceil_mode": 1})
    pool_case("maxpool_ceil_p1", lambda x: mp(x, 2, 2, 1, ceil_mode=True), (1, 2, 7, 6),
              {"op": "max_pool2d", "kernel": 2, "stride": 2, "padding": 1, "ceil_mode": 1})
    ap = F.avg_pool2d
    for inc in (True, False):
        tag = "incpad" if inc else "nopad"
        pool_case("avgpool_k3s2p1_" + tag, lambda x, i=inc: ap(x, 3, 2, 1, count_include_pad=i),
                  (2, 3, 7, 8), {"op": "avg_pool2d", "kernel": 3, "stride": 2, "padding": 1,
                                 "count_include_pad": int(inc)})
        pool_case("avgpool_ceil_p1_" + tag,
                  lambda x, i=inc: ap(x, 3, 2, 1, ceil_mode=True, count_include_pad=i),
                  (2, 3, 8, 7), {"op": "avg_pool2d", "kernel": 3, "stride": 2, "padding": 1,
                                 "ceil_mode": 1, "count_include_pad": int(inc)})
    pool_case("avgpool_k2s2", lambda x: ap(x, 2), (2, 3, 6, 8),
              {"op": "avg_pool2d", "kernel": 2, "stride": 2})
    pool_case("avgpool_ceil", lambda x: ap(x, 2, 2, 0, ceil_mode=True), (2, 3, 7, 5),
              {"op": "avg_pool2d", "kernel": 2, "stride": 2, "ceil_mode": 1})
    aap = F.adaptive_avg_pool2d
    for oh, ow in ((1, 1), (3, 2), (4, 4)):
        pool_case("adaptive_%dx%d" % (oh, ow), lambda x, o=(oh, ow): aap(x, o), (2, 3, 7, 6),
                  {"op": "adaptive_avg_pool2d", "output": [oh, ow]})


def bn_case(name, shape, train, momentum=0.1, eps=1e-5, affine=True):
    """nn.BatchNorm1d/2d (float64) on x of shape; random γ, β and running statistics; one call in
    train or eval mode; gradients of Σ y·dy."""
    r = Rand(name)
    C = shape[1]
    mod = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(
        C, eps=eps, momentum=momentum, affine=affine).double()
    chan = [1, C] + [1] * (len(shape) - 2)
    x = (r.normal(*shape) * r.uniform(0.5, 2.0, *chan) + r.normal(*chan, scale=2.0))
    x = x.float().double().requires_grad_(True)
    ts = {}
    with torch.no_grad():
        if affine:
            mod.weight.copy_(r.uniform(0.5, 1.5, C))
            mod.bias.copy_(r.normal(C, scale=0.5))
        mod.running_mean.copy_(r.normal(C))
        mod.running_var.copy_(r.uniform(0.5, 2.0, C))
        mod.num_batches_tracked.fill_(3)
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        ts[k] = getattr(mod, k).clone()
    mod.train(train)
    y = mod(x)
    dy = Rand(name + "/dy").normal(*y.shape)
    (y * dy).sum().backward()
    ts.update({"x0": x, "dx0": x.grad, "y": y, "dy": dy})
    if affine:
        ts.update({"x1": mod.weight, "dx1": mod.weight.grad, "x2": mod.bias,
                   "dx2": mod.bias.grad})
    for k in ("running_mean", "running_var", "num_batches_tracked"):
        ts["after." + k] = getattr(mod, k)
    write_safetensors(os.path.join(OUT, name + ".safetensors"), ts,
                      {"op": "batch_norm", "training": int(train), "momentum": momentum,
                       "eps": eps, "affine": int(affine), "module": type(mod).__name__})
    gen.N_CASES[0] += 1


def gen_bn():
    bn_case("bn2d_train", (4, 3, 5, 4), True)
    bn_case("bn2d_train_mom", (3, 4, 3, 3), True, momentum=0.3, eps=1e-3)
    bn_case("bn2d_train_noaffine", (4, 3, 4, 4), True, affine=False)
    bn_case("bn2d_eval", (4, 3, 5, 4), False)
    bn_case("bn1d_train_nc", (6, 4), True)
    bn_case("bn1d_train_ncl", (4, 3, 5), True)
    bn_case("bn1d_eval_ncl", (4, 3, 5), False)


# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------

class LeNet5(nn.Module):
    """models/lenet5, attribute for attribute (the state_dict keys equal deepc's)"""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, 5, padding=2)
        self.relu1 = nn.ReLU()
        self.s2 = nn.MaxPool2d(2)
        self.c3 = nn.Conv2d(6, 16, 5)
        self.relu3 = nn.ReLU()
        self.s4 = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.c5 = nn.Linear(400, 120)
        self.relu5 = nn.ReLU()
        self.f6 = nn.Linear(120, 84)
        self.relu6 = nn.ReLU()
        self.out = nn.Linear(84, 10)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x))"""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                        nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(y)) + self.downsample(x))


class ResBlockNet(nn.Module):
    """a stem, one projection basic block with stride 2, global average pooling, a linear
    layer: the spec RESBLOCK_SPEC of tests/test_ref_cnn.c"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.layer1 = nn.Sequential(BasicBlock(4, 8, 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        x = self.layer1(self.relu(self.bn1(self.conv1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def kink_margin(model, x):
    """The smallest distance of the float64 forward pass from a kink: |ReLU input|, and the gap
    between the largest and second-largest entry of every max-pool window whose max is > 0.
    A float32 forward that crosses a kink routes a gradient differently, so model references
    are drawn until this margin is far above float32 rounding."""
    m = [float("inf")]

    def relu_hook(mod, inp, out):
        m[0] = min(m[0], float(inp[0].abs().min()))

    def pool_hook(mod, inp, out):
        k, s = mod.kernel_size, mod.stride
        cols = F.unfold(inp[0], k, stride=s)                    # [N, C·k·k, L]
        N, C = inp[0].shape[:2]
        cols = cols.view(N, C, -1, cols.shape[-1])
        top2 = cols.topk(2, dim=2).values
        gap = (top2[:, :, 0] - top2[:, :, 1])[top2[:, :, 0] > 0]
        if gap.numel():
            m[0] = min(m[0], float(gap.min()))

    hs = [mod.register_forward_hook(relu_hook if isinstance(mod, nn.ReLU) else pool_hook)
          for mod in model.modules() if isinstance(mod, (nn.ReLU, nn.MaxPool2d))]
    with torch.no_grad():
        model(x)
    for h in hs:
        h.remove()
    return m[0]


def model_case(name, ctor, x_shape, n_classes, randomize=None, margin=1e-5):
    """Draw float32 weights (PyTorch's default init, plus randomize(model, rand)), a batch x and
    targets, until the forward pass is at least `margin` from every kink; then one training-mode
    forward + mean cross-entropy + backward in float64."""
    for attempt in range(100):
        tag = "%s/%d" % (name, attempt)
        torch.manual_seed(zlib.crc32(tag.encode()))
        model = ctor()
        r = Rand(tag)
        if randomize:
            randomize(model, r)
        model = model.double()
        x = r.normal(*x_shape)
        state = {k: v.clone() for k, v in model.state_dict().items()}
        got = kink_margin(model, x)
        model.load_state_dict(state)     # undo the running-statistics update of that pass
        if got > margin:
            break
    else:
        raise RuntimeError("%s: no draw with a kink margin above %g" % (name, margin))
    target = r.ints(0, n_classes, x_shape[0])
    logits = model(x)
    loss = F.cross_entropy(logits, target)
    loss.backward()
    write_safetensors(os.path.join(OUT, name + "_weights.safetensors"), state,
                      {"model": type(model).__name__, "note": "state_dict before the step"})
    ts = {"x": x, "target": target, "logits": logits, "loss": loss.detach().reshape(1)}
    for k, p in model.named_parameters():
        ts["d." + k] = p.grad
    for k, b in model.named_buffers():
        ts["after." + k] = b
    write_safetensors(os.path.join(OUT, name + ".safetensors"), ts,
                      {"model": type(model).__name__, "mode": "train", "attempt": attempt,
                       "kink_margin": got, "loss": "cross_entropy mean"})
    gen.N_CASES[0] += 2


def randomize_bn(model, r):
    """random γ, β and running statistics, so that loading and the update are really tested"""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, nn.BatchNorm2d):
                C = mod.num_features
                mod.weight.copy_(r.uniform(0.5, 1.5, C))
                mod.bias.copy_(r.normal(C, scale=0.3))
                mod.running_mean.copy_(r.normal(C, scale=0.5))
                mod.running_var.copy_(r.uniform(0.5, 2.0, C))
                mod.num_batches_tracked.fill_(2)


def randomize_normal(model, r):
    """weights N(0, 1.5/fan_in), biases N(0, 0.1²): logits of order one and gradients of 0.01 to
    1 through the whole net (PyTorch's default init leaves the logits near 0.1 and most gradients
    near 1e-3, too close to the absolute tolerance to test much)"""
    with torch.no_grad():
        for mod in model.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                w = mod.weight
                w.copy_(r.normal(*w.shape, scale=(1.5 / w[0].numel()) ** 0.5))
                if mod.bias is not None:
                    mod.bias.copy_(r.normal(*mod.bias.shape, scale=0.1))


def gen_models():
    model_case("lenet5", LeNet5, (4, 1, 28, 28), 10, randomize=randomize_normal)
    model_case("resblock", ResBlockNet, (4, 3, 8, 8), 5, randomize=randomize_bn)


# ---------------------------------------------------------------------------------------------
# a LeNet-5 trained by PyTorch
# ---------------------------------------------------------------------------------------------

def synthetic_images(g, n):
    """n 28x28 images of 10 classes: a Gaussian blob whose centre and width depend on the class,
    at a jittered position, plus noise; roughly zero mean, unit scale"""
    y = torch.randint(0, 10, (n,), generator=g)
    cy = torch.tensor([6.0, 6, 6, 14, 14, 14, 22, 22, 22, 14])[y]
    cx = torch.tensor([6.0, 14, 22, 6, 14, 22, 6, 14, 22, 14])[y]
    sig = torch.tensor([3.0, 3, 3, 3, 2, 3, 3, 3, 3, 6])[y]
    cy = cy + torch.randn(n, generator=g)
    cx = cx + torch.randn(n, generator=g)
    ii = torch.arange(28.0).view(1, 28, 1)
    jj = torch.arange(28.0).view(1, 1, 28)
    blob = torch.exp(-((ii - cy.view(-1, 1, 1)) ** 2 + (jj - cx.view(-1, 1, 1)) ** 2)
                     / (2 * sig.view(-1, 1, 1) ** 2))
    x = 2.0 * blob - 0.3 + 0.3 * torch.randn(n, 28, 28, generator=g)
    return x.unsqueeze(1).float(), y


def gen_trained_lenet():
    os.makedirs(DATA, exist_ok=True)
    g = torch.Generator().manual_seed(5)
    torch.manual_seed(5)
    model = LeNet5()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(300):
        x, y = synthetic_images(g, 32)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    x, y = synthetic_images(g, 16)
    model.eval()
    with torch.no_grad():
        acc = float((model(x).argmax(1) == y).float().mean())
        out = model.double()(x.double())
    write_safetensors(os.path.join(DATA, "weights.safetensors"), model.state_dict(),
                      {"model": "LeNet5 (models/lenet5)", "trained": "300 Adam steps, lr 1e-3, "
                       "batch 32, synthetic blobs", "final_loss": float(loss)})
    np.save(os.path.join(DATA, "x.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(DATA, "y.npy"), out.numpy().astype(np.float32))
    print("trained LeNet-5: last loss %.4f, accuracy on x.npy %.3f" % (float(loss), acc))


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    gen_conv()
    gen_pool()
    gen_bn()
    gen_models()
    gen_trained_lenet()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files to %s (%d bytes, torch %s)" % (gen.N_CASES[0], OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
