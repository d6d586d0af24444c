"""Tracking people across video frames, and One-Euro filtering of their keypoints over time.

``Tracker.update`` takes the people found in one frame and returns them with a
``person_id`` that persists across frames:

* Each track keeps the keypoints it was last seen with and a constant-velocity
  estimate, so its expected keypoints in the new frame are ``last + velocity * gap``.
* Similarity between a track and a detection is OKS-like: over the keypoints present
  in both, the mean of ``exp(-d**2 / (2 * (kappa * scale)**2))``, where ``d`` is the
  pixel distance between the predicted and the detected keypoint and ``scale`` the
  larger side of the track's last bounding box (at least ``min_scale`` pixels). It is
  in [0, 1]; no keypoint in common gives 0.
* Pairs are matched greedily (``posekit.match.greedy_match``), highest similarity x
  keypoints in common first (greedy is what OKS-based trackers commonly use); a pair
  below ``min_similarity`` is never matched.
* A detection left unmatched starts a new track if it has a neck; ids count up from 0
  and are never reused. An unmatched detection without a neck is left out of the output
  (``TrackerParams.new_track_needs_neck``): on video the network often splits a head or
  a pair of legs off a body it also finds, and each piece would be a new person for a
  frame or two (on the bundled clip: 15 ids instead of 7 in 30 frames). A track not
  matched for more than ``max_age_frames`` frames is dropped, so a person lost longer
  than that comes back with a new id.

Optional One-Euro filtering (Casiez et al., CHI 2012; ``Tracker(one_euro=OneEuroParams())``)
filters every keypoint coordinate of every track over time: one ``OneEuroFilter`` per
person_id over its (18, 2) x, y array, which is the same as one filter per (person_id,
keypoint) coordinate. (In posekit "smooth" means the Gaussian on the heatmaps,
``peaks.smooth``; the filter over time is called One-Euro everywhere.)

Coordinates are (x, y) in original-image pixels, as in ``Person.keypoints``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable

import numpy as np

from ..match import greedy_match
from ..person import Person
from ..skeleton import CocoPart

__all__ = ["TrackerParams", "OneEuroParams", "OneEuroFilter", "Tracker", "keypoint_similarity"]


@dataclasses.dataclass(frozen=True)
class TrackerParams:
    """Settings of ``Tracker``.

    Attributes:
        max_age_frames: a track unseen for more than this many consecutive frames is dropped.
            Frames are counted in source frame indices when ``update`` gets
            ``frame_index``, else in calls to ``update``.
        min_similarity: the lowest keypoint similarity (0..1) at which a detection may
            continue a track.
        kappa: the keypoint distance tolerance as a fraction of the person's scale (the
            larger side of the bounding box); 0.25 tolerates ~25 px on a 100 px person.
        min_scale: lower bound of the scale in pixels, for people seen by few parts.
        velocity_decay: weight of the newest displacement in the velocity estimate
            (1 = last displacement only, 0 = no motion model).
        new_track_needs_neck: a detection without a neck may continue a track but never
            starts one; left unmatched, it is left out of ``update``'s output. The
            network's neck-less detections are mostly pieces it split off a body (a head,
            a pair of legs) next to the same person's main detection, so each would
            otherwise show up as a new person for a frame or two. False: every unmatched
            detection starts a track.
    """

    max_age_frames: int = 10
    min_similarity: float = 0.3
    kappa: float = 0.25
    min_scale: float = 16.0
    velocity_decay: float = 0.5
    new_track_needs_neck: bool = True

    def __post_init__(self) -> None:
        if self.max_age_frames < 0:
            raise ValueError(f"max_age_frames must be >= 0, got {self.max_age_frames}")
        if not 0 <= self.min_similarity <= 1:
            raise ValueError(f"min_similarity must be in [0, 1], got {self.min_similarity}")
        if not self.kappa > 0 or not self.min_scale > 0:
            raise ValueError(f"kappa and min_scale must be positive, got {self.kappa}, {self.min_scale}")
        if not 0 <= self.velocity_decay <= 1:
            raise ValueError(f"velocity_decay must be in [0, 1], got {self.velocity_decay}")


@dataclasses.dataclass(frozen=True)
class OneEuroParams:
    """One-Euro filter settings (time in seconds, positions in pixels).

    Attributes:
        min_cutoff: cutoff frequency in Hz at rest; lower = smoother but more lag when slow.
        beta: cutoff increase per pixel/second of speed; higher = less lag when fast.
        d_cutoff: cutoff frequency in Hz of the speed estimate.
    """

    min_cutoff: float = 1.0
    beta: float = 0.05
    d_cutoff: float = 1.0

    def __post_init__(self) -> None:
        if not self.min_cutoff > 0 or not self.d_cutoff > 0 or self.beta < 0:
            raise ValueError(
                f"One-Euro parameters must be min_cutoff > 0, beta >= 0, d_cutoff > 0, got {self}"
            )


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    """Smoothing factor of a first-order low-pass filter with ``cutoff`` Hz at time step ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuroFilter:
    """The One-Euro filter on an array of values filtered independently (e.g. (18, 2) keypoints).

    NaN entries (missing keypoints) pass through as NaN and restart that entry's filter
    when it reappears.

    Args:
        params: cutoffs and speed coefficient.
    """

    def __init__(self, params: OneEuroParams = OneEuroParams()) -> None:
        self.params = params
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    def __call__(self, x: np.ndarray, t: float) -> np.ndarray:
        """Filter the values ``x`` (float array, NaN = missing) observed at time ``t`` seconds."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._t is None or t <= self._t or self._x.shape != x.shape:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        p = self.params
        dt = float(t) - self._t
        fresh = np.isnan(self._x)  # entries with no history restart from the observation
        dx = np.where(fresh, 0.0, (x - self._x) / dt)
        dx_hat = _alpha(p.d_cutoff, dt) * dx + (1 - _alpha(p.d_cutoff, dt)) * self._dx
        a = _alpha(p.min_cutoff + p.beta * np.abs(dx_hat), dt)
        x_hat = np.where(fresh, x, a * x + (1 - a) * self._x)
        missing = np.isnan(x)
        self._x = np.where(missing, np.nan, x_hat)
        self._dx = np.where(missing | fresh, 0.0, dx_hat)
        self._t = float(t)
        return self._x.copy()


def keypoint_similarity(
    expected: np.ndarray, detected: np.ndarray, scale: float, kappa: float = 0.25
) -> float:
    """OKS-like similarity in [0, 1] of two (18, 3) keypoint arrays (x, y, score; score 0 = missing).

    Args:
        expected: float (18, 3), e.g. a track's predicted keypoints, image pixels.
        detected: float (18, 3), a detection's keypoints, image pixels.
        scale: person size in pixels the distances are normalised by.
        kappa: distance tolerance as a fraction of ``scale``.

    Returns:
        The mean of ``exp(-d**2 / (2 (kappa scale)**2))`` over keypoints present in both;
        0.0 when they share none.
    """
    both = (expected[:, 2] > 0) & (detected[:, 2] > 0)
    if not both.any():
        return 0.0
    d2 = ((expected[both, :2] - detected[both, :2]) ** 2).sum(axis=1)
    return float(np.exp(-d2 / (2.0 * (kappa * scale) ** 2)).mean())


@dataclasses.dataclass
class _Track:
    """A tracked person: last keypoints (18, 3), body velocity (2,) in px/frame, last frame seen."""

    person_id: int
    keypoints: np.ndarray
    velocity: np.ndarray
    last_seen: int
    smoother: OneEuroFilter | None = None

    def predict(self, frame: int) -> np.ndarray:
        kp = self.keypoints.astype(np.float64, copy=True)
        kp[:, :2] += self.velocity * (frame - self.last_seen)
        return kp

    def scale(self, min_scale: float) -> float:
        pts = self.keypoints[self.keypoints[:, 2] > 0, :2]
        if len(pts) == 0:
            return min_scale
        return max(float(np.ptp(pts[:, 0])), float(np.ptp(pts[:, 1])), min_scale)


class Tracker:
    """Give people persistent ids across the frames of a video, optionally One-Euro filtered.

    Example::

        tracker = Tracker(one_euro=OneEuroParams(min_cutoff=1.0, beta=0.05))
        for i, frame in iter_frames("videos/vtest_pair.mp4"):
            people = tracker.update(estimator.inference(frame).people, frame_index=i)

    ``process_video(source, estimator, tracker=Tracker(...))`` runs one on a video. A tracker
    keeps its tracks from call to call: ``reset()`` it before an unrelated video.

    Args:
        params: matching thresholds and the timeout for lost people.
        one_euro: One-Euro filter settings for the keypoints over time, or None (default) for
            the raw keypoints.
        fps: frames per second, to turn frame indices into seconds for the One-Euro filter;
            None: the times given to ``update`` (``process_video`` gives the source's), else 30.
    """

    def __init__(
        self,
        params: TrackerParams = TrackerParams(),
        *,
        one_euro: OneEuroParams | None = None,
        fps: float | None = None,
    ) -> None:
        if not isinstance(params, TrackerParams):
            raise TypeError(f"params must be a TrackerParams, got {type(params).__name__}")
        if one_euro is not None and not isinstance(one_euro, OneEuroParams):
            raise TypeError(f"one_euro must be a OneEuroParams or None, got {type(one_euro).__name__}")
        if fps is not None and not (math.isfinite(fps) and fps > 0):
            raise ValueError(f"fps must be positive, got {fps}")
        self.params = params
        self.one_euro = one_euro
        self.fps = None if fps is None else float(fps)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame = -1

    @property
    def active_ids(self) -> list[int]:
        """Ids of the tracks currently kept (seen within ``max_age_frames``)."""
        return [t.person_id for t in self._tracks]

    def reset(self) -> None:
        """Forget every track; ids start again from 0."""
        self._tracks = []
        self._next_id = 0
        self._frame = -1

    def update(
        self, people: Iterable[Person], frame_index: int | None = None, *, time_s: float | None = None
    ) -> list[Person]:
        """Assign ids to the people of the next frame.

        Args:
            people: the people found in the frame (their ``person_id`` is ignored).
            frame_index: the frame's index in the source; None counts calls (0, 1, 2, ...).
                Must increase from call to call.
            time_s: the frame's time in seconds for the One-Euro filter; used when the
                tracker has no ``fps`` (default: ``frame_index / 30``).

        Returns:
            New ``Person`` objects in the input order with ``person_id`` set (and
            keypoints One-Euro filtered if ``one_euro`` is set), less the detections
            without a neck that continue no track (see ``new_track_needs_neck``); the
            inputs are not modified.
        """
        people = list(people)
        frame = self._frame + 1 if frame_index is None else int(frame_index)
        if frame <= self._frame:
            raise ValueError(f"frame_index must increase, got {frame} after {self._frame}")
        self._frame = frame
        p = self.params
        # Frames missed so far: frame - last_seen - 1 before this frame is matched.
        self._tracks = [t for t in self._tracks if frame - t.last_seen - 1 <= p.max_age_frames]

        # Similarity of every (track, detection) pair, then greedy matching: most similar first,
        # weighted by the parts in common, so when the network splits a body the fuller piece
        # continues the track and the fragment starts a new one.
        pairs = []
        for ti, track in enumerate(self._tracks):
            expected = track.predict(frame)
            scale = track.scale(p.min_scale)
            for di, person in enumerate(people):
                sim = keypoint_similarity(expected, person.keypoints, scale, p.kappa)
                if sim >= p.min_similarity and sim > 0:
                    shared = int(((expected[:, 2] > 0) & (person.keypoints[:, 2] > 0)).sum())
                    pairs.append((sim * shared, ti, di))
        track_of = {di: ti for ti, di in greedy_match(pairs)}
        if self.fps is not None:
            t = frame / self.fps
        else:
            t = float(time_s) if time_s is not None else frame / 30.0

        out = []
        for di, person in enumerate(people):
            kp = person.keypoints
            if di in track_of:
                track = self._tracks[track_of[di]]
                self._advance(track, kp, frame)
            elif p.new_track_needs_neck and not kp[CocoPart.Neck, 2] > 0:
                continue  # a piece of a body without a neck: no new person
            else:
                track = _Track(self._next_id, kp.copy(), np.zeros(2), frame)
                if self.one_euro is not None:
                    track.smoother = OneEuroFilter(self.one_euro)
                self._next_id += 1
                self._tracks.append(track)
            if track.smoother is not None:
                kp = kp.copy()
                xy = np.where(kp[:, 2:3] > 0, kp[:, :2], np.nan)
                kp[:, :2] = track.smoother(xy, t)
            out.append(dataclasses.replace(person, keypoints=kp, person_id=track.person_id))
        # ... and frame - last_seen after it (this frame counts as missed for unmatched tracks).
        self._tracks = [t for t in self._tracks if frame - t.last_seen <= p.max_age_frames]
        return out

    def _advance(self, track: _Track, kp: np.ndarray, frame: int) -> None:
        """Move ``track`` to the detection ``kp`` seen at ``frame``, updating its velocity."""
        gap = frame - track.last_seen
        both = (track.keypoints[:, 2] > 0) & (kp[:, 2] > 0)
        if both.any():
            # One displacement for the whole body (the median is robust to a jumping part).
            step = np.median(kp[both, :2] - track.keypoints[both, :2], axis=0) / gap
            w = self.params.velocity_decay
            track.velocity = (1 - w) * track.velocity + w * step
        track.keypoints = kp.copy()
        track.last_seen = frame
