"""``PoseEstimator``: the façade that wires the stages together; it holds no stage of its own.

image -> ``preprocess.prepare`` -> network (``network.engines``) -> ``postprocess.postprocess_fields``
(or ``multiscale.multiscale_fields`` then ``postprocess.fields_to_people``) -> ``InferenceResult``.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .params import TFPOSE_DEFAULTS, PostprocessParams
from .peaks import Workspace
from .person import InferenceResult
from .postprocess import check_upsample, fields_to_people, postprocess_fields
from .preprocess import (
    DEFAULT_UPSAMPLE,
    as_bgr,
    check_input_size,
    grid_size,
    keeps_aspect,
    network_input_size,
    prepare,
    read_image,
)

__all__ = ["PoseEstimator"]


class PoseEstimator:
    """Multi-person 2D pose estimation on BGR images.

    Example:
        >>> est = PoseEstimator("mobilenet_thin", input_size=(432, 368))
        >>> result = est.inference(cv2.imread("images/basketball1.png"), upsample=4.0)
        >>> result.keypoints.shape   # (people, 18, 3): x, y in image pixels, score

    Building an estimator loads the model (and, for the "tflite" engine, converts it once per input
    size); it changes no process-wide state. One estimator may be shared by several threads: the
    results equal those of sequential calls (a TFLite engine runs one image at a time; for parallel
    network runs give each thread a ``replica``).

    Keeping the aspect ratio (``input_size=(None, 368)``, the CLI's ``-1x368``, OpenPose's default)
    gives each image its own width. OpenVINO runs every width at that height with one network (compiled
    once for a dynamic width, no conversion); TFLite needs a network per width, and the estimator keeps
    the last ``posekit.network.engines.RUNNER_CACHE_SIZE`` in memory
    (``posekit.network.engines.SizedRunners``) beside
    the conversions on disk; a video needs one size. Multi-scale sizes use the same cache.

    Args:
        model: registered model name (see ``posekit.network.weights.MODELS``) or a frozen graph path.
        input_size: "model" (default): the model's own input size
            (``posekit.network.models.default_input_size``: 432x368 for mobilenet_thin); or (width, height)
            the image is stretched to, each side 16 to
            ``posekit.preprocess.MAX_INPUT_SIDE`` and a grid not too thin to hold a person
            (``posekit.preprocess.check_input_size``); (None, height) to keep each image's aspect ratio,
            the width rounded to a multiple of 16 (``posekit.preprocess.aspect_input_size``; more accurate
            than the stretch, see the README); or None to run at each image's own size (images larger
            than ``MAX_INPUT_SIDE`` are then refused). ``InferenceResult.input_size`` is the size used.
        params: post-processing thresholds (defaults: the original tf-pose values).
        paf_backend: PAF grouping implementation: "cpp", "numpy" or None (``posekit.paf.BACKEND``).
        engine: network engine: "auto" (for a fixed input size or (None, height) OpenVINO where
            installed, else TFLite; each image's own size: TensorFlow), "tf", "tflite" or "openvino"; see
            ``posekit.network.engines``. All give the same outputs within 1e-4.
        precision: "fp32" (default, the exact mode) or "bf16" (the fast mode: OpenVINO, most of the
            network in bf16 by ``posekit.network.bf16.BF16_PLAN``, a fixed input size; on a CPU
            without bf16
            instructions one warning and fp32 runs).
            ``self.precision`` is what runs. See ``posekit.network.engines``.
        num_threads: threads for the TFLite interpreter or OpenVINO (default: all cores).
        warmup: run the pipeline once at ``input_size`` (for (None, height): at the model's default
            aspect ratio) so the first call is not slow.
        architecture: for a graph path, its architecture ("mobilenet_thin", "mobilenet_v2_small",
            "mobilenet_v2_large", "cmu"); None detects it from the graph.
        refine_peaks: move each found keypoint to the sub-pixel maximum of the smoothed heatmap
            (``posekit.refine.refine_keypoints``); off by default (tf-pose's integer grid cells).
        scales: multi-scale inference, e.g. (1.0, 0.75, 1.25): the network runs once per scale of
            the input size and the fields are averaged (``posekit.multiscale.multiscale_fields``);
            None (default) runs once, as tf-pose does.
        weights: None (the model's published weights) or a weights file for the model's architecture
            (the ``.npz`` that ``posekit train`` / ``posekit.train.save_weights`` writes): fine-tuned
            weights replace the published ones; their conversions are cached by the weights' content
            (``posekit.network.models.cache_dir``). ``self.weights_sha256`` is their checksum (None without).

    Raises:
        ValueError: a bad ``input_size``, ``scales`` or ``engine``, before anything is loaded.
        TypeError: ``params`` is not a ``PostprocessParams``.
        posekit.network.weights.WeightsFileError: a weights file that is corrupt, truncated, non-finite or for
            another architecture (a ``ValueError``); FileNotFoundError: no such weights file.
    """

    def __init__(
        self,
        model: str | os.PathLike = "mobilenet_thin",
        input_size: tuple[int, int] | None | str = "model",
        *,
        params: PostprocessParams = TFPOSE_DEFAULTS,
        paf_backend: str | None = None,
        engine: str = "auto",
        num_threads: int | None = None,
        warmup: bool = True,
        architecture: str | None = None,
        refine_peaks: bool = False,
        scales: tuple[float, ...] | None = None,
        precision: str = "fp32",
        weights: str | os.PathLike | None = None,
    ) -> None:
        from .multiscale import check_scales, scaled_size
        from .network.models import default_input_size

        if isinstance(input_size, str) and input_size == "model":
            input_size = default_input_size(model, architecture)
        if input_size is not None:
            input_size = check_input_size(input_size, keep_aspect=True)
        if not isinstance(params, PostprocessParams):
            raise TypeError(f"params must be a PostprocessParams, got {type(params).__name__}")
        self.scales = check_scales(scales)
        if input_size is not None and not keeps_aspect(input_size) and self.scales is not None:
            for s in self.scales:
                scaled_size(input_size, s)  # refuses a scaled size beyond MAX_INPUT_SIDE now, not later

        from .network.engines import check_precision, make_runner
        from .network.models import cache_dir, load_model, read_weights_for

        precision = check_precision(precision, engine, input_size)
        tuned = None if weights is None else read_weights_for(model, weights, architecture)
        self.weights_sha256 = None if tuned is None else tuned.sha256
        self.model_name = os.fspath(model)
        self.input_size = input_size
        self.params = params
        self.paf_backend = paf_backend
        self.refine_peaks = bool(refine_peaks)
        self.model = load_model(model, architecture=architecture, weights=tuned)
        tflite_dir = cache_dir(model, architecture, weights=tuned) / "tflite"
        del tuned  # the arrays are in the model now
        self._base_size = _base_size(
            model, input_size, architecture
        )  # the one fixed size the first runner is built for
        self._run, self.engine = make_runner(
            self.model, engine, self._base_size, tflite_dir, num_threads=num_threads, precision=precision
        )
        self.precision = precision
        self._tflite_dir, self._num_threads = tflite_dir, num_threads
        self._runners = self._sized_runners()  # other sizes (multi-scale, aspect kept): an LRU
        self._workspace = Workspace()  # post-processing scratch, one set per thread
        if warmup and self._base_size is not None:  # the first call traces the graph and loads kernels
            self.inference(np.zeros((self._base_size[1], self._base_size[0], 3), np.uint8))

    def replica(self, num_threads: int | None = 1) -> PoseEstimator:
        """A second estimator sharing this one's model and settings, with its own network runner.

        Used to run several frames at once (``posekit.video.process_video(workers=...)``), each replica
        with a single-threaded TFLite interpreter; ``benchmarks/bench_video.py`` measures whether that
        beats one multi-threaded interpreter on a given machine. The "tf" engine shares one
        thread-safe function.
        """
        import copy

        from .network.engines import make_runner

        twin = copy.copy(self)
        twin._workspace = Workspace()
        twin._num_threads = num_threads
        if self.engine != "tf":
            twin._run, _ = make_runner(
                self.model, self.engine, self._base_size, self._tflite_dir, num_threads=num_threads,
                precision=self.precision,
            )  # fmt: skip
        twin._runners = twin._sized_runners()
        return twin

    def network(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on float32 BGR 0..255 (N, H, W, 3) -> heatmaps (N, h, w, 19), pafs (N, h, w, 38).

        The outputs are at stride 8 (h, w = ceil(H / 8), ceil(W / 8)). An estimator with a fixed
        ``input_size`` takes that size (the "tf" engine: any); one keeping the aspect ratio any size.
        """
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"batch must have shape (N, H, W, 3), got {batch.shape}")
        run = self._run
        if keeps_aspect(self.input_size):  # any width: the runner of the batch's size
            run = self._runner_for(check_input_size((batch.shape[2], batch.shape[1]), name="batch (W, H)"))
        return run(batch.astype(np.float32, copy=False))

    def inference(
        self, image: np.ndarray | str | os.PathLike, upsample: float = DEFAULT_UPSAMPLE
    ) -> InferenceResult:
        """Find the people in one image: ``inference_batch`` of that one image.

        Args:
            image: BGR uint8 (H, W, 3) as from ``cv2.imread`` (gray (H, W) and BGRA accepted),
                or an image file path.
            upsample: factor from the network grid (input / ``preprocess.STRIDE``) to the upsampled grid
                the peaks and limbs are found on (tf-pose's ``upsample_size``); 4 gives (216, 184) for
                432x368. At most ``params.smooth_size`` (``posekit.postprocess.check_upsample`` says why).

        Returns:
            InferenceResult with people (keypoints in original-image pixels), heatmaps (uh, uw, 19) and
            PAFs (uh, uw, 38) on the upsampled grid, peaks and per-stage timings in ms.

        Raises:
            ImageError: a bad image, or one too large to run at its own size.
            ValueError: a bad ``upsample``, or a grid beyond ``preprocess.MAX_GRID_SIDE``.
        """
        return self.inference_batch([image], upsample, batch_size=1)[0]

    def inference_batch(
        self, images, upsample: float = DEFAULT_UPSAMPLE, *, batch_size: int = 8
    ) -> list[InferenceResult]:
        """Find the people in many images, running the network on batches of one input size.

        Images are read ``batch_size`` at a time; those of one network input size run as one network
        call (the "tf" engine runs them as one batch, see ``benchmarks/bench_image.py`` for when that
        pays; a converted network runs them one by one). Per-image timings share their call's
        preprocess and network time equally. With ``scales`` each image runs at every scale.

        Args:
            images: iterable of BGR uint8 images or image paths.
            upsample: as in ``inference``.
            batch_size: images per network call, at most.

        Returns:
            One InferenceResult per image, in order.

        Raises:
            ImageError, ValueError: as in ``inference``; ValueError: ``batch_size`` below 1.
        """
        upsample = check_upsample(upsample, self.params, input_size=self._fixed_size)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items, step = list(images), int(batch_size)
        results: list[InferenceResult] = []
        for start in range(0, len(items), step):
            results.extend(self._run_chunk(items[start : start + step], upsample))
        return results

    def _run_chunk(self, items: list, upsample: float) -> list[InferenceResult]:
        """One chunk of ``inference_batch``: images grouped by network input size, one network call each."""
        t0 = time.perf_counter()
        images = [_load(image) for image in items]
        sizes = [network_input_size(image, self.input_size) for image in images]
        grids = [grid_size(size, upsample) for size in sizes]
        if self.scales is not None:
            return [
                self._inference_multiscale(image, size, grid, t0 if k == 0 else time.perf_counter())
                for k, (image, size, grid) in enumerate(zip(images, sizes, grids))
            ]
        t_load = (time.perf_counter() - t0) / len(images)
        groups: dict[tuple[int, int], list[int]] = {}
        for k, size in enumerate(sizes):
            groups.setdefault(size, []).append(k)
        results: list[InferenceResult | None] = [None] * len(images)
        for size, members in groups.items():
            t1 = time.perf_counter()
            batch = np.stack([prepare(images[k], size) for k in members])
            run = self._runner_for(size)
            t2 = time.perf_counter()
            heat, paf = run(batch)
            t3 = time.perf_counter()
            t_pre, t_net = t_load + (t2 - t1) / len(members), (t3 - t2) / len(members)
            for i, k in enumerate(members):
                results[k] = self._finish(
                    heat[i], paf[i], images[k].shape, grids[k], 0.0, t_pre, t_pre + t_net, size
                )
        return results

    @property
    def _fixed_size(self) -> tuple[int, int] | None:
        """The input size when every image runs at it, else None (own size, or aspect kept)."""
        return None if self.input_size is None or keeps_aspect(self.input_size) else self.input_size

    def _sized_runners(self):
        """This estimator's LRU of runners for other sizes than its base (``engines.SizedRunners``)."""
        from .network.engines import SizedRunners

        base = (self._base_size, self._run) if self._base_size is not None or self.engine == "tf" else None
        return SizedRunners(
            self.model, self.engine, self._tflite_dir, self._num_threads, precision=self.precision, base=base
        )

    def network_sizes(self) -> list[tuple[int | None, int]]:
        """The input sizes (width, height) whose networks this estimator holds, least recently used first.

        A width of None is OpenVINO's network for every width at that height. "tf" runs every size with
        one function and lists none; the others hold at most ``posekit.network.engines.RUNNER_CACHE_SIZE``.
        """
        return [] if self.engine == "tf" else self._runners.sizes()

    def _finish(self, heat, paf, image_shape, grid, t0, t1, t2, size) -> InferenceResult:
        """Post-process one image's network fields and assemble the result with timings."""
        height, width = image_shape[:2]
        t3 = time.perf_counter()
        people, heat_up, paf_up, peaks, post = postprocess_fields(
            heat, paf, (width, height), grid, params=self.params, paf_backend=self.paf_backend,
            refine=self.refine_peaks, workspace=self._workspace,
        )  # fmt: skip
        t4 = time.perf_counter()
        return InferenceResult(
            people, heat_up, paf_up, peaks, (width, height), _timings(t0, t1, t2, t3, t4, post),
            input_size=(int(size[0]), int(size[1])),
        )  # fmt: skip

    def _inference_multiscale(self, image, size, grid, t0) -> InferenceResult:
        """``inference`` with ``scales``: fields averaged over the scales, then the usual post-processing."""
        from .multiscale import multiscale_fields

        height, width = image.shape[:2]
        t_load = time.perf_counter()
        heat_up, paf_up, t = multiscale_fields(image, size, self.scales, grid, self._runner_for)
        t1 = t_load + t["preprocess"] / 1e3
        t2 = t1 + t["network"] / 1e3
        t3 = time.perf_counter()
        people, peaks, post = fields_to_people(
            heat_up, paf_up, (width, height), params=self.params, paf_backend=self.paf_backend,
            refine=self.refine_peaks, workspace=self._workspace,
        )  # fmt: skip
        t4 = time.perf_counter()
        post["postprocess"] += t["postprocess"]
        timings = _timings(t0, t1, t2, t3, t4, post, extra_ms=t["postprocess"])
        return InferenceResult(people, heat_up, paf_up, peaks, (width, height), timings, input_size=size)

    def _runner_for(self, size: tuple[int, int]):
        """The network runner for one input (width, height): the base runner, or the LRU's (built once)."""
        if self.engine == "tf" or size == self._base_size:
            return self._run
        return self._runners(size)

    def __repr__(self) -> str:
        return (
            f"PoseEstimator(model={self.model_name!r}, input_size={self.input_size}, engine={self.engine!r}, "
            f"precision={self.precision!r})"
        )


def _base_size(model, input_size, architecture) -> tuple[int, int] | None:
    """The fixed size the estimator's first runner is built for: ``input_size``, or for (None, height)
    the width of the model's default aspect ratio (``network.models.default_input_size``), whose
    conversion the default estimator has usually cached; None for each image's own size.
    """
    if input_size is None or not keeps_aspect(input_size):
        return input_size
    from .network.models import default_input_size
    from .preprocess import aspect_input_size

    return aspect_input_size(default_input_size(model, architecture), input_size[1])


def _timings(t0, t1, t2, t3, t4, post, extra_ms=0.0) -> dict[str, float]:
    """Per-stage ms from the stage boundaries (preprocess t0-t1, network t1-t2, post-processing t3-t4)."""
    timings = {
        "preprocess": (t1 - t0) * 1e3,
        "network": (t2 - t1) * 1e3,
        "postprocess": post["postprocess"],
        "paf": post["paf"],
    }
    timings["total"] = timings["preprocess"] + timings["network"] + (t4 - t3) * 1e3 + extra_ms
    return timings


def _load(image) -> np.ndarray:
    """A path or an array -> checked BGR uint8 (H, W, 3)."""
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    return as_bgr(image)
