#!/usr/bin/env bash
# End-to-end: every example of examples/ trains on its real data at a reduced budget (--epochs,
# --limit) and must show it learned: the trained loss well below the loss of an untrained model,
# and its figure (read from runs/STAGE/metrics.csv) past a floor an untrained model cannot reach.
# The floors come from measured reduced runs with a margin (docs/examples.md lists both).
#
# usage: run.sh RLC [EXAMPLE...]     (default: every example; RL_DATA_PATH must reach brown/)
set -uo pipefail
rlc=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
# the corpus: data/ of the checkout (scripts/setup.sh puts brown/ there), then RL_DATA_PATH
export RL_DATA_PATH="$root/data${RL_DATA_PATH:+:$RL_DATA_PATH}"
work=$(mktemp -d "${TMPDIR:-/tmp}/rlc-e2e.XXXXXX")
trap 'rm -rf "$work"' EXIT
threads=2
failed=0

# metric DIR STAGE COLUMN: the column's value in the last row of DIR/runs/STAGE/metrics.csv
metric() {
    awk -F, -v col="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
                         { last = $c } END { if (c) print last; else print "missing" }' \
        "$1/runs/$2/metrics.csv" 2>/dev/null || echo missing
}

# expect NAME VALUE OP BOUND: OP is < or >; a missing value fails
expect() {
    local ok
    ok=$(awk -v v="$2" -v op="$3" -v b="$4" 'BEGIN {
        if (v == "missing" || v == "" || v != v + 0) { print 0; exit }
        print (op == "<" ? (v + 0 < b + 0) : (v + 0 > b + 0)) }')
    if [ "$ok" = 1 ]; then
        printf '  ok    %-34s %-10s %s %s\n' "$1" "$2" "$3" "$4"
    else
        printf '  FAIL  %-34s %-10s %s %s\n' "$1" "$2" "$3" "$4"
        failed=1
    fi
}

# run NAME ARGS...: trains examples/NAME.rl in its own folder; the log is kept there
run() {
    local name=$1
    shift
    mkdir -p "$work/$name"
    local t0=$SECONDS
    if ! (cd "$work/$name" && "$rlc" run "$root/examples/$name.rl" --threads $threads --quiet "$@" \
            > log.txt 2>&1); then
        echo "  FAIL  $name: rlc run exited with an error:"
        sed 's/^/        /' "$work/$name/log.txt" | tail -20
        failed=1
        return 1
    fi
    echo "  ran   $name $* ($((SECONDS - t0)) s)"
}

has_file() {
    if [ -s "$1" ]; then printf '  ok    %s written\n' "${1#$work/}"
    else printf '  FAIL  %s missing\n' "${1#$work/}"; failed=1; fi
}

# neighbours DIR WORD REGEX: one of WORD's nearest words (runs/pairs/neighbours.txt) matches
neighbours() {
    local line
    line=$(grep "^$2:" "$1/runs/pairs/neighbours.txt" 2>/dev/null)
    if grep -qwE "$3" <<<"${line#*:}"; then
        echo "  ok    $line"
    else
        echo "  FAIL  $2 has none of ($3) among its neighbours: ${line:-no line}"
        failed=1
    fi
}

# Untrained references: cross-entropy over 10 classes starts at ln 10 = 2.30; an untrained
# auto-encoder (sigmoid outputs near 0.5) has a per-pixel MSE near 0.1; NT-Xent over 2B views
# starts at ln(2B - 1) = 6.24 for B = 256; CLIP's loss starts at ln B = 5.55 for B = 256.

ex_mlp() {
    run mlp --epochs 1 --limit 10000 || return
    expect "mlp train loss (untrained 2.30)" "$(metric "$work/mlp" supervised loss)" "<" 1.2
    expect "mlp test acc" "$(metric "$work/mlp" test acc)" ">" 0.70
}

ex_autoencoder() {
    run autoencoder --epochs 2 --limit 10000 || return
    expect "autoencoder train mse (untrained ~0.1)" "$(metric "$work/autoencoder" reconstruct loss)" "<" 0.06
    expect "autoencoder test mse_px" "$(metric "$work/autoencoder" test mse_px)" "<" 0.045
    has_file "$work/autoencoder/runs/test/show.png"
    has_file "$work/autoencoder/runs/test/codes.png"
}

ex_denoising() {
    run denoising --epochs 2 --limit 10000 || return
    local d=$work/denoising
    expect "denoise mse_px" "$(metric "$d" denoise_test mse_px)" "<" 0.06
    expect "masked mse_px" "$(metric "$d" masked_test mse_px)" "<" 0.08
    # better than leaving the corruption in place
    expect "masked mse_px / corrupted" "$(awk -v a="$(metric "$d" masked_test mse_px)" \
        -v b="$(metric "$d" masked_test mse_corrupted)" 'BEGIN { print a / b }')" "<" 0.7
    has_file "$d/runs/denoise_test/show.png"
    has_file "$d/runs/masked_test/show.png"
}

ex_inpainting() {
    run inpainting --epochs 2 --limit 10000 || return
    local d=$work/inpainting
    expect "inpainting mse_px / mean image" "$(awk -v a="$(metric "$d" test mse_px)" \
        -v b="$(metric "$d" test mse_mean)" 'BEGIN { print a / b }')" "<" 0.8
    has_file "$d/runs/test/show.png"
}

ex_word2vec() {
    # the whole corpus, two epochs of five: enough for the nearest words to mean something
    run word2vec --epochs 2 || return
    local d=$work/word2vec
    expect "word2vec loss per pair (untrained 4.16)" "$(awk -v l="$(metric "$d" sgns loss)" \
        'BEGIN { print l / 128 }')" "<" 3.0
    expect "word2vec p_true - p_negative" "$(awk -v a="$(metric "$d" pairs p_true)" \
        -v b="$(metric "$d" pairs p_negative)" 'BEGIN { print a - b }')" ">" 0.025
    neighbours "$d" monday "tuesday|wednesday|thursday|friday|saturday|sunday"
    neighbours "$d" three "one|two|four|five|six|seven|eight|nine|ten"
    has_file "$d/word2vec.txt"
    local header
    header=$(head -1 "$d/word2vec.txt")
    expect "word2vec.txt dimension" "${header#* }" ">" 99
    # the same vectors, bit for bit, at 1 and 2 threads
    mkdir -p "$work/w2v1" "$work/w2v2"
    (cd "$work/w2v1" && "$rlc" run "$root/examples/word2vec.rl" --epochs 1 --limit 50000 --threads 1 --quiet \
        > log.txt 2>&1)
    (cd "$work/w2v2" && "$rlc" run "$root/examples/word2vec.rl" --epochs 1 --limit 50000 --threads 2 --quiet \
        > log.txt 2>&1)
    if [ -s "$work/w2v1/word2vec.txt" ] && cmp -s "$work/w2v1/word2vec.txt" "$work/w2v2/word2vec.txt"; then
        echo "  ok    word2vec vectors identical at 1 and 2 threads"
    else
        echo "  FAIL  word2vec vectors differ between 1 and 2 threads"
        failed=1
    fi
}

ex_transfer() {
    run transfer --epochs 3 --limit 10000 || return
    local d=$work/transfer
    expect "transfer pretrain mse" "$(metric "$d" pretrain loss)" "<" 0.06
    expect "transfer probe acc" "$(metric "$d" probe_test acc)" ">" 0.55
    expect "transfer tune acc" "$(metric "$d" tune_test acc)" ">" 0.50
    expect "transfer scratch acc" "$(metric "$d" scratch_test acc)" ">" 0.55
    has_file "$d/runs/probe_test/codes.png"
}

ex_simclr() {
    run simclr --epochs 2 --limit 10000 || return
    local d=$work/simclr
    expect "simclr NT-Xent (untrained 6.24)" "$(metric "$d" contrast loss)" "<" 5.6
    expect "simclr probe acc" "$(metric "$d" test acc)" ">" 0.45
    expect "simclr raw-pixel acc" "$(metric "$d" pixels_test acc)" ">" 0.65
    has_file "$d/runs/test/codes.png"
}

ex_cnn() {
    run cnn --epochs 1 --limit 5000 || return
    expect "cnn train loss (untrained 2.30)" "$(metric "$work/cnn" supervised loss)" "<" 1.3
    expect "cnn test acc" "$(metric "$work/cnn" test acc)" ">" 0.65
}

ex_clip() {
    run clip --epochs 2 --limit 10000 || return
    local d=$work/clip
    expect "clip loss (untrained 5.55)" "$(metric "$d" align loss)" "<" 4.5
    expect "clip zero-shot acc" "$(metric "$d" zero_shot acc)" ">" 0.50
}

ex_conv_denoising() {
    run conv_denoising --epochs 2 --limit 5000 || return
    local d=$work/conv_denoising
    expect "conv denoise mse_px" "$(metric "$d" denoise_test mse_px)" "<" 0.06
    expect "conv denoise mse_px / corrupted" "$(awk -v a="$(metric "$d" denoise_test mse_px)" \
        -v b="$(metric "$d" denoise_test mse_corrupted)" 'BEGIN { print a / b }')" "<" 0.8
    expect "conv masked mse_px / masked input" "$(awk -v a="$(metric "$d" masked_test mse_px)" \
        -v b="$(metric "$d" masked_test mse_corrupted)" 'BEGIN { print a / b }')" "<" 0.6
    has_file "$d/runs/denoise_test/show.png"
    has_file "$d/runs/masked_test/show.png"
}

# Every stage for 2 epochs of at most 5,000 images (the 1,000-label stages: 2 epochs of their
# 1,000): the contrastive loss must fall and every classifier must be far above chance; the
# targets of the full run (the probe above the pixels, transfer above scratch) need the full budget.
ex_simclr_cnn() {
    run simclr_cnn --epochs 2 --limit 5000 || return
    local d=$work/simclr_cnn
    expect "simclr_cnn NT-Xent (untrained 6.24)" "$(metric "$d" contrast loss)" "<" 5.6
    expect "simclr_cnn probe acc" "$(metric "$d" test acc)" ">" 0.65
    expect "simclr_cnn raw-pixel acc" "$(metric "$d" pixels_test acc)" ">" 0.55
    expect "simclr_cnn 1k probe acc" "$(metric "$d" probe_1k_test acc)" ">" 0.55
    expect "simclr_cnn 1k fine-tune acc" "$(metric "$d" tune_1k_test acc)" ">" 0.6
    expect "simclr_cnn 1k scratch acc" "$(metric "$d" scratch_1k_test acc)" ">" 0.5
    has_file "$d/runs/views/show.png"
    has_file "$d/runs/test/codes.png"
}

ex_gpt() {
    # 150 of the 600 steps: the validation cross-entropy falls well below the untrained ln(8505) = 9.05
    run gpt --steps 150 || return
    local d=$work/gpt
    expect "gpt validation xent (untrained 9.05)" "$(metric "$d" validation xent)" "<" 7.0
    has_file "$d/runs/pretrain/samples.txt"
}

ex_bert() {
    # 2,000 of the 20,000 steps, and 2,000 steps of each probe (measured: masked xent 5.740, probe
    # 0.558 against 0.280 on the untrained encoder): the masked-word loss falls below the unigram
    # model's 6.10, and the probe on the pre-trained encoder is far above the untrained one's
    run bert --steps 2000 || return
    local d=$work/bert
    expect "bert masked xent (unigram 6.10)" "$(metric "$d" mlm_test masked_xent)" "<" 6.0
    expect "bert probe acc" "$(metric "$d" probe_test acc)" ">" 0.45
    expect "bert probe - untrained probe" "$(awk -v a="$(metric "$d" probe_test acc)" \
        -v b="$(metric "$d" random_probe_test acc)" 'BEGIN { print a - b }')" ">" 0.15
}

all=(mlp autoencoder denoising inpainting word2vec transfer simclr clip cnn conv_denoising simclr_cnn gpt bert)
for name in "${@:-${all[@]}}"; do
    echo "== $name"
    "ex_$name"
done
[ $failed = 0 ] && echo "e2e: all passed" || echo "e2e: FAILED"
exit $failed
