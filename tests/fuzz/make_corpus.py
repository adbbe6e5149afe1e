#!/usr/bin/python3
"""Write the seed corpora of the libFuzzer harnesses (run from anywhere):

    /usr/bin/python3 tests/fuzz/make_corpus.py

Every file of tests/fuzz/corpus/<name>/ is in the input format of tests/fuzz/fuzz_<name>.c (see
the comment at the top of each harness): whole files for npy, safetensors, spec, vocab and image;
option bytes in front for idx and csv. Seeds are small valid files of every kind a parser
accepts, plus the malformed fixtures of tests/data/io/bad/, so the fuzzer starts past the magic
numbers and the checks. Regression inputs for crashes found by fuzzing are kept as
corpus/<name>/crash-*: this script leaves them alone (it only rewrites the files it makes).
"""
import glob
import gzip
import io
import json
import os
import shutil
import struct
import sys
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
IO = os.path.join(ROOT, "tests", "data", "io")
sys.path.insert(0, IO)
from make_fixtures import st_bytes  # noqa: E402


def put(name, data):
    path = os.path.join(CORPUS, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as f:
        f.write(data)


def gz(data):
    # mtime 0: the same bytes on every run
    return gzip.compress(data, mtime=0)


# ---- npy: numpy's own files (versions 1-3, dtypes, byte orders) and the bad fixtures ----

def npy_bytes(arr, version=None):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, version=version)
    return b.getvalue()


def npy():
    a = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    put("npy/f4_v1.npy", npy_bytes(a, (1, 0)))
    put("npy/f4_v2.npy", npy_bytes(a, (2, 0)))
    put("npy/f4_v3.npy", npy_bytes(a, (3, 0)))
    put("npy/f8_be.npy", npy_bytes(a.astype(">f8")))
    put("npy/f2.npy", npy_bytes(np.array([1, -2, 65504, np.inf], dtype=np.float16)))
    put("npy/i8_5d.npy", npy_bytes(np.arange(32, dtype=np.int64).reshape(2, 2, 2, 2, 2)))
    put("npy/i4_be.npy", npy_bytes(np.array([[-1, 2]], dtype=">i4")))
    put("npy/u1.npy", npy_bytes(np.array([0, 255], dtype=np.uint8)))
    put("npy/b1.npy", npy_bytes(np.array([True, False])))
    put("npy/scalar.npy", npy_bytes(np.array(3.5, dtype=np.float32)))
    put("npy/empty.npy", npy_bytes(np.zeros((0, 4), dtype=np.float32)))
    put("npy/fortran_1d.npy", npy_bytes(np.asfortranarray(np.arange(3, dtype=np.float32))))
    for p in sorted(glob.glob(os.path.join(IO, "bad", "*.npy"))):
        shutil.copy(p, os.path.join(CORPUS, "npy", "bad_" + os.path.basename(p)))


# ---- safetensors: the tiny model of fuzz_safetensors.c, other dtypes, the bad fixtures ----

# st_bytes: the same writer the I/O fixtures use (tests/data/io/make_fixtures.py)


def f32(shape, start=0.0):
    return np.arange(start, start + np.prod(shape, dtype=int), dtype="<f4").reshape(shape).tobytes()


def tiny_model(**change):
    t = {"fc1.weight": ("F32", (4, 3), f32((4, 3))), "fc1.bias": ("F32", (4,), f32((4,), 1)),
         "bn1.weight": ("F32", (4,), f32((4,), 2)), "bn1.bias": ("F32", (4,), f32((4,), 3)),
         "bn1.running_mean": ("F32", (4,), f32((4,), 4)),
         "bn1.running_var": ("F32", (4,), f32((4,), 5)),
         "bn1.num_batches_tracked": ("I64", (), struct.pack("<q", 7))}
    for k, v in change.items():
        k = k.replace("__", ".")
        if v is None:
            del t[k]
        else:
            t[k] = v
    return t


def safetensors():
    put("safetensors/tiny.safetensors", st_bytes(tiny_model(), {"format": "pt"}))
    put("safetensors/tiny_nometa.safetensors", st_bytes(tiny_model()))
    put("safetensors/tiny_missing.safetensors", st_bytes(tiny_model(fc1__bias=None)))
    put("safetensors/tiny_extra.safetensors",
        st_bytes(tiny_model(fc2__weight=("F32", (1, 4), f32((1, 4))))))
    put("safetensors/tiny_misshaped.safetensors",
        st_bytes(tiny_model(fc1__weight=("F32", (3, 4), f32((3, 4))))))
    put("safetensors/tiny_dtypes.safetensors", st_bytes(tiny_model(
        fc1__weight=("F16", (4, 3), np.arange(12, dtype="<f2").tobytes()),
        fc1__bias=("BF16", (4,), struct.pack("<4H", 0x3f80, 0x4000, 0xbf80, 0x7f80)),
        bn1__weight=("F64", (4,), np.arange(4, dtype="<f8").tobytes()),
        bn1__num_batches_tracked=("I32", (), struct.pack("<i", 3)))))
    put("safetensors/tiny_wrong_dtype.safetensors",
        st_bytes(tiny_model(bn1__num_batches_tracked=("F32", (), f32(())))))
    put("safetensors/ints.safetensors", st_bytes({
        "a": ("U8", (3,), bytes([1, 2, 255])), "b": ("I8", (2,), bytes([0x80, 0x7f])),
        "c": ("I16", (2,), struct.pack("<2h", -2, 3)), "d": ("U16", (1,), struct.pack("<H", 9)),
        "e": ("U32", (1,), struct.pack("<I", 1 << 31)), "f": ("BOOL", (2,), bytes([0, 1])),
        "g": ("I64", (0, 3), b"")}, {"k": "v", "\u00e9": "\\\"\n"}))
    for p in sorted(glob.glob(os.path.join(IO, "*.safetensors")) +
                    glob.glob(os.path.join(IO, "bad", "*.safetensors"))):
        prefix = "bad_" if os.sep + "bad" + os.sep in p else ""
        shutil.copy(p, os.path.join(CORPUS, "safetensors", prefix + os.path.basename(p)))


# ---- idx: mode byte, u32 LE length of the images file, images, labels ----

def idx_images(n, h, w):
    return struct.pack(">IIII", 0x803, n, h, w) + bytes((i * 37) % 256 for i in range(n * h * w))


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_pair(mode, img, lab):
    return bytes([mode]) + struct.pack("<I", len(img)) + img + lab


def idx():
    img, lab = idx_images(3, 2, 4), idx_labels([0, 9, 4])
    put("idx/raw", idx_pair(0, img, lab))
    put("idx/gz_both", idx_pair(3, img, lab))          # the harness compresses both
    put("idx/gz_images", idx_pair(1, img, lab))
    put("idx/pre_gzipped", idx_pair(0, gz(img), gz(lab)))  # gzip bytes written as they are
    put("idx/one_image", idx_pair(0, idx_images(1, 1, 1), idx_labels([255])))
    put("idx/count_mismatch", idx_pair(0, img, idx_labels([1, 2])))
    put("idx/truncated", idx_pair(0, img[:-3], lab))
    put("idx/trailing", idx_pair(0, img + b"\0", lab))
    put("idx/bad_magic", idx_pair(0, struct.pack(">I", 0x0d03) + img[4:], lab))


# ---- csv: two option bytes (fuzz_csv.c), then the text ----

def csv_seed(o0, o1, text):
    return bytes([o0, o1]) + text.encode()


def weather(rows):
    out = ["date,precipitation,temp_max,temp_min,wind,weather"]
    for i in range(rows):
        out.append("2012-01-%02d,%.1f,%.1f,%.1f,%.1f,%s" % (
            i % 28 + 1, (i * 7) % 5 / 2, 10 + (i * 3) % 7, 2 + i % 4, 3.5 + (i % 3),
            '"rain, light"' if i % 4 == 0 else "sun"))
    return "\n".join(out) + "\n"


def csv():
    put("csv/matrix", csv_seed(0, 0, "1,2,3\n4.5,-6e2,0x10\n\n7, 8 ,9\r\n"))
    put("csv/header_skip", csv_seed(4, 0, "a,b\n1,2\n3,4\n"))
    put("csv/semicolon", csv_seed(1 | 16, 0x21, 'x;"y;z";w\n1;2;3\n4;5;6\n7;8;9\n10;11;12\n'))
    put("csv/tab", csv_seed(2, 0x40, "t\tv\n1\t2\n3\t4\n5\t6\n7\t8\n"))
    put("csv/space", csv_seed(3, 0, "p q\n1 2\n3 4\n"))
    put("csv/quotes", csv_seed(0, 0, 'name,"say ""hi""",n\n"a,b","x""y",1\nc,d,2\n'))
    put("csv/weather", csv_seed(0x10 | 0x40, 0x05 | 0x40, weather(40)))
    put("csv/weather_inputs", csv_seed(0x20, 0x1a | 0x20, weather(24)))
    put("csv/weather_gz", csv_seed(0x08 | 0x30, 0x06, weather(30)))
    put("csv/pre_gzipped", csv_seed(0, 0, "") + gz(weather(12).encode()))
    put("csv/ragged", csv_seed(0, 0, "a,b\n1,2\n3\n"))
    put("csv/missing", csv_seed(0, 0, "a,b\n1,2\n3,\n"))
    put("csv/unclosed", csv_seed(0, 0, 'a,b\n"1,2\n'))
    put("csv/dup_names", csv_seed(0, 0, "a,a\n1,2\n"))
    put("csv/empty_names", csv_seed(0, 0, ",,\n1,2,3\n4,5,6\n"))
    put("csv/not_numeric", csv_seed(0, 0xe0, "d,e\nx,y\n"))


# ---- spec: every model of models/, and small ones (sizes <= 16) that fuzz_spec.c builds ----

SMALL_SPECS = {
    "mlp": """[input]
shape = 1, 4, 4
[flatten]
[linear fc1]
out_features = 8
bias = false
[relu]
[dropout]
p = 0.25
[linear fc2]
in_features = 8
out_features = 3
[logsoftmax]
""",
    "cnn": """# every 2-d layer
[input]
shape = 2, 8, 8
[conv2d c1]
out_channels = 4
kernel = 3
padding = same
[batchnorm2d bn1]
[relu]
[maxpool2d p1]
kernel = 2
[conv2d c2]
out_channels = 4
kernel = 1, 3
stride = 1, 2
padding = 0, 1, 1, 0
dilation = 1
groups = 2
[avgpool2d p2]
kernel = 2
ceil_mode = true
count_include_pad = false
[adaptiveavgpool2d]
output = 2, 1
[flatten]
[batchnorm1d]
eps = 0.001
momentum = 0.2
affine = no
[linear out]
out_features = 5
""",
    "residual": """[input]
shape = 3, 6, 6
[conv2d a]
out_channels = 4
kernel = 3
padding = 1
[conv2d b]
input = input
out_channels = 4
kernel = 3
padding = valid
[maxpool2d pb]
input = b
kernel = 1
padding = 0
[leakyrelu la]
input = a
negative_slope = 0.2
[avgpool2d pa]
kernel = 3
stride = 1
[add res]
input = pa, pb
[concat cat]
input = res, pb
axis = 1
[gelu]
[sigmoid]
[tanh]
[flatten]
[linear out]
out_features = 2
[softmax]
""",
    "lstm": """[input]
shape = 6, 3
[lstm rnn]
hidden_size = 4
num_layers = 2
bidirectional = true
dropout = 0.1
[last_step last]
step = -2
[linear out]
out_features = 1
""",
    "gru_time_major": """[input]
shape = 5, 2
[gru g]
hidden_size = 3
batch_first = false
input_size = 2
[rnn r]
hidden_size = 2
nonlinearity = relu
bias = 0
""",
    "embedding": """[input]
shape = 5
dtype = int64
[embedding embed]
num_embeddings = $vocab
embedding_dim = 4
padding_idx = 0
[gru rnn]
hidden_size = 4
[linear out]
out_features = $vocab
""",
    "onehot": """[input]
shape = 4
dtype = int64
[onehot]
num_classes = 6
[rnn]
hidden_size = 3
[last_step]
""",
    "time": """# a CNN on every frame, then an LSTM over the frames
[input]
shape = 4, 1, 6, 6
[fold_time]
[conv2d c]
out_channels = 2
kernel = 3
[flatten]
[unfold_time]
steps = 4
[reshape r]
shape = 4, -1
[lstm l]
hidden_size = 3
[last_step]
[linear out]
out_features = 2
""",
    "reshape": """[input]
shape = 16
[reshape]
shape = 1, 4, 4
[conv2d]
out_channels = 2
kernel = 2
[reshape]
shape = -1
""",
}


def spec():
    for p in sorted(glob.glob(os.path.join(ROOT, "models", "*"))):
        shutil.copy(p, os.path.join(CORPUS, "spec", "model_" + os.path.basename(p)))
    for name, text in SMALL_SPECS.items():
        put("spec/small_" + name, text)
    put("spec/bad_undefined_var", SMALL_SPECS["embedding"].replace("$vocab", "$other", 1))
    put("spec/bad_unknown_key", SMALL_SPECS["mlp"].replace("bias = false", "biass = false"))
    put("spec/bad_mismatch", SMALL_SPECS["mlp"].replace("in_features = 8", "in_features = 9"))
    put("spec/bad_cycle", SMALL_SPECS["residual"].replace("input = pa, pb", "input = pa, cat"))
    put("spec/bad_range", "[input]\nshape = 4\n[linear]\nout_features = 99999999999999\n")


# ---- vocab ----

def vocab_file(bytes_, upper=False, final_newline=True):
    lines = ["deepc-vocab 1", str(len(bytes_))] + [("%02X" if upper else "%02x") % b
                                                    for b in bytes_]
    return "\n".join(lines) + ("\n" if final_newline else "")


def vocab():
    put("vocab/three", vocab_file(b"\nab"))
    put("vocab/one", vocab_file(b"\0", final_newline=False))
    put("vocab/all", vocab_file(bytes(range(255, -1, -1))))
    put("vocab/upper_blank_lines", vocab_file(b"\xff\x10", upper=True) + "\n\n")
    put("vocab/bad_dup", vocab_file(b"aa"))
    put("vocab/bad_count", "deepc-vocab 1\n3\n61\n62\n")
    put("vocab/bad_extra", vocab_file(b"a") + "62\n")
    put("vocab/bad_count_257", "deepc-vocab 1\n257\n00\n")


# ---- image: PNG of every colour type and filter, PGM and PPM ----

def png(w, h, ctype, rows, filters, n_idat=1):
    """rows: h lists of row bytes (as stored, after filtering); filters: the filter byte of each
    row; the compressed data is cut into n_idat IDAT chunks."""
    raw = b"".join(bytes([f]) + bytes(r) for f, r in zip(filters, rows))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, ctype, 0, 0, 0)
    z = zlib.compress(raw)
    cut = [len(z) * i // n_idat for i in range(n_idat + 1)]
    idat = b"".join(chunk(b"IDAT", z[a:b]) for a, b in zip(cut, cut[1:]))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", b"c\0fuzz") + idat +
            chunk(b"IEND", b""))


def image():
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}
    for ctype, name in [(0, "gray"), (2, "rgb"), (4, "gray_alpha"), (6, "rgba")]:
        w, h = 3, 5
        rows = [[(y * 31 + x * 7) % 256 for x in range(w * bpp[ctype])] for y in range(h)]
        put("image/%s.png" % name, png(w, h, ctype, rows, [0, 1, 2, 3, 4]))
    put("image/two_idat.png", png(4, 3, 2, [[9] * 12] * 3, [1, 2, 4], n_idat=2))
    one = png(2, 2, 0, [[1, 2], [3, 4]], [0, 0])
    put("image/bad_filter.png", png(2, 2, 0, [[1, 2], [3, 4]], [0, 5]))
    put("image/interlaced.png", one.replace(b"IHDR" + struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 0),
                                            b"IHDR" + struct.pack(">IIBBBBB", 2, 2, 8, 0, 0, 0, 1)))
    put("image/gray.pgm", b"P5\n# a comment\n3 2\n255\n" + bytes(range(6)))
    put("image/rgb.ppm", b"P6 2 1 15\n" + bytes([0, 5, 10, 15, 1, 2]))
    put("image/truncated.ppm", b"P6 2 2 255\n" + bytes(5))


# ---- vocab_wordpiece: option byte, u32 LE vocab length, vocab.txt, then text ----

def wp_input(opt, vocab_txt, text):
    v = vocab_txt.encode() if isinstance(vocab_txt, str) else vocab_txt
    t = text.encode() if isinstance(text, str) else text
    return bytes([opt]) + struct.pack("<I", len(v)) + v + t


def vocab_wordpiece():
    base = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nun\n##aff\n##able\nthe\n.\n,\n##s\n"
    put("vocab_wordpiece/uncased", wp_input(0x61, base, "The unaffable, UNAFFABLE ones. [MASK]!"))
    put("vocab_wordpiece/cased_crlf", wp_input(0x40, base.replace("\n", "\r\n"),
                                               "Caf\u00e9 na\u00efve \u4e2d\u6587 e\u0301"))
    put("vocab_wordpiece/unicode", wp_input(0x23, base + "\u00e9\n##\u00e9\n\u03c3\n",
                                            "\u0130stanbul \u03a3\u0391\u03a3 \ud55c\uad6d "
                                            "\u2028x\u3000y\u200bz \u00ab\u00bb"))
    put("vocab_wordpiece/no_final_newline", wp_input(0x01, base.rstrip("\n"), "unaffables"))
    put("vocab_wordpiece/bad_utf8_vocab", wp_input(0x01, base + "\xff\n", "the"))
    put("vocab_wordpiece/bad_utf8_text", wp_input(0x01, base, b"caf\xc3 \xed\xa0\x80 ok\x00."))
    put("vocab_wordpiece/no_unk", wp_input(0x01, "[PAD]\nthe\n", "the"))
    put("vocab_wordpiece/empty", wp_input(0x00, "", ""))


# ---- cmudict ----

def cmudict():
    put("cmudict/small", "A  AH0\nA(1)  EY1\nREAD  R IY1 D\nREAD(1)  R EH1 D\n")
    put("cmudict/crlf_comment", ";;; comment\r\nCAT  K AE1 T\r\n\nDOG  D AO1 G\n")
    put("cmudict/alternate_first", "TOMATO(1)  T AH0 M AA1 T OW2\nTOMATO  T AH0 M EY1 T OW2\n"
        "O'NEIL  OW0 N IY1 L\n{BRACE  B R EY1 S\nD\xc3\xa9J\xc3\xa0  D EY2 JH AA1\n")
    put("cmudict/bad_suffix", "A(X)  AH0\n")
    put("cmudict/bad_phone", "CAT  K AE3 T\n")
    put("cmudict/no_phones", "CAT\n")


def main():
    cmudict()
    npy()
    safetensors()
    idx()
    csv()
    spec()
    vocab()
    vocab_wordpiece()
    image()


if __name__ == "__main__":
    main()
