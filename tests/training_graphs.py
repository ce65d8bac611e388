"""Small TF1 training graphs built with TensorFlow (tf.compat.v1 graph mode), for the I/O-suggestion and
conversion tests: a conv + batch norm + dropout + dense network, a loss built one of many ways, Adam, summaries
and a saver, saved as a GraphDef and as a MetaGraph + checkpoint. Each build records which tensors it made the
logits, so a test can compare the suggestion with the truth.

Import only from tests that already import TensorFlow (callers wrap their runs in `flock /tmp/tf.lock`).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

import numpy as np

LOSSES = (
    "nn_softmax",            # tf.nn.softmax_cross_entropy_with_logits
    "nn_sparse_softmax",     # tf.nn.sparse_softmax_cross_entropy_with_logits
    "nn_sigmoid",            # tf.nn.sigmoid_cross_entropy_with_logits
    "losses_softmax",        # tf.compat.v1.losses.softmax_cross_entropy
    "losses_sparse_softmax",  # tf.compat.v1.losses.sparse_softmax_cross_entropy
    "losses_sigmoid",        # tf.compat.v1.losses.sigmoid_cross_entropy
    "losses_mse",            # tf.compat.v1.losses.mean_squared_error
    "losses_huber",          # tf.compat.v1.losses.huber_loss
    "hand_mse",              # tf.reduce_mean(tf.square(logits - labels))
)
SPARSE = {"nn_sparse_softmax", "losses_sparse_softmax"}
IMAGE = (8, 8, 3)


@dataclass(frozen=True)
class Spec:
    loss: str = "nn_softmax"
    loss_scope: bool = False      # the loss built inside tf.name_scope("loss")
    identity: bool = False        # logits = tf.identity(z, name="logits")
    heads: int = 1                # two heads: two logits tensors, two labels, the sum of two losses
    cond: Optional[str] = None    # batch norm under tf.compat.v1.cond(is_training): None, "v1" or "v2"
    dropout: object = False       # "keep_prob" (or True): v1.nn.dropout(keep_prob=<placeholder keep_prob>);
                                  # "rate": tf.nn.dropout(rate=<placeholder dropout_rate>)
    slim: bool = False            # slim-style scopes: InceptionV3/Conv2d_1a_3x3/BatchNorm, .../SpatialSqueeze
    metrics: bool = True          # accuracy = mean(argmax(logits) == argmax(labels)) at root scope
    classes: int = 5

    @property
    def id(self) -> str:
        parts = [self.loss, "in_loss_scope" if self.loss_scope else "root"]
        parts += ["identity"] if self.identity else []
        parts += [f"{self.heads}heads"] if self.heads > 1 else []
        parts += [f"cond_{self.cond}"] if self.cond else []
        parts += ["dropout_rate" if self.dropout == "rate" else "dropout"] if self.dropout else []
        parts += ["slim"] if self.slim else []
        return "-".join(parts)


@dataclass
class Built:
    spec: Spec
    graph: object
    x: object
    labels: list
    logits: list                     # the tensors built as logits, one per head
    is_training: object = None
    keep_prob: object = None          # the keep_prob (or dropout rate) placeholder
    loss: object = None
    train_op: object = None
    init: object = None
    saver: object = None
    summaries: object = None
    extra: dict = field(default_factory=dict)

    @property
    def logits_nodes(self) -> list[str]:
        return [t.op.name for t in self.logits]

    def feed_inference(self, x) -> dict:
        feed = {self.x: x}
        if self.is_training is not None:
            feed[self.is_training] = False
        if self.keep_prob is not None:
            feed[self.keep_prob] = 0.0 if self.spec.dropout == "rate" else 1.0
        return feed


@contextlib.contextmanager
def control_flow(tf, version: Optional[str]):
    """Build with TF1 control flow (Switch/Merge) when version == "v1"; TF2's default (If) otherwise."""
    from tensorflow.python.ops import control_flow_util

    was = control_flow_util.ENABLE_CONTROL_FLOW_V2
    if version == "v1":
        tf.compat.v1.disable_control_flow_v2()
    elif version == "v2":
        tf.compat.v1.enable_control_flow_v2()
    try:
        yield
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = was


def _batch_norm(tf, x, is_training, resource: bool):
    """slim.batch_norm with a tensor is_training: fused batch norm in both branches of a cond, and the moving
    averages updated under a second cond (UPDATE_OPS)."""
    v1 = tf.compat.v1
    c = int(x.shape[-1])
    with v1.variable_scope("BatchNorm"):
        beta = v1.get_variable("beta", [c], initializer=v1.zeros_initializer(), use_resource=resource)
        gamma = v1.get_variable("gamma", [c], initializer=v1.ones_initializer(), use_resource=resource)
        mm = v1.get_variable("moving_mean", [c], initializer=v1.constant_initializer(0.1), trainable=False,
                             use_resource=resource)
        mv = v1.get_variable("moving_variance", [c], initializer=v1.constant_initializer(0.9), trainable=False,
                             use_resource=resource)

        def training():
            return v1.nn.fused_batch_norm(x, gamma, beta, epsilon=1e-3, is_training=True)

        def inference():
            return v1.nn.fused_batch_norm(x, gamma, beta, mean=mm, variance=mv, epsilon=1e-3, is_training=False)

        y, mean, var = v1.cond(is_training, training, inference)

        def update():
            a = v1.assign_sub(mm, (mm - mean) * 0.1) if not resource else mm.assign_sub((mm - mean) * 0.1)
            b = v1.assign_sub(mv, (mv - var) * 0.1) if not resource else mv.assign_sub((mv - var) * 0.1)
            return tf.identity(a), tf.identity(b)

        def keep():
            return tf.identity(mm), tf.identity(mv)

        upd = v1.cond(is_training, update, keep)
        for u in upd:
            v1.add_to_collection(v1.GraphKeys.UPDATE_OPS, u)
    return y


def _head_loss(tf, spec: Spec, logits, labels):
    v1 = tf.compat.v1
    kind = spec.loss
    if kind == "nn_softmax":
        return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    if kind == "nn_sparse_softmax":
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
    if kind == "nn_sigmoid":
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))
    if kind == "losses_softmax":
        return v1.losses.softmax_cross_entropy(labels, logits)
    if kind == "losses_sparse_softmax":
        return v1.losses.sparse_softmax_cross_entropy(labels, logits)
    if kind == "losses_sigmoid":
        return v1.losses.sigmoid_cross_entropy(labels, logits)
    if kind == "losses_mse":
        return v1.losses.mean_squared_error(labels, logits)
    if kind == "losses_huber":
        return v1.losses.huber_loss(labels, logits)
    if kind == "hand_mse":
        return tf.reduce_mean(tf.square(logits - labels))
    raise ValueError(kind)


def build(tf, spec: Spec, seed: int = 0) -> Built:
    v1 = tf.compat.v1
    g = tf.Graph()
    resource = spec.cond != "v1"  # TF1-era graphs (Switch/Merge) used ref variables; TF2's v1 graphs resource ones
    with g.as_default(), control_flow(tf, spec.cond):
        v1.set_random_seed(seed)
        x = v1.placeholder(tf.float32, [None, *IMAGE], name="input")
        is_training = v1.placeholder(tf.bool, [], name="is_training") if spec.cond else None
        keep_prob = None
        if spec.dropout:
            keep_prob = v1.placeholder(tf.float32, [], name="dropout_rate" if spec.dropout == "rate" else "keep_prob")
        if spec.heads == 1:
            label_names = ["labels"]
        else:
            label_names = [f"labels_{k}" for k in "ab"[:spec.heads]]
        if spec.loss in SPARSE:
            labels = [v1.placeholder(tf.int64, [None], name=n) for n in label_names]
        else:
            labels = [v1.placeholder(tf.float32, [None, spec.classes], name=n) for n in label_names]
        global_step = v1.train.get_or_create_global_step()
        init = v1.truncated_normal_initializer(stddev=0.3, seed=seed)

        top = v1.variable_scope("InceptionV3") if spec.slim else contextlib.nullcontext()
        with top:
            with v1.variable_scope("Conv2d_1a_3x3" if spec.slim else "conv1"):
                w = v1.get_variable("weights", [3, 3, 3, 8], initializer=init, use_resource=resource)
                h = tf.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")
                if spec.cond:
                    h = _batch_norm(tf, h, is_training, resource)
                else:
                    h = h + v1.get_variable("biases", [8], initializer=v1.constant_initializer(0.05),
                                            use_resource=resource)
                h = tf.nn.relu(h)
            logits = []
            for k in range(spec.heads):
                head = ("Logits" if spec.slim else "fc") + ("" if spec.heads == 1 else f"_{'ab'[k]}")
                with v1.variable_scope(head):
                    p = tf.reduce_mean(h, [1, 2], keepdims=True)  # [N, 1, 1, 8]
                    if spec.dropout:
                        with v1.name_scope("Dropout_1b" if spec.slim else "dropout"):
                            if spec.dropout == "rate":
                                p = tf.nn.dropout(p, rate=keep_prob, seed=seed)
                            else:
                                p = v1.nn.dropout(p, keep_prob=keep_prob, seed=seed)
                    wk = v1.get_variable("weights", [1, 1, 8, spec.classes], initializer=init, use_resource=resource)
                    bk = v1.get_variable("biases", [spec.classes], initializer=v1.constant_initializer(0.1),
                                         use_resource=resource)
                    z = tf.nn.bias_add(tf.nn.conv2d(p, wk, [1, 1, 1, 1], "VALID"), bk)
                    z = tf.squeeze(z, [1, 2], name="SpatialSqueeze")
                    if spec.identity:
                        z = tf.identity(z, name="logits")
                logits.append(z)

        def losses():
            return [_head_loss(tf, spec, z, y) for z, y in zip(logits, labels)]

        if spec.loss_scope:
            with v1.name_scope("loss"):
                parts = losses()
        else:
            parts = losses()
        loss = parts[0] if len(parts) == 1 else tf.add_n(parts, name="total_loss")
        extra = {}
        if spec.metrics:
            truth = labels[0] if spec.loss in SPARSE else tf.argmax(labels[0], 1)
            correct = tf.equal(tf.argmax(logits[0], 1), truth)
            extra["accuracy"] = tf.reduce_mean(tf.cast(correct, tf.float32), name="accuracy")
            v1.summary.scalar("accuracy", extra["accuracy"])
        v1.summary.scalar("loss", loss)
        with tf.control_dependencies(v1.get_collection(v1.GraphKeys.UPDATE_OPS)):
            train_op = v1.train.AdamOptimizer(1e-2).minimize(loss, global_step=global_step)
        summaries = v1.summary.merge_all()
        init_op = v1.global_variables_initializer()
        saver = v1.train.Saver()
    return Built(spec=spec, graph=g, x=x, labels=labels, logits=logits, is_training=is_training,
                 keep_prob=keep_prob, loss=loss, train_op=train_op, init=init_op, saver=saver, summaries=summaries,
                 extra=extra)


def batch(spec: Spec, n: int, rng) -> tuple[np.ndarray, list[np.ndarray]]:
    x = rng.uniform(0, 1, (n, *IMAGE)).astype("float32")
    ys = []
    for _ in range(spec.heads):
        if spec.loss in SPARSE:
            ys.append(rng.randint(0, spec.classes, n).astype("int64"))
        else:
            ys.append(np.eye(spec.classes, dtype="float32")[rng.randint(0, spec.classes, n)])
    return x, ys


def train_and_save(tf, built: Built, folder: Path, steps: int = 3, probe: int = 4, seed: int = 0) -> dict:
    """Train a few steps (is_training True, keep_prob 0.5), save graph.pb and model.ckpt, and return the paths
    with TensorFlow's inference-mode outputs (is_training False, keep_prob 1.0) on probe inputs."""
    v1 = tf.compat.v1
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(seed)
    config = v1.ConfigProto(intra_op_parallelism_threads=2, inter_op_parallelism_threads=1)
    with built.graph.as_default(), v1.Session(graph=built.graph, config=config) as sess:
        sess.run(built.init)
        for _ in range(steps):
            x, ys = batch(built.spec, 8, rng)
            feed = {built.x: x, **dict(zip(built.labels, ys))}
            if built.is_training is not None:
                feed[built.is_training] = True
            if built.keep_prob is not None:
                feed[built.keep_prob] = 0.5  # keep half, or drop half
            sess.run([built.train_op, built.summaries], feed)
        prefix = built.saver.save(sess, str(folder / "model.ckpt"))
        xp = rng.uniform(0, 1, (probe, *IMAGE)).astype("float32")
        ref = sess.run(built.logits, built.feed_inference(xp))
    pb = folder / "graph.pb"
    pb.write_bytes(built.graph.as_graph_def().SerializeToString())
    return {"pb": pb, "prefix": Path(prefix), "probe": xp, "reference": ref}


def save_graphdef(built: Built, path: Path) -> Path:
    path.write_bytes(built.graph.as_graph_def().SerializeToString())
    return path


def variants(base: Spec, **changes) -> Spec:
    return replace(base, **changes)
