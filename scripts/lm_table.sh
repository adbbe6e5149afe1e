#!/bin/sh
# make lm-table: the notes' RNN / LSTM / GRU comparison, measured. Trains models/char_rnn,
# char_lstm and char_gru (2 layers of 256, same embedding and output layer) on the same text with
# the same budget (epochs, batch, BPTT length, optimizer, seed) and prints validation bits per
# character, parameters and training tokens/s as a Markdown table. Logs in $OUT (build/lm).
# Usage: scripts/lm_table.sh [TEXT]   (default: Debian's fortunes, /usr/share/games/fortunes)
set -eu
DEEPC=${DEEPC:-build/deepc}
OUT=${OUT:-build/lm}
THREADS=${THREADS:-1}
EPOCHS=${EPOCHS:-1}
TEXT=${1:-/usr/share/games/fortunes}
if [ ! -e "$TEXT" ]; then
    echo "no text at $TEXT: install Debian's fortunes package (apt-get install fortunes)" >&2
    exit 2
fi
mkdir -p "$OUT"
echo "| model | parameters | validation bits/char | training tokens/s | wall |"
echo "|---|---|---|---|---|"
for model in char_rnn char_lstm char_gru; do
    start=$(date +%s)
    "$DEEPC" train "models/$model" --data "text:$TEXT" --epochs "$EPOCHS" --batch 32 --bptt 64 \
        --optimizer adam --lr 0.002 --clip 5 --seed 1 --threads "$THREADS" --out "$OUT/$model" \
        > "$OUT/$model.log" 2>&1 || { echo "$model failed: see $OUT/$model.log" >&2; exit 1; }
    wall=$(( $(date +%s) - start ))
    params=$(sed -n 's/.* \([0-9]*\) parameters,.*/\1/p' "$OUT/$model.log")
    bpc=$(sed -n 's/^validation: .*, \([0-9.]*\) bits\/char/\1/p' "$OUT/$model.log")
    tps=$(sed -n 's/^training time .*, \([0-9]*\) tokens\/s/\1/p' "$OUT/$model.log")
    echo "| $model | $params | $bpc | $tps | ${wall}s |"
done
