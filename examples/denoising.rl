# Idea 2: corrupt the input, reconstruct the original. Two auto-encoders with the same shape as
# autoencoder.rl (784-256-32-256-784), trained without labels:
#  - denoise: masking noise (30% of the pixels set to 0, fresh every step) and a little Gaussian
#    noise; the loss compares the reconstruction with the clean image, so the code must capture
#    the structure that lets the network fill in what was destroyed.
#  - masked:  a masked auto-encoder: the 28x28 image is cut into 7x7 patches of 4x4 pixels, 75% of
#    the patches are hidden, and the loss counts only the hidden pixels: the network must predict
#    what it did not see from the patches it did.
# Each is evaluated on corrupted test images against the clean ones.
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
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "denoising.rlw"

    (noisy, clean) = corrupt(x)
    minimize mse(dec(enc(noisy)), clean)
}

# On test images corrupted the same way: the error of the reconstruction against the clean image,
# beside the error of the corrupted image itself (doing nothing). runs/denoise_test/show.png:
# corrupted, reconstructed and clean images, one row each.
eval denoise_test {
    data:  fashion_test
    batch: 1000
    load:  "denoising.rlw"
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
    save:      "mae.rlw"

    (seen, m) = mask_patches(x, 7, 4, keep = 0.25)
    xhat = mae_dec(mae_enc(seen))
    minimize hidden_mse(xhat, x, m, 7, 4)
    report mse_px = mse(xhat, x)
}

# On test images with 75% of their patches hidden: the error on the hidden pixels, on all pixels,
# and that of the masked image itself. runs/masked_test/show.png: what the network saw, what it
# painted, the clean image.
eval masked_test {
    data:  fashion_test
    batch: 1000
    load:  "mae.rlw"
    show:  [seen, xhat, x]

    (seen, m) = mask_patches(x, 7, 4, keep = 0.25)
    xhat = mae_dec(mae_enc(seen))
    report mse_hidden = hidden_mse(xhat, x, m, 7, 4)
    report mse_px = mse(xhat, x)
    report mse_corrupted = mse(seen, x)
}
