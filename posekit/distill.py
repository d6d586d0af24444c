"""int8 by quantisation-aware distillation: a student network in int8 that keeps the exact mode's keypoints.

Post-training int8 fails on mobilenet_thin (``benchmarks/probe_int8.py``): each depthwise convolution feeds a
1x1 convolution with no activation in between, and the channels there differ in range by up to ~350x, so one
scale per activation tensor erases most of them. The remedy here:

1. **Equalise, simulate int8, round** (``posekit.quantise``): the exact network equalised (exactly, in
   float32), its fake-quantised twin (``build_student``: inputs per tensor, kernels per output channel on a
   fixed grid), the input ranges calibrated (``calibrate``) and the kernels rounded by GPTQ
   (``round_weights``).
2. **Hold out** (``split_training_images``): every ``SELECTION_EVERY``-th clip frame stays out of training
   and chooses the checkpoint.
3. **Distil** (``distil``): train the student to reproduce the exact network's (the teacher's) heatmaps and
   PAFs on unlabelled, augmented images (``training_images``) that share no image with any evaluation image
   (``evaluation_files``). No labels are needed: the teacher's outputs are the targets. The loss weighs the
   cells where the teacher sees parts or limbs more (``_cell_weights``); the kernels move in grid steps
   (``quantise.grid_adam``), the step decaying to 0 over the run.
4. **Export** (``export_openvino``): the student's fake-quantised TF function converted by OpenVINO keeps
   FakeQuantize nodes; OpenVINO's CPU plugin runs the convolutions on u8/i8 kernels (precision "int8",
   ``posekit.network.int8``, checks the executed precisions).

The int8 network is a build product of the pinned ``mobilenet_thin`` weights, shipped as
``posekit.network.int8.INT8_MODEL`` with its record (``write_record``: command, seed, settings, fidelity);
``posekit distill --out FILE`` rebuilds it. The training images' provenance: ``images/distill/SOURCES.md``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np

from .quantise import (
    build_student,
    calibrate,
    channel_ranges,
    equalise,
    equalise_relu,
    grid_adam,
    input_ranges,
    kernel_sensitivity,
    round_weights,
    separable_pairs,
)

__all__ = [
    "DistillConfig",
    "save_student",
    "load_student",
    "student_runner",
    "exact_results",
    "fidelity",
    "training_images",
    "SELECTION_EVERY",
    "split_training_images",
    "evaluation_files",
    "image_hashes",
    "augment",
    "distil",
    "export_openvino",
    "write_record",
]

ROOT = Path(__file__).resolve().parent.parent
_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


# --------------------------------------------------------------------------- data


def _images_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in _SUFFIXES)


def evaluation_files(root: Path = ROOT, extra_folders: Sequence[Path] = ()) -> list[Path]:
    """Every image posekit is judged on: the bundled photos (``images/``, not its subfolders) and the COCO
    sample (``images/coco_val2017``), plus the images anywhere under ``extra_folders`` (the tests pass the
    reference images they judge the modes on)."""
    files = _images_in(root / "images") + _images_in(root / "images" / "coco_val2017")
    for folder in extra_folders:
        if Path(folder).is_dir():
            files += sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in _SUFFIXES)
    return files


def training_images(root: Path = ROOT, *, frame_step: int = 1) -> list[tuple[str, np.ndarray]]:
    """The unlabelled training images: (name, BGR uint8) for the clip's frames and ``images/distill``'s files.

    ``images/distill/SOURCES.md`` gives each file's origin and licence; the clip is ``videos/vtest_pair.mp4``.
    """
    import cv2

    out = []
    cap = cv2.VideoCapture(str(root / "videos" / "vtest_pair.mp4"))
    i = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if i % frame_step == 0:
            out.append((f"vtest_pair.mp4#{i}", frame))
        i += 1
    cap.release()
    for p in _images_in(root / "images" / "distill"):
        image = cv2.imread(str(p), cv2.IMREAD_COLOR)
        if image is not None:
            out.append((p.name, image))
    return out


#: Every ``SELECTION_EVERY``-th frame of the clip (from frame ``SELECTION_EVERY // 2``) is held out of
#: training: ``distil`` picks its checkpoint by the keypoints kept on those frames, never on an evaluation
#: image.
SELECTION_EVERY = 8


def split_training_images(named: list[tuple[str, np.ndarray]]) -> tuple[list, list]:
    """``training_images()`` split into (fit, select): the held-out clip frames (``SELECTION_EVERY``) and the
    rest. Both come from the training material; neither shares an image with ``evaluation_files``."""
    select = [
        (name, image)
        for name, image in named
        if name.startswith("vtest_pair.mp4#")
        and int(name.split("#")[1]) % SELECTION_EVERY == SELECTION_EVERY // 2
    ]
    chosen = {name for name, _ in select}
    return [(name, image) for name, image in named if name not in chosen], select


def image_hashes(image: np.ndarray) -> str:
    """sha256 of an image's decoded pixels (BGR uint8): equal for the same picture in any lossless file."""
    return hashlib.sha256(np.ascontiguousarray(image).tobytes() + str(image.shape).encode()).hexdigest()


def _random_affine(rng, image, out_hw):
    import cv2

    h, w = image.shape[:2]
    oh, ow = out_hw
    scale = min(oh / h, ow / w) * float(np.exp(rng.uniform(np.log(0.6), np.log(3.0))))
    angle = float(rng.uniform(-30, 30)) if rng.random() < 0.5 else 0.0
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    m = cv2.getRotationMatrix2D((cx, cy), angle, scale)
    m[:, 2] += (ow / 2 - cx, oh / 2 - cy)
    return cv2.warpAffine(image, m, (ow, oh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def augment(rng: np.random.Generator, pool: list[np.ndarray], out_hw: tuple[int, int]) -> np.ndarray:
    """One augmented float32 BGR 0..255 (H, W, 3) image: random scale, crop, rotation, flip, colour, mosaic.

    ``pool``: BGR uint8 images; ``out_hw``: (height, width).
    """
    import cv2

    oh, ow = out_hw
    if rng.random() < 0.3:  # a 2 x 2 mosaic
        hh, hw = oh // 2, ow // 2
        tiles = [_random_affine(rng, pool[rng.integers(len(pool))], (hh, hw)) for _ in range(4)]
        image = np.zeros((oh, ow, 3), np.uint8)
        image[:hh, :hw], image[:hh, hw : 2 * hw] = tiles[0], tiles[1]
        image[hh : 2 * hh, :hw], image[hh : 2 * hh, hw : 2 * hw] = tiles[2], tiles[3]
    else:
        image = _random_affine(rng, pool[rng.integers(len(pool))], out_hw)
    if rng.random() < 0.5:
        image = image[:, ::-1]
    x = image.astype(np.float32)
    if rng.random() < 0.15:
        x = np.repeat(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)[..., None].astype(np.float32), 3, axis=2)
    else:
        grey = x.mean(axis=2, keepdims=True)
        x = grey + (x - grey) * rng.uniform(0.6, 1.4)  # saturation
        x = x * rng.uniform(0.9, 1.1, size=3)  # colour balance
    x = (x - 128.0) * rng.uniform(0.7, 1.3) + 128.0 + rng.uniform(-30, 30)  # contrast, brightness
    return np.clip(np.rint(x), 0, 255).astype(np.float32)


# --------------------------------------------------------------------------- training


@dataclasses.dataclass
class DistillConfig:
    """Settings of one distillation run (the shipped network's are the defaults)."""

    steps: int = 900
    batch: int = 8
    crop: tuple[int, int] = (192, 192)  # (height, width) of the training input
    stages: str = "last2"  # "last2" or "all6": the teacher's outputs the loss compares
    lr: float = 0.003  # a kernel's first step, in its channel's int8 grid steps (quantise.grid_adam);
    # it decays to 0 over the run (cosine)
    peak_weight: float = 20.0  # the loss's weight on the cells where the teacher sees parts or limbs
    bias_lr: float = 5e-6  # the step of the biases (and of float layers' weights)
    range_lr: float = 2e-4  # Adam's rate for the activation ranges
    seed: int = 0
    eval_every: int = 100
    eval_size: tuple[int, int] = (432, 368)  # (width, height) of the fidelity check
    round: bool = True  # round the kernels with ``round_weights`` before training
    bias_correction: bool = False  # round_weights' correct_bias
    float_layers: int = 8  # convolutions left in float: the most sensitive by kernel_sensitivity


def _cell_weights(targets, peak_weight: float) -> list:
    """Per output map (heatmaps, PAFs, ...): each cell's weight in the loss, 1 + ``peak_weight`` x the
    teacher's strongest part there (heatmaps, background excluded) or strongest limb field (PAFs, by
    magnitude). Background cells dominate a plain mean and the grouping never reads them; the cells it
    does read (peaks, and the fields along limbs) then count up to ``1 + peak_weight`` times more."""
    import tensorflow as tf

    cells = []
    for k in range(0, len(targets), 2):
        heat = tf.reduce_max(targets[k][..., :-1], axis=-1, keepdims=True)
        paf = tf.reduce_max(tf.abs(targets[k + 1]), axis=-1, keepdims=True)
        cells += [1.0 + peak_weight * heat, 1.0 + peak_weight * paf]
    return cells


def _teacher_and_student(seed: int):
    import keras

    from .network.models import load_model

    keras.utils.set_random_seed(seed)
    teacher = load_model("mobilenet_thin", all_stages=True)
    base = load_model("mobilenet_thin", all_stages=True)
    return teacher, base


def save_student(student, path: Path) -> None:
    """Every variable of the student (kernels, biases, input ranges) by path, to an ``.npz`` (atomic)."""
    tmp = Path(path).with_suffix(".tmp.npz")
    np.savez(tmp, **{v.path: np.asarray(v) for v in student.weights})
    os.replace(tmp, path)


def load_student(student, path: Path) -> None:
    """Load ``save_student``'s file into a student of the same network."""
    with np.load(path) as saved:
        for v in student.weights:
            v.assign(saved[v.path])


def student_runner(student) -> Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """A runner (batch -> last stage heatmaps, PAFs) of the fake-quantised student under TensorFlow."""
    import tensorflow as tf

    fn = tf.function(
        lambda x: student(x, training=False)[-2:],
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32)],
    )

    def run(batch):
        heat, paf = fn(tf.constant(batch, tf.float32))
        return heat.numpy(), paf.numpy()

    return run


def exact_results(photos: list[Path], size: tuple[int, int]) -> dict:
    """The exact mode's results on ``photos`` at ``size`` (the reference of ``fidelity``)."""
    import cv2

    from .estimator import PoseEstimator

    exact = PoseEstimator("mobilenet_thin", input_size=size)
    return {p: exact.inference(cv2.imread(str(p))) for p in photos}


def fidelity(run, photos: list[Path], size: tuple[int, int], reference: dict | None = None) -> dict:
    """People counts and keypoints kept of ``run`` (a runner) against the exact mode on ``photos``."""
    import cv2

    if reference is None:
        reference = exact_results(photos, size)
    named = [(p.name, cv2.imread(str(p))) for p in photos]
    return _agreement(_student_estimator(run, size), named, [reference[p] for p in photos])


def _student_estimator(run, size: tuple[int, int]):
    """A PoseEstimator whose network is ``run`` (a runner): the student under the estimator's own
    post-processing."""
    from .estimator import PoseEstimator

    probe = PoseEstimator("mobilenet_thin", input_size=size, engine="tf")
    probe._run = run
    return probe


def _agreement(probe, named: list[tuple[str, np.ndarray]], reference: list) -> dict:
    """``fidelity`` of ``probe`` (``_student_estimator``) on (name, BGR image) pairs against the exact
    mode's results ``reference`` (same order)."""
    from .match import keypoints_kept

    differs, kept, total, rows = 0, 0, 0, []
    for (name, image), a in zip(named, reference):
        b = probe.inference(image)
        k, t = keypoints_kept(a.keypoints, b.keypoints, a.image_size, probe.input_size)
        differs, kept, total = differs + (len(a) != len(b)), kept + k, total + t
        rows.append({"image": name, "people": [len(a), len(b)], "kept": [k, t]})
    return {"differs": differs, "images": len(named), "kept": kept, "total": total, "rows": rows}


def distil(config: DistillConfig, workdir: Path, *, photos: list[Path] = (), log: Callable = print):
    """Build the int8 student and train it; return the checkpoint that keeps most on the selection frames.

    Steps: equalise the exact network, leave the ``config.float_layers`` convolutions whose rounded kernels
    change the selection frames' maps most in float (``kernel_sensitivity``), calibrate the input ranges,
    round the kernels (``round_weights``, when ``config.round``), then ``config.steps`` training steps.
    Every ``config.eval_every`` steps (and at 0 and the end) the student's keypoints kept on the held-out
    selection frames (``split_training_images``) choose the checkpoint (``workdir/best.npz``); ``photos``
    (evaluation images, never trained or selected on) only add a column to the curve
    (``workdir/curve.jsonl``). A run resumes from ``workdir``'s checkpoint.
    """
    import cv2
    import keras
    import tensorflow as tf

    from .estimator import PoseEstimator

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    teacher, base = _teacher_and_student(config.seed)
    fit, select = split_training_images(training_images())
    pool = [image for _, image in fit]
    oh, ow = config.crop
    calib = np.stack([augment(rng, pool, (oh, ow)) for _ in range(32)])
    equalise_relu(base, calib)
    pairs = separable_pairs(base)
    equalise(base, pairs, channel_ranges(base, pairs, calib))
    float_layers: list[str] = []
    if config.float_layers:
        frames = np.stack([cv2.resize(image, config.eval_size).astype(np.float32) for _, image in select])
        scores = kernel_sensitivity(base, frames)
        float_layers = sorted(scores, key=scores.get, reverse=True)[: config.float_layers]
        log(f"kept in float: {', '.join(float_layers)}")
    student = build_student(base, float_layers)
    student.float_layers = float_layers
    calibrate(student, base, calib)
    ckpt, best_path = workdir / "student.npz", workdir / "best.npz"
    state_path = workdir / "state.json"
    state = {"step": 0, "best_kept": -1.0, "best_step": None}
    if ckpt.exists() and state_path.exists():
        load_student(student, ckpt)
        state = json.loads(state_path.read_text())
        rng = np.random.default_rng([config.seed, state["step"]])
        log(f"resumed at step {state['step']}")
    elif config.round:
        t0 = time.perf_counter()
        round_weights(student, base, calib[:24], correct_bias=config.bias_correction)
        log(f"rounded the kernels in {time.perf_counter() - t0:.0f}s")
    ranges = input_ranges(student)
    range_ids = {id(v) for v in ranges}
    weights = [v for v in student.trainable_variables if id(v) not in range_ids]
    apply_w = grid_adam(student, weights, config.lr, config.bias_lr)
    opt_r = keras.optimizers.Adam(config.range_lr)
    chosen = slice(-4, None) if config.stages == "last2" else slice(None)

    @tf.function(
        input_signature=[tf.TensorSpec((None, oh, ow, 3), tf.float32), tf.TensorSpec((), tf.float32)]
    )
    def step(x, rate):
        targets = teacher(x, training=False)[chosen]
        cells = _cell_weights(targets, config.peak_weight)
        with tf.GradientTape() as tape:
            outs = student(x, training=True)[chosen]
            loss = tf.add_n([tf.reduce_mean(w * tf.square(a - b)) for w, a, b in zip(cells, outs, targets)])
        grads = tape.gradient(loss, weights + ranges)
        apply_w(grads[: len(weights)], rate)
        opt_r.apply_gradients(zip(grads[len(weights) :], ranges))
        return loss

    probe = _student_estimator(student_runner(student), config.eval_size)
    exact = PoseEstimator("mobilenet_thin", input_size=config.eval_size)
    judged = [(p.name, cv2.imread(str(p))) for p in photos]  # read once, with their references
    references = [[exact.inference(image) for _, image in named] for named in (select, judged)]
    curve_path = workdir / "curve.jsonl"
    t_start, losses = time.perf_counter(), []

    def save(i: int) -> None:
        save_student(student, ckpt)
        state["step"] = i
        state_path.write_text(json.dumps(state))

    for i in range(state["step"], config.steps + 1):
        if i % config.eval_every == 0 or i == config.steps:
            f = _agreement(probe, select, references[0])
            row = {
                "step": i,
                "seconds": round(time.perf_counter() - t_start, 1),
                "loss": float(np.mean(losses)) if losses else None,
                "selection_kept": round(f["kept"] / max(f["total"], 1), 4),
                "selection_differs": f["differs"],
            }
            if photos:
                e = _agreement(probe, judged, references[1])
                row.update(kept=round(e["kept"] / max(e["total"], 1), 4), differs=e["differs"])
            if row["selection_kept"] > state["best_kept"]:
                state.update(best_kept=row["selection_kept"], best_step=i)
                save_student(student, best_path)
            with curve_path.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
            log(json.dumps(row))
            losses = []
            save(i)
        if i == config.steps:
            break
        x = np.stack([augment(rng, pool, (oh, ow)) for _ in range(config.batch)])
        rate = 0.5 * (1.0 + np.cos(np.pi * i / config.steps))  # cosine decay of the kernels' steps
        losses.append(float(step(tf.constant(x), tf.constant(rate, tf.float32))))
        if (i + 1) % 50 == 0:
            save(i + 1)
            log(f"step {i + 1} loss {np.mean(losses[-50:]):.3e} {time.perf_counter() - t_start:.0f}s")
    load_student(student, best_path)
    log(f"chose step {state['best_step']} (selection frames kept {state['best_kept']:.3f})")
    student.chosen_step = state["best_step"]
    return student


# --------------------------------------------------------------------------- export and run


def export_openvino(student, path: Path, input_size: tuple[int, int] = (432, 368)) -> Path:
    """Save the student's last stage as an OpenVINO IR with FakeQuantize nodes for (width, height) input_size.

    OpenVINO reshapes it to other sizes when it is compiled (``posekit.network.openvino.make_int8_runner``).
    """
    import openvino as ov
    import tensorflow as tf

    w, h = input_size
    fn = tf.function(
        lambda x: student(x, training=False)[-2:],
        input_signature=[tf.TensorSpec((1, h, w, 3), tf.float32)],
    )
    model = ov.convert_model(fn.get_concrete_function())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


def write_record(path: Path, config: DistillConfig, **extra) -> Path:
    """Write the JSON record beside an exported network: its settings, its teacher's fingerprint, ``extra``.

    ``weights_sha256`` is ``posekit.network.tflite.weights_fingerprint`` of ``load_model("mobilenet_thin")``:
    precision "int8" runs the network only for a model with those weights.
    """
    from .network.models import load_model
    from .network.tflite import weights_fingerprint

    record = {
        "built_by": "posekit distill",
        "config": dataclasses.asdict(config),
        "weights_sha256": weights_fingerprint(load_model("mobilenet_thin")),
        "training_images": "the frames of videos/vtest_pair.mp4 and images/distill (SOURCES.md there)",
        **extra,
    }
    path = Path(path).with_suffix(".json")
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
