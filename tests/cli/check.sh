#!/bin/sh
# `rlc check` lowers every stage: a size only the data knows (`toks.vocab`) is
# read from the data when it is there, so the check is the run's; when the data
# is missing, the check goes on with a placeholder and says so in a warning.
# usage: check.sh RLC
set -u
RLC=$1
scratch_tag=check; . "$(dirname "$0")/../lib.sh"

# The reshape is whole only when the vocabulary is a multiple of 5.
cat > tok.rl <<'RL'
dataset toks = tokens("ids.txt", length = 4)
const V = toks.vocab

train t {
    data:      toks
    batch:     2
    optimizer: sgd(lr = 0.1)
    param e: [V, 4] = zeros
    h = reshape(e, [V / 5, 20])
    minimize mean(e[x]) + mean(h)
}
RL

export RL_DATA_PATH="$T/nowhere"
expect "missing data: a placeholder, with a warning" 1 \
    "tok.rl:2:11: warning: cannot know \`toks.vocab\` (cannot find data file 'ids.txt'" "$RLC" check tok.rl
grep -qF "checked with 6 in its place" out || { fail "missing data: the warning names no placeholder"; cat out; }
grep -qF "tok.rl:9:9: error: axis 0 of this shape is not an integer" out ||
    { fail "missing data: the placeholder's error is not reported"; cat out; }

# A warning alone is no error: the program checks.
grep -v 'reshape' tok.rl | sed 's/ + mean(h)//' > plain.rl
expect "missing data: the warning alone exits 0" 0 "checked with 6 in its place" "$RLC" check plain.rl

printf '1 2 3 4\n5 6 7 9\n' > ids.txt
expect "data read: vocab 10 checks clean" 0 "" "$RLC" check tok.rl

printf '1 2 3 4\n5 6 7 8\n' > ids.txt
expect "data read: vocab 9 fails at the reshape" 1 "tok.rl:9:9: error: axis 0 of this shape is not an integer" \
    "$RLC" check tok.rl
grep -qF "warning" out && { fail "data read: a warning although the data was read"; cat out; }

[ "$fails" -eq 0 ] && echo "all check cases pass"
[ "$fails" -eq 0 ]
