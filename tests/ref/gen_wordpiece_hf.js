#!/usr/bin/env node
// Write tests/ref/wordpiece/hf_vocab.txt and hf_ids.tsv: WordPiece ids computed by Hugging Face's
// own tokenizers library (its Rust core, through the npm binding @anush008/tokenizers: the
// BertNormalizer + BertPreTokenizer + WordPiece pipeline of BertTokenizerFast), for
// tests/test_wordpiece.c to compare deepc's encoder with.
//
//   (cd /tmp && npm install @anush008/tokenizers)        # the binding, outside the repository
//   NODE_PATH=/tmp/node_modules node tests/ref/gen_wordpiece_hf.js   # needs build/deepc
//
// 240 texts are generated from a fixed seed (English-like words in mixed case, digits,
// punctuation, Latin accents, CJK ideographs, tabs and newlines, control characters, words too
// long for max_input_chars_per_word); the vocabulary is trained by `deepc tokenize train` on the
// first half, so the second half also meets words it cannot cover ([UNK]). The texts avoid the
// spots where the fast (Rust) tokenizer and the slow Python BertTokenizer that deepc follows
// differ: decomposed accents (only the slow one applies NFC), Σ at the end of a word (the Rust
// one lower-cases character by character) and the whitespace characters outside Zs.
// One line per text: <text as hex UTF-8>\t<ids separated by spaces>.
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const tk = require("@anush008/tokenizers");

let seed = 17;
function rnd(n) { // a small LCG: the same texts everywhere
  seed = (seed * 1103515245 + 12345) % 2147483648;
  return Math.floor((seed / 2147483648) * n);
}
const WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "running", "runner",
  "unaffable", "affable", "tokenizer", "token", "piece", "word", "words", "naïve", "café", "résumé",
  "Ångström", "über", "straße", "señor", "façade", "Москва", "Ελλάδα", "中文", "日本語", "hello",
  "world", "it's", "don't", "e-mail", "U.S.A.", "3.14", "1,000", "x86_64", "C++", "foo@bar.com",
  "(parens)", "[brackets]", "{braces}", "\"quotes\"", "¿qué?", "«guillemets»", "—dash—", "a/b",
  "#hash", "$dollar", "100%", "^caret", "`tick`", "~tilde", "|pipe|", "under_score", "ÀÉÎÕÜ"];
function text() {
  const n = 1 + rnd(10);
  let s = "";
  for (let i = 0; i < n; i++) {
    let w = WORDS[rnd(WORDS.length)];
    const r = rnd(20);
    if (r === 0) w = w.toUpperCase().replace(/Σ/g, "S");
    else if (r === 1) w = w[0].toUpperCase() + w.slice(1);
    else if (r === 2) w = w.repeat(Math.ceil(101 / w.length)); // over 100 characters
    else if (r === 3) w = w + "\u0001" + w;                    // a control character inside
    else if (r === 4) w = w + String.fromCharCode(0x4e00 + rnd(0x200));
    const sep = [" ", " ", " ", "\t", "\n", "  ", ", ", ". "][rnd(8)];
    s += (i ? sep : "") + w;
  }
  return s;
}

const here = __dirname;
const out = path.join(here, "wordpiece");
const texts = [];
for (let i = 0; i < 240; i++) texts.push(text());
const corpus = path.join(require("os").tmpdir(), "gen_wordpiece_hf_corpus.txt");
fs.writeFileSync(corpus, texts.slice(0, 120).join("\n"));
const deepc = path.join(here, "..", "..", "build", "deepc");
execFileSync(deepc, ["tokenize", "train", "--vocab-size", "300", "--min-frequency", "1", "--in",
  corpus, "--out", path.join(out, "hf_vocab.txt")]);
fs.unlinkSync(corpus);
const lines = fs.readFileSync(path.join(out, "hf_vocab.txt"), "utf8").split("\n");
lines.pop();
const vocab = {};
lines.forEach((t, i) => { vocab[t] = i; });
const t = new tk.Tokenizer(tk.WordPiece.init(vocab, { unkToken: "[UNK]", maxInputCharsPerWord: 100 }));
t.setNormalizer(tk.bertNormalizer({ cleanText: true, handleChineseChars: true, stripAccents: true,
                                    lowercase: true }));
t.setPreTokenizer(tk.bertPreTokenizer());
(async () => {
  const rows = [];
  for (const s of texts) {
    const e = await t.encode(s, null, { addSpecialTokens: false });
    rows.push(Buffer.from(s, "utf8").toString("hex") + "\t" + e.getIds().join(" "));
  }
  fs.writeFileSync(path.join(out, "hf_ids.tsv"), rows.join("\n") + "\n");
})();
