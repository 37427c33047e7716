# std.pretext — pretext tasks: ways to cook inputs and targets (or two views) out of raw data.
# Randomness is drawn fresh at every step. Images are rows of a [B, D] batch, D = h*w pixels.

# Masking noise: each element kept with probability keep, else set to 0 (x * Bernoulli(keep)).
pretext mask(x: [B, D], keep = 0.7) -> [B, D] = x * bernoulli(keep, [B, D])

# Additive Gaussian noise: x + N(0, std^2) per element.
pretext add_noise(x: [B, D], std = 0.1) -> [B, D] = x + normal(0, std, [B, D])

# Masked-auto-encoder masking: images of g x g patches of p x p pixels (D = g*p*g*p); each patch
# is kept with probability keep. Returns the masked images and the patch mask m ([B, g*g], 1 = seen).
pretext mask_patches(x: [B, D], g: int, p: int, keep = 0.25) -> ([B, D], [B, g * g]) {
    m = bernoulli(keep, [B, g * g])
    seen = reshape(x, [B, g, p, g, p]) * reshape(m, [B, g, 1, g, 1])
    return (reshape(seen, [B, D]), m)
}

# One random view of h x w images: shifted by up to `shift` pixels, Gaussian noise of std `std`,
# then each pixel kept with probability keep.
pretext view(x: [B, D], h: int, w: int, shift = 2, std = 0.1, keep = 0.9) -> [B, D] =
    mask(add_noise(shift2d(x, h, w, shift), std = std), keep = keep)

# Two independent random views of the same images (the positive pair of contrastive learning).
pretext two_views(x: [B, D], h: int, w: int, shift = 2, std = 0.1, keep = 0.9)
        -> ([B, D], [B, D]) {
    a = view(x, h, w, shift = shift, std = std, keep = keep)
    b = view(x, h, w, shift = shift, std = std, keep = keep)
    return (a, b)
}

# Context prediction: the first `cut` values of each row are seen, the rest are to be predicted
# (for row-major h x w images, cut = k*w splits after image row k: top part and bottom part).
pretext split_rows(x: [B, D], cut: int) -> ([B, cut], [B, D - cut]) {
    return (x[:, 0:cut], x[:, cut:D])
}
