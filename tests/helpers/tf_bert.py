"""An independent BERT MNLI classifier in TensorFlow, written after google-research/bert
``modeling.py`` (BertModel) and ``run_classifier.py`` (create_model), with the same variable
names, saved by TensorFlow's own ``tf.compat.v1.train.Saver``.

Run as ``python -m helpers.tf_bert OUT_DIR SIZE...`` (from ``tests/``; sizes from ``CONFIGS``):
writes ``OUT_DIR/SIZE/`` with ``model.ckpt-1.{index,data-00000-of-00001}``, ``bert_config.json``
and ``reference.npz`` (input ids, mask, segment ids, the TensorFlow logits, the number of
trainable parameters). It runs in its own process because TensorFlow and torch's triton must
not share one.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

v1 = tf.compat.v1
NUM_LABELS = 3  # contradiction, entailment, neutral
# name -> (bert_config.json, batch, sequence length, std of the noise added to every variable);
# base = BERT-base uncased. The tiny model needs larger weights for GELU inputs of order 1.
CONFIGS = {
    "tiny": (dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=32, max_position_embeddings=16), 3, 10, 0.3),
    "base": (dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, max_position_embeddings=512), 2, 128, 0.02),
}
COMMON = dict(hidden_act="gelu", hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1,
              type_vocab_size=2, initializer_range=0.02)


def gelu(x):
    """modeling.py's gelu: the tanh approximation."""
    cdf = 0.5 * (1.0 + tf.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * tf.pow(x, 3))))
    return x * cdf


def initializer(config):
    return v1.truncated_normal_initializer(stddev=config["initializer_range"])


def dense(x, units, config, name="dense", activation=None):
    """tf.layers.dense: variables <name>/kernel (in, out) and <name>/bias."""
    with v1.variable_scope(name):
        kernel = v1.get_variable("kernel", [x.shape[-1], units], initializer=initializer(config))
        bias = v1.get_variable("bias", [units], initializer=v1.zeros_initializer())
        y = tf.nn.bias_add(tf.matmul(x, kernel), bias)
        return activation(y) if activation else y


def layer_norm(x, name="LayerNorm"):
    """tf.contrib.layers.layer_norm over the last axis: variables beta, gamma; epsilon 1e-12."""
    with v1.variable_scope(name):
        beta = v1.get_variable("beta", [x.shape[-1]], initializer=v1.zeros_initializer())
        gamma = v1.get_variable("gamma", [x.shape[-1]], initializer=v1.ones_initializer())
        mean, variance = tf.nn.moments(x, [-1], keepdims=True)
        return tf.nn.batch_normalization(x, mean, variance, beta, gamma, variance_epsilon=1e-12)


def attention(x, mask, config, batch, seq):
    """attention_layer for self-attention on a 2D [B*S, H] tensor; returns [B*S, H]."""
    heads = config["num_attention_heads"]
    size = config["hidden_size"] // heads

    def scores_layout(t):
        return tf.transpose(tf.reshape(t, [batch, seq, heads, size]), [0, 2, 1, 3])

    q = scores_layout(dense(x, heads * size, config, "query"))
    k = scores_layout(dense(x, heads * size, config, "key"))
    v = scores_layout(dense(x, heads * size, config, "value"))
    scores = tf.matmul(q, k, transpose_b=True) * (1.0 / math.sqrt(float(size)))
    scores += (1.0 - tf.cast(tf.expand_dims(mask, 1), tf.float32)) * -10000.0
    context = tf.transpose(tf.matmul(tf.nn.softmax(scores), v), [0, 2, 1, 3])
    return tf.reshape(context, [batch * seq, heads * size])


def classifier_logits(config, input_ids, input_mask, segment_ids):
    """BertModel (scope "bert") + run_classifier's output_weights/output_bias, inference mode."""
    batch, seq = input_ids.shape
    hidden = config["hidden_size"]
    with v1.variable_scope("bert"):
        with v1.variable_scope("embeddings"):
            table = v1.get_variable("word_embeddings", [config["vocab_size"], hidden], initializer=initializer(config))
            x = tf.gather(table, tf.reshape(input_ids, [-1]))
            types = v1.get_variable("token_type_embeddings", [config["type_vocab_size"], hidden],
                                    initializer=initializer(config))
            x += tf.matmul(tf.one_hot(tf.reshape(segment_ids, [-1]), depth=config["type_vocab_size"]), types)
            positions = v1.get_variable("position_embeddings", [config["max_position_embeddings"], hidden],
                                        initializer=initializer(config))
            x = tf.reshape(x, [batch, seq, hidden]) + tf.reshape(tf.slice(positions, [0, 0], [seq, -1]),
                                                                 [1, seq, hidden])
            x = layer_norm(x)
        with v1.variable_scope("encoder"):
            # create_attention_mask_from_input_mask: [B, F, T]
            mask = tf.cast(tf.reshape(input_mask, [batch, 1, seq]), tf.float32) * tf.ones([batch, seq, 1])
            x = tf.reshape(x, [batch * seq, hidden])
            for i in range(config["num_hidden_layers"]):
                with v1.variable_scope(f"layer_{i}"):
                    with v1.variable_scope("attention"):
                        with v1.variable_scope("self"):
                            a = attention(x, mask, config, batch, seq)
                        with v1.variable_scope("output"):
                            a = layer_norm(dense(a, hidden, config) + x)
                    with v1.variable_scope("intermediate"):
                        h = dense(a, config["intermediate_size"], config, activation=gelu)
                    with v1.variable_scope("output"):
                        x = layer_norm(dense(h, hidden, config) + a)
            x = tf.reshape(x, [batch, seq, hidden])
        with v1.variable_scope("pooler"):
            pooled = dense(tf.squeeze(x[:, 0:1, :], axis=1), hidden, config, activation=tf.tanh)
    weights = v1.get_variable("output_weights", [NUM_LABELS, hidden], initializer=initializer(config))
    bias = v1.get_variable("output_bias", [NUM_LABELS], initializer=v1.zeros_initializer())
    return tf.nn.bias_add(tf.matmul(pooled, weights, transpose_b=True), bias)


def write(size: str, out: Path) -> None:
    """Checkpoint, bert_config.json and reference.npz of one configuration, in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    shape, batch, seq, noise = CONFIGS[size]
    config = {**shape, **COMMON}
    rng = np.random.default_rng(0)
    ids = rng.integers(0, config["vocab_size"], (batch, seq)).astype(np.int32)
    mask = np.ones((batch, seq), np.int32)
    mask[0, seq * 2 // 3:] = 0  # padding in the first example
    segments = np.zeros((batch, seq), np.int32)
    segments[:, seq // 2:] = 1
    with tf.Graph().as_default(), v1.Session() as sess:
        v1.set_random_seed(0)  # the initializers' draws, before the seeded noise
        logits = classifier_logits(config, tf.constant(ids), tf.constant(mask), tf.constant(segments))
        sess.run(v1.global_variables_initializer())
        variables = v1.trainable_variables()
        for var in variables:  # random values everywhere, biases and LayerNorm included
            value = sess.run(var)
            feed = v1.placeholder(tf.float32, value.shape)
            sess.run(var.assign(feed), {feed: value + rng.normal(0.0, noise, value.shape).astype(np.float32)})
        v1.train.Saver().save(sess, str(out / "model.ckpt-1"), write_meta_graph=False)
        result = sess.run(logits)
        n_params = sum(int(np.prod(var.shape)) for var in variables)
    (out / "bert_config.json").write_text(json.dumps(config))
    np.savez(out / "reference.npz", input_ids=ids, input_mask=mask, segment_ids=segments, logits=result,
             n_params=n_params)


if __name__ == "__main__":
    v1.disable_eager_execution()
    for name in sys.argv[2:]:
        write(name, Path(sys.argv[1]) / name)
