# `where` takes i32 branches or f32 branches, not one of each; an i32 branch makes a number
# literal an integer, so a fraction there is an error rather than a silent truncation.
fn mixed(c: [N], x: [N], ids: i32[N]) -> [N] = where(c, x, ids)
fn fraction(c: [N], ids: i32[N]) -> i32[N] = where(c, ids, 2.5)
fn fine(c: [N], ids: i32[N], mask_id: int) -> i32[N] = where(c, mask_id, where(c, ids, 3))
# expect error 3:48: `where` branches mix [N] and i32[N]: both i32 or both f32, convert with float(...)
# expect error 4:60: `where` with an i32 branch takes an integer here, not 2.5
