#!/bin/sh
# Command-line counts (`rlc run`, `rlc gradcheck`, a trainer from `rlc build`):
# one case per class of bad value. Each must exit with status 2 (a usage error)
# before any work starts and name the option, the value and why.
# usage: counts.sh RLC
set -u
RLC=$1
scratch_tag=counts; . "$(dirname "$0")/../lib.sh"

# No data file exists: a count is refused before anything is read.
cat > fit.rl <<'RL'
dataset d {
    x: [2] = csv("x.csv", columns = 2)
}

train fit {
    data:      d
    batch:     4
    epochs:    1
    optimizer: sgd(lr = 0.1)
    param w: [2] = zeros
    minimize sum(x * w)
}
RL

MAX=9007199254740992
for cmd in "$RLC run fit.rl" "./trainer"; do
    [ "$cmd" = ./trainer ] && { "$RLC" build fit.rl -o trainer --quiet || { fail "rlc build"; break; }; }
    expect "$cmd: overflow" 2 "--steps needs a whole number from 1 to $MAX, not '99999999999999999999999' (too large)" \
        $cmd --steps 99999999999999999999999
    expect "$cmd: past 2^53" 2 "--epochs needs a whole number from 1 to $MAX, not '9007199254740993' (too large)" \
        $cmd --epochs 9007199254740993
    expect "$cmd: negative" 2 "--epochs needs a whole number from 1 to $MAX, not '-3' (negative)" $cmd --epochs -3
    expect "$cmd: not a number" 2 "--steps needs a whole number from 1 to $MAX, not 'ten' (not a number)" \
        $cmd --steps ten
    expect "$cmd: empty" 2 "--steps needs a whole number from 1 to $MAX, not '' (empty)" $cmd --steps ''
    expect "$cmd: trailing text" 2 "--steps needs a whole number from 1 to $MAX, not '12x' (text after the number)" \
        $cmd --steps 12x
    expect "$cmd: leading space" 2 "--steps needs a whole number from 1 to $MAX, not ' 5' (not a number)" \
        $cmd --steps ' 5'
    expect "$cmd: zero" 2 "--steps needs a whole number from 1 to $MAX, not '0' (too small)" $cmd --steps 0
    expect "$cmd: too many threads" 2 "--threads needs a whole number from 1 to 1024, not '1025' (too large)" \
        $cmd --threads 1025
    expect "$cmd: threads wrapping to 1" 2 "--threads needs a whole number from 1 to 1024, not '4294967297' (too large)" \
        $cmd --threads 4294967297
    expect "$cmd: zero threads" 2 "--threads needs a whole number from 1 to 1024, not '0' (too small)" \
        $cmd --threads 0
    expect "$cmd: seed past 2^64" 2 \
        "--seed needs a whole number from 0 to 18446744073709551615, not '18446744073709551616' (too large)" \
        $cmd --seed 18446744073709551616
    # The largest seed is a seed: the run gets past the command line to the data.
    expect "$cmd: largest seed" 1 "x.csv" $cmd --seed 18446744073709551615 --quiet
done
expect "run: --limit" 2 "--limit needs a whole number from 1 to $MAX, not '+4' (not a number)" \
    "$RLC" run fit.rl --limit +4
expect "gradcheck: batch" 2 "--batch needs a whole number from 1 to 4096, not '4097' (too large)" \
    "$RLC" gradcheck fit.rl --batch 4097
expect "gradcheck: seed" 2 "--seed needs a whole number from 0 to 18446744073709551615, not '-1' (negative)" \
    "$RLC" gradcheck fit.rl --seed -1
# Epochs within bounds whose steps are not: 2 batches an epoch.
printf 'a,b\n1,2\n3,4\n5,6\n7,8\n1,2\n3,4\n5,6\n7,8\n' > x.csv
expect "run: epochs times batches past 2^53" 1 \
    "stage fit: 9007199254740992 epochs of 2 steps each are more than 2^53 steps" \
    "$RLC" run fit.rl --epochs $MAX --quiet

[ "$fails" -eq 0 ] && echo "all count cases pass"
[ "$fails" -eq 0 ]
