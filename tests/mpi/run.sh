#!/bin/sh
# make test-mpi: data-parallel training under mpirun on this machine (loopback).
#   1. equivalence: 2 ranks give the weights of 1 process with the same global batch (rtol 1e-5),
#      for SGD with momentum, Adam, and an odd batch that splits unevenly;
#   2. resume with another number of ranks: 2 ranks stopped, 1 rank resumed = 1 rank straight;
#   3. a rank killed with SIGKILL stops the job with a message (no hang), and the last checkpoint
#      resumes.
# Last line: "N passed, N failed". Needs openmpi-bin and python3-sklearn (the digits).
set -u
DEEPC=${DEEPC:-build/mpi/deepc}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN="mpirun --oversubscribe -np"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf '[input]\nshape = 64\n[linear fc1]\nout_features = 32\n[relu]\n[linear fc2]\nout_features = 10\n' > "$T/mlp.spec"
pass=0
fail=0
check() { # NAME CONDITION-EXIT-CODE MESSAGE
    if [ "$2" -eq 0 ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1: $3"; fi
}
train() { # NP OUT ARGS...
    np=$1 out=$2
    shift 2
    $MPIRUN "$np" "$DEEPC" train "$T/mlp.spec" --data digits --threads 1 --quiet --out "$T/$out" \
        "$@" > "$T/$out.log" 2>&1
}

for case in "sgd|--optimizer sgd --lr 0.05 --momentum 0.9 --batch 64" \
            "adam|--optimizer adam --lr 0.01 --batch 64" \
            "odd_batch|--optimizer sgd --lr 0.05 --momentum 0.9 --batch 63"; do
    name=${case%%|*}
    args=${case#*|}
    # shellcheck disable=SC2086
    train 1 "${name}_1" $args --steps 25 && train 2 "${name}_2" $args --steps 25
    rc=$?
    out=$("$DEEPC" compare "$T/${name}_1/model.safetensors" "$T/${name}_2/model.safetensors" --rtol 1e-5 2>&1)
    [ $rc -eq 0 ] && [ -n "$out" ] && echo "$out" | grep -q "match$"
    check "mpi_equivalence_$name" $? "$out $(cat "$T/${name}_2.log")"
done

# BatchNorm: --sync-bn gives the one-process statistics (and weights); local statistics do not
printf '[input]\nshape = 64\n[linear fc1]\nout_features = 32\n[batchnorm1d bn]\n[relu]\n[linear fc2]\nout_features = 10\n' > "$T/bn.spec"
bn() { $MPIRUN "$1" "$DEEPC" train "$T/bn.spec" --data digits --optimizer sgd --lr 0.05 \
    --momentum 0.9 --batch 64 --steps 25 --threads 1 --quiet --out "$T/$2" $3 > "$T/$2.log" 2>&1; }
bn 1 bn_1 "" && bn 2 bn_sync --sync-bn && bn 2 bn_local ""
rc=$?
out=$("$DEEPC" compare "$T/bn_1/model.safetensors" "$T/bn_sync/model.safetensors" --rtol 1e-5 2>&1)
out2=$("$DEEPC" compare "$T/bn_1/model.safetensors" "$T/bn_local/model.safetensors" --rtol 1e-5 2>&1)
[ $rc -eq 0 ] && echo "$out" | grep -q "match$" && echo "$out2" | grep -q "DIFFERENT$"
check mpi_sync_batchnorm_equals_one_process $? "sync: $out; local: $out2"

# the character language model (truncated BPTT, streams split over the ranks)
head -c 60000 /usr/share/games/fortunes/computers > "$T/text.txt" 2>/dev/null || \
    awk 'BEGIN { for (i = 0; i < 3000; i++) printf "the %d cat sat on the mat\n", i }' > "$T/text.txt"
lm() { $MPIRUN "$1" "$DEEPC" train models/char_gru --data "text:$T/text.txt" --epochs 1 --batch 8 \
    --bptt 32 --optimizer sgd --lr 0.5 --momentum 0.9 --clip 5 --steps 30 --threads 1 --quiet \
    --out "$T/$2" \
    > "$T/$2.log" 2>&1; }
lm 1 lm_1 && lm 2 lm_2
rc=$?
out=$("$DEEPC" compare "$T/lm_1/model.safetensors" "$T/lm_2/model.safetensors" --rtol 1e-5 2>&1)
[ $rc -eq 0 ] && echo "$out" | grep -q "match$"
check mpi_equivalence_char_gru $? "$out $(cat "$T/lm_2.log")"

# a tiny char-GPT (the char_gpt spec sized down): the 8 streams split over the ranks; a
# Transformer carries no state between chunks, so it also checkpoints inside an epoch. SGD, not
# Adam: the key bias's true gradient is 0, and Adam turns its rounding noise (which differs with
# the ranks' summation order) into lr-sized steps
printf '[input]\nshape = 16\ndtype = int64\n[embedding tok]\nnum_embeddings = $vocab\nembedding_dim = 16\n[positional pos]\nmax_len = 16\n[transformerencoder blocks]\nnum_layers = 2\nnhead = 2\ndim_feedforward = 32\ndropout = 0\nactivation = gelu\nnorm_first = true\ncausal = true\n[layernorm ln_f]\n[linear head]\nout_features = $vocab\n' > "$T/gpt.spec"
gpt() { np=$1 out=$2; shift 2; $MPIRUN "$np" "$DEEPC" train "$T/gpt.spec" --data "text:$T/text.txt" \
    --batch 8 --bptt 16 --optimizer sgd --lr 0.1 --momentum 0.9 --clip 1 --threads 1 --quiet \
    --out "$T/$out" "$@" > "$T/$out.log" 2>&1; }
gpt 1 gpt_1 --steps 30 && gpt 2 gpt_2 --steps 30
rc=$?
out=$("$DEEPC" compare "$T/gpt_1/model.safetensors" "$T/gpt_2/model.safetensors" --rtol 1e-5 2>&1)
[ $rc -eq 0 ] && echo "$out" | grep -q "match$"
check mpi_equivalence_char_gpt $? "$out $(cat "$T/gpt_2.log")"
# 2 ranks stopped inside the epoch at step 12 (checkpoint), 1 rank resumed to 30 = gpt_1
gpt 2 gpt_cut --steps 12 && "$DEEPC" train --resume "$T/gpt_cut" --steps 30 > "$T/gpt_resume.log" 2>&1
rc=$?
out=$("$DEEPC" compare "$T/gpt_1/model.safetensors" "$T/gpt_cut/model.safetensors" --rtol 1e-5 2>&1)
[ $rc -eq 0 ] && echo "$out" | grep -q "match$"
check mpi_char_gpt_resume_inside_an_epoch $? "$out $(cat "$T/gpt_resume.log")"

# resume a 2-rank run with 1 rank
train 1 straight --optimizer sgd --lr 0.05 --momentum 0.9 --batch 64 --steps 30
train 2 cut --optimizer sgd --lr 0.05 --momentum 0.9 --batch 64 --steps 12 --save-every 4
"$DEEPC" train --resume "$T/cut" --steps 30 > "$T/resume.log" 2>&1
rc=$?
out=$("$DEEPC" compare "$T/straight/model.safetensors" "$T/cut/model.safetensors" --rtol 1e-5 2>&1)
[ $rc -eq 0 ] && echo "$out" | grep -q "match$"
check mpi_resume_with_another_rank_count $? "$out $(cat "$T/resume.log")"

# kill rank 1 in the middle of a run: the job must end (not hang) and the checkpoint resume
$MPIRUN 2 "$DEEPC" train "$T/mlp.spec" --data digits --threads 1 --quiet --out "$T/fault" \
    --optimizer sgd --lr 0.05 --batch 16 --epochs 400 --save-every 20 > "$T/fault.log" 2>&1 &
job=$!
i=0
while [ ! -e "$T/fault/checkpoint" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i + 1)); done
victim=""
for p in $(pgrep -f "$T/fault" 2>/dev/null); do
    if tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -q '^OMPI_COMM_WORLD_RANK=1$'; then
        victim=$p
    fi
done
[ -n "$victim" ] && kill -9 "$victim"
i=0
while kill -0 $job 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $job 2>/dev/null; then
    kill -9 $job
    check mpi_dead_rank_stops_the_job 1 "mpirun still running 60 s after rank 1 died"
else
    wait $job
    rc=$?
    [ -n "$victim" ] && [ $rc -ne 0 ]
    check mpi_dead_rank_stops_the_job $? "victim '$victim', exit $rc: $(tail -5 "$T/fault.log")"
fi
"$DEEPC" train --resume "$T/fault" --epochs 1 --steps 0 > "$T/fault_resume.log" 2>&1
rc=$?
# the checkpoint is whole; resuming with fewer epochs than done simply stops at once
[ $rc -eq 0 ]
check mpi_checkpoint_after_a_dead_rank_resumes $? "$(cat "$T/fault_resume.log")"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
