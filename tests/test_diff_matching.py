"""Node matching of `graphreport diff` on graphs built in memory (no TensorFlow): each rule on its own, and the
work it takes at 1x, 4x and 16x the graph size (linear or n log n, never quadratic)."""
import random

import pytest

from graphreport.diff.matching import match_graphs
from graphreport.model import ConstData, Graph, Node, Tensor


def _add(g: Graph, name, op, inputs=(), shape=(1, 8, 8, 16), const=False, attrs=None):
    out = f"{name}:0"
    g.nodes.append(Node(name=name, op=op, inputs=list(inputs), outputs=[out], attrs=dict(attrs or {}), is_const=const))
    g.tensors[out] = Tensor(out, "float32", list(shape), producer=name,
                            const=ConstData(nbytes=4 * 16) if const else None)
    return out


def tf_chain(blocks: int, prefix="net", names=None, widths=None) -> Graph:
    """x -> blocks x (Conv2D + BiasAdd + Relu), every 4th block with a residual AddV2; TF dialect."""
    g = Graph("main", dialect="tf")
    t = _add(g, "x", "Placeholder")
    skip = t
    for i in range(blocks):
        s = f"{prefix}/{names[i] if names else f'block{i}'}"
        c = widths[i] if widths else 16
        w = _add(g, f"{s}/kernel", "Const", shape=(3, 3, 16, c), const=True)
        b = _add(g, f"{s}/bias", "Const", shape=(c,), const=True)
        t = _add(g, f"{s}/Conv2D", "Conv2D", [t, w], shape=(1, 8, 8, c), attrs={"strides": [1, 1, 1, 1]})
        t = _add(g, f"{s}/BiasAdd", "BiasAdd", [t, b], shape=(1, 8, 8, c))
        t = _add(g, f"{s}/Relu", "Relu", [t], shape=(1, 8, 8, c))
        if i % 4 == 3:
            t = _add(g, f"{s}/add", "AddV2", [t, skip])
            skip = t
    _add(g, "Identity", "Identity", [t])
    return g


def tflite_chain(blocks: int, prefix="net") -> Graph:
    """The same network as a TFLite converter writes it: one CONV_2D per block, named after its source ops."""
    g = Graph("main", dialect="tflite")
    g.tensors["serving_default_x:0"] = Tensor("serving_default_x:0", "float32", [1, 8, 8, 16])
    g.inputs = ["serving_default_x:0"]
    t, skip = "serving_default_x:0", "serving_default_x:0"
    for i in range(blocks):
        s = f"{prefix}/block{i}"
        name = f"{s}/Relu;{s}/BiasAdd;{s}/Conv2D"
        w = f"{s}/Conv2D"
        g.tensors[w] = Tensor(w, "float32", [16, 3, 3, 16], const=ConstData(64))
        g.nodes.append(Node(name=name, op="CONV_2D", inputs=[t, w], outputs=[name],
                            attrs={"fused_activation_function": "RELU"}))
        g.tensors[name] = Tensor(name, "float32", [1, 8, 8, 16], producer=name)
        t = name
        if i % 4 == 3:
            add = f"{s}/add"
            g.nodes.append(Node(name=add, op="ADD", inputs=[t, skip], outputs=[add]))
            g.tensors[add] = Tensor(add, "float32", [1, 8, 8, 16], producer=add)
            t = skip = add
    return g


def op_count(g):
    return sum(1 for n in g.nodes if not n.is_const)


def test_identical_graphs_match_by_name():
    m = match_graphs(tf_chain(12), tf_chain(12))
    assert m.counts()["name"] == op_count(tf_chain(12)) and not m.added and not m.removed


def test_scope_prefix_renamed():
    a, b = tf_chain(20, prefix="model_a"), tf_chain(20, prefix="model_b/inner")
    m = match_graphs(a, b)
    c = m.counts()
    # x and Identity keep their names; every scoped op is a rename onto the same op
    assert c["name"] == 2 and c["renamed"] == op_count(a) - 2, c
    assert not m.added and not m.removed
    assert all(x.old.replace("model_a/", "model_b/inner/") == x.new for x in m.matches if x.how == "renamed")
    assert (m.prefixes[0][0], m.prefixes[0][1]) == ("model_a", "model_b/inner")


def test_structural_when_no_name_is_shared():
    n = 24
    rng = random.Random(0)
    a = tf_chain(n, names=[f"layer_{i}" for i in range(n)])
    b = tf_chain(n, prefix="other", names=[f"l{rng.randrange(10**9)}" for _ in range(n)])
    m = match_graphs(a, b)
    assert m.counts()["structural"] == op_count(a) - 2
    # position decides: the i-th block of one is the i-th block of the other
    order = {x.old: x.new for x in m.matches}
    convs_a = [x.name for x in a.nodes if x.op == "Conv2D"]
    convs_b = [x.name for x in b.nodes if x.op == "Conv2D"]
    assert [order[x] for x in convs_a] == convs_b


def test_widened_layer_and_added_block():
    a = tf_chain(8)
    widths = [16] * 9
    widths[2] = 24
    b = tf_chain(9, widths=widths)  # block8 added at the end, block2 widened
    m = match_graphs(a, b)
    assert m.removed == []
    assert sorted(m.added) == ["net/block8/BiasAdd", "net/block8/Conv2D", "net/block8/Relu"]


def test_cross_format_fused_conv_bias_relu():
    tf, lite = tf_chain(8), tflite_chain(8)
    m = match_graphs(tf, lite)
    by_old = {x.old: x for x in m.matches}
    for i in range(8):
        s = f"net/block{i}"
        name = f"{s}/Relu;{s}/BiasAdd;{s}/Conv2D"
        assert (by_old[f"{s}/Conv2D"].new, by_old[f"{s}/Conv2D"].how) == (name, "cross-format")
        assert (by_old[f"{s}/BiasAdd"].how, by_old[f"{s}/Relu"].how) == ("fused", "fused")
    assert by_old["x"].new == "serving_default_x:0"
    assert by_old["Identity"].how == "folded"  # the converter drops it
    assert m.removed == [] and m.added == []
    # the other way round (TFLite old, TF new) gives the same pairs
    back = match_graphs(lite, tf)
    assert sorted((x.new, x.old, x.how) for x in back.matches) == sorted((x.old, x.new, x.how) for x in m.matches)


def test_cross_format_batch_norm_folds_into_the_conv():
    """Keras' inference batch norm: scale = gamma * rsqrt(var + eps) (constants only: folded into the kernel),
    y = conv * scale + (beta - mean * scale); TFLite names the conv, the add and the activation."""
    g = Graph("main", dialect="tf")
    x = _add(g, "x", "Placeholder")
    consts = {k: _add(g, f"bn/{k}", "Const", shape=(16,), const=True) for k in ("var", "eps", "gamma", "beta", "mean")}
    k = _add(g, "conv/kernel", "Const", shape=(3, 3, 16, 16), const=True)
    c = _add(g, "conv/Conv2D", "Conv2D", [x, k])
    add = _add(g, "bn/add", "AddV2", [consts["var"], consts["eps"]], shape=(16,))
    r = _add(g, "bn/Rsqrt", "Rsqrt", [add], shape=(16,))
    mul = _add(g, "bn/mul", "Mul", [r, consts["gamma"]], shape=(16,))
    mul1 = _add(g, "bn/mul_1", "Mul", [c, mul])
    mul2 = _add(g, "bn/mul_2", "Mul", [consts["mean"], mul], shape=(16,))
    sub = _add(g, "bn/sub", "Sub", [consts["beta"], mul2], shape=(16,))
    add1 = _add(g, "bn/add_1", "AddV2", [mul1, sub])
    _add(g, "relu/Relu6", "Relu6", [add1])
    lite = Graph("main", dialect="tflite")
    lite.tensors["serving_default_x:0"] = Tensor("serving_default_x:0", "float32", [1, 8, 8, 16])
    lite.inputs = ["serving_default_x:0"]
    name = "relu/Relu6;bn/add_1;conv/Conv2D;bn/sub1"
    lite.nodes.append(Node(name=name, op="CONV_2D", inputs=["serving_default_x:0"], outputs=[name]))
    lite.tensors[name] = Tensor(name, "float32", [1, 8, 8, 16], producer=name)
    foldable = {"bn/add", "bn/Rsqrt", "bn/mul", "bn/mul_2", "bn/sub"}  # what the cost report marks foldable
    m = match_graphs(g, lite, foldable_old=foldable)
    how = {x.old: x.how for x in m.matches}
    assert how["conv/Conv2D"] == "cross-format"
    assert how["bn/add_1"] == how["relu/Relu6"] == how["bn/sub"] == "fused"  # named in the TFLite op ("sub1")
    assert how["bn/mul_1"] == "fused"  # not named, but between the conv and its add: fused
    assert how["bn/add"] == how["bn/Rsqrt"] == how["bn/mul"] == how["bn/mul_2"] == "folded"
    assert m.removed == [] and all(x.new == name for x in m.matches if x.old != "x")


def _cases(blocks):
    rng = random.Random(blocks)
    names = [f"n{rng.randrange(10**9)}" for _ in range(blocks)]
    widths = [16 if i % 7 else 24 for i in range(blocks)]
    return {
        "same names": (tf_chain(blocks), tf_chain(blocks)),
        "renamed prefix": (tf_chain(blocks, prefix="a"), tf_chain(blocks, prefix="b/c")),
        "no shared name": (tf_chain(blocks), tf_chain(blocks, prefix="z", names=names)),
        "widened, no shared name": (tf_chain(blocks), tf_chain(blocks, prefix="z", names=names, widths=widths)),
        "tf vs tflite": (tf_chain(blocks), tflite_chain(blocks)),
    }


def test_work_grows_linearly():
    """The elementary steps counted by the matcher at 1x, 4x and 16x the nodes: within 25% of proportional
    (a quadratic pass would multiply them by 16 and 256)."""
    base = 50
    works = {}
    for k in (1, 4, 16):
        for case, (a, b) in _cases(base * k).items():
            m = match_graphs(a, b)
            works.setdefault(case, {})[k] = m.work
            if case != "tf vs tflite":
                assert not m.added and not m.removed, (case, k)
    for case, w in works.items():
        assert w[4] / w[1] <= 4 * 1.25 and w[16] / w[1] <= 16 * 1.25, (case, w)


@pytest.mark.parametrize("blocks", [400])
def test_large_graph_work_is_bounded(blocks):
    a, b = tf_chain(blocks * 4, prefix="a"), tf_chain(blocks * 4, prefix="b")
    m = match_graphs(a, b)
    size = sum(len(n.inputs) + 1 for g in (a, b) for n in g.nodes)
    assert not m.added and m.work < 64 * size, (m.work, size)  # elementary steps per node and edge: n log n


def test_hostile_names_are_escaped_in_every_diff_format(tmp_path):
    """Model strings (node, op and input names) never become markup in the diff's HTML or Markdown, and the
    embedded JSON cannot close its script element."""
    import json
    import re

    from conftest import SAMPLES, run_cli
    from hostile import evil_graphdef

    evil = tmp_path / "evil.pb"
    evil.write_bytes(evil_graphdef())
    for fmt in ("html", "md", "json"):
        out = tmp_path / f"d.{fmt}"
        p = run_cli("diff", SAMPLES / "tiny_mobilenet.pb", evil, "-o", out)
        assert p.returncode == 0, p.stderr
        text = out.read_text(encoding="utf-8")
        if fmt == "json":
            d = json.loads(text)
            assert "a&b</title><img src=x onerror=alert(2)>" in d["added"]
            continue
        assert "<script>alert" not in text and "<img" not in text and "<b>bold" not in text
        if fmt == "html":
            assert len(re.findall(r"<script[ >]", text)) == 2  # the embedded JSON and the page's own script
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
        else:
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
            for line in text.splitlines():  # table rows keep their columns
                if line.startswith("| input") or line.startswith("| output"):
                    assert len(re.findall(r"(?<!\\)\|", line)) == 7
