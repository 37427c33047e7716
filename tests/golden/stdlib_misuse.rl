# Misusing the standard library: each error points at the call and names the shapes.
use std.nn
use std.loss
use std.pretext

fn labels_as_floats(logits: [B, 10], y: [B]) -> f32 = cross_entropy(logits, y)
fn views_of_other_sizes(a: [B, 32], b: [B, 16]) -> f32 = nt_xent(a, b)
fn softmax_of_a_scalar(x: [B, 8]) -> f32 = softmax(sum(x))
fn noise_in_a_fn(x: [B, 8]) -> [B, 8] = add_noise(x)
# expect error 6:77: argument `y` of `cross_entropy` must be i32[...] (here i32[B]), not [B]
# expect error 7:69: `E` is 32 from argument `z1` but 16 from argument `z2` of `nt_xent`
# expect error 8:52: argument `x` of `softmax` must be [..., K], not []: too few axes
# expect error 9:41: fn `noise_in_a_fn` may not draw random numbers, but `add_noise` does
