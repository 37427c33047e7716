use "inc/blocks.rl" as Bl
fn f(x: [N, 4]) -> [N, 4] = Bl.nothing(x)
# expect error 2:29: module `Bl` has no `nothing`
