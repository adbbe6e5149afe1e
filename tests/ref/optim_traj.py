#!/usr/bin/python3
"""
optim_traj.py - unit-level PyTorch 1.13 references for tests/test_optim.c.

Run with Debian's python3-torch:  /usr/bin/python3 tests/ref/optim_traj.py > /tmp/optim_ref.inc
and paste the output between the "BEGIN/END generated" markers of tests/test_optim.c.

Problem: one parameter p of 5 float32 values, gradient g = 2·(p − target) computed in float32
each step (no autograd), 10 optimizer steps; we record p after every step and the final
optimizer state. Hyper-parameters are the plain decimals a PyTorch user writes (deepc stores them
as floats and widens them back to these doubles, see widen() in src/optim/optim.c).
Schedulers: SGD(lr=0.1) driven for 12 epochs; we record the lr after each scheduler.step().
Clipping: clip_grad_norm_ / clip_grad_value_ on two fixed gradients.
"""
import warnings

import torch

warnings.filterwarnings("ignore")
torch.set_num_threads(1)


P0 = [1.0, -2.0, 0.5, 3.0, -1.5]
TARGET = [1.5, -1.2, 0.8, 2.5, -2.0]
STEPS = 10

# name, torch class, kwargs (deepc cfg fields are set the same way in the C test)
OPTIMS = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("sgd_wd", torch.optim.SGD, dict(lr=0.1, momentum=0.5, weight_decay=0.1)),
    ("sgd_maximize", torch.optim.SGD, dict(lr=0.05, maximize=True)),
    ("adagrad", torch.optim.Adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1,
                                          initial_accumulator_value=0.1)),
    ("rmsprop_plain", torch.optim.RMSprop, dict(lr=0.01)),
    ("rmsprop_momentum", torch.optim.RMSprop, dict(lr=0.01, momentum=0.9)),
    ("rmsprop_centered", torch.optim.RMSprop, dict(lr=0.01, centered=True, weight_decay=0.05)),
    ("rmsprop_centered_momentum", torch.optim.RMSprop, dict(lr=0.01, centered=True,
                                                            momentum=0.5, alpha=0.9)),
    ("adadelta", torch.optim.Adadelta, dict()),
    ("adadelta_wd", torch.optim.Adadelta, dict(lr=2.0, rho=0.8, eps=1e-3, weight_decay=0.1)),
    ("adam_plain", torch.optim.Adam, dict(lr=0.1)),
    ("adam_amsgrad", torch.optim.Adam, dict(lr=0.1, betas=(0.8, 0.5), amsgrad=True)),
    ("adam_wd", torch.optim.Adam, dict(lr=0.1, weight_decay=0.1)),
    ("adamw_plain", torch.optim.AdamW, dict(lr=0.1, weight_decay=0.1)),
    ("adamw_amsgrad", torch.optim.AdamW, dict(lr=0.1, betas=(0.8, 0.5), weight_decay=0.05,
                                              amsgrad=True)),
]


def cfloat(v):
    s = "%.9g" % v
    if not any(c in s for c in ".en"):
        s += ".0"
    return s + "f"


def carr(vals):
    return "{" + ", ".join(cfloat(v) for v in vals) + "}"


def optim_refs():
    print("/* optimizer trajectories: p after steps 1..%d, then final state */" % STEPS)
    for name, cls, kw in OPTIMS:
        p = torch.nn.Parameter(torch.tensor(P0, dtype=torch.float32))
        t = torch.tensor(TARGET, dtype=torch.float32)
        opt = cls([p], **kw, foreach=False)
        traj = []
        for _ in range(STEPS):
            p.grad = 2 * (p.detach() - t)
            opt.step()
            traj.extend(p.detach().tolist())
        print("static const float REF_%s_traj[%d] = %s;" % (name, len(traj), carr(traj)))
        st = opt.state[p]
        vals = []
        for k, v in st.items():
            if v is None:  # SGD without momentum keeps momentum_buffer = None
                continue
            v = [float(v)] if not torch.is_tensor(v) or v.numel() == 1 and k == "step" \
                else v.reshape(-1).tolist()
            vals.append((k, v))
        print("static const ref_state REF_%s_state[] = {" % name)
        for k, v in vals:
            print('    {"%s", %d, %s},' % (k, len(v), carr(v + [0.0] * (5 - len(v)))))
        print("    {NULL, 0, {0}}};")


def hf_linear(warmup, total):
    """transformers.get_linear_schedule_with_warmup's lr_lambda (transformers 4.x)."""
    def f(step):
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))
    return f


SCHEDS = [
    # name, constructor, metrics (plateau only)
    ("none", None, None),
    ("step", lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5), None),
    ("multistep", lambda o: torch.optim.lr_scheduler.MultiStepLR(o, milestones=[2, 5, 9],
                                                                gamma=0.3), None),
    ("exponential", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.8), None),
    ("cosine", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5,
                                                                    eta_min=0.01), None),
    ("cosine0", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=4), None),
    ("warmup", lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0 / 3,
                                                           end_factor=1.0, total_iters=5), None),
    ("warmup2", lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=0.25,
                                                            end_factor=0.75,
                                                            total_iters=4), None),
    ("plateau_min", lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="min", factor=0.5, patience=1, cooldown=1, min_lr=0.02),
     [1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]),
    ("plateau_max", lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="max", factor=0.1, patience=1, threshold=0.1),
     [0.5, 0.6, 0.65, 0.7, 0.9, 0.95, 0.96, 1.2, 1.0, 1.0, 1.0, 1.0]),
    # threshold_mode 'abs' (1.92 improves on 2.0 by more than 0.05, though by less than 5%) and
    # eps 0.02 (the reduction 0.025 -> 0.0125 is skipped)
    ("plateau_abs", lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="min", factor=0.5, patience=0, threshold=0.05, threshold_mode="abs", eps=0.02),
     [2.0, 1.92, 1.9, 1.88, 1.8, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79, 1.79]),
    ("plateau_max_abs", lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(
        o, mode="max", factor=0.5, patience=1, threshold=0.05, threshold_mode="abs"),
     [1.0, 1.06, 1.1, 1.12, 1.2, 1.3, 1.31, 1.32, 1.33, 1.34, 1.35, 1.36]),
    # Hugging Face get_linear_schedule_with_warmup(num_warmup_steps=3, num_training_steps=10),
    # stepped after every optimizer step (the C test calls dc_sched_step_batch)
    ("linear", lambda o: torch.optim.lr_scheduler.LambdaLR(o, hf_linear(3, 10)), None),
    ("linear0", lambda o: torch.optim.lr_scheduler.LambdaLR(o, hf_linear(0, 8)), None),
]


def sched_refs():
    print("/* scheduler lr after construction and after each of 12 steps, SGD lr=0.1 */")
    for name, ctor, metrics in SCHEDS:
        p = torch.nn.Parameter(torch.zeros(1))
        o = torch.optim.SGD([p], lr=0.1)
        s = ctor(o) if ctor else None
        lrs = [o.param_groups[0]["lr"]]
        for e in range(12):
            o.step()
            if s is None:
                pass
            elif metrics is not None:
                s.step(metrics[e])
            else:
                s.step()
            lrs.append(o.param_groups[0]["lr"])
        print("static const float REF_sched_%s[13] = %s;" % (name, carr(lrs)))


def clip_refs():
    print("/* clipping: grads of a [3] and b [2, 2] */")
    ga = [3.0, -4.0, 1.0]
    gb = [0.5, -2.5, 2.0, 0.25]
    for name, max_norm in (("clip_norm", 1.0), ("clip_none", 100.0)):
        a = torch.nn.Parameter(torch.zeros(3))
        b = torch.nn.Parameter(torch.zeros(2, 2))
        a.grad = torch.tensor(ga)
        b.grad = torch.tensor(gb).reshape(2, 2)
        n = torch.nn.utils.clip_grad_norm_([a, b], max_norm)
        print("static const float REF_%s_total = %s;" % (name, cfloat(float(n))))
        print("static const float REF_%s_grads[7] = %s;" %
              (name, carr(a.grad.tolist() + b.grad.reshape(-1).tolist())))
    a = torch.nn.Parameter(torch.zeros(3))
    b = torch.nn.Parameter(torch.zeros(2, 2))
    a.grad = torch.tensor(ga)
    b.grad = torch.tensor(gb).reshape(2, 2)
    torch.nn.utils.clip_grad_value_([a, b], 0.75)
    print("static const float REF_clip_value_grads[7] = %s;" %
          carr(a.grad.tolist() + b.grad.reshape(-1).tolist()))


if __name__ == "__main__":
    print("/* generated by tests/ref/optim_traj.py (PyTorch %s) */" % torch.__version__)
    optim_refs()
    sched_refs()
    clip_refs()
