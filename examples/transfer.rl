# Idea 5: transfer. Pre-train an encoder on the 60,000 training images without labels (a denoising
# auto-encoder), then adapt it to classification with only 1,000 labelled images (`limit: 1000`),
# three ways, each evaluated on the 10,000 test images:
#  - probe:   final-layer adaptation: the encoder is frozen, only a linear classifier is trained;
#  - tune:    fine-tuning: the pre-trained encoder and a new classifier are trained together;
#  - scratch: the same network, randomly initialised, trained on the same 1,000 images.
# The pre-trained encoder should beat the one trained from scratch on so little data.
# Each classifier head is a component (a decoder) so that its eval stage uses the trained weights.
use std.nn
use std.loss
use std.pretext

const D = 784
const Z = 64
const K = 10

dataset fashion {
    x: [784] = idx("fashion-mnist/train-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/train-labels-idx1-ubyte.gz")
}

dataset fashion_test {
    x: [784] = idx("fashion-mnist/t10k-images-idx3-ubyte.gz") / 255
    y: i32   = idx("fashion-mnist/t10k-labels-idx1-ubyte.gz")
}

# The trunk shared by the pre-trained encoder and the one trained from scratch.
layer trunk(x: [B, D]) -> [B, Z] = dense(relu(dense(x, 256)), Z)

encoder enc(x: [B, D]) -> [B, Z] = trunk(x)
decoder dec(z: [B, Z]) -> [B, D] = sigmoid(dense(relu(dense(z, 256)), D))

encoder scratch_enc(x: [B, D]) -> [B, Z] = trunk(x)

decoder probe_head(z: [B, Z]) -> [B, K] = dense(z, K)
decoder tune_head(z: [B, Z]) -> [B, K] = dense(z, K)
decoder scratch_head(z: [B, Z]) -> [B, K] = dense(z, K)

# 1. Pre-training without labels: only x is used.
train pretrain {
    data:      fashion
    batch:     128
    epochs:    10
    optimizer: adam(lr = 1e-3)
    save:      "transfer_pre.rlw"

    minimize mse(dec(enc(mask(x, keep = 0.7))), x)
}

# 2. Linear probe on the frozen encoder.
train probe {
    data:      fashion
    limit:     1000
    batch:     64
    epochs:    50
    # A linear layer on codes that were never scaled for it: the codes are large, so the first
    # logits are far off (loss ~6), and at 1e-3 the head needs hundreds of steps to recover.
    # A probe has few parameters and a convex loss: it takes a ten times larger step.
    optimizer: adam(lr = 1e-2)
    load:      "transfer_pre.rlw"
    freeze:    [enc]
    save:      "transfer_probe.rlw"

    logits = probe_head(enc(x))
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval probe_test {
    data:  fashion_test
    batch: 1000
    load:  "transfer_probe.rlw"
    codes: z
    labels: y

    z = enc(x)                      # runs/probe_test/codes.png: the pre-trained codes, by class
    report acc = accuracy(probe_head(z), y)
}

# 3. Fine-tuning: starts again from the pre-trained encoder and trains it with the head.
train tune {
    data:      fashion
    limit:     1000
    batch:     64
    epochs:    50
    optimizer: adam(lr = 3e-4)
    load:      "transfer_pre.rlw"
    save:      "transfer_tune.rlw"

    logits = tune_head(enc(x))
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval tune_test {
    data:  fashion_test
    batch: 1000
    load:  "transfer_tune.rlw"
    report acc = accuracy(tune_head(enc(x)), y)
}

# 4. The same network from scratch on the same 1,000 images.
train scratch {
    data:      fashion
    limit:     1000
    batch:     64
    epochs:    50
    optimizer: adam(lr = 1e-3)
    save:      "transfer_scratch.rlw"

    logits = scratch_head(scratch_enc(x))
    minimize cross_entropy(logits, y)
    report acc = accuracy(logits, y)
}

eval scratch_test {
    data:  fashion_test
    batch: 1000
    load:  "transfer_scratch.rlw"
    report acc = accuracy(scratch_head(scratch_enc(x)), y)
}
