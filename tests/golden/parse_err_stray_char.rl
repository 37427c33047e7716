const A = 3 $ 4
const B = 2

# expect error 1:13: unexpected character '$'
