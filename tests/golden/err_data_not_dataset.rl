const d = 3
eval e {
    data: d
    report m = 1
}
# expect error 3:11: `d` is not a dataset
