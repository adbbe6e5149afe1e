#!/usr/bin/python3
"""
gen_g2p.py - the PyTorch reference of deepc's GRU + Luong-attention seq2seq (models/g2p_gru at
small sizes; tests/test_g2p_ref.c).

Run with Debian's python3-torch:   /usr/bin/python3 tests/ref/gen_g2p.py     (~1 s)
Deterministic (seeded from the case name). Writes tests/ref/g2p/gru_attn.safetensors (a folder of
its own, so that gen.py leaves it alone), with the writer and conventions of gen.py: float64 math
on float32-representable values, written as float32.

The model (the spec of the C test, names as deepc's state_dict):
    src = x[:, 0, :S] (S: the last column where any source is not padding, + 1)
    enc = GRU(E -> H, bidirectional)(src_embed(src))                       [N, S, 2H]
    dec = GRU(E -> 2H)(tgt_embed(x[:, 1]))                                 [N, L, 2H]
    a   = softmax(dec · W_in · encᵀ, padding keys hidden);  c = a · enc
    y   = head(tanh(linear_out([c; dec])))                                  [N, L, V]
Tensors: the state_dict, x (int64 [N, 2, L]), tgt (int64 [N, L], 0 = padding), logits, loss
(cross-entropy over the non-padding targets, mean), "d.<name>" = d loss / d param, and the decoder
step: step_src (int64 [S1]), step_prefix (int64 [T1]), step_logits [T1, V]: the logits of each
next token after prefix[:t+1] computed with nn.GRUCell one step at a time (the state carried),
attention over the source's states at every step.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from gen import Rand, write_safetensors  # noqa: E402

OUT = os.path.join(HERE, "g2p")
V, E, H = 11, 5, 4   # vocabulary, embedding, encoder state per direction (decoder 2H)


class Seq2SeqAttn(nn.Module):
    def __init__(self):
        super().__init__()
        self.src_embed = nn.Embedding(V, E, padding_idx=0)
        self.encoder = nn.GRU(E, H, batch_first=True, bidirectional=True)
        self.tgt_embed = nn.Embedding(V, E, padding_idx=0)
        self.decoder = nn.GRU(E, 2 * H, batch_first=True)
        self.attn = nn.Module()
        self.attn.linear_in = nn.Linear(2 * H, 2 * H, bias=False)
        self.attn.linear_out = nn.Linear(4 * H, 2 * H, bias=False)
        self.head = nn.Linear(2 * H, V)

    def encode(self, src):
        return self.encoder(self.src_embed(src))[0]

    def attend(self, dec, enc, src):
        s = self.attn.linear_in(dec) @ enc.transpose(1, 2)                 # [N, T, S]
        s = s.masked_fill((src == 0).unsqueeze(1), float("-inf"))
        c = torch.softmax(s, dim=-1) @ enc
        return self.head(torch.tanh(self.attn.linear_out(torch.cat([c, dec], dim=-1))))

    def forward(self, x):
        keep = int((x[:, 0] != 0).any(0).nonzero().max()) + 1
        src = x[:, 0, :keep]
        enc = self.encode(src)
        dec = self.decoder(self.tgt_embed(x[:, 1]))[0]
        return self.attend(dec, enc, src)

    def steps(self, src, prefix):
        """logits after each prefix[:t+1], one GRUCell step at a time"""
        cell = nn.GRUCell(E, 2 * H).double()
        cell.weight_ih.data = self.decoder.weight_ih_l0.data
        cell.weight_hh.data = self.decoder.weight_hh_l0.data
        cell.bias_ih.data = self.decoder.bias_ih_l0.data
        cell.bias_hh.data = self.decoder.bias_hh_l0.data
        enc = self.encode(src[None])
        h = torch.zeros(1, 2 * H, dtype=torch.float64)
        out = []
        for t in range(prefix.shape[0]):
            h = cell(self.tgt_embed(prefix[t:t + 1]), h)
            out.append(self.attend(h[:, None], enc, src[None])[0, 0])
        return torch.stack(out)


def main():
    os.makedirs(OUT, exist_ok=True)
    r = Rand("g2p_gru_attn")
    m = Seq2SeqAttn().double()
    with torch.no_grad():
        for name, p in m.named_parameters():
            p.copy_(r.normal(*p.shape, scale=0.5))
        m.src_embed.weight[0] = 0
        m.tgt_embed.weight[0] = 0
    # two pairs: sources of 4 and 2 letters, targets of 3 and 5 phones; L = 6
    x = torch.tensor([[[5, 6, 7, 8, 0, 0], [1, 9, 10, 4, 0, 0]],
                      [[7, 5, 0, 0, 0, 0], [1, 3, 4, 9, 9, 10]]])
    tgt = torch.tensor([[9, 10, 4, 2, 0, 0], [3, 4, 9, 9, 10, 2]])
    logits = m(x)
    loss = F.cross_entropy(logits.reshape(-1, V), tgt.reshape(-1), ignore_index=0)
    loss.backward()
    ts = {name: p.detach() for name, p in m.state_dict().items()}
    ts.update({"d." + name: p.grad for name, p in m.named_parameters()})
    ts.update({"x": x, "tgt": tgt, "logits": logits.detach(), "loss": loss.detach()})
    step_src = torch.tensor([6, 8, 5])
    step_prefix = torch.tensor([1, 4, 9, 3, 10])
    with torch.no_grad():
        ts["step_logits"] = m.steps(step_src, step_prefix)
    ts["step_src"], ts["step_prefix"] = step_src, step_prefix
    write_safetensors(os.path.join(OUT, "gru_attn.safetensors"), ts,
                      {"V": V, "E": E, "H": H})
    print("wrote", os.path.join(OUT, "gru_attn.safetensors"))


if __name__ == "__main__":
    main()
