fn f(x: [B]) -> [B] {
    batch: 64
    minimize x
    return x
}
train t {
    data: d
    return x
}

# expect error 2:5: settings ('batch: ...') belong in a train or eval stage, not in fn 'f'
# expect error 3:5: 'minimize' belongs in a train or eval stage, not in fn 'f'
# expect error 8:5: 'return' belongs in a function, not in stage 't'
