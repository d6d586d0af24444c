"""The original tf-pose inference path, rebuilt for benchmarks (not part of the package).

Follows the original step by step (see the project's reference notes on tf-pose): the frozen
mobilenet_thin graph run through ``tf.compat.v1`` in a session, with the post-processing in the same
session run — ``resize_area`` upsampling of heatmaps and PAFs, a dense 25x25 depthwise Gaussian
convolution of the heatmaps, a 3x3 max-pool NMS — then the PAF grouping (posekit's C++ grouping stands in
for the original's SWIG module: same algorithm, same constants).
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from posekit.peaks import gaussian_kernel_2d


class OriginalPath:
    """tf-pose's ``TfPoseEstimator.inference`` (resize_to_default=True), timed per stage."""

    def __init__(self, graph_path, input_size=(432, 368)):
        import tensorflow as tf

        self.tf = tf
        self.input_size = input_size
        self.graph = tf.Graph()
        gd = tf.compat.v1.GraphDef()
        gd.ParseFromString(Path(graph_path).read_bytes())
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(gd, name="TfPoseEstimator")
            self.image = self.graph.get_tensor_by_name("TfPoseEstimator/image:0")
            out = self.graph.get_tensor_by_name("TfPoseEstimator/Openpose/concat_stage7:0")
            heat, paf = out[:, :, :, :19], out[:, :, :, 19:]
            self.upsample_size = tf.compat.v1.placeholder(tf.int32, (2,), name="upsample_size")
            self.heat_up = tf.compat.v1.image.resize_area(heat, self.upsample_size, align_corners=False)
            self.paf_up = tf.compat.v1.image.resize_area(paf, self.upsample_size, align_corners=False)
            k = gaussian_kernel_2d(25, 3.0).astype(np.float32)
            kernel = tf.constant(np.tile(k[:, :, None, None], (1, 1, 19, 1)))
            smoothed = tf.nn.depthwise_conv2d(self.heat_up, kernel, [1, 1, 1, 1], "SAME")
            pooled = tf.nn.max_pool2d(smoothed, 3, 1, "SAME")
            self.peaks = tf.where(tf.equal(smoothed, pooled), smoothed, tf.zeros_like(smoothed))
        self.sess = tf.compat.v1.Session(graph=self.graph)
        w, h = input_size
        for r in (1.0, 0.5, 0.25):  # the original's three warm-up runs
            up = [int(h / 8 * r) or 1, int(w / 8 * r) or 1]  # tf-pose's upsample_size is (rows, cols)
            self.sess.run(
                self.peaks, {self.image: np.zeros((1, h, w, 3), np.float32), self.upsample_size: up}
            )

    def network_only(self, batch):
        return self.sess.run("TfPoseEstimator/Openpose/concat_stage7:0", {self.image: batch})

    def inference(self, image, upsample=4.0):
        """Returns (keypoints (P, 18, 3) in image pixels, timings ms)."""
        from posekit import paf

        t0 = time.perf_counter()
        w, h = self.input_size
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC)
        t1 = time.perf_counter()
        up = [int(h / 8 * upsample), int(w / 8 * upsample)]
        peaks, heat_up, paf_up = self.sess.run(
            [self.peaks, self.heat_up, self.paf_up],
            {self.image: resized[None].astype(np.float32), self.upsample_size: up},
        )
        t2 = time.perf_counter()
        kps, _ = paf.group_people(peaks[0], heat_up[0], paf_up[0])
        kps[:, :, 0] *= image.shape[1] / up[1]
        kps[:, :, 1] *= image.shape[0] / up[0]
        t3 = time.perf_counter()
        return kps, {"preprocess": (t1 - t0) * 1e3, "network+postprocess": (t2 - t1) * 1e3,
                     "paf": (t3 - t2) * 1e3, "total": (t3 - t0) * 1e3}  # fmt: skip
