train t {
    data: d
    minimize mse(x,

# expect error 3:20: expected ')' to close '(' opened at 3:17
