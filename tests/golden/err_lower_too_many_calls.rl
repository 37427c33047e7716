# Each function calls the one below twice: 2^17 calls once inlined, an error, not a hang.
dataset d { x: [4] = idx("x.idx") }
fn f0(x: [N, 4]) -> [N, 4] = x * 2
fn f1(x: [N, 4]) -> [N, 4] = f0(x) + f0(x)
fn f2(x: [N, 4]) -> [N, 4] = f1(x) + f1(x)
fn f3(x: [N, 4]) -> [N, 4] = f2(x) + f2(x)
fn f4(x: [N, 4]) -> [N, 4] = f3(x) + f3(x)
fn f5(x: [N, 4]) -> [N, 4] = f4(x) + f4(x)
fn f6(x: [N, 4]) -> [N, 4] = f5(x) + f5(x)
fn f7(x: [N, 4]) -> [N, 4] = f6(x) + f6(x)
fn f8(x: [N, 4]) -> [N, 4] = f7(x) + f7(x)
fn f9(x: [N, 4]) -> [N, 4] = f8(x) + f8(x)
fn f10(x: [N, 4]) -> [N, 4] = f9(x) + f9(x)
fn f11(x: [N, 4]) -> [N, 4] = f10(x) + f10(x)
fn f12(x: [N, 4]) -> [N, 4] = f11(x) + f11(x)
fn f13(x: [N, 4]) -> [N, 4] = f12(x) + f12(x)
fn f14(x: [N, 4]) -> [N, 4] = f13(x) + f13(x)
fn f15(x: [N, 4]) -> [N, 4] = f14(x) + f14(x)
fn f16(x: [N, 4]) -> [N, 4] = f15(x) + f15(x)
eval s {
    data: d
    report r = mean(f16(x))
}
# expect lower error 6:30: stage `s` is too large: its calls inline into more than 50000 calls or 200000 operations
