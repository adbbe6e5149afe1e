#!/usr/bin/python3
"""Write the .npy and .safetensors fixtures of tests/test_io.c (run from anywhere):

    /usr/bin/python3 tests/data/io/make_fixtures.py

Good files hold known values that the C test checks element by element. .npy files are written
by numpy itself (versions 1.0, 2.0, 3.0, several dtypes, both byte orders). The `safetensors`
package is not installed, so .safetensors files are written by hand exactly as the reference
implementation does: u64 LE header length N, N bytes of compact JSON with "__metadata__" first and
tensors ordered by dtype (larger alignment first) then name, padded with spaces to a multiple of
8, then the byte buffer with no gaps. bfloat16 bits come from torch so they are what torch stores.

bad/ holds malformed and hostile files; each must be refused with a message naming the file.
"""
import io
import json
import os
import struct

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
BAD = os.path.join(HERE, "bad")


def put(path, data):
    with open(path, "wb") as f:
        f.write(data)


def npy_bytes(arr, version=(1, 0)):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def npy_raw(header, data=b"", version=1):
    """A .npy file with a hand-written header dict (padded like numpy) and raw data."""
    h = header.encode("latin1")
    pre = 10 if version == 1 else 12
    h += b" " * ((64 - (pre + len(h) + 1) % 64) % 64) + b"\n"
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + data


# ---- safetensors ----

ORDER = ["BOOL", "U8", "I8", "I16", "U16", "F16", "BF16", "I32", "U32", "F32", "F64", "I64"]


def st_bytes(tensors, metadata=None):
    """tensors: {name: (dtype, shape, raw bytes)} -> file bytes, laid out like the Rust crate."""
    names = sorted(tensors, key=lambda n: (-ORDER.index(tensors[n][0]), n))
    header, buf = {}, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for n in names:
        dtype, shape, raw = tensors[n]
        header[n] = {"dtype": dtype, "shape": list(shape),
                     "data_offsets": [len(buf), len(buf) + len(raw)]}
        buf += raw
    h = json.dumps(header, separators=(",", ":")).encode("utf8")
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf


def st_raw(header_text, data=b"", hlen=None):
    """A file with a literal header (str or bytes) and an optional false length."""
    h = header_text.encode("utf8") if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(h) if hlen is None else hlen) + h + data


def one(dtype, shape, offsets, extra=""):
    return ('{"t":{"dtype":"%s","shape":%s,"data_offsets":%s%s}}'
            % (dtype, json.dumps(shape), json.dumps(offsets), extra))


def good_npy():
    base = (np.arange(6, dtype="<f4").reshape(2, 3) * 0.5 - 1).astype("<f4")
    put(os.path.join(HERE, "v1_f4.npy"), npy_bytes(base, (1, 0)))
    put(os.path.join(HERE, "v2_f4.npy"), npy_bytes(base, (2, 0)))
    put(os.path.join(HERE, "v3_f4.npy"), npy_bytes(base, (3, 0)))
    put(os.path.join(HERE, "f8.npy"), npy_bytes(np.array([1 / 3, -2.5e-3, 1e30, -0.0], "<f8")))
    put(os.path.join(HERE, "i4.npy"),
        npy_bytes(np.array([[-2147483648, -1, 0], [1, 2, 2147483647]], "<i4")))
    put(os.path.join(HERE, "u1.npy"), npy_bytes(np.array([0, 1, 127, 128, 255], "u1")))
    put(os.path.join(HERE, "b1.npy"), npy_bytes(np.array([[True, False], [False, True]])))
    put(os.path.join(HERE, "i2.npy"), npy_bytes(np.array([-32768, -1, 0, 32767], "<i2")))
    put(os.path.join(HERE, "i1.npy"), npy_bytes(np.array([-128, -1, 0, 127], "i1")))
    put(os.path.join(HERE, "be_f4.npy"),
        npy_bytes(np.array([1.5, -2.25, 3e-38, np.inf], ">f4")))
    put(os.path.join(HERE, "be_f8.npy"), npy_bytes(np.array([2.5, -1e-3], ">f8")))
    put(os.path.join(HERE, "be_i8.npy"),
        npy_bytes(np.array([-2**63, -1, 0, 1, 2**63 - 1], ">i8")))
    put(os.path.join(HERE, "be_i4.npy"), npy_bytes(np.array([-5, 70000], ">i4")))
    put(os.path.join(HERE, "f2.npy"),
        npy_bytes(np.array([1, -2, 65504, 2**-24, 2**-14, 3 * 2**-24, np.inf, -0.0], "<f2")))
    put(os.path.join(HERE, "scalar.npy"), npy_bytes(np.array(3.25, "<f4")))
    put(os.path.join(HERE, "i8_5d.npy"),
        npy_bytes(np.arange(12, dtype="<i8").reshape(2, 1, 3, 1, 2) - 5))
    put(os.path.join(HERE, "empty.npy"), npy_bytes(np.zeros((0, 3), "<f4")))
    # Python 2 era header ("3L") and the native-order '=' form
    put(os.path.join(HERE, "py2_long.npy"),
        npy_raw("{'descr': '<i8', 'fortran_order': False, 'shape': (3L,), }",
                np.array([7, 8, 9], "<i8").tobytes()))
    # Fortran order with one non-trivial dim is the same bytes as C order
    put(os.path.join(HERE, "fortran_1d.npy"),
        npy_raw("{'descr': '<f4', 'fortran_order': True, 'shape': (3, 1), }",
                np.array([1, 2, 3], "<f4").tobytes()))
    put(os.path.join(HERE, "native_eq.npy"),
        npy_raw("{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }",
                np.array([0.25, -4], "<f4").tobytes()))


def good_safetensors():
    import torch
    f16 = np.array([1, -2, 65504, 2**-24, 2**-14, 3 * 2**-24, np.inf, -0.0, np.nan], "<f2")
    bf16 = torch.tensor([1.0, -2.5, 2.0**100, 2.0**-130, float("inf"), float("-inf")],
                        dtype=torch.bfloat16).view(torch.int16).numpy().astype("<i2")
    t = {
        "a_f32": ("F32", [2, 3], (np.arange(6, dtype="<f4") * 0.5 - 1).tobytes()),
        "b_f64": ("F64", [3], np.array([1 / 3, -1e-3, 1e300], "<f8").tobytes()),
        "c_f16": ("F16", [9], f16.tobytes()),
        "d_bf16": ("BF16", [2, 3], bf16.tobytes()),
        "e_i32": ("I32", [4], np.array([-2**31, -1, 0, 2**31 - 1], "<i4").tobytes()),
        "f_i64": ("I64", [2, 2], np.array([-2**63, 1, -1, 2**63 - 1], "<i8").tobytes()),
        "g_i8": ("I8", [3], np.array([-128, 0, 127], "i1").tobytes()),
        "h_u8": ("U8", [3], np.array([0, 128, 255], "u1").tobytes()),
        "i_bool": ("BOOL", [4], np.array([1, 0, 0, 1], "u1").tobytes()),
        "j_scalar": ("F32", [], np.array([7.5], "<f4").tobytes()),
        "k_empty": ("F32", [0, 4], b""),
        "l_esc\"\\\u00fc": ("F32", [1], np.array([42], "<f4").tobytes()),
    }
    put(os.path.join(HERE, "st_dtypes.safetensors"),
        st_bytes(t, {"format": "pt", "note": "\u00e9t\u00e9 \"quoted\"\n"}))


def torch_state():
    """A small torch model's state_dict (floats, a BatchNorm with num_batches_tracked)."""
    import torch
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module("fc1", torch.nn.Linear(3, 4))
    net.add_module("bn1", torch.nn.BatchNorm1d(4))
    net.add_module("fc2", torch.nn.Linear(4, 2))
    net.train()
    for _ in range(3):
        net(torch.randn(5, 3))
    sd = net.state_dict()
    t = {}
    for k, v in sd.items():
        v = v.contiguous()
        if v.dtype == torch.int64:
            t[k] = ("I64", list(v.shape), v.numpy().astype("<i8").tobytes())
        else:
            t[k] = ("F32", list(v.shape), v.numpy().astype("<f4").tobytes())
    put(os.path.join(HERE, "torch_state.safetensors"), st_bytes(t, {"format": "pt"}))
    # the same values in .npy files: one reader checks the other
    put(os.path.join(HERE, "torch_fc1_weight.npy"), npy_bytes(sd["fc1.weight"].numpy()))
    put(os.path.join(HERE, "torch_bn1_running_var.npy"),
        npy_bytes(sd["bn1.running_var"].numpy()))


def bad_npy():
    good = npy_bytes(np.arange(6, dtype="<f4").reshape(2, 3))
    f = lambda name, data: put(os.path.join(BAD, name), data)
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }"
    f("empty.npy", b"")
    f("short_magic.npy", b"\x93NUM")
    f("bad_magic.npy", b"\x93NUMPX" + good[6:])
    f("bad_version.npy", good[:6] + b"\x04\x00" + good[8:])
    f("trunc_prefix.npy", good[:9])
    f("trunc_header.npy", good[:40])
    f("header_huge.npy", b"\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr'")
    f("trunc_data.npy", good[:-3])
    f("trailing.npy", good + b"xxxxx")
    f("fortran.npy", npy_bytes(np.asfortranarray(np.arange(6, dtype="<f4").reshape(2, 3))))
    f("dims6.npy", npy_raw(hdr % "(1, 1, 1, 1, 1, 1)", b"\0" * 4))
    f("neg_dim.npy", npy_raw(hdr % "(-1, 3)"))
    f("overflow.npy", npy_raw(hdr % "(1099511627776, 1099511627776)"))
    f("bigint.npy", npy_raw(hdr % "(99999999999999999999999,)"))
    f("unknown_descr.npy", npy_raw("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
                                   b"\0" * 8))
    f("structured.npy", npy_bytes(np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")])))
    f("missing_key.npy", npy_raw("{'descr': '<f4', 'fortran_order': False, }"))
    f("extra_key.npy",
      npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (), 'x': 1, }", b"\0" * 4))
    f("dup_key.npy",
      npy_raw("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (), }"))
    f("not_dict.npy", npy_raw("garbage"))
    f("unterminated.npy", npy_raw("{'descr': '<f4"))
    f("shape_not_tuple.npy", npy_raw(hdr % "[2, 3]"))
    f("after_dict.npy", npy_raw(hdr % "()" + " junk"))


def bad_safetensors():
    f = lambda name, data: put(os.path.join(BAD, name), data)
    f32x2 = np.array([1, 2], "<f4").tobytes()
    f("empty.safetensors", b"")
    f("short.safetensors", b"\x10\x00\x00\x00\x00")
    f("hdr_huge.safetensors", st_raw("{}", hlen=1 << 63))
    f("hdr_cap.safetensors", st_raw("{}", hlen=200 << 20))
    f("hdr_past_eof.safetensors", st_raw("{}" + " " * 30, hlen=1000))
    f("json_garbage.safetensors", st_raw("{not json}"))
    f("json_trailing.safetensors", st_raw("{} x"))
    f("json_deep.safetensors", st_raw("[" * 1000))
    f("json_deep_obj.safetensors", st_raw('{"a":' * 70 + "1" + "}" * 70))
    f("not_object.safetensors", st_raw("[1, 2]"))
    f("unknown_dtype.safetensors", st_raw(one("C64", [1], [0, 8]), b"\0" * 8))
    f("dims6.safetensors", st_raw(one("F32", [1] * 6, [0, 4]), b"\0" * 4))
    f("neg_dim.safetensors", st_raw(one("F32", [-1, 2], [0, 0])))
    f("overflow.safetensors", st_raw(one("F32", [2**40, 2**40], [0, 8]), b"\0" * 8))
    f("offsets_past_eof.safetensors", st_raw(one("F32", [250], [0, 1000]), f32x2))
    f("offsets_mismatch.safetensors", st_raw(one("F32", [2], [0, 4]), f32x2))
    f("offsets_reversed.safetensors", st_raw(one("F32", [0], [8, 0]), f32x2))
    f("offsets_negative.safetensors", st_raw(one("F32", [2], [-8, 0]), f32x2))
    f("offsets_one.safetensors", st_raw(one("F32", [2], [0]), f32x2))
    f("offsets_float.safetensors", st_raw(one("F32", [2], [0, 8.0]), f32x2))
    f("missing_dtype.safetensors", st_raw('{"t":{"shape":[2],"data_offsets":[0,8]}}', f32x2))
    f("extra_field.safetensors", st_raw(one("F32", [2], [0, 8], ',"x":1'), f32x2))
    f("shape_not_int.safetensors", st_raw('{"t":{"dtype":"F32","shape":["2"],'
                                          '"data_offsets":[0,8]}}', f32x2))
    f("metadata_not_str.safetensors", st_raw('{"__metadata__":{"a":1}}'))
    f("dup_names.safetensors", st_raw('{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
                                      '"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
                                      f32x2))
    f("bad_utf8.safetensors", st_raw(b'{"\xff\xfe":{"dtype":"F32","shape":[2],'
                                     b'"data_offsets":[0,8]}}', f32x2))
    f("bad_escape.safetensors", st_raw('{"a\\x":{}}'))
    f("lone_surrogate.safetensors", st_raw('{"a\\ud800":{}}'))
    f("control_char.safetensors", st_raw('{"a\tb":{}}'))
    f("int_overflow.safetensors", st_raw(one("F32", [99999999999999999999999], [0, 8]),
                                         f32x2))
    f("nul_in_header.safetensors", st_raw(b'{"t"\x00:{}}'))
    f("entry_not_object.safetensors", st_raw('{"t":[1,2]}'))
    f("trunc_json.safetensors", st_raw('{"t":{"dtype":"F32","shape":[2],'))


def main():
    os.makedirs(BAD, exist_ok=True)
    good_npy()
    good_safetensors()
    torch_state()
    bad_npy()
    bad_safetensors()


if __name__ == "__main__":
    main()
