const A = B + 1
const B = A * 2
# expect error 1:7: const `A` is defined in terms of itself
