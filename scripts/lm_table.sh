#!/bin/sh
# make lm-table: the notes' RNN / LSTM / GRU comparison and the Transformer, measured. Trains
# models/char_rnn, char_lstm, char_gru (2 layers of 256, same embedding and output layer) and
# models/char_gpt (the W7 char-GPT: 4 pre-LN blocks, d 256) on the same text for the same
# budget of BUDGET seconds of CPU time each (--cpu-time-limit: on one thread, the wall-clock
# time of an unloaded machine, and unlike wall time it does not depend on what else runs), then
# prints validation bits per character on the same held-out 10%. More rows say why the ranking
# is what it is: the Transformer continued (exact resume) to LONG seconds, and the GRU stopped
# after as many steps as each Transformer run took (both see 2,048 characters a step, so the
# same training text). Logs in $OUT (build/lm).
# Usage: scripts/lm_table.sh [TEXT]   (default: Debian's fortunes, /usr/share/games/fortunes)
# Environment: BUDGET (150), LONG (600), THREADS (1), DEEPC, OUT.
set -eu
DEEPC=${DEEPC:-build/deepc}
OUT=${OUT:-build/lm}
THREADS=${THREADS:-1}
BUDGET=${BUDGET:-150}
LONG=${LONG:-600}
TEXT=${1:-/usr/share/games/fortunes}
if [ ! -e "$TEXT" ]; then
    echo "no text at $TEXT: install Debian's fortunes package (apt-get install fortunes)" >&2
    exit 2
fi
mkdir -p "$OUT"
RNN_ARGS="--batch 32 --bptt 64 --optimizer adam --lr 0.002 --clip 5"
GPT_ARGS="--batch 16 --bptt 128 --optimizer adamw --lr 0.001 --weight-decay 0.01 --clip 1"

# run NAME ARGS...: deepc train ARGS with its log in $OUT/NAME.log, CPU seconds in NAME.cpu
run() {
    name=$1
    shift
    start=$(date +%s)
    /usr/bin/time -f "%U %S" -o "$OUT/$name.cpu" "$DEEPC" "$@" > "$OUT/$name.log" 2>&1 ||
        { echo "$name failed: see $OUT/$name.log" >&2; exit 1; }
    wall=$(( $(date +%s) - start ))
}
# row LABEL NAME: one table row from $OUT/NAME.log
row() {
    log="$OUT/$2.log"
    params=$(sed -n 's/.* \([0-9]*\) parameters,.*/\1/p' "$log")
    bpc=$(sed -n 's/^validation: .*, \([0-9.]*\) bits\/char/\1/p' "$log")
    steps=$(sed -n 's/^training time .*, \([0-9]*\) steps, .*/\1/p' "$log")
    tps=$(sed -n 's/^training time .*, \([0-9]*\) tokens\/s/\1/p' "$log")
    cpu=$(awk '{ printf "%.0f", $1 + $2 }' "$OUT/$2.cpu")
    echo "| $1 | $params | $steps | $bpc | $tps | ${cpu} s | ${wall} s |"
}
echo "| model | parameters | steps | validation bits/char | training tokens/s | CPU | wall |"
echo "|---|---|---|---|---|---|---|"
for model in char_rnn char_lstm char_gru; do
    # shellcheck disable=SC2086
    run "$model" train "models/$model" --data "text:$TEXT" --epochs 1000 $RNN_ARGS --seed 1 \
        --threads "$THREADS" --cpu-time-limit "$BUDGET" --out "$OUT/$model"
    row "$model" "$model"
done
# shellcheck disable=SC2086
run char_gpt train models/char_gpt --data "text:$TEXT" --epochs 1000 $GPT_ARGS --seed 1 \
    --threads "$THREADS" --cpu-time-limit "$BUDGET" --out "$OUT/char_gpt"
row char_gpt char_gpt
gpt_steps=$(sed -n 's/^training time .*, \([0-9]*\) steps, .*/\1/p' "$OUT/char_gpt.log")
# shellcheck disable=SC2086
run char_gru_same_steps train models/char_gru --data "text:$TEXT" --epochs 1000 $RNN_ARGS \
    --seed 1 --threads "$THREADS" --steps "$gpt_steps" --out "$OUT/char_gru_same_steps"
row "char_gru, the Transformer's $gpt_steps steps" char_gru_same_steps
rm -rf "$OUT/char_gpt_long"
cp -r "$OUT/char_gpt" "$OUT/char_gpt_long"
run char_gpt_long train --resume "$OUT/char_gpt_long" --threads "$THREADS" \
    --cpu-time-limit $((LONG - BUDGET))
row "char_gpt, ${LONG} s (resumed: this run's CPU)" char_gpt_long
long_steps=$(sed -n 's/^training time .*, \([0-9]*\) steps, .*/\1/p' "$OUT/char_gpt_long.log")
# shellcheck disable=SC2086
run char_gru_long_steps train models/char_gru --data "text:$TEXT" --epochs 1000 $RNN_ARGS \
    --seed 1 --threads "$THREADS" --steps "$long_steps" --out "$OUT/char_gru_long_steps"
row "char_gru, the longer Transformer's $long_steps steps" char_gru_long_steps
