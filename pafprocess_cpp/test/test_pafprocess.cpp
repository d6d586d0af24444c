// ctest: the library's contracts on hand-built fields (a 4-part skeleton passed as data).
#include <cmath>
#include <cstdio>
#include <vector>

#include "pafprocess.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            std::fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
            ++failures;                                                     \
        }                                                                   \
    } while (0)

constexpr int H = 32, W = 48, PARTS = 4, PAFC = 6;

// A chain 0-1-2-3 (limbs (0,1), (1,2), (2,3); PAF channels 2k, 2k+1); only limbs < 2 start a person.
pafprocess::Skeleton chain() {
    pafprocess::Skeleton s;
    s.num_parts = PARTS;
    s.limbs = {{0, 1, 0, 1}, {1, 2, 2, 3}, {2, 3, 4, 5}};
    s.start_limbs = 2;
    return s;
}

struct Fields {
    std::vector<float> peaks = std::vector<float>(H * W * PARTS, 0.0f);
    std::vector<float> pafs = std::vector<float>(H * W * PAFC, 0.0f);
    pafprocess::Field peaks_field() const { return {peaks.data(), H, W, PARTS}; }
    pafprocess::Field pafs_field() const { return {pafs.data(), H, W, PAFC}; }
};

// A vertical person at column x: parts at rows 4, 12, 20, 28; PAF (0, 1) along each limb.
void add_person(Fields& f, int x, int skip_part = -1) {
    const int rows[PARTS] = {4, 12, 20, 28};
    for (int p = 0; p < PARTS; ++p)
        if (p != skip_part) f.peaks[(rows[p] * W + x) * PARTS + p] = 0.9f;
    for (int k = 0; k < 3; ++k)
        for (int y = rows[k]; y <= rows[k + 1]; ++y) f.pafs[(y * W + x) * PAFC + 2 * k + 1] = 1.0f;
}

pafprocess::Params params() {
    pafprocess::Params p;
    p.part_count_threshold = 3;
    return p;
}

void test_two_people_and_a_missing_part() {
    Fields f;
    add_person(f, 10);
    add_person(f, 30, /*skip_part=*/3);
    const pafprocess::Result r =
        pafprocess::group_people(f.peaks_field(), f.peaks_field(), f.pafs_field(), chain(), params());
    CHECK(r.num_people() == 2);
    CHECK(r.keypoints.size() == 2u * PARTS * 3 && r.peak_ids.size() == 2u * PARTS);
    if (r.num_people() != 2) return;
    // Person 0 starts at x = 10 (the first A peak in scan order): parts at rows 4, 12, 20, 28.
    CHECK(r.keypoints[0] == 10.0f && r.keypoints[1] == 4.0f && std::fabs(r.keypoints[2] - 0.9f) < 1e-6f);
    CHECK(r.keypoints[3 * 3 + 1] == 28.0f);
    // Person 1 lacks part 3: -1 id, NaN position, score 0.
    CHECK(r.peak_ids[PARTS + 3] == -1);
    CHECK(std::isnan(r.keypoints[(PARTS + 3) * 3]) && r.keypoints[(PARTS + 3) * 3 + 2] == 0.0f);
    for (int j = 0; j < 3; ++j) CHECK(r.peak_ids[PARTS + j] >= 0);
    CHECK(r.scores[0] > 0.3f && r.scores[1] > 0.3f);
}

void test_network_resolution_pafs_read_block_replicated() {
    Fields f;
    add_person(f, 8);
    add_person(f, 36);
    // The same PAF stored at 1/4: (8, 12, PAFC), with the person columns' values.
    std::vector<float> low(8 * 12 * PAFC, 0.0f);
    for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 12; ++x)
            for (int c = 0; c < PAFC; ++c) low[(y * 12 + x) * PAFC + c] = f.pafs[((4 * y) * W + 4 * x) * PAFC + c];
    // Replicate `low` back to the grid so that both runs see the same field.
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            for (int c = 0; c < PAFC; ++c) f.pafs[(y * W + x) * PAFC + c] = low[((y / 4) * 12 + x / 4) * PAFC + c];
    pafprocess::Field low_field{low.data(), 8, 12, PAFC, 4};
    const auto a = pafprocess::group_people(f.peaks_field(), f.peaks_field(), f.pafs_field(), chain(), params());
    const auto b = pafprocess::group_people(f.peaks_field(), f.peaks_field(), low_field, chain(), params());
    CHECK(a.num_people() == 2);
    CHECK(a.peak_ids == b.peak_ids && a.scores == b.scores);
}

void test_cancel_hook_stops_the_grouping() {
    Fields f;
    add_person(f, 10);
    bool thrown = false;
    try {
        pafprocess::group_people(f.peaks_field(), f.peaks_field(), f.pafs_field(), chain(), params(),
                                 [] { return true; });
    } catch (const pafprocess::Cancelled&) {
        thrown = true;
    }
    CHECK(thrown);
}

void test_grid_fields_smooth_and_keep_maxima() {
    // One network cell lit: after 4x replication and smoothing the maximum is a 1-cell peak (or a tie
    // plateau) inside the lit block; its value is below the unsmoothed 1.
    std::vector<float> net(6 * 8 * 2, 0.0f);
    net[(3 * 8 + 5) * 2 + 0] = 1.0f;
    const pafprocess::Field heat{net.data(), 6, 8, 2};
    const pafprocess::GridFields g = pafprocess::grid_fields(heat, 4);
    CHECK(g.height == 24 && g.width == 32 && g.channels == 2);
    CHECK(g.heatmaps[((12 * 32) + 20) * 2] == 1.0f && g.heatmaps[((11 * 32) + 20) * 2] == 0.0f);
    int peaks = 0;
    float best = 0.0f;
    for (int y = 0; y < 24; ++y)
        for (int x = 0; x < 32; ++x) {
            const float v = g.peaks[(y * 32 + x) * 2];
            if (v > 0.01f) {
                ++peaks;
                best = v;
                CHECK(y >= 12 && y < 16 && x >= 20 && x < 24);
            }
        }
    CHECK(peaks >= 1 && peaks <= 4);
    CHECK(best > 0.05f && best < 1.0f);
    // Without smoothing the lit block is a plateau: the maximum filter keeps every tie (16 cells).
    const pafprocess::GridFields flat = pafprocess::grid_fields(heat, 4, {1, 3.0, 3});
    int kept = 0;
    for (std::size_t i = 0; i < flat.peaks.size(); i += 2) kept += flat.peaks[i] == 1.0f;
    CHECK(kept == 16);
    // NaN is never a peak and does not hide its neighbours' maxima.
    net[(1 * 8 + 1) * 2 + 1] = std::nanf("");
    net[(4 * 8 + 1) * 2 + 1] = 0.5f;
    const pafprocess::GridFields with_nan = pafprocess::grid_fields(heat, 1, {1, 3.0, 3});
    CHECK(with_nan.peaks[((1 * 8) + 1) * 2 + 1] == 0.0f && with_nan.peaks[((4 * 8) + 1) * 2 + 1] == 0.5f);
}

}  // namespace

int main() {
    test_two_people_and_a_missing_part();
    test_network_resolution_pafs_read_block_replicated();
    test_cancel_hook_stops_the_grouping();
    test_grid_fields_smooth_and_keep_maxima();
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all checks passed\n");
    return 0;
}
