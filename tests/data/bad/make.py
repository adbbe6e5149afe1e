#!/usr/bin/python3
"""Write the bad-input corpus of tests/test_bad_input.c (run from anywhere):

    /usr/bin/python3 tests/data/bad/make.py

Every file here is malformed, truncated, hostile or does not fit the model it is given to; the
test runs the deepc command on each and checks the exit code (2) and that the message names the
file and says what is wrong. Only the standard library is used (no numpy), so every byte is
written by hand and the output is the same on every run (gzip streams carry mtime 0).

    ok/        small valid files the bad ones are paired with (a 4 -> 8 -> 3 MLP and its
               weights, x/y .npy data, an 8x8 image model, a digits model, a series spec,
               two zero 28x28 images for models/lenet5)
    npy/       hostile .npy files              (forward --input, train --data npy:)
    st/        hostile .safetensors files      (eval / forward --weights)
    weights/   state dicts that do not fit models/lenet5 (missing, unexpected, mis-shaped keys)
    idx/       Fashion-MNIST directories with broken IDX files, raw and gzip
               (train --data fashion-mnist:DIR)
    csv/       time-series tables (train --data csv:) and digits tables (train --data digits:)
    text/      text corpora with no text in them (train --data text:)
    spec/      model specs with an error at a known line (summary)
    vocab/     broken vocabulary files (generate --vocab)
    image/     broken PNG / PGM / PPM images (predict --image)
    ckpt/      run directories with a broken checkpoint (train --resume)
    log/       run directories with a broken log.csv (plot)
"""
import gzip
import json
import math
import os
import shutil
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def i64(values):
    return struct.pack("<%dq" % len(values), *values)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def det(n, seed):
    """n deterministic floats in [-0.5, 0.5) (no RNG module: the same on every Python)."""
    return [((i * 7919 + seed * 104729) % 1000) / 1000.0 - 0.5 for i in range(n)]


# ---- .npy ----

def npy(header, data=b"", version=1, pad=True):
    """A .npy file with the header dict text given as is (padded like numpy when pad)."""
    h = header.encode("latin1")
    pre = 10 if version == 1 else 12
    if pad:
        total = pre + len(h) + 1
        h += b" " * ((64 - total % 64) % 64) + b"\n"
    if version == 1:
        prefix = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h))
    else:
        prefix = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(h))
    return prefix + h + data


def npy_f32(shape, values):
    s = "(%s)" % (", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    return npy("{'descr': '<f4', 'fortran_order': False, 'shape': %s, }" % s, f32(values))


def npy_i64(shape, values):
    s = "(%s)" % (", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else ""))
    return npy("{'descr': '<i8', 'fortran_order': False, 'shape': %s, }" % s, i64(values))


# ---- .safetensors ----

def st(entries, meta=None, header=None, tail=b""):
    """entries: (name, dtype, shape, data bytes) in file order; offsets follow the data."""
    obj, buf = {}, b""
    if meta is not None:
        obj["__metadata__"] = meta
    for name, dtype, shape, data in entries:
        obj[name] = {"dtype": dtype, "shape": list(shape),
                     "data_offsets": [len(buf), len(buf) + len(data)]}
        buf += data
    h = header if header is not None else json.dumps(obj, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + buf + tail


def st_raw(header_text, buf=b""):
    h = header_text.encode("utf-8") if isinstance(header_text, str) else header_text
    return struct.pack("<Q", len(h)) + h + buf


MLP = [("fc1.weight", (8, 4)), ("fc1.bias", (8,)), ("fc2.weight", (3, 8)), ("fc2.bias", (3,))]
LENET5 = [("c1.weight", (6, 1, 5, 5)), ("c1.bias", (6,)), ("c3.weight", (16, 6, 5, 5)),
          ("c3.bias", (16,)), ("c5.weight", (120, 400)), ("c5.bias", (120,)),
          ("f6.weight", (84, 120)), ("f6.bias", (84,)), ("out.weight", (10, 84)),
          ("out.bias", (10,))]


def zeros_f32(shape):
    return b"\0" * (4 * numel(shape))


def mlp_entries():
    return [(n, "F32", s, f32(det(numel(s), k))) for k, (n, s) in enumerate(MLP)]


# ---- IDX ----

def idx(magic, dims, data):
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + data


def fmnist_dir(rel, images, labels, gzipped=True):
    suffix = ".gz" if gzipped else ""
    put(rel + "/train-images-idx3-ubyte" + suffix, gz(images) if gzipped else images)
    put(rel + "/train-labels-idx1-ubyte" + suffix, gz(labels) if gzipped else labels)


# ---- PNG ----

def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, depth=8, ctype=0, interlace=0, rows=None, idat=None):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace)
    if idat is None:
        raw = rows if rows is not None else b"".join(b"\0" + bytes(w) for _ in range(h))
        idat = zlib.compress(raw, 9)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) +
            png_chunk(b"IEND", b""))


def main():
    for sub in ("ok", "npy", "st", "weights", "idx", "csv", "text", "spec", "vocab", "image",
                "ckpt", "log"):
        shutil.rmtree(os.path.join(HERE, sub), ignore_errors=True)

    # ---- ok/: the valid partners ----
    put("ok/mlp.spec", "# 4 -> 8 -> 3, the model the npy/ and st/ cases run through\n[input]\n"
        "shape = 4\n[linear fc1]\nout_features = 8\n[relu]\n[linear fc2]\nout_features = 3\n")
    put("ok/mlp.safetensors", st(mlp_entries()))
    xs = det(80, 3)
    put("ok/x.npy", npy_f32((20, 4), xs))
    put("ok/y.npy", npy_i64((20,), [i % 3 for i in range(20)]))
    put("ok/img.spec", "# one 8x8 gray image -> 3 classes (predict)\n[input]\nshape = 1, 8, 8\n"
        "[flatten flat]\n[linear fc]\nout_features = 3\n")
    put("ok/img.safetensors", st([("fc.weight", "F32", (3, 64), f32(det(192, 5))),
                                  ("fc.bias", "F32", (3,), f32([0.0, 0.0, 1.0]))]))
    put("ok/digits.spec", "# 64 pixels -> 10 digits\n[input]\nshape = 64\n[linear fc]\n"
        "out_features = 10\n")
    put("ok/series.spec", "# two steps of three features -> one value\n[input]\nshape = 2, 3\n"
        "[flatten flat]\n[linear out]\nout_features = 1\n")
    rows = ["a,b,c"] + ["%d,%d,%d" % (i, (i * 7) % 11, (i * 3) % 5) for i in range(40)]
    put("ok/series.csv", "\n".join(rows) + "\n")
    put("ok/img28_x.npy", npy_f32((2, 1, 28, 28), [0.0] * (2 * 784)))
    put("ok/img28_y.npy", npy_i64((2,), [0, 1]))

    # ---- npy/: each is given as forward --input and as train --data npy:X,ok/y.npy ----
    hdr = "{'descr': '<f4', 'fortran_order': False, 'shape': (20, 4), }"
    put("npy/bad_magic.npy", b"\x93NUMPX\x01\x00" + npy(hdr, f32(xs))[8:])
    put("npy/empty.npy", b"")
    put("npy/prefix_only.npy", b"\x93NUMPY\x01")
    put("npy/version9.npy", b"\x93NUMPY\x09\x00" + npy(hdr, f32(xs))[8:])
    # a 2.0 header that claims 2 GiB (over the 1 MiB cap) in a file of 100 bytes
    put("npy/header_huge.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 0x7FFFFFFF) + b" " * 88)
    # a 1.0 header that claims 60000 bytes in a file of 200
    put("npy/header_past_eof.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 60000) +
        hdr.encode() + b" " * 100)
    put("npy/header_not_dict.npy", npy("[1, 2, 3]"))
    put("npy/header_eval.npy", npy("{'descr': __import__('os').system('false'), "
                                   "'fortran_order': False, 'shape': (20, 4), }", f32(xs)))
    put("npy/header_unterminated.npy", npy("{'descr': '<f4, 'fortran_order': False, "
                                           "'shape': (20, 4)"))
    put("npy/shape_overflow.npy", npy("{'descr': '<f4', 'fortran_order': False, "
                                      "'shape': (4294967296, 4294967296, 4294967296), }", f32(xs)))
    put("npy/shape_int64_overflow.npy", npy("{'descr': '<f4', 'fortran_order': False, "
                                            "'shape': (99999999999999999999, 4), }", f32(xs)))
    # fits in int64 and under 2^40 elements, but the file holds 320 bytes, not 4 TB
    put("npy/shape_huge.npy", npy("{'descr': '<f4', 'fortran_order': False, "
                                  "'shape': (100000000000, 10), }", f32(xs)))
    put("npy/shape_negative.npy", npy("{'descr': '<f4', 'fortran_order': False, "
                                      "'shape': (-20, 4), }", f32(xs)))
    put("npy/shape_6d.npy", npy("{'descr': '<f4', 'fortran_order': False, "
                                "'shape': (1, 1, 1, 20, 2, 2), }", f32(xs)))
    put("npy/dtype_complex.npy", npy("{'descr': '<c8', 'fortran_order': False, "
                                     "'shape': (20, 2), }", f32(xs)))
    put("npy/dtype_object.npy", npy("{'descr': '|O', 'fortran_order': False, "
                                    "'shape': (20, 4), }", f32(xs)))
    put("npy/dtype_unicode.npy", npy("{'descr': '<U1', 'fortran_order': False, "
                                     "'shape': (20, 4), }", f32(xs)))
    put("npy/dtype_structured.npy", npy("{'descr': [('a', '<f4'), ('b', '<f4')], "
                                        "'fortran_order': False, 'shape': (20, 2), }", f32(xs)))
    put("npy/fortran.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (20, 4), }",
                               f32(xs)))
    put("npy/missing_shape.npy", npy("{'descr': '<f4', 'fortran_order': False, }", f32(xs)))
    put("npy/truncated_data.npy", npy(hdr, f32(xs)[:150]))
    put("npy/trailing_data.npy", npy(hdr, f32(xs) + b"\0" * 16))
    # valid files that do not fit ok/mlp.spec (4 float features) or are not data at all
    put("npy/x_nan.npy", npy_f32((20, 4), xs[:22] + [math.nan] + xs[23:]))
    put("npy/x_wrong_width.npy", npy_f32((20, 5), det(100, 4)))

    # ---- st/: hostile weights for ok/mlp.spec (eval / forward --weights) ----
    good = mlp_entries()
    put("st/empty.safetensors", b"")
    put("st/short.safetensors", b"\x10\0\0\0")
    put("st/header_huge.safetensors", struct.pack("<Q", 1 << 62) + b"{}      ")
    put("st/header_past_eof.safetensors", struct.pack("<Q", 4096) + b'{"a":1}' + b" " * 57)
    put("st/json_garbage.safetensors", st_raw('{"fc1.weight": {"dtype": "F32", "shape": [8, 4]'
                                              ', "data_offsets": [0, 128]},,}' + " " * 7,
                                              b"\0" * 128))
    put("st/json_not_object.safetensors", st_raw('[1, 2, 3]       '))
    put("st/json_deep.safetensors", st_raw("[" * 5000 + "]" * 5000))
    put("st/header_nul.safetensors", st_raw('{"fc1.weight\0": 1}' + " " * 5))
    put("st/header_bad_utf8.safetensors", st_raw(b'{"fc1.\xff\xfe": {}}   '))
    put("st/dtype_unknown.safetensors",
        st([("fc1.weight", "C64", (8, 4), good[0][3])] + good[1:]))
    put("st/shape_overflow.safetensors",
        st_raw(json.dumps({"fc1.weight": {"dtype": "F32",
                                          "shape": [4294967296, 4294967296, 4294967296],
                                          "data_offsets": [0, 128]}}), b"\0" * 128))
    put("st/shape_6d.safetensors",
        st([("fc1.weight", "F32", (1, 1, 1, 1, 8, 4), good[0][3])] + good[1:]))
    # offsets past the end of the file: begin/end far beyond the 220-byte buffer
    hdr_obj = {n: {"dtype": d, "shape": list(s), "data_offsets": [0, len(b)]}
               for n, d, s, b in good}
    hdr_obj["fc1.weight"]["data_offsets"] = [1 << 40, (1 << 40) + 128]
    put("st/offsets_past_eof.safetensors",
        st_raw(json.dumps(hdr_obj, separators=(",", ":")), b"\0" * 220))
    hdr_obj["fc1.weight"]["data_offsets"] = [-128, 0]
    put("st/offsets_negative.safetensors",
        st_raw(json.dumps(hdr_obj, separators=(",", ":")), b"\0" * 220))
    # 100 bytes for a [8, 4] float32 tensor (needs 128)
    put("st/offsets_wrong_size.safetensors",
        st([("fc1.weight", "F32", (8, 4), good[0][3][:100])] + good[1:]))
    put("st/truncated.safetensors", st(good)[:-40])
    put("st/duplicate_name.safetensors",
        st_raw('{"fc1.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},'
               '"fc1.bias":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}}', b"\0" * 32))
    put("st/metadata_not_strings.safetensors", st(good, meta={"format": "pt", "epoch": 3}))
    # valid files whose tensors do not fit ok/mlp.spec
    e = list(good)
    e[0] = ("fc1.weight", "I64", (8, 4), i64([0] * 32))
    put("st/dtype_int.safetensors", st(e))
    put("st/weights_nan.safetensors",
        st([("fc1.weight", "F32", (8, 4), f32([math.nan] * 32))] + good[1:]))

    # ---- weights/: zero-filled state dicts for models/lenet5 that do not fit it ----
    lenet = [(n, "F32", s, zeros_f32(s)) for n, s in LENET5]
    put("weights/lenet5_missing.safetensors", st([x for x in lenet if x[0] != "c5.weight"]))
    put("weights/lenet5_unexpected.safetensors",
        st(lenet + [("c7.weight", "F32", (2, 2), zeros_f32((2, 2))),
                    ("num_batches_tracked", "I64", (), i64([0]))]))
    mis = [x for x in lenet if x[0] not in ("c5.weight", "c1.bias")]
    mis += [("c5.weight", "F32", (120, 40), zeros_f32((120, 40))),
            ("c1.bias", "I64", (6,), i64([0] * 6))]
    put("weights/lenet5_misshaped.safetensors", st(mis))

    # ---- idx/: Fashion-MNIST directories (train split) with one broken file each ----
    n, img = 4, bytes(range(256)) * 13  # 3328 >= 4 * 784 bytes
    images = idx(0x803, (n, 28, 28), img[:n * 784])
    labels = idx(0x801, (n,), bytes([0, 1, 2, 3]))
    fmnist_dir("idx/bad_magic", idx(0x801, (n, 28, 28), img[:n * 784]), labels)
    fmnist_dir("idx/bad_magic_raw", idx(0x0D03, (n, 28, 28), img[:n * 784]), labels, False)
    fmnist_dir("idx/truncated_header", images[:10], labels)
    fmnist_dir("idx/truncated_data", images[:16 + 2000], labels)
    fmnist_dir("idx/truncated_raw", images[:16 + 2000], labels, False)
    fmnist_dir("idx/dims_huge", idx(0x803, (100000000, 4096, 4096), img[:n * 784]), labels)
    fmnist_dir("idx/dims_zero", idx(0x803, (0, 28, 28), b""), labels)
    fmnist_dir("idx/count_mismatch", images, idx(0x801, (3,), bytes([0, 1, 2])))
    fmnist_dir("idx/trailing_bytes", images + b"extra", labels)
    # a gzip stream whose deflate data is damaged (the CRC cannot match)
    bad_gz = bytearray(gz(images))
    for k in range(20, 40):
        bad_gz[k] ^= 0x5A
    put("idx/corrupt_gzip/train-images-idx3-ubyte.gz", bytes(bad_gz))
    put("idx/corrupt_gzip/train-labels-idx1-ubyte.gz", gz(labels))
    # valid IDX files that do not fit models/lenet5 (10 classes of 28x28 images)
    fmnist_dir("idx/label_out_of_range", images, idx(0x801, (n,), bytes([0, 1, 200, 3])))
    fmnist_dir("idx/images_8x8", idx(0x803, (n, 8, 8), img[:n * 64]), labels)

    # ---- csv/: time series (train --data csv:FILE with ok/series.spec) ----
    put("csv/empty.csv", "")
    put("csv/header_only.csv", "a,b,c\n")
    put("csv/ragged.csv", "a,b,c\n1,2,3\n4,5,6\n7,8\n10,11,12\n")
    put("csv/unclosed_quote.csv", 'a,b,c\n1,2,3\n4,"5,6\n7,8,9\n')
    put("csv/no_numeric.csv", "date,weather\n2012-01-01,rain\n2012-01-02,sun\n")
    put("csv/missing_value.csv", "a,b,c\n1,2,3\n4,5,6\n7,,9\n10,11,12\n")
    put("csv/nan_value.csv", "a,b,c\n1,2,3\n4,5,6\n7,nan,9\n10,11,12\n")
    put("csv/inf_value.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,inf\n10,11,12\n")
    put("csv/duplicate_column.csv", "a,b,a\n1,2,3\n4,5,6\n")
    put("csv/too_few_rows.csv", "a,b,c\n1,2,3\n4,5,6\n7,8,9\n")
    put("csv/binary.csv", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + bytes(range(256)))
    table = ("a,b,c\n" + "".join("%d,%d,%d\n" % (i, i * i % 97, i * 7 % 13)
                                  for i in range(300))).encode()
    put("csv/truncated.csv.gz", gz(table)[:len(gz(table)) // 2])  # cut inside the stream
    put("csv/no_trailer.csv.gz", gz(table)[:-8])  # every row, but no CRC and length
    # digits tables (train --data digits:FILE with ok/digits.spec): 64 pixels + a label
    row = ",".join(["0"] * 64)
    put("csv/digits_columns.csv", "\n".join([",".join(["0"] * 10)] * 3) + "\n")
    put("csv/digits_text.csv", row + ",1\n" + row.replace("0", "x", 1) + ",2\n")
    put("csv/digits_label.csv", row + ",1\n" + row + ",10\n")
    put("csv/digits_label_frac.csv", row + ",1\n" + row + ",2.5\n")
    put("csv/digits_ragged.csv", row + ",1\n" + row + "\n")
    put("csv/digits_nan.csv", row + ",1\n" + "nan," + ",".join(["0"] * 63) + ",2\n")
    put("csv/digits_empty.csv", "\n\n")

    # ---- text/: corpora with no usable text (train --data text:) ----
    put("text/empty.txt", "")
    put("text/one_char.txt", "a")
    put("text/only_hidden/.hidden", "hidden files are skipped\n")
    put("text/only_dat/fortunes.dat", b"\0\0\0\2strfile index\n")

    # ---- spec/: one error each, at a known line (summary; train --out for the no-clobber test) --
    specs = {
        "unknown_layer": "[input]\nshape = 4\n[lineer fc]\nout_features = 3\n",
        "unknown_key": "[input]\nshape = 4\n[linear fc]\nout_features = 3\nwidth = 2\n",
        "bad_value_negative": "[input]\nshape = 4\n[linear fc]\nout_features = -3\n",
        "bad_value_word": "[input]\nshape = 4\n[linear fc]\nout_features = three\n",
        "bad_value_bool": "[input]\nshape = 4\n[linear fc]\nout_features = 3\nbias = maybe\n",
        "bad_kernel": "[input]\nshape = 1, 8, 8\n[conv2d c]\nout_channels = 2\nkernel = 0\n",
        "missing_required": "[input]\nshape = 4\n[linear fc]\nbias = true\n",
        "missing_input": "[input]\nshape = 4\n[linear a]\nout_features = 4\n[add s]\n"
                         "input = a, nope\n",
        "forward_reference": "[input]\nshape = 4\n[add s]\ninput = later, input\n"
                             "[linear later]\nout_features = 4\n",
        "self_reference": "[input]\nshape = 4\n[linear a]\ninput = a\nout_features = 4\n",
        "duplicate_name": "[input]\nshape = 4\n[linear a]\nout_features = 4\n[linear a]\n"
                          "out_features = 4\n",
        "duplicate_key": "[input]\nshape = 4\n[linear a]\nout_features = 4\nout_features = 5\n",
        "shape_mismatch_add": "[input]\nshape = 4\n[linear a]\nout_features = 4\n[linear b]\n"
                              "input = input\nout_features = 5\n[add s]\ninput = a, b\n",
        "shape_mismatch_in_features": "[input]\nshape = 4\n[linear fc]\nin_features = 9\n"
                                      "out_features = 2\n",
        "shape_mismatch_conv": "[input]\nshape = 4\n[conv2d c]\nout_channels = 2\nkernel = 3\n",
        "kernel_too_large": "[input]\nshape = 1, 4, 4\n[conv2d c]\nout_channels = 2\n"
                            "kernel = 9\n",
        "no_input_section": "[linear fc]\nout_features = 3\n",
        "input_no_shape": "[input]\n[linear fc]\nout_features = 3\n",
        "input_bad_shape": "[input]\nshape = 0, 4\n[linear fc]\nout_features = 3\n",
        "input_6d": "[input]\nshape = 1, 1, 1, 1, 1, 4\n[linear fc]\nout_features = 3\n",
        "bad_section": "[input]\nshape = 4\n[linear fc\nout_features = 3\n",
        "bad_name": "[input]\nshape = 4\n[linear fc/1]\nout_features = 3\n",
        "key_before_section": "shape = 4\n[input]\nshape = 4\n",
        "no_equals": "[input]\nshape = 4\n[linear fc]\nout_features 3\n",
        "undefined_variable": "[input]\nshape = 4\n[linear fc]\nout_features = $classes\n",
        "empty": "",
        "only_comments": "# nothing but a comment\n\n",
    }
    for name, text in specs.items():
        put("spec/%s.spec" % name, text)
    put("spec/binary.spec", b"[input]\nshape = 4\n\0\x01\x02[linear fc]\n")
    put("spec/long_line.spec", "[input]\nshape = 4\n# " + "x" * 5000 + "\n")

    # ---- vocab/: generate --vocab ----
    put("vocab/bad_magic.txt", "deepc-vocab 2\n2\n61\n62\n")
    put("vocab/count_too_large.txt", "deepc-vocab 1\n300\n61\n")
    put("vocab/count_zero.txt", "deepc-vocab 1\n0\n")
    put("vocab/duplicate_byte.txt", "deepc-vocab 1\n3\n61\n62\n61\n")
    put("vocab/not_hex.txt", "deepc-vocab 1\n2\n61\nzz\n")
    put("vocab/truncated.txt", "deepc-vocab 1\n5\n61\n62\n")
    put("vocab/extra_lines.txt", "deepc-vocab 1\n2\n61\n62\n63\n")
    put("vocab/binary.txt", b"deepc-vocab 1\n2\n61\0\n62\n")
    put("vocab/too_large.txt", "deepc-vocab 1\n1\n61\n" + "\n" * 5000)

    # ---- image/: predict --image (with ok/img.spec, ok/img.safetensors) ----
    put("image/not_an_image.png", "hello, I am text\n")
    put("image/empty.png", b"")
    good_png = png(8, 8)
    put("image/truncated.png", good_png[:45])
    put("image/huge.png", png(100000, 100000, idat=zlib.compress(b"\0" * 64)))
    put("image/size_lie.png", png(16384, 16384, idat=zlib.compress(b"\0" * 64)))
    put("image/depth16.png", png(8, 8, depth=16, rows=b"".join(b"\0" + bytes(16)
                                                                for _ in range(8))))
    put("image/palette.png", png(8, 8, ctype=3))
    put("image/interlaced.png", png(8, 8, interlace=1))
    put("image/corrupt_idat.png", png(8, 8, idat=b"\x78\x9c" + b"\xff" * 20))
    put("image/bad_filter.png", png(8, 8, rows=b"".join(b"\x09" + bytes(8) for _ in range(8))))
    put("image/no_idat.png", b"\x89PNG\r\n\x1a\n" +
        png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)) +
        png_chunk(b"IEND", b""))
    put("image/chunk_past_eof.png", b"\x89PNG\r\n\x1a\n" +
        png_chunk(b"IHDR", struct.pack(">IIBBBBB", 8, 8, 8, 0, 0, 0, 0)) +
        struct.pack(">I", 0x7FFFFFF0) + b"IDAT" + b"\0" * 16)
    put("image/truncated.pgm", b"P5\n8 8\n255\n" + bytes(20))
    put("image/maxval16.pgm", b"P5\n8 8\n65535\n" + bytes(128))
    put("image/huge.pgm", b"P5\n99999 99999\n255\n" + bytes(64))
    put("image/zero.pgm", b"P5\n0 8\n255\n")
    put("image/ascii.pgm", "P2\n2 2\n255\n0 1\n2 3\n")
    put("image/truncated.ppm", b"P6\n8 8\n255\n" + bytes(100))

    # ---- ckpt/: train --resume DIR ----
    put("ckpt/garbage/checkpoint", "this is not a checkpoint\n")
    put("ckpt/empty/checkpoint", b"")
    put("ckpt/no_metadata/checkpoint", st(good))
    put("ckpt/truncated/checkpoint", st(good, meta={"format": "pt"})[:100])

    # ---- log/: plot DIR ----
    put("log/wrong_header/log.csv", "epoch,loss\n1,0.5\n")
    put("log/no_rows/log.csv",
        "step,epoch,loss,acc,val_loss,val_acc,lr,grad_norm,ex_per_s,elapsed_s\n")
    put("log/binary/log.csv", b"\0\1\2\3" * 16)


if __name__ == "__main__":
    main()
