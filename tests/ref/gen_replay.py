#!/usr/bin/python3
"""
gen_replay.py - PyTorch runs that `deepc train` must replay from its flags alone
(tests/test_replay.c): one run per optimizer with a non-default value of every hyper-parameter
PyTorch 1.13 gives it, and one run per scheduler with every argument set.

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_replay.py     (~2 s)
It rewrites tests/ref/replay/*.safetensors (byte-identical unless a case or PyTorch changed). The
data, the net and its initial weights are gen_train.py's (tests/ref/train/: mlp.spec, X.npy,
Y_class.npy, init_mlp.safetensors), so run that first if you change them.

Each case is, in deepc and in PyTorch:

    deepc train mlp.spec --init init_mlp.safetensors --data npy:X.npy,Y_class.npy --no-shuffle
                --loss cross_entropy --batch B --steps S FLAGS

    PyTorch: Linear(6,8) -> ReLU -> Linear(8,3) from the same weights, DataLoader(batch_size=B,
    shuffle=False), zero_grad / cross_entropy / backward / step for S steps; an epoch scheduler
    steps after every complete epoch (ReduceLROnPlateau on the epoch's mean training loss, the
    metric deepc passes without --val), the linear schedule (Hugging Face
    get_linear_schedule_with_warmup) after every optimizer step.

FLAGS are derived here from the PyTorch arguments through FLAG (PyTorch name -> deepc flag) and
stored in the file's metadata ("flags"); the C test repeats them and fails if they differ.

As in gen_train.py, the reference is the float64 run (from float32 data and weights), stored as
float32; the script refuses a case whose float32 PyTorch run lands more than a quarter of the C
tolerance (rtol 1e-4, atol 1e-5) away, or whose float32 run takes another lr path (a plateau
decision on a knife edge). Every optimizer argument a case sets must move the result by at least
MIN_EFFECT tolerances when reset to PyTorch's default (metadata "effects"), so a deepc that
ignored the flag fails; a scheduler argument must change the lr sequence ("lrs").
"""
import inspect
import math
import os
import sys

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
OUT = os.path.join(HERE, "replay")
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools"))
import gen  # noqa: E402
import gen_train  # noqa: E402
import spec_torch  # noqa: E402

torch.set_num_threads(1)

RTOL, ATOL = 1e-4, 1e-5
MAX_F32_ERR = 0.25
MIN_EFFECT = 20.0
O = torch.optim
L = torch.optim.lr_scheduler

# PyTorch argument -> deepc train flag (docs/cli.md, "PyTorch -> deepc")
FLAG = {
    "lr": "--lr", "momentum": "--momentum", "dampening": "--dampening",
    "weight_decay": "--weight-decay", "nesterov": "--nesterov", "alpha": "--alpha",
    "centered": "--centered", "rho": "--rho", "lr_decay": "--lr-decay",
    "initial_accumulator_value": "--initial-accumulator-value", "eps": "--eps",
    "betas": "--betas", "amsgrad": "--amsgrad", "maximize": "--maximize",
}
SFLAG = {
    "step_size": "--step-size", "gamma": "--gamma", "milestones": "--milestones",
    "T_max": "--t-max", "eta_min": "--eta-min", "start_factor": "--start-factor",
    "end_factor": "--end-factor", "total_iters": "--warmup", "mode": "--plateau-mode",
    "factor": "--factor", "patience": "--patience", "threshold": "--threshold",
    "threshold_mode": "--threshold-mode", "cooldown": "--cooldown", "min_lr": "--min-lr",
    "eps": "--plateau-eps", "num_warmup_steps": "--warmup",
    "num_training_steps": "--total-steps",
}
OPTS = {"sgd": O.SGD, "adagrad": O.Adagrad, "rmsprop": O.RMSprop, "adadelta": O.Adadelta,
        "adam": O.Adam, "adamw": O.AdamW}
SCHEDS = {"step": L.StepLR, "multistep": L.MultiStepLR, "exponential": L.ExponentialLR,
          "cosine": L.CosineAnnealingLR, "warmup": L.LinearLR, "plateau": L.ReduceLROnPlateau,
          "linear": None}

# name, optimizer, its arguments, scheduler (or None), its arguments, batch, steps
SGD1 = dict(lr=0.1, momentum=0.9)
CASES = [
    ("sgd_dampening", "sgd", dict(lr=0.15, momentum=0.8, dampening=0.3, weight_decay=0.02),
     None, {}, 16, 7),
    ("sgd_nesterov_maximize", "sgd", dict(lr=0.02, momentum=0.7, nesterov=True,
                                          weight_decay=0.03, maximize=True), None, {}, 16, 7),
    ("adagrad", "adagrad", dict(lr=0.1, lr_decay=0.2, weight_decay=0.02,
                                initial_accumulator_value=0.5, eps=0.1, maximize=True),
     None, {}, 16, 7),
    ("rmsprop", "rmsprop", dict(lr=0.005, alpha=0.7, eps=0.05, weight_decay=0.03, momentum=0.4,
                                centered=True, maximize=True), None, {}, 16, 7),
    ("adadelta", "adadelta", dict(lr=0.7, rho=0.6, eps=1e-3, weight_decay=0.05, maximize=True),
     None, {}, 16, 7),
    ("adam", "adam", dict(lr=0.01, betas=(0.7, 0.8), eps=0.01, weight_decay=0.05, amsgrad=True,
                          maximize=True), None, {}, 16, 7),
    ("adamw", "adamw", dict(lr=0.02, betas=(0.8, 0.7), eps=0.01, weight_decay=0.3, amsgrad=True,
                            maximize=True), None, {}, 16, 7),
    # schedulers: batch 8, 5 steps per epoch, 23 steps = 4 epoch ends and 3 steps of epoch 5
    ("sched_step", "sgd", SGD1, "step", dict(step_size=2, gamma=0.4), 8, 23),
    ("sched_multistep", "sgd", SGD1, "multistep", dict(milestones=[1, 3], gamma=0.3), 8, 23),
    ("sched_exponential", "sgd", SGD1, "exponential", dict(gamma=0.6), 8, 23),
    ("sched_cosine", "sgd", SGD1, "cosine", dict(T_max=3, eta_min=0.02), 8, 23),
    ("sched_warmup", "sgd", SGD1, "warmup", dict(start_factor=0.2, end_factor=0.7,
                                                 total_iters=3), 8, 23),
    # 10 epoch ends: lr 0.2 -> 0.1 (step 30) -> 0.05 (step 40, after the cooldown), then a cut
    # to min_lr 0.03 is skipped (0.02 < eps); each argument reset to its default changes that
    ("sched_plateau", "sgd", dict(lr=0.2, momentum=0.9), "plateau",
     dict(mode="min", factor=0.5, patience=0, threshold=0.1, threshold_mode="abs", cooldown=1,
          min_lr=0.03, eps=0.021), 8, 53),
    # the training loss falls, so in mode max every epoch is bad
    ("sched_plateau_max", "sgd", SGD1, "plateau",
     dict(mode="max", factor=0.3, patience=1), 8, 23),
    ("sched_linear", "adam", dict(lr=0.05), "linear", dict(num_warmup_steps=4), 8, 23),
    ("sched_linear_total", "sgd", SGD1, "linear",
     dict(num_warmup_steps=3, num_training_steps=40), 8, 23),
]


def num(v):
    return "%.9g" % v


def deepc_flags(opt, hp, sched, sp):
    f = ["--optimizer", opt]
    for k, v in hp.items():
        if isinstance(v, bool):
            f += [FLAG[k]] if v else []
        elif k == "betas":
            f += [FLAG[k], ",".join(num(b) for b in v)]
        else:
            f += [FLAG[k], num(v)]
    if sched:
        f += ["--scheduler", sched]
        for k, v in sp.items():
            if k == "milestones":
                f += [SFLAG[k], ",".join(str(m) for m in v)]
            elif isinstance(v, str):
                f += [SFLAG[k], v]
            else:
                f += [SFLAG[k], num(v)]
    return " ".join(f)


def hf_linear(warmup, total):
    """transformers.get_linear_schedule_with_warmup's lr_lambda."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return f


def run(init, X, Y, opt, hp, sched, sp, batch, steps, dtype):
    """steps optimizer steps in file order; (state_dict, lr of every step)."""
    torch.manual_seed(0)
    model = spec_torch.build(gen_train.spec_path("mlp")).to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()})
    optim = OPTS[opt](model.parameters(), **hp)
    per = math.ceil(len(X) / batch)
    s = None
    if sched == "linear":
        # deepc's default: the run's epochs (--steps alone: enough to cover it) of steps
        total = sp.get("num_training_steps", math.ceil(steps / per) * per)
        s = L.LambdaLR(optim, hf_linear(sp.get("num_warmup_steps", 0), total))
    elif sched:
        s = SCHEDS[sched](optim, **sp)
    loader = DataLoader(TensorDataset(X.to(dtype), Y), batch_size=batch, shuffle=False)
    step, lrs = 0, []
    while step < steps:
        loss_sum, seen = 0.0, 0
        for xb, yb in loader:
            optim.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            lrs.append(optim.param_groups[0]["lr"])
            optim.step()
            loss_sum += float(loss) * len(xb)
            seen += len(xb)
            step += 1
            if sched == "linear":
                s.step()
            if step == steps:
                break
        else:
            if sched == "plateau":
                s.step(loss_sum / seen)
            elif s is not None and sched != "linear":
                s.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}, lrs


def default_of(cls, arg):
    p = inspect.signature(cls.__init__).parameters[arg]
    return None if p.default is inspect.Parameter.empty else p.default


def err(ref, got):
    return max(float(((got[k].double() - w).abs() / (ATOL + RTOL * w.abs())).max())
               for k, w in ref.items())


def check_case(name, init, X, Y, opt, hp, sched, sp, batch, steps):
    """The reference and its metadata, after the checks the module docstring lists."""
    ref, lrs = run(init, X, Y, opt, hp, sched, sp, batch, steps, torch.float64)
    f32, lrs32 = run(init, X, Y, opt, hp, sched, sp, batch, steps, torch.float32)
    e = err(ref, f32)
    if e > MAX_F32_ERR or any(abs(a - b) > 1e-6 * abs(a) for a, b in zip(lrs, lrs32)):
        raise RuntimeError("%s: float32 is %.3g tolerances away, lrs %s vs %s" %
                           (name, e, lrs, lrs32))
    effects = []
    for k in hp:
        if k == "lr" or (k == "momentum" and hp.get("nesterov")):
            continue
        h = dict(hp)
        del h[k]
        other, _ = run(init, X, Y, opt, h, sched, sp, batch, steps, torch.float64)
        effects.append((k, err(ref, other)))
        if effects[-1][1] < MIN_EFFECT:
            raise RuntimeError("%s: %s changes the result by only %.3g tolerances" %
                               (name, k, effects[-1][1]))
    for k in sp:
        s = dict(sp)
        del s[k]
        if sched != "linear" and sp[k] == default_of(SCHEDS[sched], k):
            continue     # given, but PyTorch's default: nothing to ablate
        if sched in ("step", "exponential") and k in ("step_size", "gamma"):
            continue     # required
        if sched == "multistep" and k == "milestones":
            continue
        if k == "T_max":   # deepc's default without --t-max: the run's epochs
            s[k] = math.ceil(steps / math.ceil(len(X) / batch))
        _, other = run(init, X, Y, opt, hp, sched, s, batch, steps, torch.float64)
        if other == lrs:
            raise RuntimeError("%s: %s does not change the lr sequence %s" % (name, k, lrs))
        effects.append((k, "lrs differ"))
    meta = {"flags": deepc_flags(opt, hp, sched, sp), "batch": str(batch), "steps": str(steps),
            "torch_optimizer": OPTS[opt].__name__, "torch_hp": repr(hp),
            "torch_scheduler": sched or "", "torch_sched_args": repr(sp),
            "f32_err": "%.3g" % e, "lrs": " ".join("%.6g" % v for v in lrs),
            "effects": ", ".join("%s: %s" % (k, v if isinstance(v, str) else "%.3g" % v)
                                 for k, v in effects)}
    return ref, meta


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    data = gen_train.make_data()
    init = gen_train.make_init("mlp", 11)
    X, Y = data["X"], data["Y_class"]
    for name, opt, hp, sched, sp, batch, steps in CASES:
        ref, meta = check_case(name, init, X, Y, opt, hp, sched, sp, batch, steps)
        gen.write_safetensors(os.path.join(OUT, name + ".safetensors"), ref, meta)
        print("%-24s f32_err %s  %s" % (name, meta["f32_err"], meta["effects"]))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d cases to %s (%d bytes, torch %s)" % (len(CASES), OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
