#!/bin/sh
# make accuracy: train the image classifiers of docs/results.md on Fashion-MNIST and check their test accuracy
# against the targets. Each run's full log goes to $OUT/<model>.log (default build/accuracy).
# Usage: scripts/accuracy.sh [model ...]   (lenet5 vgg_small resnet fmnist_gru by default)
set -eu
DEEPC=${DEEPC:-build/deepc}
OUT=${OUT:-build/accuracy}
THREADS=${THREADS:-1}
mkdir -p "$OUT"
sh scripts/need-fashion-mnist.sh

# model | target | settings (the commands of docs/results.md)
runs='lenet5|0.900|--epochs 15 --optimizer adam --lr 0.002 --scheduler cosine --batch 64
vgg_small|0.925|--epochs 10 --optimizer adam --lr 0.001 --scheduler cosine --batch 64
resnet|0.935|--epochs 20 --optimizer sgd --lr 0.1 --momentum 0.9 --weight-decay 5e-4 --scheduler cosine --batch 128 --augment crop=2,flip
fmnist_gru|0.885|--epochs 15 --optimizer adam --lr 0.001 --scheduler cosine --batch 64'

want="${*:-lenet5 vgg_small resnet fmnist_gru}"
status=0
printf '%-10s %8s %8s %10s  %s\n' model target test wall result
echo "$runs" | while IFS='|' read -r model target args; do
    case " $want " in *" $model "*) ;; *) continue ;; esac
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$DEEPC" train "models/$model" --data fashion-mnist $args --threads "$THREADS" \
        --out "$OUT/$model" > "$OUT/$model.log" 2>&1 || { echo "$model: training failed, see $OUT/$model.log"; exit 1; }
    wall=$(( $(date +%s) - start ))
    acc=$(sed -n 's/^test: loss [0-9.]*  accuracy \([0-9.]*\).*/\1/p' "$OUT/$model.log")
    ok=$(awk -v a="$acc" -v t="$target" 'BEGIN { print (a >= t) ? "pass" : "FAIL" }')
    printf '%-10s %8s %8s %9ss  %s\n' "$model" "$target" "$acc" "$wall" "$ok"
    [ "$ok" = pass ] || exit 1
done || status=1
exit $status
