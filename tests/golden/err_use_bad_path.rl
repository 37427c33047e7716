use nn.layers
# expect error 1:1: unknown module `nn.layers`: write `use std.NAME` or `use "file.rl"`
