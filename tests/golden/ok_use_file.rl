# `use "file"` unqualified and qualified; the module is loaded once.
use "inc/blocks.rl"
use "inc/blocks.rl" as Bl

decoder head(z: [B, 4]) -> [B, 2] = affine(double(z), 2)
decoder head2(z: [B, 4]) -> [B, 2] = Bl.affine(Bl.double(z), 2)
