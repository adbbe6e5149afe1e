#!/usr/bin/python3
"""Write a deepc model spec (docs/model-format.md) from a PyTorch module: the inverse of
tools/spec_torch.py.

    import torch_spec
    text = torch_spec.to_spec(model, (1, 28, 28))          # input shape without the batch
    open("models/mine", "w").write(text)

    /usr/bin/python3 tools/torch_spec.py FILE.py:NAME C,H,W  # a module built by FILE.py's NAME()

The module may be an nn.Sequential or any module tree whose forward torch.fx can trace, made of
the layers deepc knows: Linear, Conv1d, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d,
BatchNorm1d/2d, GroupNorm, LayerNorm (last axis), ReLU, LeakyReLU, Sigmoid, Tanh, GELU,
Softmax / LogSoftmax (last axis), Dropout, Flatten, Unflatten, Embedding, RNN / LSTM / GRU (the
output sequence), and the functions + (add), torch.cat (concat), torch.flatten / .flatten(1) /
.view(x.size(0), -1) / .view(-1, C*H*W), F.relu, torch.sigmoid, torch.tanh, x[:, k] after a
recurrent layer (last_step). Each module becomes a layer named by its path in the module tree
("layer1.0.conv1"), so the deepc parameter names equal the state_dict keys and weights move with
a .safetensors file unchanged. Anything else is an error naming the node.

Developer check (needs torch; not part of make test): /usr/bin/python3 tests/ref/gen_torch_spec.py
round-trips every models/ spec through spec_torch.build -> to_spec -> spec_torch.build and writes
the specs it produced to tests/ref/torch_spec/, which tests/test_torch_spec.c builds with deepc.
"""
import importlib.util
import operator
import sys

import torch
import torch.fx
import torch.nn as nn
import torch.nn.functional as F
from torch.fx.passes.shape_prop import ShapeProp


def _spec_torch():
    """tools/spec_torch.py's helper modules, when it is importable (they are leaves here)."""
    try:
        import spec_torch
        return spec_torch
    except ImportError:
        return None


class _Tracer(torch.fx.Tracer):
    """torch.nn modules are leaves (fx's default), and so are recurrent layers of any subclass
    and spec_torch's SamePad / Lambda."""

    def is_leaf_module(self, m, qualname):
        st = _spec_torch()
        if isinstance(m, nn.RNNBase) or (st and isinstance(m, (st.SamePad, st.Lambda))):
            return True
        return super().is_leaf_module(m, qualname)


def _csv(v):
    v = tuple(v) if isinstance(v, (tuple, list)) else (v,)
    return str(v[0]) if all(x == v[0] for x in v) else ", ".join(str(x) for x in v)


def _num(v):
    return "%.9g" % v


def _conv(m, pads=None):
    if m.padding_mode != "zeros":
        raise ValueError("Conv2d padding_mode '%s' (deepc pads with zeros)" % m.padding_mode)
    kv = [("out_channels", m.out_channels), ("kernel", _csv(m.kernel_size))]
    if tuple(m.stride) != (1, 1):
        kv.append(("stride", _csv(m.stride)))
    if pads is not None:     # (left, right, top, bottom) -> deepc's top, bottom, left, right
        kv.append(("padding", "%d, %d, %d, %d" % (pads[2], pads[3], pads[0], pads[1])))
    elif isinstance(m.padding, str):
        kv.append(("padding", m.padding))
    elif tuple(m.padding) != (0, 0):
        kv.append(("padding", _csv(m.padding)))
    if tuple(m.dilation) != (1, 1):
        kv.append(("dilation", _csv(m.dilation)))
    if m.groups != 1:
        kv.append(("groups", m.groups))
    if m.bias is None:
        kv.append(("bias", "false"))
    return "conv2d", kv


def _conv1d(m, pads=None):
    if m.padding_mode != "zeros":
        raise ValueError("Conv1d padding_mode '%s' (deepc pads with zeros)" % m.padding_mode)
    kv = [("out_channels", m.out_channels), ("kernel", m.kernel_size[0])]
    if m.stride[0] != 1:
        kv.append(("stride", m.stride[0]))
    if pads is not None:
        kv.append(("padding", "%d, %d" % tuple(pads)))
    elif isinstance(m.padding, str):
        kv.append(("padding", m.padding))
    elif m.padding[0]:
        kv.append(("padding", m.padding[0]))
    if m.dilation[0] != 1:
        kv.append(("dilation", m.dilation[0]))
    if m.groups != 1:
        kv.append(("groups", m.groups))
    if m.bias is None:
        kv.append(("bias", "false"))
    return "conv1d", kv


def _pool(m, t):
    if t == "maxpool2d" and (m.dilation not in (1, (1, 1)) or m.return_indices):
        raise ValueError("MaxPool2d with dilation or return_indices")
    kv = [("kernel", _csv(m.kernel_size))]
    if m.stride is not None and _csv(m.stride) != _csv(m.kernel_size):
        kv.append(("stride", _csv(m.stride)))
    if _csv(m.padding) != "0":
        kv.append(("padding", _csv(m.padding)))
    if m.ceil_mode:
        kv.append(("ceil_mode", "true"))
    if t == "avgpool2d":
        if m.divisor_override is not None:
            raise ValueError("AvgPool2d divisor_override")
        if not m.count_include_pad:
            kv.append(("count_include_pad", "false"))
    return t, kv


def _rnn(m):
    t = {"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"}[m.mode]
    if getattr(m, "proj_size", 0):
        raise ValueError("LSTM proj_size")
    kv = [("hidden_size", m.hidden_size)]
    if m.num_layers != 1:
        kv.append(("num_layers", m.num_layers))
    if m.mode == "RNN_RELU":
        kv.append(("nonlinearity", "relu"))
    if not m.bias:
        kv.append(("bias", "false"))
    if not m.batch_first:
        kv.append(("batch_first", "false"))
    if m.bidirectional:
        kv.append(("bidirectional", "true"))
    if m.dropout:
        kv.append(("dropout", _num(m.dropout)))
    return t, kv


def _lambda(m):
    """spec_torch.Lambda, recognised by its text."""
    text = m.text
    if text == "flatten(0, 1)":
        return "fold_time", []
    if text.startswith("unflatten(0, (-1, "):
        return "unfold_time", [("steps", int(text[len("unflatten(0, (-1, "):].rstrip("))")))]
    if text.startswith("x[:, "):
        return "last_step", [("step", int(text[5:-1]))]
    if text.startswith("one_hot("):
        return "onehot", [("num_classes", int(text[8:-1]))]
    raise ValueError("spec_torch.Lambda '%s'" % text)


def _last_dim(dim, shape):
    return dim in (-1, None) or (shape is not None and dim == len(shape) - 1)


def _module_layer(m, in_shape):
    """(deepc type, [(key, value)]) for a leaf module, or None for an identity."""
    st = _spec_torch()
    if st and isinstance(m, st.SamePad):
        return _conv1d(m.conv, m.pads) if isinstance(m.conv, nn.Conv1d) else _conv(m.conv, m.pads)
    if st and isinstance(m, st.Lambda):
        return _lambda(m)
    if isinstance(m, nn.Linear):
        return "linear", [("out_features", m.out_features)] + (
            [("bias", "false")] if m.bias is None else [])
    if isinstance(m, nn.Conv2d):
        return _conv(m)
    if isinstance(m, nn.Conv1d):
        return _conv1d(m)
    if isinstance(m, nn.GroupNorm):
        kv = [("num_groups", m.num_groups)] + ([("eps", _num(m.eps))] if m.eps != 1e-5 else [])
        return "groupnorm", kv + ([] if m.affine else [("affine", "false")])
    if isinstance(m, nn.LayerNorm):
        if len(m.normalized_shape) != 1:
            raise ValueError("LayerNorm over %d dims (deepc: the last)" % len(m.normalized_shape))
        kv = [("eps", _num(m.eps))] if m.eps != 1e-5 else []
        return "layernorm", kv + ([] if m.elementwise_affine else
                                  [("elementwise_affine", "false")])
    if isinstance(m, nn.MaxPool2d):
        return _pool(m, "maxpool2d")
    if isinstance(m, nn.AvgPool2d):
        return _pool(m, "avgpool2d")
    if isinstance(m, nn.AdaptiveAvgPool2d):
        return "adaptiveavgpool2d", [("output", _csv(m.output_size))]
    if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        kv = [("eps", _num(m.eps))] if m.eps != 1e-5 else []
        if m.momentum != 0.1:
            kv.append(("momentum", _num(m.momentum)))
        if not m.affine:
            kv.append(("affine", "false"))
        if not m.track_running_stats:
            raise ValueError("BatchNorm without running statistics")
        return ("batchnorm2d" if isinstance(m, nn.BatchNorm2d) else "batchnorm1d"), kv
    if isinstance(m, nn.GELU) and m.approximate != "none":
        raise ValueError("GELU(approximate='%s')" % m.approximate)
    simple = {nn.ReLU: "relu", nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.GELU: "gelu",
              nn.Flatten: "flatten", nn.Identity: None}
    for cls, t in simple.items():
        if type(m) is cls:
            if cls is nn.Flatten and (m.start_dim != 1 or m.end_dim != -1):
                raise ValueError("Flatten(%d, %d) (deepc keeps the batch axis)" %
                                 (m.start_dim, m.end_dim))
            return None if t is None else (t, [])
    if isinstance(m, (nn.Softmax, nn.LogSoftmax)):
        if not _last_dim(m.dim, in_shape):
            raise ValueError("%s(dim=%s): deepc's runs over the last axis" %
                             (type(m).__name__, m.dim))
        return ("softmax" if isinstance(m, nn.Softmax) else "logsoftmax"), []
    if isinstance(m, nn.LeakyReLU):
        return "leakyrelu", [("negative_slope", _num(m.negative_slope))]
    if isinstance(m, nn.Dropout):
        return "dropout", [("p", _num(m.p))]
    if isinstance(m, nn.Unflatten):
        if m.dim != 1:
            raise ValueError("Unflatten(dim=%d)" % m.dim)
        return "reshape", [("shape", ", ".join(str(s) for s in m.unflattened_size))]
    if isinstance(m, nn.Embedding):
        kv = [("num_embeddings", m.num_embeddings), ("embedding_dim", m.embedding_dim)]
        if m.padding_idx is not None:
            kv.append(("padding_idx", m.padding_idx))
        return "embedding", kv
    if isinstance(m, nn.RNNBase):
        return _rnn(m)
    raise ValueError("module %s is not a deepc layer" % type(m).__name__)


_FUNCS = {operator.add: ("add", []), torch.add: ("add", []), F.relu: ("relu", []),
          torch.relu: ("relu", []), torch.sigmoid: ("sigmoid", []), torch.tanh: ("tanh", [])}


def _is_flatten(node, shape):
    """x.view(x.size(0), -1), x.view(-1, C·H·W) and the same with reshape: a flatten."""
    a = node.args[1:]
    if len(a) == 1 and isinstance(a[0], (tuple, list)):
        a = tuple(a[0])
    if len(a) != 2:
        return False
    size0 = isinstance(a[0], torch.fx.Node) and a[0].op == "call_method" and \
        a[0].target == "size" and tuple(a[0].args[1:]) == (0,)
    src, out = shape(node.args[0]), shape(node)
    rest = 1
    for d in (src or ())[1:]:
        rest *= d
    return (size0 and a[1] == -1) or (a[0] == -1 and src is not None and a[1] == rest and
                                      out is not None and out[0] == src[0])


def _function_layer(node, shapes):
    """(deepc type, keys) for a call_function / call_method node, or None for an identity."""
    t, a = node.target, node.args
    if node.op == "call_function" and t in _FUNCS:
        return _FUNCS[t]
    if node.op == "call_function" and t is torch.cat:
        dim = node.kwargs.get("dim", a[1] if len(a) > 1 else 0)
        return "concat", [("axis", dim)]
    flat = (node.op == "call_function" and t is torch.flatten) or \
           (node.op == "call_method" and t == "flatten")
    if flat and tuple(a[1:]) in ((1,), (1, -1)):
        return "flatten", []
    if node.op == "call_method" and t in ("relu", "sigmoid", "tanh"):
        return t, []
    if node.op == "call_method" and t in ("view", "reshape") and _is_flatten(node, shapes):
        return "flatten", []
    if node.op == "call_function" and t is operator.getitem:
        src, idx = a
        if isinstance(src, torch.fx.Node) and src.op == "call_module" and idx == 0:
            return None   # (output, state) of a recurrent layer: the output
        if (isinstance(idx, tuple) and len(idx) == 2 and idx[0] == slice(None) and
                isinstance(idx[1], int)):
            return "last_step", [("step", idx[1])]
    raise ValueError("node %s (%s %s) has no deepc layer" % (node.name, node.op, t))


def to_spec(model, input_shape, dtype=None, comment=None):
    """The text of a deepc spec for model, whose input (without the batch axis) has input_shape.
    dtype: "int64" for token ids (the default when the first layer is an Embedding)."""
    model = model.eval()
    gm = torch.fx.GraphModule(model, _Tracer().trace(model))
    mods = dict(gm.named_modules())
    first = next(iter(n for n in gm.graph.nodes if n.op == "call_module"), None)
    if dtype is None:
        dtype = "int64" if first is not None and isinstance(mods[first.target], nn.Embedding) \
            else "float32"
    ex = torch.zeros((2,) + tuple(input_shape), dtype=torch.int64 if dtype == "int64"
                     else torch.float32)
    ShapeProp(gm).propagate(ex)

    def shape(n):
        return tuple(n.meta["tensor_meta"].shape) if "tensor_meta" in n.meta else None
    lines = ["# written by tools/torch_spec.py" + (": " + comment if comment else ""), "",
             "[input]", "shape = " + ", ".join(str(s) for s in input_shape)]
    if dtype == "int64":
        lines.append("dtype = int64")
    alias, prev, used = {}, "input", set(mods)
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            alias[node.name] = "input"
            continue
        if node.op == "call_method" and node.target == "size":
            continue     # a shape for view / reshape, not a tensor
        if node.op == "output":
            out = node.args[0]
            if not isinstance(out, torch.fx.Node) or alias[out.name] != prev:
                raise ValueError("the output must be the last layer's")
            continue
        args = [a for a in node.args if isinstance(a, torch.fx.Node)]
        for a in node.args:
            if isinstance(a, (list, tuple)):
                args += [x for x in a if isinstance(x, torch.fx.Node)]
        ins = [alias[a.name] for a in args if a.name in alias]
        if node.op == "call_module":
            src = node.args[0] if node.args else None
            layer = _module_layer(mods[node.target], shape(src) if src is not None else None)
            name = node.target
        else:
            layer = _function_layer(node, shape)
            name = node.name
            while name in used:
                name += "_"
        if layer is None:
            alias[node.name] = ins[0]
            continue
        used.add(name)
        lines.append("[%s %s]" % (layer[0], name))
        if ins != [prev]:
            lines.append("input = " + ", ".join(ins))
        lines += ["%s = %s" % kv for kv in layer[1]]
        alias[node.name] = prev = name
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 3 or ":" not in argv[1]:
        print(__doc__)
        return 2
    path, fn = argv[1].rsplit(":", 1)
    spec = importlib.util.spec_from_file_location("user_model", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    shape = tuple(int(s) for s in argv[2].split(","))
    sys.stdout.write(to_spec(getattr(mod, fn)(), shape, comment="%s %s" % (argv[1], argv[2])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
