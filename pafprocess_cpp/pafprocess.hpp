// pafprocess: OpenPose-style grouping of heatmap peaks into people via Part Affinity Fields.
//
// Plain C++17, no Python, no dependencies. Every input is passed in (fields, skeleton table,
// thresholds); nothing is kept between calls. The algorithm is the one of Cao et al., "Realtime
// Multi-Person 2D Pose Estimation using Part Affinity Fields" (CVPR 2017) as tf-pose-estimation's
// `tf_pose/pafprocess` implements it, including its assembly quirks, so that the people equal the
// original's. Build: CMakeLists.txt in this folder (library `pafprocess`, the example, ctest); the
// Python module posekit._pafprocess compiles the same pafprocess.cpp.
//
// Array contracts (all float32, row-major, channels last, C-contiguous; the caller owns the memory):
//
//   network fields, stride 8 (what the model gives; group_network_fields):
//     heatmaps  (h, w, >= num_parts)   part confidence maps; channels 0..num_parts-1 are parts
//                                      (COCO: 18 parts + background = 19 channels)
//     pafs      (h, w, F)              Part Affinity Fields, x and y per limb (COCO: F = 38)
//   grid fields, the network's upsampled `upsample` times: H = h * upsample, W = w * upsample
//     peaks     (H, W, >= num_parts)   smoothed heatmaps kept only at their 3x3 maxima, 0 elsewhere
//     heatmaps  (H, W, >= num_parts)   upsampled, unsmoothed: a keypoint's score is read here
//     pafs      (H / u, W / u, F)      u = Field::upsample (1: on the grid)
//   skeleton, passed as data (Skeleton): num_parts, and the limbs in assembly order as rows
//     (part_a, part_b, paf_x, paf_y); only limbs before start_limbs may start a person.
//     COCO (posekit.skeleton.LIMBS): 19 limbs, start_limbs 17, the table in example/group_npy.cpp.
//   result (Result), P people:
//     keypoints (P, num_parts, 3)      x = column, y = row in the grid, score; missing: NaN, NaN, 0
//     peak_ids  (P, num_parts) int     the peak each part came from (ids as find_peaks numbers
//                                      them), -1 for a missing part
//     scores    (P,)                   (sum of part scores and limb scores) / part count
//
// Coordinates are grid cells; multiply by (image width / W, image height / H) for image pixels.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <vector>

namespace pafprocess {

/// Row-major (H, W, C) float32 field, channels last; a view, not owned.
struct Field {
    const float* data = nullptr;
    int height = 0;
    int width = 0;
    int channels = 0;
    /// Grid cells per stored value along each axis: the field seen on the grid is this one
    /// block-replicated `upsample` times (grid cell (y, x) reads (y / upsample, x / upsample)).
    /// Only the PAF may be stored so (e.g. the network's stride-8 PAF with a grid upsampled 4x:
    /// 16x less memory to read); peaks and heatmaps have upsample 1.
    int upsample = 1;

    float at(int y, int x, int c) const {
        return data[(static_cast<std::int64_t>(y) * width + x) * channels + c];
    }
};

/// One limb of the skeleton: part indices (0..num_parts-1) and the PAF channels of its x, y components.
struct Limb {
    int part_a;
    int part_b;
    int paf_x;
    int paf_y;
};

/// The body model: how many parts, the limb table in assembly order, which limbs may start a person.
struct Skeleton {
    int num_parts = 0;        ///< keypoints per person; peak channels 0..num_parts-1 are read
    std::vector<Limb> limbs;  ///< assembly order
    int start_limbs = 0;      ///< only limbs with index < start_limbs may start a new person
};

/// Thresholds of the grouping (posekit.params.PostprocessParams).
struct Params {
    double heat_threshold = 0.05;         ///< peak kept if peaks[y, x, part] > this
    double vector_score_threshold = 0.05; ///< a PAF sample counts if dot > this
    int vector_count_threshold = 6;       ///< candidate needs more than this many counted samples
    int part_count_threshold = 4;         ///< person needs at least this many parts
    double human_score_threshold = 0.3;   ///< person needs score / parts at least this
    int paf_steps = 10;                   ///< samples taken along each candidate limb
    int max_peaks_per_part = 127;         ///< keep only the strongest peaks of each part
};

/// Polled during long work; returning true stops the grouping with `Cancelled`.
/// Called from the computing thread, roughly every 65536 units of work and at each limb.
using CancelHook = std::function<bool()>;

/// Thrown by group_people when the cancel hook returned true; no result is produced.
struct Cancelled : std::exception {
    const char* what() const noexcept override { return "pafprocess: cancelled"; }
};

/// A peak: global id (scan order part, row, column), integer position, unsmoothed heat value.
struct Peak {
    int id;
    int x;
    int y;
    float score;
};

/// People found: keypoints (P, num_parts, 3) x, y, score with missing = NaN, NaN, 0; peak ids
/// (P, num_parts) with missing = -1; scores (P,).
struct Result {
    std::vector<float> keypoints;  // P * num_parts * 3
    std::vector<int> peak_ids;     // P * num_parts
    std::vector<float> scores;     // P
    int num_people() const { return static_cast<int>(scores.size()); }
};

/// Step 1: peaks of parts 0..num_parts-1 above the heat threshold, grouped by part, in scan order
/// (row, then column). A part with more than `max_peaks` peaks keeps the `max_peaks` with the
/// highest `peaks` value (ties: earlier in scan order), still listed in scan order. Ids count
/// part 0 first.
std::vector<std::vector<Peak>> find_peaks(const Field& peaks, const Field& heatmaps, int num_parts,
                                          double heat_threshold, int max_peaks, const CancelHook& cancel = {});

/// Wall time of each step of one `group_people` call, in milliseconds (what the benchmark prints).
struct StageTimes {
    double peaks_ms = 0.0;     ///< step 1: listing the peaks (one pass over the peaks field)
    double scoring_ms = 0.0;   ///< step 2: scoring the limb candidates (reading the PAF)
    double matching_ms = 0.0;  ///< step 3: sorting and greedy matching
    double assembly_ms = 0.0;  ///< steps 4-6: joining connections into people, filtering, writing out
};

/// Steps 1-6: find peaks, score limb candidates, match, assemble and filter people.
/// Inputs must be validated by the caller: peaks and heatmaps of the same height and width, pafs of
/// that height and width divided by pafs.upsample (>= 1, exactly), peaks/heatmaps with >= num_parts
/// channels, limb parts in 0..num_parts-1 and limb channels in 0..pafs.channels-1, paf_steps >= 1,
/// max_peaks_per_part >= 1. Throws `Cancelled` when `cancel` returns true.
/// `times`, if given, receives the time spent in each step.
Result group_people(const Field& peaks, const Field& heatmaps, const Field& pafs, const Skeleton& skeleton,
                    const Params& params, const CancelHook& cancel = {}, StageTimes* times = nullptr);

/// The smoothing and peak finding before the grouping (posekit.peaks for integer factors).
struct PeakParams {
    int smooth_size = 25;       ///< taps of tf-pose's Gaussian (<= 1: no smoothing)
    double smooth_sigma = 3.0;  ///< its nsig
    int nms_size = 3;           ///< odd side of the maximum filter
};

/// Grid fields made from the network's heatmaps: both (H, W, C) with H = h * upsample, W = w * upsample.
struct GridFields {
    std::vector<float> heatmaps;  ///< upsampled by block replication (what tf-pose's area resize gives)
    std::vector<float> peaks;     ///< smoothed, then kept only where equal to the nms_size^2 maximum
    int height = 0;
    int width = 0;
    int channels = 0;
    Field heatmaps_field() const { return {heatmaps.data(), height, width, channels}; }
    Field peaks_field() const { return {peaks.data(), height, width, channels}; }
};

/// Upsamples the network's heatmaps `upsample` times, smooths them with tf-pose's Gaussian (zero
/// padding) and keeps the local maxima (NaN is never a maximum). upsample >= 1, smooth_size <= upsample
/// is not required but upsample <= smooth_size keeps the peaks real (posekit.postprocess.max_upsample).
/// The smoothing equals posekit's to float32 rounding.
GridFields grid_fields(const Field& heatmaps, int upsample, const PeakParams& params = {});

/// The whole post-processing from network outputs: grid_fields, then group_people with the
/// network's PAF read block-replicated (pafs.upsample is set to `upsample`). heatmaps and pafs:
/// (h, w, C) at the same h, w.
Result group_network_fields(const Field& heatmaps, const Field& pafs, int upsample, const Skeleton& skeleton,
                            const Params& params = {}, const PeakParams& peak_params = {});

}  // namespace pafprocess
