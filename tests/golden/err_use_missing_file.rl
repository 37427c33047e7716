use "no_such_file.rl"
# expect error 1:1: cannot find `no_such_file.rl` (looked for ./no_such_file.rl)
