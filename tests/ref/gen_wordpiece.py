#!/usr/bin/python3
"""Write tests/ref/wordpiece/basic.tsv: random texts and the words BERT's basic tokenizer makes
of them, as a second check of src/data/wordpiece*.c next to the hand-written parity table of
tests/test_wordpiece.c.

    /usr/bin/python3 tests/ref/gen_wordpiece.py

Hugging Face transformers/tokenizers are not packaged for Debian, so the reference is the rules
of transformers' BasicTokenizer (tokenize, _clean_text, _tokenize_chinese_chars,
_run_strip_accents, _run_split_on_punc, _is_control/_is_whitespace/_is_punctuation) restated
below over Python's own unicodedata and str.lower(), which is what they call. The texts mix
ASCII, Latin, Greek (with Σ), Cyrillic, combining marks, CJK, Hangul, kana, punctuation,
controls, special tokens and odd whitespace. One line per case:
    <option set>\t<text as hex UTF-8>\t<words joined by ' ', as hex UTF-8>
option set: 0 uncased (lower-case, strip accents), 1 cased, 2 cased + strip_accents,
3 lower-case without strip_accents, 4 uncased without the CJK split.
"""
import os
import random
import re
import unicodedata

SPECIAL = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c).startswith("C")


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_punct(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or
            0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def strip_accents(t):
    return "".join(c for c in unicodedata.normalize("NFD", t) if unicodedata.category(c) != "Mn")


def split_punct(t):
    out, cur = [], ""
    for c in t:
        if is_punct(c):
            if cur:
                out.append(cur)
            out.append(c)
            cur = ""
        else:
            cur += c
    return out + [cur] if cur else out


def tokenize(text, **opts):
    """PreTrainedTokenizer.tokenize: the special tokens are split off first, wherever they are."""
    words = []
    for piece in re.split(r"(\[PAD\]|\[UNK\]|\[CLS\]|\[SEP\]|\[MASK\])", text):
        words.append(piece if piece in SPECIAL else basic(piece, **opts))
    return " ".join(" ".join(words).split())


def basic(text, lower=True, strip=None, chinese=True):
    text = "".join(" " if is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    if chinese:
        text = "".join(" %s " % c if is_cjk(ord(c)) else c for c in text)
    words = []
    for tok in unicodedata.normalize("NFC", text).split():
        if tok not in SPECIAL:
            if lower:
                tok = tok.lower()
                if strip is not False:
                    tok = strip_accents(tok)
            elif strip:
                tok = strip_accents(tok)
            words.extend(split_punct(tok))
        else:
            words.append(tok)
    return " ".join(" ".join(words).split())


OPTS = [dict(), dict(lower=False), dict(lower=False, strip=True), dict(strip=False),
        dict(chinese=False)]
POOLS = [range(0x20, 0x7F), range(0xA0, 0x250), range(0x300, 0x370), range(0x370, 0x400),
         range(0x400, 0x500), range(0x1E00, 0x2000), range(0x2000, 0x2070), range(0x3000, 0x3100),
         range(0x4E00, 0x4E20), range(0xAC00, 0xAC40), range(0x1100, 0x1200),
         [0x212B, 0x2126, 0x130, 0x3A3, 0x3A3, 0x345, 0x85, 0xAD, 0x200B, 0x2028, 0x2029, 0xFEFF,
          0xFB01, 0xFF21, 0x1D15E, 0x2F800, 0x958, 0xF73, 0x1F83, 0x344, 0x387, 0x37E, 0xFFFD],
         [9, 10, 13, 32, 32, 32, 0xA0, 1, 0x7F, 0x27]]


def main():
    random.seed(17)
    here = os.path.dirname(os.path.abspath(__file__))
    lines = []
    for _ in range(1500):
        text = "".join(chr(random.choice(random.choice(POOLS)))
                       for _ in range(random.randint(1, 12)))
        if random.random() < 0.1:
            text += random.choice(SPECIAL) + text[:3]
        k = random.randrange(len(OPTS))
        lines.append("%d\t%s\t%s\n" % (k, text.encode().hex(), tokenize(text, **OPTS[k]).encode().hex()))
    with open(os.path.join(here, "wordpiece", "basic.tsv"), "w") as f:
        f.write("".join(lines))


main()
