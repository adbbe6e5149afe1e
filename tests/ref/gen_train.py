#!/usr/bin/python3
"""
gen_train.py - PyTorch references for whole training runs through the CLI (tests/test_ref_train.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_train.py     (~1 s)
Output is deterministic (fixed seeds), so re-running it rewrites byte-identical files unless a
case or PyTorch changed. It deletes and rewrites everything in tests/ref/train/.

The run each case describes, in deepc and in PyTorch:

    deepc train SPEC --init init_<net>.safetensors --data npy:X,Y --no-shuffle --batch 16
                --steps 7 --loss L --optimizer O --lr .. --momentum .. --weight-decay .. [...]

    PyTorch: the same net (tools/spec_torch.py builds it from the same spec, with the same
    state_dict names), the same initial weights, a DataLoader(batch_size=16, shuffle=False,
    drop_last=False) over the same 40 rows, zero_grad / loss / backward / [clip_grad_norm_] /
    step for 7 steps; a scheduler steps after every COMPLETE epoch, as deepc's dc_train does.

40 rows in batches of 16 give batches of 16, 16 and 8 rows: the short last batch is averaged
over its 8 rows (DataLoader, drop_last=False), and step 7 is the first batch of epoch 3, so the
run crosses two epoch ends (the scheduler steps twice) and stops inside an epoch.

Files (tests/ref/train/):
    mlp.spec, mlp_logsoftmax.spec,   the nets: Linear(6,8) fc1 -> ReLU -> Linear(8,3) fc2, the
    mlp_sigmoid.spec, conv.spec      same ending in LogSoftmax (nll) or Sigmoid (bce), and
                                     Conv2d(1,4,3) conv1 -> ReLU -> MaxPool2d(2) -> Flatten ->
                                     Linear(16,3) fc1 on 1x6x6 images
    init_mlp.safetensors,            the initial weights (float32; shared by the three MLPs)
    init_conv.safetensors
    X.npy [40, 6] float32            inputs; X_conv.npy [40, 1, 6, 6] for the conv net
    Y_class.npy [40] int64           class targets in {0, 1, 2} (cross_entropy, nll);
                                     Y_class_conv.npy those of the images
    Y_reg.npy [40, 3] float32        regression targets (mse, l1, smooth_l1, huber), residuals
                                     on both sides of smooth_l1's / huber's 1
    Y_bin.npy [40, 3] float32        0/1 targets (bce, bce_with_logits)
    <case>.safetensors               the weights after the 7 steps; __metadata__: the deepc
                                     arguments of the case ("spec", "init", "x", "y", "flags",
                                     which the C test checks against its own table), the
                                     PyTorch optimizer and hyper-parameters, and "f32_err": how
                                     far PyTorch's own float32 run lands from the reference, in
                                     units of the C test's tolerance (must stay well below 1)
    torch_defaults.safetensors       PyTorch 1.13's default hyper-parameters of every optimizer
                                     as scalars "<optimizer>.<name>" (C checks dc_optim_defaults)

The reference runs in float64 from the float32 initial weights and data and is written as
float32: it is the exact result of the run. A float32 implementation rounds differently, so every
case is also run in float32 by PyTorch and the script refuses a case whose float32 run is not
within a quarter of the C tolerance (rtol 1e-4, atol 1e-5) of the reference: such a case would
sit on a kink (a ReLU input, a max-pool tie, an L1 residual near 0) or divide by a tiny gradient,
and would test rounding luck instead of deepc. Likewise every option a case sets (momentum,
nesterov, centered, amsgrad, betas, weight decay, clipping, the scheduler) must move the result
by at least MIN_EFFECT tolerances (metadata "effects"), so a deepc that ignored it would fail.
"""
import inspect
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "train")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen  # noqa: E402  (the safetensors writer and Rand)
import spec_torch  # noqa: E402

torch.set_num_threads(1)

N_ROWS, BATCH, STEPS = 40, 16, 7
RTOL, ATOL = 1e-4, 1e-5     # the C test's tolerance (T_REF_RTOL, T_REF_ATOL)
MAX_F32_ERR = 0.25          # PyTorch float32 vs the float64 reference, in tolerance units
MIN_EFFECT = 20.0           # each option of a case moves the result by at least this many

SPECS = {
    "mlp": "[input]\nshape = 6\n\n[linear fc1]\nout_features = 8\n[relu]\n"
           "[linear fc2]\nout_features = 3\n",
    "conv": "[input]\nshape = 1, 6, 6\n\n[conv2d conv1]\nout_channels = 4\nkernel = 3\n[relu]\n"
            "[maxpool2d pool1]\nkernel = 2\n[flatten]\n[linear fc1]\nout_features = 3\n",
}
SPECS["mlp_logsoftmax"] = SPECS["mlp"] + "[logsoftmax]\n"
SPECS["mlp_sigmoid"] = SPECS["mlp"] + "[sigmoid]\n"
INIT = {"mlp": "mlp", "mlp_logsoftmax": "mlp", "mlp_sigmoid": "mlp", "conv": "conv"}

LOSSES = {
    "cross_entropy": F.cross_entropy,
    "nll": F.nll_loss,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
    "smooth_l1": lambda x, y: F.smooth_l1_loss(x, y, beta=1.0),
    "huber": lambda x, y: F.huber_loss(x, y, delta=1.0),
    "bce": F.binary_cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits,
}

O = torch.optim
SGD = dict(ctor=O.SGD, opt="sgd")
# The deepc flag of each PyTorch hyper-parameter. lr is always passed (SGD has no default); the
# others only when a case sets them, else both sides use PyTorch's defaults (torch_defaults
# checks dc_optim_defaults, which the CLI uses).
FLAG = {"lr": "--lr", "momentum": "--momentum", "weight_decay": "--weight-decay",
        "nesterov": "--nesterov", "centered": "--centered", "amsgrad": "--amsgrad",
        "betas": "--betas"}

# name, spec, x, y, loss, optimizer (ctor, deepc name), hyper-parameters, extra options
CASES = [
    # every optimizer variant, cross-entropy on the MLP
    ("sgd", "mlp", "X", "Y_class", "cross_entropy", SGD, dict(lr=0.2), {}),
    ("sgd_momentum", "mlp", "X", "Y_class", "cross_entropy", SGD, dict(lr=0.1, momentum=0.9), {}),
    ("sgd_nesterov", "mlp", "X", "Y_class", "cross_entropy", SGD,
     dict(lr=0.1, momentum=0.9, nesterov=True), {}),
    ("sgd_wd", "mlp", "X", "Y_class", "cross_entropy", SGD,
     dict(lr=0.1, momentum=0.9, weight_decay=0.05), {}),
    ("adagrad", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.Adagrad, opt="adagrad"),
     dict(lr=0.05), {}),
    ("rmsprop", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.RMSprop, opt="rmsprop"),
     dict(lr=0.01), {}),
    ("rmsprop_centered_momentum", "mlp", "X", "Y_class", "cross_entropy",
     dict(ctor=O.RMSprop, opt="rmsprop"), dict(lr=0.005, momentum=0.5, centered=True), {}),
    ("adadelta", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.Adadelta, opt="adadelta"),
     dict(lr=1.0), {}),
    ("adam", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.Adam, opt="adam"),
     dict(lr=0.02), {}),
    # β2 = 0.5: with the default 0.999 the second moment barely falls in 7 steps, and AMSGrad's
    # running maximum would change nothing measurable
    ("adam_amsgrad", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.Adam, opt="adam"),
     dict(lr=0.02, betas=(0.9, 0.5), amsgrad=True), {}),
    ("adamw", "mlp", "X", "Y_class", "cross_entropy", dict(ctor=O.AdamW, opt="adamw"),
     dict(lr=0.02, weight_decay=0.1), {}),
    # every other loss with SGD + momentum (cross_entropy: sgd_momentum above)
    ("loss_nll", "mlp_logsoftmax", "X", "Y_class", "nll", SGD, dict(lr=0.1, momentum=0.9), {}),
    ("loss_mse", "mlp", "X", "Y_reg", "mse", SGD, dict(lr=0.05, momentum=0.9), {}),
    ("loss_l1", "mlp", "X", "Y_reg", "l1", SGD, dict(lr=0.1, momentum=0.9), {}),
    ("loss_smooth_l1", "mlp", "X", "Y_reg", "smooth_l1", SGD, dict(lr=0.1, momentum=0.9), {}),
    ("loss_huber", "mlp", "X", "Y_reg", "huber", SGD, dict(lr=0.1, momentum=0.9), {}),
    ("loss_bce", "mlp_sigmoid", "X", "Y_bin", "bce", SGD, dict(lr=0.2, momentum=0.9), {}),
    ("loss_bce_with_logits", "mlp", "X", "Y_bin", "bce_with_logits", SGD,
     dict(lr=0.2, momentum=0.9), {}),
    # gradient clipping, a scheduler stepped per epoch, a conv net
    ("sgd_clip", "mlp", "X", "Y_class", "cross_entropy", SGD, dict(lr=0.1, momentum=0.9),
     {"clip": 0.7}),
    ("sgd_cosine", "mlp", "X", "Y_class", "cross_entropy", SGD, dict(lr=0.1, momentum=0.9),
     {"cosine": True}),
    ("conv_adam", "conv", "X_conv", "Y_class", "cross_entropy", dict(ctor=O.Adam, opt="adam"),
     dict(lr=0.01), {}),
]


def num(v):
    """A hyper-parameter as deepc's command line takes it (0.1, 1, 0.005)."""
    return "%.9g" % v


def deepc_flags(loss, opt, hp, extra):
    """The case-specific deepc train flags (the C test adds the fixed ones)."""
    f = ["--loss", loss, "--optimizer", opt["opt"]]
    for k in ("lr", "momentum", "weight_decay"):
        if k in hp:
            f += [FLAG[k], num(hp[k])]
    if "betas" in hp:
        f += [FLAG["betas"], ",".join(num(b) for b in hp["betas"])]
    for k in ("nesterov", "centered", "amsgrad"):
        if hp.get(k):
            f.append(FLAG[k])
    if "clip" in extra:
        f += ["--clip", num(extra["clip"])]
    if extra.get("cosine"):
        f += ["--scheduler", "cosine"]
    return " ".join(f)


# ---------------------------------------------------------------------------------------------
# data and initial weights
# ---------------------------------------------------------------------------------------------

def make_data():
    r = gen.Rand("train/data")
    X = r.normal(N_ROWS, 6)
    # classes from a fixed linear rule plus noise, so the loss moves
    score = torch.stack([X[:, 0] + X[:, 1], X[:, 2] - X[:, 0], X[:, 3] - 0.5 * X[:, 4]], 1)
    y_class = torch.argmax(score + 0.5 * r.normal(N_ROWS, 3), 1)
    # regression targets of about ±2: early residuals on both sides of 1
    y_reg = (score + 0.3 * r.normal(N_ROWS, 3)).float().double()
    y_bin = (score + 0.5 * r.normal(N_ROWS, 3) > 0).double()
    Xc = r.normal(N_ROWS, 1, 6, 6)
    # conv classes: which third of the image holds the most mass
    mass = torch.stack([Xc[:, 0, :, 0:2].sum((1, 2)), Xc[:, 0, :, 2:4].sum((1, 2)),
                        Xc[:, 0, :, 4:6].sum((1, 2))], 1)
    yc = torch.argmax(mass, 1)
    assert y_class.unique().numel() == 3 and yc.unique().numel() == 3
    return {"X": X, "X_conv": Xc, "Y_class": y_class, "Y_reg": y_reg, "Y_bin": y_bin,
            "Y_class_conv": yc}


def spec_path(name):
    return os.path.join(OUT, name + ".spec")


def make_init(net, seed):
    """PyTorch's default init of the net (U(±1/√fan_in)) with the weights doubled, so that the
    outputs are of order one and the gradients well above the absolute tolerance; float32."""
    torch.manual_seed(seed)
    model = spec_torch.build(spec_path(net))
    return {k: (v.detach() * (2.0 if k.endswith("weight") else 1.0)).float().double()
            for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------------------------
# one run
# ---------------------------------------------------------------------------------------------

def run(net, init, X, Y, loss_fn, opt, hp, extra, dtype):
    """STEPS optimizer steps over X, Y in file order; returns (state_dict, grad norms)."""
    torch.manual_seed(0)
    model = spec_torch.build(spec_path(net)).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    model.train()
    optim = opt["ctor"](model.parameters(), **hp)
    epochs = math.ceil(STEPS / math.ceil(N_ROWS / BATCH))   # what `deepc train --steps` runs
    sched = O.lr_scheduler.CosineAnnealingLR(optim, T_max=epochs) if extra.get("cosine") else None
    Yd = Y.to(dtype) if Y.dtype.is_floating_point else Y
    loader = DataLoader(TensorDataset(X.to(dtype), Yd), batch_size=BATCH, shuffle=False,
                        drop_last=False)
    step, norms, lrs = 0, [], []
    while step < STEPS:
        for xb, yb in loader:
            optim.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            if "clip" in extra:
                norms.append(float(torch.nn.utils.clip_grad_norm_(model.parameters(),
                                                                   extra["clip"])))
            lrs.append(optim.param_groups[0]["lr"])
            optim.step()
            step += 1
            if step == STEPS:
                break
        else:
            if sched is not None:
                sched.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, norms, lrs


def ablations(hp, extra):
    """(what, hp, extra) for the case without each of its options (PyTorch's default instead):
    an implementation that ignored the option would land this far away."""
    out = []
    for k in hp:
        if k == "lr":
            continue
        h = dict(hp)
        del h[k]
        if k == "momentum" and h.get("nesterov"):
            continue     # Nesterov needs momentum
        out.append(("no " + k, h, extra))
    for k in extra:
        e = dict(extra)
        del e[k]
        out.append(("no " + k, hp, e))
    return out


def f32_error(ref, got):
    """max |got - ref| / (ATOL + RTOL |ref|) over every weight."""
    worst = 0.0
    for k, w in ref.items():
        g = got[k].double()
        worst = max(worst, float(((g - w).abs() / (ATOL + RTOL * w.abs())).max()))
    return worst


# ---------------------------------------------------------------------------------------------
# PyTorch's defaults
# ---------------------------------------------------------------------------------------------

def torch_defaults():
    """Every numeric default of the optimizers' constructors as "<deepc name>.<arg>" [1]."""
    out = {}
    for name, ctor in (("sgd", O.SGD), ("adagrad", O.Adagrad), ("rmsprop", O.RMSprop),
                       ("adadelta", O.Adadelta), ("adam", O.Adam), ("adamw", O.AdamW)):
        for arg, p in inspect.signature(ctor.__init__).parameters.items():
            d = p.default
            if arg in ("params", "self", "foreach", "differentiable", "capturable", "fused"):
                continue
            if isinstance(d, bool) or d is None:
                d = float(bool(d))
            if isinstance(d, tuple):
                for i, v in enumerate(d):
                    out["%s.%s%d" % (name, arg.rstrip("s"), i + 1)] = torch.tensor([float(v)])
            elif isinstance(d, (int, float)):
                out["%s.%s" % (name, arg)] = torch.tensor([float(d)], dtype=torch.float64)
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith((".safetensors", ".npy", ".spec")):
            os.remove(os.path.join(OUT, f))
    for name, text in SPECS.items():
        with open(spec_path(name), "w") as f:
            f.write("# written by tests/ref/gen_train.py\n" + text)
    data = make_data()
    for k in ("X", "X_conv"):
        np.save(os.path.join(OUT, k + ".npy"), data[k].numpy().astype("<f4"))
    for k in ("Y_reg", "Y_bin"):
        np.save(os.path.join(OUT, k + ".npy"), data[k].numpy().astype("<f4"))
    np.save(os.path.join(OUT, "Y_class.npy"), data["Y_class"].numpy().astype("<i8"))
    np.save(os.path.join(OUT, "Y_class_conv.npy"), data["Y_class_conv"].numpy().astype("<i8"))
    inits = {"mlp": make_init("mlp", 11), "conv": make_init("conv", 12)}
    with torch.no_grad():   # smooth_l1 and huber see residuals on both sides of their 1
        mlp = spec_torch.build(spec_path("mlp")).double()
        mlp.load_state_dict(inits["mlp"])
        big = float(((mlp(data["X"]) - data["Y_reg"]).abs() > 1).double().mean())
        assert 0.2 < big < 0.8, big
    for net, st in inits.items():
        gen.write_safetensors(os.path.join(OUT, "init_%s.safetensors" % net), st,
                              {"note": "initial weights of %s.spec (gen_train.py)" % net})
    gen.write_safetensors(os.path.join(OUT, "torch_defaults.safetensors"), torch_defaults(),
                          {"torch": torch.__version__,
                           "note": "default hyper-parameters of torch.optim constructors"})
    for name, net, xk, yk, loss, opt, hp, extra in CASES:
        if net == "conv":
            yk = "Y_class_conv"
        X, Y = data[xk], data[yk]
        init = inits[INIT[net]]
        ref, norms, lrs = run(net, init, X, Y, LOSSES[loss], opt, hp, extra, torch.float64)
        f32, _, _ = run(net, init, X, Y, LOSSES[loss], opt, hp, extra, torch.float32)
        err = f32_error(ref, f32)
        moved = max(float((ref[k] - init[k]).abs().max()) for k in ref)
        if err > MAX_F32_ERR:
            raise RuntimeError("%s: PyTorch float32 is %.3g tolerances from float64" % (name, err))
        effects = []
        for what, h, e in ablations(hp, extra):
            other, _, _ = run(net, init, X, Y, LOSSES[loss], opt, h, e, torch.float64)
            effects.append((what, f32_error(ref, other)))
            if effects[-1][1] < MIN_EFFECT:
                raise RuntimeError("%s: %s changes the result by only %.3g tolerances"
                                   % (name, what, effects[-1][1]))
        if "clip" in extra:
            clipped = sum(n > extra["clip"] for n in norms)
            if clipped == 0 or clipped == len(norms) or \
                    min(abs(n / extra["clip"] - 1) for n in norms) < 0.01:
                raise RuntimeError("%s: grad norms %s do not test clipping" % (name, norms))
        meta = {"spec": net + ".spec", "init": "init_%s.safetensors" % INIT[net],
                "x": xk + ".npy", "y": yk + ".npy",
                "flags": deepc_flags(loss, opt, hp, extra), "steps": STEPS, "batch": BATCH,
                "torch_optimizer": opt["ctor"].__name__, "torch_hp": repr(hp),
                "f32_err": "%.3g" % err, "max_move": "%.3g" % moved}
        if effects:
            meta["effects"] = ", ".join("%s: %.3g" % e for e in effects)
        if norms:
            meta["grad_norms"] = " ".join("%.4g" % n for n in norms)
        if extra.get("cosine"):
            meta["lrs"] = " ".join("%.6g" % v for v in lrs)
        gen.write_safetensors(os.path.join(OUT, name + ".safetensors"), ref, meta)
        print("%-28s f32_err %.3g  max_move %.3g  %s" % (name, err, moved,
                                                        meta.get("effects", "")))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d cases to %s (%d bytes, torch %s)" % (len(CASES), OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
