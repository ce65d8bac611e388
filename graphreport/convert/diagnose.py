"""The converter's error, in plain words: which ops (and nodes) it refused, why, and what to try.

Reads the structured errors TensorFlow attaches to ConverterError (`errors`: ConverterErrorData with an
error code, the op and its location), and falls back to the MLIR diagnostics in the message text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import ConversionError
from .freeze import VALUE_SCOPE

FLEX_FIX = ("rerun with --select-tf-ops (the model then needs the TensorFlow Select ops runtime, the Flex "
            "delegate, several MB larger), or replace the op")
CUSTOM_FIX = ("neither TFLite nor its Flex delegate has a kernel for it: replace it with supported ops, or "
              "implement a TFLite custom op for it")
SHAPE_FIX = "give fixed input shapes with --input-shape NAME=d0,d1,... (all dimensions known)"
TRAINING_FIX = ("convert the inference graph only: feed the training switches (is_training False, keep_prob 1.0 "
                "- graphreport does it for placeholders it recognizes; name others in --inputs), pick the "
                "inference outputs with --outputs, and leave training nodes (optimizer, loss, summaries) out")
INT8_FIX = ("full int8 needs an int8 kernel for every op: try --quantize dynamic or float16, or add "
            "--select-tf-ops (ops without int8 kernels then run as TF ops)")

_NEITHER = re.compile(r"'(?:tf|tfl)\.(\w+)' op is neither a custom op nor a flex op")
_LOC_OP = re.compile(r'loc\(fused\["(\w+):", "([^"]+)"\]\)[^\n]*?\'(?:tf|tfl)\.(\w+)\'')
_LOC_OP2 = re.compile(r'loc\("([^"]+)"\)[^\n]*?\'(?:tf|tfl)\.(\w+)\' op')
_SELECT = re.compile(r"TF Select ops: ([\w, ]+)")
_CUSTOM = re.compile(r"Custom ops: ([\w, ]+)")
_QUANT_OP = re.compile(r"(?:Quantization not yet supported for op|Failed to quantize|not supported for "
                       r"quantization|quantized kernel).*?'?(?:tf|tfl)?\.?(\w+)'?", re.I)


@dataclass
class Problem:
    op: str
    nodes: list[str] = field(default_factory=list)
    code: str = ""
    why: str = ""
    fix: str = ""

    def to_dict(self) -> dict:
        return {"op": self.op, "nodes": self.nodes, "code": self.code, "why": self.why, "fix": self.fix}

    def line(self) -> str:
        where = ""
        if self.nodes:
            shown = ", ".join(self.nodes[:3]) + (f" and {len(self.nodes) - 3} more" if len(self.nodes) > 3 else "")
            where = f" (node{'s' if len(self.nodes) > 1 else ''} {shown})"
        op = f"op {self.op}{where}: " if self.op else ""
        return f"{op}{self.why}; {self.fix}" if self.fix else f"{op}{self.why}"


class ConverterRefused(ConversionError):
    """The converter failed; `problems` says where and what to try (exit code 3)."""

    def __init__(self, summary: str, problems: list[Problem], raw: str = ""):
        self.summary = summary
        self.problems = problems
        self.raw = raw
        text = summary + ("".join(f"\n  - {p.line()}" for p in problems) if problems else "")
        super().__init__(text)

    def to_dict(self) -> dict:
        return {"error": self.summary, "problems": [p.to_dict() for p in self.problems]}


def clean_node(name: str) -> str:
    """Drop the scopes graphreport adds when it wraps a graph."""
    for prefix in ("import/", f"{VALUE_SCOPE}/"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def _code_name(code) -> str:
    try:
        from tensorflow.lite.python import converter_error_data_pb2 as pb  # noqa: WPS433

        return pb.ConverterErrorData.ErrorCode.Name(code)
    except Exception:
        return str(code)


def _add(problems: dict, op: str, node: str | None, code: str, why: str, fix: str) -> None:
    p = problems.get(op)
    if p is None:
        p = problems[op] = Problem(op=op, code=code, why=why, fix=fix)
    if node:
        node = clean_node(node)
        if node not in p.nodes:
            p.nodes.append(node)


def _kind(code: str, op: str, text: str) -> tuple[str, str, str]:
    """(code, why, fix) for an op the converter could not lower."""
    flex = set()
    for m in _SELECT.finditer(text):
        flex |= {x.strip() for x in m.group(1).split(",")}
    if code == "ERROR_NEEDS_FLEX_OPS" or op in flex:
        return "ERROR_NEEDS_FLEX_OPS", "no TFLite builtin kernel, but TensorFlow's Flex delegate runs it", FLEX_FIX
    custom = set()
    for m in _CUSTOM.finditer(text):
        custom |= {x.strip() for x in m.group(1).split(",")}
    if code == "ERROR_NEEDS_CUSTOM_OPS" or op in custom:
        return "ERROR_NEEDS_CUSTOM_OPS", "not supported by TFLite", CUSTOM_FIX
    return code or "ERROR_UNSUPPORTED_OP", "not supported by TFLite", CUSTOM_FIX


def explain(exc: Exception, log: str = "", mode: str = "none", select_tf_ops: bool = False) -> ConversionError:
    text = str(exc)
    full = text + "\n" + log
    problems: dict[str, Problem] = {}
    codes = set()
    for err in getattr(exc, "errors", []) or []:
        code = _code_name(err.error_code) if err.error_code else ""
        codes.add(code)
        op = err.operator.name.split(".", 1)[-1] if err.operator.name else ""
        nodes = [c.name for c in err.location.call if c.name] if err.HasField("location") else []
        if not op:
            m = _NEITHER.search(err.error_message)
            op = m.group(1) if m else ""
        if op:
            code, why, fix = _kind(code, op, full)
            _add(problems, op, nodes[0] if nodes else None, code, why, fix)
    # the message text: ops the structured errors missed
    for m in _LOC_OP.finditer(full):
        if m.group(1) == m.group(3) and m.group(3) not in problems and "neither a custom op" in full:
            code, why, fix = _kind("", m.group(3), full)
            _add(problems, m.group(3), m.group(2), code, why, fix)
    for m in _NEITHER.finditer(full):
        if m.group(1) not in problems:
            code, why, fix = _kind("", m.group(1), full)
            _add(problems, m.group(1), None, code, why, fix)
    for m in _CUSTOM.finditer(full):
        for op in (x.strip() for x in m.group(1).split(",")):
            if op and op not in problems:
                _add(problems, op, None, "ERROR_NEEDS_CUSTOM_OPS", "not supported by TFLite", CUSTOM_FIX)

    found = list(problems.values())
    if select_tf_ops:
        for p in found:
            if p.code == "ERROR_NEEDS_FLEX_OPS":
                p.why, p.fix = "not available even with --select-tf-ops", CUSTOM_FIX
    if found:
        flex = [p.op for p in found if p.code == "ERROR_NEEDS_FLEX_OPS"]
        summary = (f"the TFLite converter refused {len(found)} op type{'s' if len(found) > 1 else ''}: "
                   + ", ".join(p.op for p in found)
                   + (" (--select-tf-ops would handle " + ", ".join(flex) + ")" if flex and not select_tf_ops
                      else ""))
        return ConverterRefused(summary, found, raw=full)

    low = full.lower()
    if "ERROR_UNSUPPORTED_CONTROL_FLOW_V1" in codes or "functionalize control flow v1" in low:
        return ConverterRefused("the TFLite converter could not turn TF1 control flow (Switch/Merge, "
                                "tf.cond/while_loop in graph mode) into TFLite control flow",
                                [Problem("Switch/Merge", code="ERROR_UNSUPPORTED_CONTROL_FLOW_V1",
                                         why="TF1 control flow", fix=TRAINING_FIX)], raw=full)
    if re.search(r"only supported in the 1st dimension|has invalid shape|dynamic shape|unknown rank|"
                 r"requires static shape|shape.*must be static", low):
        return ConverterRefused("the TFLite converter needs fixed input shapes",
                                [Problem("", why=_first_line(full), fix=SHAPE_FIX)], raw=full)
    if mode == "int8" and re.search(r"quantiz|calibrat|representative", low):
        m = _QUANT_OP.search(full)
        op = m.group(1) if m else ""
        return ConverterRefused("full int8 quantization failed" + (f" at op {op}" if op else ""),
                                [Problem(op, why=_first_line(full), fix=INT8_FIX)], raw=full)
    if re.search(r"variable|resource", low) and re.search(r"freez|constant|read_variable|resource", low):
        return ConverterRefused("the model still holds variables the converter cannot freeze",
                                [Problem("", why=_first_line(full),
                                         fix="convert from the checkpoint or SavedModel, not an unfrozen graph")],
                                raw=full)
    return ConverterRefused(f"the TFLite converter failed: {_first_line(full)}", [], raw=full)


def _first_line(text: str) -> str:
    for line in text.splitlines():
        line = re.sub(r"^(<unknown>:0: )?(error: )?(loc\([^)]*\)\)?:? ?)?(error: )?", "", line.strip())
        if line and not line.startswith(("Traceback", "WARNING", "I0000", "W0000")):
            return line[:300]
    return text.strip()[:300] or "no details (rerun with --debug)"
