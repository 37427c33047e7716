const A = "text"
# expect error 1:11: a const must be a number computed from numbers and consts
