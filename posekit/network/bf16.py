"""The bf16 fast mode's plan: which parts of the network stay float32, marked in OpenVINO's IR.

``Bf16Plan`` names the parts kept in float32 (by stage of the network's graph); ``BF16_PLAN`` is the plan
shipped (how it was chosen: ``benchmarks/bench_precision.py`` and the README's Speed section).
``mark_fp32`` writes OpenVINO's keep-precision mark on those nodes; ``convolution_precisions`` reads back
what a compiled network runs in each precision, so a plan OpenVINO ignored is refused, never silent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["STAGES", "Bf16Plan", "BF16_PLAN", "mark_fp32", "convolution_precisions"]

STAGES = 6  # the pose head's stages after the backbone


@dataclass(frozen=True)
class Bf16Plan:
    """Which parts of the network the fast mode keeps in float32 (the rest runs in bf16).

    Parts are found in OpenVINO's graph of the network by its structure: a node's *stage* is the number of
    Concat nodes on the longest path from the input to it (0: the backbone, up to and excluding its
    feature concat; 1..6: the stages, each starting at its concat).

    Attributes:
        fp32_stages: stages (1..6) kept in float32.
        backbone: "fp32" (all of it), "bf16" (all of it) or "pointwise": only the backbone's full
            convolutions (the first 3x3 and the 1x1 pointwise ones, OpenVINO ``Convolution``) in bf16,
            its depthwise convolutions (``GroupConvolution``) and the rest in float32.
    """

    fp32_stages: tuple[int, ...] = ()
    backbone: str = "bf16"

    def __post_init__(self) -> None:
        if self.backbone not in ("fp32", "bf16", "pointwise"):
            raise ValueError(f"backbone must be 'fp32', 'bf16' or 'pointwise', not {self.backbone!r}")
        if not set(self.fp32_stages) <= set(range(1, STAGES + 1)):
            raise ValueError(f"fp32_stages must be among 1..{STAGES}, got {self.fp32_stages}")

    def keeps_fp32(self, node_type: str, stage: int) -> bool:
        """True for a node of OpenVINO type ``node_type`` in ``stage`` that this plan keeps in float32."""
        if stage == 0:
            return self.backbone == "fp32" or (self.backbone == "pointwise" and node_type != "Convolution")
        return stage in self.fp32_stages

    def describe(self) -> str:
        """One line: what runs in float32 under this plan."""
        parts = {"fp32": ["the backbone"], "pointwise": ["the backbone's depthwise convolutions"]}.get(
            self.backbone, []
        )
        if self.fp32_stages:
            parts.append(
                "stage"
                + ("s " if len(self.fp32_stages) > 1 else " ")
                + ", ".join(str(s) for s in sorted(self.fp32_stages))
            )
        return ("float32: " + " and ".join(parts)) if parts else "everything in bf16"


#: The fast mode's plan: the backbone's depthwise convolutions and stages 1-2 in float32 (where bf16's
#: rounding grows into lost limbs), the backbone's pointwise convolutions and stages 3-6 in bf16: the most
#: bf16 plan that loses no keypoint on the bundled images (``benchmarks/bench_precision.py``: the sweep).
BF16_PLAN = Bf16Plan(fp32_stages=(1, 2), backbone="pointwise")


def node_stages(ov_model) -> dict[str, int]:
    """Stage of each node of an OpenVINO graph of the pose network (``Bf16Plan``), by friendly name.

    Raises:
        ValueError: the graph does not have the backbone + ``STAGES`` concatenated stages structure.
    """
    stages: dict[str, int] = {}
    concats = 0
    for node in ov_model.get_ordered_ops():  # topological order
        before = [stages[i.get_source_output().get_node().get_friendly_name()] for i in node.inputs()]
        is_concat = node.get_type_name() == "Concat"
        concats += is_concat
        stages[node.get_friendly_name()] = max(before, default=0) + is_concat
    outputs = {stages[r.get_friendly_name()] for r in ov_model.get_results()}
    if concats != STAGES or outputs != {STAGES}:
        raise ValueError(
            f"the network's graph has {concats} concatenations and outputs at stage(s) {sorted(outputs)}: "
            f"not the backbone + {STAGES} stages that precision 'bf16' is planned for"
        )
    return stages


#: OpenVINO's run-time attribute that keeps a node out of a lower inference precision, as the IR writes it:
#: the CPU plugin keeps the original precision of a node whose conversion to f16 is disabled, and applies
#: that to the bf16 inference precision too (``OpenvinoRunner`` checks the compiled graph's precisions).
_KEEP_FP32 = (
    '<rt_info><attribute name="DisablePrecisionConversion" version="0" value="dynamic:f16" /></rt_info>'
)
_IR_LAYER = re.compile(
    r'(<layer id="\d+" name="([^"]+)" type="(?!Const"|Parameter"|Result")[^"]+" version="[^"]+">)'
)


def mark_fp32(ov_model, plan: Bf16Plan):
    """A copy of ``ov_model`` whose nodes ``plan`` keeps in float32 carry OpenVINO's keep-precision mark.

    The mark (``DisablePrecisionConversion``) has no Python API; it is written into the model's IR
    (``ov.save_model``) and read back, in a temporary folder. Returns (model, number of marked nodes).
    """
    import tempfile

    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="posekit-ir-") as folder:
        xml = Path(folder) / "net.xml"
        ov.save_model(ov_model, str(xml), compress_to_fp16=False)
        saved = ov.Core().read_model(str(xml))  # friendly names as written in the IR
        stages = node_stages(saved)
        keep = {
            node.get_friendly_name()
            for node in saved.get_ordered_ops()
            if node.get_type_name() not in ("Parameter", "Result", "Constant")
            and plan.keeps_fp32(node.get_type_name(), stages[node.get_friendly_name()])
        }
        text, layers = _IR_LAYER.subn(
            lambda m: m.group(0) + (_KEEP_FP32 if m.group(2) in keep else ""), xml.read_text()
        )
        found = sum(m.group(2) in keep for m in _IR_LAYER.finditer(text))
        if found != len(keep):  # an IR layout this code does not know: never a silently different plan
            raise RuntimeError(
                f"OpenVINO {ov.__version__} wrote an IR where {found} of the {len(keep)} float32 nodes "
                f"of precision 'bf16' were found ({layers} layers): it needs OpenVINO 2026.4"
            )
        weights = np.frombuffer(xml.with_suffix(".bin").read_bytes(), np.uint8).copy()
        marked = ov.Core().read_model(text, ov.Tensor(weights))  # in memory: the folder goes
    return marked, len(keep)


def convolution_precisions(compiled, layer_type: str = "Convolution") -> dict[str, int]:
    """How many convolutions (plain and depthwise) OpenVINO's compiled graph runs in each precision; or
    how many of its layers of another runtime ``layer_type`` (e.g. "Concatenation")."""
    counts: dict[str, int] = {}
    for node in compiled.get_runtime_model().get_ordered_ops():
        info = node.get_rt_info()
        if info["layerType"].astype(str) == layer_type:
            key = info["runtimePrecision"].astype(str)
            counts[key] = counts.get(key, 0) + 1
    return counts
