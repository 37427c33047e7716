# A second module that also declares `double`, for the ambiguity test.
fn double(x: [...]) -> [...] = x + x
