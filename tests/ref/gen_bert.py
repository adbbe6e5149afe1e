#!/usr/bin/python3
"""BERT references for tests/test_bert.c (Debian's python3-torch; ~1 s):

    /usr/bin/python3 tests/ref/gen_bert.py

Hugging Face transformers is not a Debian package, so this is a plain-PyTorch re-implementation
of its BertForPreTraining / BertForSequenceClassification (transformers 4.x, modeling_bert.py):
the same module tree, so state_dict() gives exactly Hugging Face's names; post-LN layers with
separate query/key/value; erf GELU; an extended attention mask that adds a large negative number
(torch.finfo(float32).min) at padded keys; the MLM decoder tied to the word embeddings with its
own bias. Random weights (N(0, 0.2): larger than BERT's 0.02 so that every path matters), a
padded batch with segment ids, in float64, written as float32.

Writes tests/ref/bert/:
  tiny.spec               the deepc spec of the same model
  pretrain.safetensors    weights (Hugging Face names), input [N, 2, T] (ids, segments),
                          mlm_labels [N, T] (-100 = not predicted), nsp_labels [N], and outputs
                          out.hidden [N, T, E], out.pooled [N, E], out.mlm [N, T, V],
                          out.nsp [N, 2], out.loss (MLM CE + NSP CE), and grad.<name> for every
                          parameter (the gradient of out.loss)
  adamw.safetensors       5 AdamW steps with linear warm-up / decay from those weights
                          (gen_adamw: the losses, the lrs and every final weight)
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen import Rand, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "bert")
torch.set_num_threads(1)

CFG = dict(vocab=40, hidden=16, layers=2, heads=4, inter=32, max_pos=16, types=2, pad=0,
           eps=1e-12)


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab"], c["hidden"], padding_idx=c["pad"])
        self.position_embeddings = nn.Embedding(c["max_pos"], c["hidden"])
        self.token_type_embeddings = nn.Embedding(c["types"], c["hidden"])
        self.LayerNorm = nn.LayerNorm(c["hidden"], eps=c["eps"])

    def forward(self, ids, seg):
        pos = torch.arange(ids.shape[1])
        e = self.word_embeddings(ids) + self.token_type_embeddings(seg)
        e = e + self.position_embeddings(pos)[None]
        return self.LayerNorm(e)


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.d = c["heads"], c["hidden"] // c["heads"]
        self.query = nn.Linear(c["hidden"], c["hidden"])
        self.key = nn.Linear(c["hidden"], c["hidden"])
        self.value = nn.Linear(c["hidden"], c["hidden"])

    def forward(self, x, ext_mask):
        N, T, E = x.shape
        split = lambda t: t.view(N, T, self.h, self.d).permute(0, 2, 1, 3)  # noqa: E731
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(self.d) + ext_mask
        p = torch.softmax(s, dim=-1)
        return (p @ v).permute(0, 2, 1, 3).reshape(N, T, E)


class DenseNorm(nn.Module):
    """BertSelfOutput / BertOutput: LayerNorm(dense(x) + residual)."""

    def __init__(self, n_in, c):
        super().__init__()
        self.dense = nn.Linear(n_in, c["hidden"])
        self.LayerNorm = nn.LayerNorm(c["hidden"], eps=c["eps"])

    def forward(self, x, res):
        return self.LayerNorm(self.dense(x) + res)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c["hidden"], c)

    def forward(self, x, m):
        return self.output(self.self(x, m), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["inter"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c["inter"], c)

    def forward(self, x, m):
        a = self.attention(x, m)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["layers"])])

    def forward(self, x, m):
        for l in self.layer:
            x = l(x, m)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["hidden"])

    def forward(self, h):
        return torch.tanh(self.dense(h[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, ids, seg):
        keep = (ids != self.c["pad"]).to(torch.float64)
        ext = (1.0 - keep)[:, None, None, :] * torch.finfo(torch.float32).min
        h = self.encoder(self.embeddings(ids, seg), ext)
        return h, self.pooler(h)


class Transform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden"], c["hidden"])
        self.LayerNorm = nn.LayerNorm(c["hidden"], eps=c["eps"])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class LMHead(nn.Module):
    def __init__(self, c, word):
        super().__init__()
        self.transform = Transform(c)
        self.word = [word]  # tied: not a submodule, not in the state_dict twice
        self.bias = nn.Parameter(torch.zeros(c["vocab"]))

    def forward(self, h):
        return self.transform(h) @ self.word[0].weight.t() + self.bias


class Heads(nn.Module):
    def __init__(self, c, word):
        super().__init__()
        self.predictions = LMHead(c, word)
        self.seq_relationship = nn.Linear(c["hidden"], 2)


class BertForPreTraining(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.cls = Heads(c, self.bert.embeddings.word_embeddings)

    def forward(self, ids, seg):
        h, pooled = self.bert(ids, seg)
        return h, pooled, self.cls.predictions(h), self.cls.seq_relationship(pooled)


SPEC = """# a tiny BERT for pre-training (tests/ref/gen_bert.py writes it with its reference)
[input]
shape = 2, {T}
dtype = int64

[bert_embeddings bert.embeddings]
vocab_size = {vocab}
hidden_size = {hidden}
max_position_embeddings = {max_pos}
type_vocab_size = {types}
dropout = 0
{layer_text}
[bert_pooler bert.pooler]

[bert_mlm_head cls.predictions]
input = {last}

[linear cls.seq_relationship]
input = bert.pooler
out_features = 2
"""


def spec_text(T):
    layers, prev = "", "bert.embeddings"
    for i in range(CFG["layers"]):
        name = "bert.encoder.layer.%d" % i
        layers += ("\n[bert_layer %s]\ninput = %s, input\nnum_attention_heads = %d\n"
                   "intermediate_size = %d\ndropout = 0\nattention_dropout = 0\n"
                   % (name, prev, CFG["heads"], CFG["inter"]))
        prev = name
    return SPEC.format(T=T, layer_text=layers, last=prev, **CFG)


def main():
    os.makedirs(OUT, exist_ok=True)
    r = Rand("bert pretrain")
    torch.manual_seed(0)
    model = BertForPreTraining(CFG).double()
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(r.normal(*p.shape, scale=0.2))
            if name.endswith("LayerNorm.weight"):
                p.add_(1.0)
    N, T = 3, 9
    ids = r.ints(1, CFG["vocab"], N, T)
    ids[1, 6:] = CFG["pad"]
    ids[2, 4:] = CFG["pad"]
    ids[:, 0] = 2  # [CLS]
    seg = torch.zeros(N, T, dtype=torch.int64)
    seg[:, 5:] = 1
    seg[ids == CFG["pad"]] = 0
    mlm = torch.full((N, T), -100, dtype=torch.int64)
    for n, t in [(0, 1), (0, 4), (0, 7), (1, 2), (1, 5), (2, 3)]:
        mlm[n, t] = int(r.ints(1, CFG["vocab"], 1)[0])
    nsp = torch.tensor([0, 1, 1])
    h, pooled, logits, nsp_logits = model(ids, seg)
    loss = (F.cross_entropy(logits.reshape(-1, CFG["vocab"]), mlm.reshape(-1))
            + F.cross_entropy(nsp_logits, nsp))
    loss.backward()
    t = {name: p for name, p in model.state_dict().items()}
    t.update({"grad." + name: p.grad for name, p in model.named_parameters()})
    t.update({"input": torch.stack([ids, seg], dim=1), "mlm_labels": mlm, "nsp_labels": nsp,
              "out.hidden": h, "out.pooled": pooled, "out.mlm": logits,
              "out.nsp": nsp_logits, "out.loss": loss.reshape(1)})
    write_safetensors(os.path.join(OUT, "pretrain.safetensors"), t,
                      {"generator": "tests/ref/gen_bert.py"})
    # the same weights as an original-BERT-era checkpoint: LayerNorm.gamma / .beta, the tied
    # decoder stored under its own names too, and the position_ids buffer of newer versions
    legacy = {}
    for name, p in model.state_dict().items():
        name = name.replace("LayerNorm.weight", "LayerNorm.gamma")
        legacy[name.replace("LayerNorm.bias", "LayerNorm.beta")] = p
    legacy["cls.predictions.decoder.weight"] = model.bert.embeddings.word_embeddings.weight
    legacy["cls.predictions.decoder.bias"] = model.cls.predictions.bias
    legacy["bert.embeddings.position_ids"] = torch.arange(CFG["max_pos"])[None]
    write_safetensors(os.path.join(OUT, "legacy_names.safetensors"), legacy,
                      {"generator": "tests/ref/gen_bert.py"})
    with open(os.path.join(OUT, "tiny.spec"), "w") as f:
        f.write(spec_text(T))
    gen_adamw(model, ids, seg, mlm, nsp)
    print("wrote %d tensors to %s" % (len(t), OUT))


def linear_warmup(warmup, total):
    """transformers.get_linear_schedule_with_warmup's factor of the base lr after `step` steps."""
    def f(step):
        if step < warmup:
            return step / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))
    return f


def gen_adamw(model, ids, seg, mlm, nsp, steps=5, lr=1e-2, warmup=2, total=6):
    """BERT's optimiser on the tiny model: from the weights above, `steps` steps of AdamW (lr
    1e-2, weight decay 0.01, clip 1) with get_linear_schedule_with_warmup(warmup 2, total 6)
    stepped after every optimizer step, on the batch above with the MLM labels of step k
    shifted by k positions (every step predicts other tokens). Writes adamw.safetensors:
    init.<name>, input, mlm_labels.<k>, nsp_labels, loss [steps] and lr [steps] (the loss and
    the lr of each step), final.<name>."""
    model = model.double()
    t = {"init." + k: p.detach().clone() for k, p in model.named_parameters()}
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, linear_warmup(warmup, total))
    losses, lrs = [], []
    for k in range(steps):
        labels = torch.roll(mlm, shifts=k, dims=1)
        labels[ids == CFG["pad"]] = -100  # never a padded position
        labels[:, 0] = -100               # nor [CLS]
        t["mlm_labels.%d" % k] = labels.clone()
        _, _, logits, nsp_logits = model(ids, seg)
        loss = (F.cross_entropy(logits.reshape(-1, CFG["vocab"]), labels.reshape(-1))
                + F.cross_entropy(nsp_logits, nsp))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
        losses.append(loss.item())
    t.update({"input": torch.stack([ids, seg], dim=1), "nsp_labels": nsp,
              "loss": torch.tensor(losses, dtype=torch.float64),
              "lr": torch.tensor(lrs, dtype=torch.float64)})
    t.update({"final." + k: p.detach() for k, p in model.named_parameters()})
    write_safetensors(os.path.join(OUT, "adamw.safetensors"), t,
                      {"generator": "tests/ref/gen_bert.py", "steps": str(steps),
                       "lr": str(lr), "warmup": str(warmup), "total": str(total)})


if __name__ == "__main__":
    main()
