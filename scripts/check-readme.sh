#!/bin/sh
# After `make demo` and `make test` (what the README says to run first): every program, model,
# data file and folder the README's commands use exists (.ci/run). Exits non-zero listing what is
# missing; with the packages of .ci/run installed, nothing is.
set -eu
readme=${1:-README.md}
missing=""
for p in $(grep -o 'build/[A-Za-z0-9_]*' "$readme" | sort -u); do
    case $p in build/demo|build/san|build/noblas|build/libdeepc|build/) continue ;; esac
    [ -x "$p" ] || missing="$missing $p"
done
for p in $(grep -o '\(models\|docs/img\|tests/data\)/[A-Za-z0-9_./-]*[A-Za-z0-9_]' "$readme" | sort -u); do
    [ -e "$p" ] || missing="$missing $p"
done
for p in $(grep -o '/usr/share/[A-Za-z0-9_./-]*[A-Za-z0-9_]' "$readme" | sort -u); do
    [ -e "$p" ] || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "check-readme: the README uses what does not exist:$missing" >&2
    exit 1
fi
echo "check-readme: every program, model and data path of $readme exists"
