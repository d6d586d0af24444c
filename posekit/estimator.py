"""``PoseEstimator``: wires preprocessing, the network, peak finding and PAF grouping together."""

from __future__ import annotations

import os
import time

import numpy as np

from . import paf as _paf
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .peaks import nms, smooth, smooth_upsampled
from .peaks import upsample as upsample_fields
from .person import InferenceResult, Person
from .preprocess import as_bgr, prepare, read_image
from .skeleton import LIMBS

__all__ = ["PoseEstimator", "fields_to_people"]

_ALLOCATOR_TUNED = False


def _keep_freed_buffers() -> None:
    """Let glibc reuse freed field buffers instead of returning them to the OS.

    Each inference allocates ~12 MB of fields (upsampled heatmaps and PAFs, peaks) that glibc, by
    default, maps fresh from the kernel and unmaps on free: every call then pays page faults on first
    touch, which measured 15 ms against 6 ms of post-processing per image (benchmarks/bench_image.py).
    Raising the mmap and trim thresholds keeps such buffers in the heap. Process-wide, glibc only,
    done once; POSEKIT_KEEP_MALLOC=1 leaves the allocator alone.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or os.environ.get("POSEKIT_KEEP_MALLOC") == "1":
        return
    _ALLOCATOR_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl without mallopt)
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 128 << 20)


def fields_to_people(
    heatmaps: np.ndarray,
    pafs: np.ndarray,
    image_size: tuple[int, int],
    *,
    params: PostprocessParams = TFPOSE_DEFAULTS,
    backend: str | None = None,
    smoothed: np.ndarray | None = None,
) -> tuple[list[Person], np.ndarray, dict[str, float]]:
    """Upsampled fields -> people in image pixels (the post-processing after the network).

    Args:
        heatmaps: float32 (H, W, 19) upsampled, unsmoothed heatmaps.
        pafs: float32 (H, W, 38) upsampled PAFs.
        image_size: (width, height) of the original image; field pixel (col, row) maps to
            image pixel (col / W * width, row / H * height), as tf-pose does.
        params: thresholds and kernel sizes.
        backend: PAF grouping backend, None for ``posekit.paf.BACKEND``.
        smoothed: the smoothed heatmaps if already computed (e.g. by ``peaks.smooth_upsampled``);
            used as scratch (overwritten by the peaks).

    Returns:
        (people, peaks (H, W, 19) float32, timings {"postprocess", "paf"} in ms).
    """
    t0 = time.perf_counter()
    if smoothed is None:
        smoothed = smooth(heatmaps, params.smooth_size, params.smooth_sigma)
    peaks = nms(smoothed, params.nms_size, in_place=True)
    t1 = time.perf_counter()
    kps, scores = _paf.group_people(peaks, heatmaps, pafs, params=params, limbs=LIMBS, backend=backend)
    H, W = heatmaps.shape[:2]
    width, height = image_size
    kps = kps.astype(np.float32, copy=True)
    kps[:, :, 0] *= np.float32(width / W)
    kps[:, :, 1] *= np.float32(height / H)
    people = [Person(kps[i], float(scores[i])) for i in range(len(kps))]
    t2 = time.perf_counter()
    return people, peaks, {"postprocess": (t1 - t0) * 1e3, "paf": (t2 - t1) * 1e3}


class PoseEstimator:
    """Multi-person 2D pose estimation on BGR images.

    Example:
        >>> est = PoseEstimator("mobilenet_thin", input_size=(432, 368))
        >>> result = est.inference(cv2.imread("images/basketball1.png"), upsample=4.0)
        >>> result.keypoints.shape   # (people, 18, 3): x, y in image pixels, score

    Args:
        model: registered model name (see ``posekit.models.MODELS``) or a frozen graph path.
        architecture: for a graph path, its architecture ("mobilenet_thin", "mobilenet_v2_small",
            "mobilenet_v2_large", "cmu"); None detects it from the graph.
        refine_peaks: move each found keypoint to the sub-pixel maximum of the smoothed heatmap
            (``posekit.refine.refine_keypoints``); off by default (tf-pose's integer grid pixels).
        scales: multi-scale inference, e.g. (1.0, 0.75, 1.25): the network runs once per scale of
            the input size and the fields are averaged (``posekit.refine.multiscale_fields``);
            None (default) runs once, as tf-pose does.
        input_size: (width, height) the image is stretched to, or None to run at each image's own size.
        params: post-processing thresholds (defaults: the original tf-pose values).
        paf_backend: "cpp", "numpy" or None (``posekit.paf.BACKEND``).
        backend: network engine: "auto" (TFLite for a fixed input size, else TensorFlow), "tf" or
            "tflite"; see ``posekit.runtime``. All give the same outputs within 1e-4.
        num_threads: threads for the TFLite interpreter (default: all cores).
        warmup: run the pipeline once at ``input_size`` so the first call is not slow.
    """

    def __init__(
        self,
        model: str | os.PathLike = "mobilenet_thin",
        input_size: tuple[int, int] | None = (432, 368),
        *,
        params: PostprocessParams = TFPOSE_DEFAULTS,
        paf_backend: str | None = None,
        backend: str = "auto",
        num_threads: int | None = None,
        warmup: bool = True,
        architecture: str | None = None,
        refine_peaks: bool = False,
        scales: tuple[float, ...] | None = None,
    ) -> None:
        from .models import cache_dir, load_model
        from .refine import check_scales
        from .runtime import make_runner

        if input_size is not None:
            if len(tuple(input_size)) != 2 or min(int(v) for v in input_size) < 16:
                raise ValueError(f"input_size must be (width, height) of at least 16 pixels, got {input_size}")
            input_size = (int(input_size[0]), int(input_size[1]))
        if not isinstance(params, PostprocessParams):
            raise TypeError(f"params must be a PostprocessParams, got {type(params).__name__}")
        _keep_freed_buffers()
        self.model_name = os.fspath(model)
        self.input_size = input_size
        self.params = params
        self.paf_backend = paf_backend
        self.refine_peaks = bool(refine_peaks)
        self.scales = check_scales(scales)
        self.model = load_model(model, architecture=architecture)
        tflite_dir = cache_dir(model, architecture) / "tflite"
        self._run, self.backend = make_runner(
            self.model, backend, input_size, tflite_dir, num_threads=num_threads
        )
        self._tflite_dir, self._num_threads, self._runners = tflite_dir, num_threads, {}
        if warmup and input_size is not None:  # the first call traces the graph and loads kernels
            self.inference(np.zeros((input_size[1], input_size[0], 3), np.uint8))

    def replica(self, num_threads: int | None = 1) -> PoseEstimator:
        """A second estimator sharing this one's model and settings, with its own network runner.

        Used to run several frames at once (``posekit.video.process_video(workers=...)``), each replica
        with a single-threaded TFLite interpreter; ``benchmarks/bench_video.py`` measures whether that
        beats one multi-threaded interpreter on a given machine. The "tf" backend shares one
        thread-safe function.
        """
        import copy

        from .runtime import make_runner

        twin = copy.copy(self)
        twin._runners = {}
        twin._num_threads = num_threads
        if self.backend == "tflite":
            twin._run, _ = make_runner(self.model, "tflite", self.input_size, self._tflite_dir, num_threads=num_threads)
        return twin

    def network(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Run the network on float32 BGR 0..255 (N, H, W, 3): (heatmaps (N, h, w, 19), pafs (N, h, w, 38)), stride 8."""
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[-1] != 3:
            raise ValueError(f"batch must have shape (N, H, W, 3), got {batch.shape}")
        return self._run(batch.astype(np.float32, copy=False))

    def inference(self, image: np.ndarray | str | os.PathLike, upsample: float = 4.0) -> InferenceResult:
        """Find the people in one image.

        Args:
            image: BGR uint8 (H, W, 3) as from ``cv2.imread`` (gray (H, W) and BGRA accepted),
                or an image file path.
            upsample: factor from the network's output grid (input / 8) to the grid the peaks
                and limbs are found on (tf-pose's ``upsample_size``); 4 gives (184, 216) for 432x368.

        Returns:
            InferenceResult with people (keypoints in original-image pixels), upsampled
            heatmaps (h, w, 19), PAFs (h, w, 38), peaks and per-stage timings in ms.
        """
        t0 = time.perf_counter()
        upsample = _check_upsample(upsample)
        image = _load(image)
        if self.scales is not None:
            return self._inference_multiscale(image, upsample, t0)
        inp = prepare(image, self.input_size)
        t1 = time.perf_counter()
        heat, paf = self._run(inp[None])
        t2 = time.perf_counter()
        return self._finish(heat[0], paf[0], image.shape, upsample, t0, t1, t2)

    def inference_batch(
        self, images, upsample: float = 4.0, *, batch_size: int = 8
    ) -> list[InferenceResult]:
        """Find the people in many images, running the network on batches.

        With the "tf" backend and a fixed ``input_size`` the network runs ``batch_size`` images per
        call (see ``benchmarks/bench_image.py`` for when that pays); otherwise images run one by one.
        Per-image timings share the batch's preprocess and network time equally.

        Args:
            images: iterable of BGR uint8 images or image paths.
            upsample: as in ``inference``.
            batch_size: images per network call.

        Returns:
            One InferenceResult per image, in order.
        """
        upsample = _check_upsample(upsample)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        items = list(images)
        if self.input_size is None or self.backend != "tf" or self.scales is not None:
            return [self.inference(image, upsample) for image in items]
        results = []
        for start in range(0, len(items), int(batch_size)):
            t0 = time.perf_counter()
            chunk = [_load(image) for image in items[start : start + int(batch_size)]]
            batch = np.stack([prepare(image, self.input_size) for image in chunk])
            t1 = time.perf_counter()
            heat, paf = self._run(batch)
            t2 = time.perf_counter()
            n = len(chunk)
            for k, image in enumerate(chunk):
                t_pre, t_net = (t1 - t0) / n, (t2 - t1) / n
                results.append(self._finish(heat[k], paf[k], image.shape, upsample, 0.0, t_pre, t_pre + t_net))
        return results

    def _finish(
        self, heat, paf, image_shape, upsample, t0, t1, t2, fields=None, extra_ms=0.0
    ) -> InferenceResult:
        """Upsample one image's fields, find its people, and assemble the result with timings.

        ``fields``: already upsampled (heatmaps, pafs) (multi-scale), then ``heat``/``paf`` are unused.
        """
        height, width = image_shape[:2]
        in_h, in_w = (self.input_size[1], self.input_size[0]) if self.input_size else (height, width)
        up = (max(1, int(in_h / 8 * upsample)), max(1, int(in_w / 8 * upsample)))
        t_up = time.perf_counter()
        smoothed = None
        if fields is None:
            heat_up, paf_up = upsample_fields(heat, up), upsample_fields(paf, up)
            smoothed = smooth_upsampled(heat, up, self.params.smooth_size, self.params.smooth_sigma)
        else:
            heat_up, paf_up = fields
        t3 = time.perf_counter()
        people, peaks, post = fields_to_people(
            heat_up, paf_up, (width, height), params=self.params, backend=self.paf_backend, smoothed=smoothed
        )
        if self.refine_peaks:
            from .refine import refine_keypoints

            t_ref = time.perf_counter()
            people = refine_keypoints(people, heat_up, (width, height), params=self.params)
            post["postprocess"] += (time.perf_counter() - t_ref) * 1e3
        t4 = time.perf_counter()
        timings = {
            "preprocess": (t1 - t0) * 1e3,
            "network": (t2 - t1) * 1e3,
            "postprocess": (t3 - t_up) * 1e3 + post["postprocess"] + extra_ms,
            "paf": post["paf"],
        }
        timings["total"] = timings["preprocess"] + timings["network"] + (t4 - t_up) * 1e3 + extra_ms
        return InferenceResult(people, heat_up, paf_up, peaks, (width, height), timings)

    def _inference_multiscale(self, image, upsample, t0) -> InferenceResult:
        """``inference`` with ``scales``: fields averaged over the scales, then the usual post-processing."""
        from .refine import multiscale_fields

        height, width = image.shape[:2]
        base = self.input_size or (width, height)
        grid = (max(1, int(base[1] / 8 * upsample)), max(1, int(base[0] / 8 * upsample)))
        t_load = time.perf_counter()
        heat_up, paf_up, t = multiscale_fields(image, base, self.scales, grid, self._runner_for)
        t1 = t_load + t["preprocess"] / 1e3
        t2 = t1 + t["network"] / 1e3
        return self._finish(
            None, None, image.shape, upsample, t0, t1, t2, fields=(heat_up, paf_up), extra_ms=t["postprocess"]
        )

    def _runner_for(self, size: tuple[int, int]):
        """The network runner for one input (width, height): TFLite converts once per size."""
        if self.backend != "tflite" or size == self.input_size:
            return self._run
        if size not in self._runners:
            from .runtime import make_runner

            self._runners[size] = make_runner(
                self.model, "tflite", size, self._tflite_dir, num_threads=self._num_threads
            )[0]
        return self._runners[size]

    def __repr__(self) -> str:
        return f"PoseEstimator(model={self.model_name!r}, input_size={self.input_size}, backend={self.backend!r})"


def _check_upsample(upsample) -> float:
    try:
        value = float(upsample)
    except (TypeError, ValueError):
        raise ValueError(f"upsample must be a positive number, got {upsample!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise ValueError(f"upsample must be a positive number, got {upsample!r}")
    return value


def _load(image) -> np.ndarray:
    """A path or an array -> checked BGR uint8 (H, W, 3)."""
    if isinstance(image, (str, os.PathLike)):
        image = read_image(image)
    return as_bgr(image)
