// pafprocess: OpenPose-style grouping of heatmap peaks into people via Part Affinity Fields.
//
// Plain C++17, no Python. Every input is passed in; nothing is kept between calls.
// The algorithm follows tf-pose-estimation's pafprocess (see the reference summary,
// section 4), including its assembly quirks, so that the people equal the original's.
// Array layout: see README.md in this folder.
#pragma once

#include <cstdint>
#include <vector>

namespace pafprocess {

/// Row-major (H, W, C) float32 field, channels last; a view, not owned.
struct Field {
    const float* data = nullptr;
    int height = 0;
    int width = 0;
    int channels = 0;

    float at(int y, int x, int c) const {
        return data[(static_cast<std::int64_t>(y) * width + x) * channels + c];
    }
};

/// One limb of the skeleton: part indices (0..17) and the PAF channels of its x, y components.
struct Limb {
    int part_a;
    int part_b;
    int paf_x;
    int paf_y;
};

/// Thresholds of the grouping (posekit.params.PostprocessParams).
struct Params {
    double heat_threshold = 0.05;         ///< peak kept if peaks[y, x, part] > this
    double vector_score_threshold = 0.05; ///< a PAF sample counts if dot > this
    int vector_count_threshold = 6;       ///< candidate needs more than this many counted samples
    int part_count_threshold = 4;         ///< person needs at least this many parts
    double human_score_threshold = 0.3;   ///< person needs score / parts at least this
    int paf_steps = 10;                   ///< samples taken along each candidate limb
    int start_limbs = 17;                 ///< only limbs with index < start_limbs may start a person
};

constexpr int kNumParts = 18;

/// A peak: global id (scan order part, row, column), integer position, unsmoothed heat value.
struct Peak {
    int id;
    int x;
    int y;
    float score;
};

/// People found: keypoints (P, 18, 3) x, y, score with missing = NaN, NaN, 0; scores (P,).
struct Result {
    std::vector<float> keypoints;  // P * 18 * 3
    std::vector<float> scores;     // P
    int num_people() const { return static_cast<int>(scores.size()); }
};

/// Step 1: peaks of parts 0..17 above the heat threshold, grouped by part, in scan order.
std::vector<std::vector<Peak>> find_peaks(const Field& peaks, const Field& heatmaps, double heat_threshold);

/// Steps 1-6: find peaks, score limb candidates, match, assemble and filter people.
/// Inputs must be validated by the caller: same height and width, peaks/heatmaps with >= 18
/// channels, limb parts in 0..17 and limb channels in 0..pafs.channels-1, paf_steps >= 1.
Result group_people(const Field& peaks, const Field& heatmaps, const Field& pafs,
                    const std::vector<Limb>& limbs, const Params& params);

}  // namespace pafprocess
