use "inc/blocks.rl"
use "inc/more.rl"
fn f(x: [4]) -> [4] = double(x)
# expect error 3:23: `double` is ambiguous: both `inc/blocks.rl` and `inc/more.rl` declare it; use one `as` a name
