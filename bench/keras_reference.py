"""A hand-written Keras GoogLeNet of the plain kind people write: the reference that
`incept bench --vs keras-reference` times the generated Keras model against.

Functional API, keras.layers only, `padding="same"` on every convolution and max pool,
Table 1's filter counts. One profile per shipped GoogLeNet spec, as close as the plain
style gets:

- "caffe" (specs/googlenet.yaml): biased convolutions + ReLU, real 5x5 branches,
  dropout 0.4, and the spec's two LRNs (after conv1's pool and after conv2) the way a
  Keras user writes one: TensorFlow's own op, `tf.nn.local_response_normalization`
  (radius 2, alpha 1e-4 / 5, bias 1, beta 0.75: Caffe's LRN), in a Lambda layer. conv1
  (7x7/2, "same") pads 2 before and 3 after where the spec pads 3 and 3: a shifted grid
  at the same cost. Its "same" max pools and global average pool take, at 224x224, the
  same windows as the spec's ceil-mode pools and 7x7/1 pool. Parameters: the spec's
  exactly (LRN has none). "caffe-nolrn" is the same without the LRNs (a port that
  drops them computes another function, but it is the cheapest Caffe-profile model).
- "bn" (specs/googlenet-bn.yaml): Conv2D(use_bias=False) + BatchNormalization(eps 1e-5)
  + ReLU everywhere, the aux convolutions included; otherwise as "caffe".
- "torchvision" (specs/googlenet-torchvision.yaml): as "bn" with eps 1e-3, the "5x5"
  branch a 3x3 convolution, a 2x2/2 pool before inception 5a, dropout 0.2. The aux heads
  pool 5x5/3 (4x4 out of 14x14) where torchvision pools adaptively to 4x4 (windows of
  4 at steps 3-4): same shapes and parameters, slightly different averages.

Keras' BatchNormalization keeps its default momentum (0.99); BN's moving statistics are
not trainable weights, so the counts below are trainable weights, as torch counts them.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import layers

#: Table 1: ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj.
INCEPTION = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}


@dataclass(frozen=True)
class Profile:
    batch_norm: bool
    eps: float  # BatchNormalization epsilon (unused without batch norm)
    kernel5: int  # the "5x5" branch's kernel
    pool4: int  # the pool before inception 5a: 3x3/2 (paper) or 2x2/2 (torchvision)
    dropout: float
    lrn: bool = False  # Caffe's two LRNs, with TensorFlow's op


PROFILES = {
    "caffe": Profile(batch_norm=False, eps=0.0, kernel5=5, pool4=3, dropout=0.4, lrn=True),
    "caffe-nolrn": Profile(batch_norm=False, eps=0.0, kernel5=5, pool4=3, dropout=0.4),
    "bn": Profile(batch_norm=True, eps=1e-5, kernel5=5, pool4=3, dropout=0.4),
    "torchvision": Profile(batch_norm=True, eps=1e-3, kernel5=3, pool4=2, dropout=0.2),
}


def conv(x, filters: int, kernel: int, p: Profile, strides: int = 1):
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=not p.batch_norm)(
        x
    )
    if p.batch_norm:
        x = layers.BatchNormalization(epsilon=p.eps)(x)
    return layers.ReLU()(x)


def caffe_lrn(t):
    """Caffe's LRN (size 5, alpha 1e-4, beta 0.75, k 1) with TensorFlow's op, which
    takes alpha without Caffe's division by the window size."""
    import tensorflow as tf

    return tf.nn.local_response_normalization(
        t, depth_radius=2, bias=1.0, alpha=1e-4 / 5, beta=0.75
    )


def lrn(x, p: Profile):
    return layers.Lambda(caffe_lrn)(x) if p.lrn else x


def inception(x, filters: tuple[int, ...], p: Profile):
    c1, c3r, c3, c5r, c5, pool_proj = filters
    b1 = conv(x, c1, 1, p)
    b2 = conv(conv(x, c3r, 1, p), c3, 3, p)
    b3 = conv(conv(x, c5r, 1, p), c5, p.kernel5, p)
    b4 = layers.MaxPooling2D(3, strides=1, padding="same")(x)
    b4 = conv(b4, pool_proj, 1, p)
    return layers.Concatenate()([b1, b2, b3, b4])


def aux_head(x, num_classes: int, p: Profile):
    x = layers.AveragePooling2D(5, strides=3)(x)
    x = conv(x, 128, 1, p)
    x = layers.Flatten()(x)
    x = layers.Dense(1024, activation="relu")(x)
    x = layers.Dropout(0.7)(x)
    return layers.Dense(num_classes)(x)


def build(
    profile: str = "bn", num_classes: int = 1000, aux_logits: bool = True, size: int = 224
) -> keras.Model:
    """GoogLeNet on (size, size, 3) images; outputs [logits, aux1, aux2] with aux heads."""
    p = PROFILES[profile]
    inputs = keras.Input(shape=(size, size, 3))
    x = conv(inputs, 64, 7, p, strides=2)
    x = lrn(layers.MaxPooling2D(3, strides=2, padding="same")(x), p)
    x = conv(x, 64, 1, p)
    x = lrn(conv(x, 192, 3, p), p)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception(x, INCEPTION["3a"], p)
    x = inception(x, INCEPTION["3b"], p)
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    x = inception(x, INCEPTION["4a"], p)
    aux = [aux_head(x, num_classes, p)] if aux_logits else []
    for name in ("4b", "4c", "4d"):
        x = inception(x, INCEPTION[name], p)
    if aux_logits:
        aux.append(aux_head(x, num_classes, p))
    x = inception(x, INCEPTION["4e"], p)
    x = layers.MaxPooling2D(p.pool4, strides=2, padding="same")(x)
    x = inception(x, INCEPTION["5a"], p)
    x = inception(x, INCEPTION["5b"], p)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(p.dropout)(x)
    logits = layers.Dense(num_classes)(x)
    outputs = [logits, *aux] if aux else logits
    return keras.Model(inputs, outputs, name=f"googlenet_reference_{profile}")


def profile_for(graph) -> str:
    """The profile that mirrors a compiled spec (an incept IR graph)."""
    convs = [n.attrs for n in graph.nodes.values() if n.op == "conv"]
    if any(c.norm is None for c in convs):
        return "caffe"
    five = {n.attrs.kernel for n in graph.nodes.values() if n.layer == "5x5"}
    return "torchvision" if five == {(3, 3)} else "bn"
