const return = 3
fn f(param: [B]) -> [B] = param
const ok = 1

# expect error 1:7: 'return' is a reserved word and cannot be used as a name
# expect error 2:6: 'param' is a reserved word and cannot be used as a name
