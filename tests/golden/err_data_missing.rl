eval e {
    batch: 10
    report m = 1
}
# expect error 1:6: stage `e` needs a `data:` setting
