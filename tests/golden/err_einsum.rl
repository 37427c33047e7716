# einsum's spec against its operands: each mistake an error at the spec or at the operand.
fn ok(q: [B, H, T, D], k: [B, H, S, D]) -> [B, H, T, S] = einsum("bhtd,bhsd->bhts", q, k)
fn rank(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum("bhtd,bsd->bts", q, k)
fn sizes(q: [B, T, D], k: [B, S, E]) -> [B, T, S] = einsum("btd,bsd->bts", q, k)
fn stray(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum("btd,bsd->bxs", q, k)
fn no_arrow(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum("btd,bsd", q, k)
fn three(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum("btd,bsd,bs->bts", q, k)
fn trace(q: [T, T], k: [T, S]) -> [T, S] = einsum("tt,ts->ts", q, k)
fn not_letter(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum("b t d,bsd->bts", q, k)
fn unquoted(q: [B, T, D], k: [B, S, D]) -> [B, T, S] = einsum(q, k, q)
fn ints(q: [B, T, D], k: i32[B, S, D]) -> [B, T, S] = einsum("btd,bsd->bts", q, k)
# expect error 3:76: einsum spec "bhtd,bsd->bts" gives the first operand 4 axes (`bhtd`), but it is [B, T, D]
# expect error 4:79: einsum spec "btd,bsd->bts": `d` is D in the first operand but E in the second
# expect error 5:60: einsum spec "btd,bsd->bxs": the result's `x` is in neither operand
# expect error 6:63: einsum spec "btd,bsd" is not two operands' letters, `->` and the result's letters, as in "ij,jk->ik"
# expect error 7:60: einsum spec "btd,bsd,bs->bts" is not two operands' letters, `->` and the result's letters, as in "ij,jk->ik"
# expect error 8:51: einsum spec "tt,ts->ts": `t` names two axes of the first operand (traces and diagonals are not supported)
# expect error 9:65: einsum spec "b t d,bsd->bts": ` ` is not a letter (two operands' letters, `->` and the result's letters, as in "ij,jk->ik"; `...` is not supported)
# expect error 10:63: `einsum` takes its spec in quotes first, as in einsum("ij,jk->ik", a, b)
# expect error 11:81: `einsum` needs f32, but this is i32[B, S, D]: convert with float(...)
