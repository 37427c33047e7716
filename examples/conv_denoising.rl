# Idea 2 on a convolutional network: the denoising and the masked auto-encoder of denoising.rl, with
# strided convolutions going down and learned upsampling coming back. The code is the same 32
# numbers as in the MLP version, so the two files compare the architectures, not the code size.
#  - denoise: 30% of the pixels set to 0 and Gaussian noise (std 0.1), target the clean image;
#    the decoder goes up by transposed convolutions (`deconv`, stride 2).
#  - masked:  75% of the 4x4 patches hidden, the loss on the hidden pixels only; the decoder goes up
#    first by nearest-neighbour upsampling and a convolution (`upsample2d` + `conv`), then by a
#    4x4 transposed convolution of stride 2 (a kernel the stride divides: every output pixel gets
#    the same number of taps, so no checkerboard pattern).
# Each is evaluated on corrupted test images against the clean ones.
use std.nn
use std.loss
use std.pretext

const Z = 32

dataset fashion {
    x: [1, 28, 28] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

dataset fashion_test {
    x: [1, 28, 28] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
}

# Down: two 3x3 convolutions of stride 2 (28 -> 14 -> 7), then a dense layer to the code.
layer down(x: [B, 1, 28, 28]) -> [B, Z] {
    h = relu(conv(x, 16, 3, stride = 2, padding = 1))          # [B, 16, 14, 14]
    h = relu(conv(h, 32, 3, stride = 2, padding = 1))          # [B, 32, 7, 7]
    return dense(reshape(h, [B, 32 * 7 * 7]), Z)
}

encoder enc(x: [B, 1, 28, 28]) -> [B, Z] = down(x)

decoder dec(z: [B, Z]) -> [B, 1, 28, 28] {
    h = reshape(relu(dense(z, 32 * 7 * 7)), [B, 32, 7, 7])
    h = relu(deconv(h, 16, 3, stride = 2, padding = 1, output_padding = 1))       # [B, 16, 14, 14]
    return sigmoid(deconv(h, 1, 3, stride = 2, padding = 1, output_padding = 1))  # [B, 1, 28, 28]
}

encoder mae_enc(x: [B, 1, 28, 28]) -> [B, Z] = down(x)

decoder mae_dec(z: [B, Z]) -> [B, 1, 28, 28] {
    h = reshape(relu(dense(z, 32 * 7 * 7)), [B, 32, 7, 7])
    h = relu(conv(upsample2d(h, 2), 16, 3, padding = 1))            # [B, 16, 14, 14]
    return sigmoid(deconv(h, 1, 4, stride = 2, padding = 1))        # [B, 1, 28, 28]
}

# Masking noise, then Gaussian noise; the target is the clean image.
pretext corrupt(x: [B, 1, 28, 28], keep = 0.7, std = 0.1) -> ([B, 1, 28, 28], [B, 1, 28, 28]) {
    return (x * bernoulli(keep, [B, 1, 28, 28]) + normal(0, std, [B, 1, 28, 28]), x)
}

# 7x7 patches of 4x4 pixels, each seen with probability keep (std.pretext's mask_patches works on
# flat rows); m: [B, 49], 1 = seen.
pretext hide_patches(x: [B, 1, 28, 28], keep = 0.25) -> ([B, 1, 28, 28], [B, 49]) {
    (seen, m) = mask_patches(reshape(x, [B, 784]), 7, 4, keep = keep)
    return (reshape(seen, [B, 1, 28, 28]), m)
}

# hidden_mse of std.loss on images: the error over the hidden patches only.
loss hidden_px(xhat: [B, 1, 28, 28], x: [B, 1, 28, 28], m: [B, 49]) -> f32 =
    hidden_mse(reshape(xhat, [B, 784]), reshape(x, [B, 784]), m, 7, 4)

train denoise {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "conv_denoising.rlw"

    (noisy, clean) = corrupt(x)
    minimize mse(dec(enc(noisy)), clean)
}

# runs/denoise_test/show.png: corrupted, reconstructed and clean images, one row each.
eval denoise_test {
    data:  fashion_test
    batch: 1000
    load:  "conv_denoising.rlw"
    show:  [noisy, xhat, clean]

    (noisy, clean) = corrupt(x)
    xhat = dec(enc(noisy))
    report mse_px = mse(xhat, clean)
    report mse_corrupted = mse(noisy, clean)
}

train masked {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "conv_mae.rlw"

    (seen, m) = hide_patches(x)
    xhat = mae_dec(mae_enc(seen))
    minimize hidden_px(xhat, x, m)
    report mse_px = mse(xhat, x)
}

# runs/masked_test/show.png: what the network saw, what it painted, the clean image.
eval masked_test {
    data:  fashion_test
    batch: 1000
    load:  "conv_mae.rlw"
    show:  [seen, xhat, x]

    (seen, m) = hide_patches(x)
    xhat = mae_dec(mae_enc(seen))
    report mse_hidden = hidden_px(xhat, x, m)
    report mse_px = mse(xhat, x)
    report mse_corrupted = mse(seen, x)
}
