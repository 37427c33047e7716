dataset d {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz) / 255
    y: i32 = idx("labels.gz")
}

# expect error 2:20: unterminated string (a string ends with '"' on its own line)
