fn f(x: [B]) -> [B] {
    y = f(x)(x)
    return x.T(x)
}

# expect error 2:9: only a function name can be called
# expect error 3:12: only a function name can be called
