# keepdims takes the literals true or false, needs an axis where `...` hides the rank, and
# belongs to the one-argument (reduction) form of max and min.
fn by_number(x: [N, K]) -> [N, 1] = sum(x, axis = 1, keepdims = 1)
fn by_name(x: [N, K], flag = true) -> [N, 1] = max(x, axis = -1, keepdims = flag)
fn everything(x: [..., K]) -> [..., K] = x / sum(x, keepdims = true)
fn elementwise(x: [N, K]) -> [N, K] = max(x, 0, keepdims = true)
fn kept_not_dropped(x: [N, K]) -> [N] = mean(x, axis = 1, keepdims = true)
# expect error 3:65: `keepdims` must be the literal true or false
# expect error 4:77: `keepdims` must be the literal true or false
# expect error 5:46: `keepdims` needs an `axis` here: the `...` axes of [..., K] are unknown
# expect error 6:39: `max` of two values is elementwise: `axis` and `keepdims` belong to `max(x)`
# expect error 7:41: `kept_not_dropped` returns [N, 1] here, but its result is declared [N]
