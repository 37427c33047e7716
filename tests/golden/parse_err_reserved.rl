train t {
    data: fashion
    minimize loss(x)
}

# expect error 3:14: 'loss' is a reserved word and cannot be used as a name
