"""posekit: realtime multi-person 2D pose estimation the OpenPose way, in native TensorFlow 2.

A CNN (mobilenet_thin by default) predicts 19 heatmaps (18 keypoints + background) and
38 Part Affinity Field channels (19 limbs x (x, y)) at stride 8; peaks are found on the
upsampled, smoothed heatmaps; limbs are scored by integrating the PAF along them; people
are assembled greedily.

Data contracts, everywhere in the public API:

* Images are **BGR uint8 (H, W, 3)**, as ``cv2.imread`` returns them.
* Keypoints are float32 **(18, 3) = x, y, score** in original-image pixels, rows in
  ``CocoPart`` order; a missing part has x = y = NaN and score 0.
* Fields are channels-last float32: heatmaps (h, w, 19), PAFs (h, w, 38), stride 8 at
  the network output and 8 / upsample after upsampling.
* Thresholds live in the frozen dataclass ``PostprocessParams``.

Heavy imports (TensorFlow) happen on first use, not at ``import posekit``.
"""

from __future__ import annotations

__version__ = "0.2.0"  # before the imports: posekit.network.weights records it

from .draw import draw_people
from .estimator import PoseEstimator
from .network import fetch, load_model
from .params import TFPOSE_DEFAULTS, PostprocessParams
from .person import InferenceResult, Person, people_to_array
from .preprocess import ImageError, read_image
from .skeleton import COLORS_BGR, LIMB_NAMES, LIMBS, PART_NAMES, RENDER_LIMBS, CocoPart

__all__ = [
    "PoseEstimator",
    "load_model",
    "fetch",
    "draw_people",
    "Person",
    "InferenceResult",
    "PostprocessParams",
    "TFPOSE_DEFAULTS",
    "CocoPart",
    "PART_NAMES",
    "LIMBS",
    "LIMB_NAMES",
    "RENDER_LIMBS",
    "COLORS_BGR",
    "ImageError",
    "read_image",
    "people_to_array",
]
