#!/usr/bin/python3
"""
gen_seq.py - the PyTorch references of deepc's sequence pieces (tests/test_seq.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_seq.py     (~1 s)
Output is deterministic (seeds derive from case names), so re-running it rewrites byte-identical
files unless a case or PyTorch changed.

It writes tests/ref/seq/<case>.safetensors - in a folder of its own, so that gen.py (which deletes
every .safetensors of tests/ref) and test_ref.c (which wants a test for every file there) leave
them alone. The writer and the conventions are gen.py's (float64 math on float32-representable
inputs, written as float32):
    embedding_*     x0 ids (int64), x1 weight [V, E], y = F.embedding(x0, x1, padding_idx), dy,
                    dx1 (the weight gradient: repeated ids accumulate, the padding row gets none)
    select_last_*   x0 [N, T, F], x1 lengths (int64 [N]), y = x0.gather(1, lengths - 1) [N, F],
                    dy, dx0
    select_step_*   x0 [N, T, F], y = x0[:, t], dy, dx0
    onehot          x0 ids (int64), y = F.one_hot(x0, K).float() (no gradient)
__metadata__ holds the op and its arguments (padding_idx, t, K); the C test hard-codes them.
"""
import os
import sys

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen  # noqa: E402  (the safetensors writer, Rand and op_case)
from gen import Rand, op_case, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "seq")
gen.OUT = OUT   # op_case writes into gen.OUT


def ids_tensor(vals, shape):
    return torch.tensor(vals, dtype=torch.int64).reshape(shape)


def embedding_case(name, ids, V, E, padding_idx=None):
    """The padding row of the weight is random (not zero): F.embedding reads it as it is."""
    r = Rand(name)
    w = r.normal(V, E)
    op_case(name, lambda i, wt: F.embedding(i, wt, padding_idx=padding_idx), [ids, w],
            grad=[False, True],
            meta={"padding_idx": -1 if padding_idx is None else padding_idx, "V": V, "E": E})


def gen_embedding():
    # repeated ids: 3 (x3), 1 (x3)
    embedding_case("embedding_basic", ids_tensor([3, 1, 3, 0, 6, 1, 1, 5, 3, 2], (2, 5)), 7, 4)
    # padding_idx 1, which occurs 4 times, and repeated other ids
    embedding_case("embedding_pad", ids_tensor([1, 4, 4, 1, 0, 2, 1, 5, 4, 1, 2, 0], (3, 4)),
                   6, 5, padding_idx=1)
    # 3-d ids, padding_idx 0 (the NLP convention)
    embedding_case("embedding_pad_3d", ids_tensor([0, 3, 3, 0, 4, 1, 2, 0, 0, 4, 1, 1], (2, 3, 2)),
                   5, 3, padding_idx=0)


def select_last_case(name, shape, lengths):
    r = Rand(name)
    x = r.normal(*shape)
    lens = torch.tensor(lengths, dtype=torch.int64)

    def fn(xx, ll):
        idx = (ll - 1).view(-1, 1, 1).expand(xx.shape[0], 1, xx.shape[2])
        return xx.gather(1, idx).squeeze(1)
    op_case(name, fn, [x, lens], grad=[True, False], meta={"lengths": lengths})


def select_step_case(name, shape, t):
    r = Rand(name)
    op_case(name, lambda xx: xx[:, t], [r.normal(*shape)], meta={"t": t})


def gen_select():
    select_last_case("select_last_var", (3, 5, 4), [5, 1, 3])
    select_last_case("select_last_rep", (4, 4, 3), [2, 2, 4, 2])
    select_step_case("select_step_2", (3, 5, 4), 2)
    select_step_case("select_step_m1", (3, 5, 4), -1)


def gen_onehot():
    ids = ids_tensor([2, 0, 4, 4, 1, 3], (2, 3))
    write_safetensors(os.path.join(OUT, "onehot.safetensors"),
                      {"x0": ids, "y": F.one_hot(ids, 5).double()}, {"op": "onehot", "K": 5})
    gen.N_CASES[0] += 1


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(OUT, f))
    gen_embedding()
    gen_select()
    gen_onehot()
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print("wrote %d files to %s (%d bytes, torch %s)" % (gen.N_CASES[0], OUT, total,
                                                         torch.__version__))


if __name__ == "__main__":
    main()
