use std.nosuchmodule
# expect error 1:1: cannot find module `std.nosuchmodule` in the standard library
