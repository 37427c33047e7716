# Idea 2: corrupt the input, reconstruct the original. Two auto-encoders with the same shape as
# autoencoder.rl (784-256-32-256-784), trained without labels:
#  - denoise: masking noise (30% of the pixels set to 0, fresh every step) and a little Gaussian
#    noise; the loss compares the reconstruction with the clean image, so the code must capture
#    the structure that lets the network fill in what was destroyed.
#  - masked:  a masked auto-encoder: the 28x28 image is cut into 7x7 patches of 4x4 pixels, 75% of
#    the patches are hidden, and the loss counts only the hidden pixels: the network must predict
#    what it did not see from the patches it did.
# Each is evaluated by the error of reconstructing clean test images from their (clean) codes.
use std.nn
use std.loss
use std.pretext

const D = 784
const Z = 32

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
}

# Encoder and decoder bodies, used by both auto-encoders (each gets its own parameters).
layer down(x: [B, D]) -> [B, Z] = dense(relu(dense(x, 256)), Z)
layer up(z: [B, Z]) -> [B, D] = sigmoid(dense(relu(dense(z, 256)), D))

encoder enc(x: [B, D]) -> [B, Z] = down(x)
decoder dec(z: [B, Z]) -> [B, D] = up(z)

encoder mae_enc(x: [B, D]) -> [B, Z] = down(x)
decoder mae_dec(z: [B, Z]) -> [B, D] = up(z)

# The corruption of the first stage: masking noise, then Gaussian noise; target the clean image.
pretext corrupt(x: [B, D], keep = 0.7, std = 0.1) -> ([B, D], [B, D]) {
    return (add_noise(mask(x, keep = keep), std = std), x)
}

train denoise {
    data:      fashion
    batch:     128
    epochs:    20
    optimizer: adam(lr = 1e-3)
    save:      "denoising.rlw"

    (noisy, clean) = corrupt(x)
    minimize mse(dec(enc(noisy)), clean)
}

eval denoise_test {
    data:  fashion_test
    batch: 1000
    report mse_px = mse(dec(enc(x)), x)
}

train masked {
    data:      fashion
    batch:     128
    epochs:    20
    optimizer: adam(lr = 1e-3)
    save:      "mae.rlw"

    (seen, m) = mask_patches(x, 7, 4, keep = 0.25)
    xhat = mae_dec(mae_enc(seen))
    minimize hidden_mse(xhat, x, m, 7, 4)
    report mse_px = mse(xhat, x)
}

eval masked_test {
    data:  fashion_test
    batch: 1000
    report mse_px = mse(mae_dec(mae_enc(x)), x)
}
