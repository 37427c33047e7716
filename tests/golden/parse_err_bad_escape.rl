use "blocks\q.rl"
use std.nn as
const X = 1

# expect error 1:12: unknown escape '\q' in string (only \" and \\ are escapes)
# expect error 3:1: 'const' is a reserved word and cannot be used as a name
