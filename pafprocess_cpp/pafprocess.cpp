// pafprocess: see pafprocess.hpp. Written from the algorithm description in
// /work/shared/reference/tfpose-algorithm.md, section 4 (no code copied).
#include "pafprocess.hpp"

// Never fuse a*b + c into one FMA instruction (e.g. under -march=native): the NumPy twin rounds
// the product and the sum separately, and the backends must agree bit for bit on the scores.
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#elif defined(_MSC_VER)
#pragma fp_contract(off)
#endif

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace pafprocess {
namespace {

struct Candidate {
    int idx_a;     // index of the A peak within its part's list
    int idx_b;     // index of the B peak within its part's list
    double score;  // criterion2
};

struct Connection {
    int cid_a;  // global peak id of the A peak
    int cid_b;  // global peak id of the B peak
    double score;
};

struct Row {
    int part[kNumParts];  // global peak id per part, -1 when absent
    double score;         // sum of part heat values and limb scores
    int count;            // number of parts
};

// (int)(a + i * d / steps + 0.5) computed exactly in integers; the value is >= 0 because the
// sample lies between two in-grid peaks, so floor and truncation agree.
inline int sample_coord(int a, int d, int i, int steps) {
    const std::int64_t num = 2 * (static_cast<std::int64_t>(a) * steps + static_cast<std::int64_t>(i) * d) + steps;
    return static_cast<int>(num / (2 * static_cast<std::int64_t>(steps)));
}

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Step 2: accepted limb candidates between the peaks of part A and part B.
std::vector<Candidate> score_candidates(const std::vector<Peak>& list_a, const std::vector<Peak>& list_b,
                                        const Field& pafs, const Limb& limb, const Params& p, int height) {
    std::vector<Candidate> out;
    const int steps = p.paf_steps;
    const double length_ref = 0.5 * static_cast<double>(height);
    for (int ia = 0; ia < static_cast<int>(list_a.size()); ++ia) {
        const Peak& a = list_a[ia];
        for (int ib = 0; ib < static_cast<int>(list_b.size()); ++ib) {
            const Peak& b = list_b[ib];
            const int dx = b.x - a.x;
            const int dy = b.y - a.y;
            const double norm = std::sqrt(static_cast<double>(dx) * dx + static_cast<double>(dy) * dy);
            if (norm < 1e-12) continue;
            const double ux = dx / norm;
            const double uy = dy / norm;
            double sum = 0.0;
            int count = 0;
            for (int i = 0; i < steps; ++i) {
                const int sx = clamp_int(sample_coord(a.x, dx, i, steps), 0, pafs.width - 1);
                const int sy = clamp_int(sample_coord(a.y, dy, i, steps), 0, pafs.height - 1);
                const double vx = pafs.at(sy, sx, limb.paf_x);
                const double vy = pafs.at(sy, sx, limb.paf_y);
                const double px = ux * vx;
                const double py = uy * vy;
                const double dot = px + py;
                sum += dot;
                if (dot > p.vector_score_threshold) ++count;
            }
            const double criterion2 = sum / steps + std::min(0.0, length_ref / norm - 1.0);
            if (count > p.vector_count_threshold && criterion2 > 0.0) out.push_back({ia, ib, criterion2});
        }
    }
    return out;
}

// Step 3: greedy matching, best score first; each peak used at most once per limb.
std::vector<Connection> match(std::vector<Candidate>& cands, const std::vector<Peak>& list_a,
                              const std::vector<Peak>& list_b) {
    std::stable_sort(cands.begin(), cands.end(),
                     [](const Candidate& l, const Candidate& r) { return l.score > r.score; });
    std::vector<char> used_a(list_a.size(), 0), used_b(list_b.size(), 0);
    std::vector<Connection> conns;
    for (const Candidate& c : cands) {
        if (used_a[c.idx_a] || used_b[c.idx_b]) continue;
        used_a[c.idx_a] = 1;
        used_b[c.idx_b] = 1;
        conns.push_back({list_a[c.idx_a].id, list_b[c.idx_b].id, c.score});
    }
    return conns;
}

}  // namespace

std::vector<std::vector<Peak>> find_peaks(const Field& peaks, const Field& heatmaps, double heat_threshold) {
    std::vector<std::vector<Peak>> by_part(kNumParts);
    // One pass over memory; per part the order is still row then column.
    for (int y = 0; y < peaks.height; ++y) {
        for (int x = 0; x < peaks.width; ++x) {
            const float* px = peaks.data + (static_cast<std::int64_t>(y) * peaks.width + x) * peaks.channels;
            for (int part = 0; part < kNumParts; ++part) {
                if (static_cast<double>(px[part]) > heat_threshold) {
                    by_part[part].push_back({0, x, y, heatmaps.at(y, x, part)});
                }
            }
        }
    }
    int next_id = 0;
    for (auto& list : by_part)
        for (Peak& pk : list) pk.id = next_id++;
    return by_part;
}

Result group_people(const Field& peaks, const Field& heatmaps, const Field& pafs, const std::vector<Limb>& limbs,
                    const Params& p) {
    const std::vector<std::vector<Peak>> by_part = find_peaks(peaks, heatmaps, p.heat_threshold);
    std::vector<const Peak*> line;  // global id -> peak
    for (const auto& list : by_part)
        for (const Peak& pk : list) line.push_back(&pk);

    // Steps 2-3 per limb, step 4 across limbs in table order.
    std::vector<Row> rows;
    for (int k = 0; k < static_cast<int>(limbs.size()); ++k) {
        const Limb& limb = limbs[k];
        const auto& list_a = by_part[limb.part_a];
        const auto& list_b = by_part[limb.part_b];
        if (list_a.empty() || list_b.empty()) continue;
        std::vector<Candidate> cands = score_candidates(list_a, list_b, pafs, limb, p, peaks.height);
        const std::vector<Connection> conns = match(cands, list_a, list_b);

        const int A = limb.part_a;
        const int B = limb.part_b;
        for (const Connection& c : conns) {
            int found = 0;
            int r1 = 0, r2 = 0;
            for (int r = 0; r < static_cast<int>(rows.size()); ++r) {
                if (rows[r].part[A] == c.cid_a || rows[r].part[B] == c.cid_b) {
                    if (found == 0) r1 = r;
                    if (found == 1) r2 = r;
                    ++found;
                }
            }
            if (found == 1) {
                Row& row = rows[r1];  // quirk: row.part[A] is never updated
                if (row.part[B] != c.cid_b) {
                    row.part[B] = c.cid_b;
                    row.count += 1;
                    row.score += static_cast<double>(line[c.cid_b]->score) + c.score;
                }
            } else if (found == 2) {
                Row& row1 = rows[r1];
                const Row& row2 = rows[r2];
                bool overlap = false;  // quirk: '> 0', so peak id 0 counts as absent
                for (int j = 0; j < kNumParts; ++j)
                    if (row1.part[j] > 0 && row2.part[j] > 0) overlap = true;
                if (!overlap) {
                    for (int j = 0; j < kNumParts; ++j) row1.part[j] += row2.part[j] + 1;
                    row1.count += row2.count;
                    row1.score += row2.score;
                    row1.score += c.score;
                    rows.erase(rows.begin() + r2);
                } else {  // as the original: no check that part B already holds cid_b
                    row1.part[B] = c.cid_b;
                    row1.count += 1;
                    row1.score += static_cast<double>(line[c.cid_b]->score) + c.score;
                }
            } else if (found == 0 && k < p.start_limbs) {
                Row row;
                std::fill(row.part, row.part + kNumParts, -1);
                row.part[A] = c.cid_a;
                row.part[B] = c.cid_b;
                row.count = 2;
                row.score = static_cast<double>(line[c.cid_a]->score) + static_cast<double>(line[c.cid_b]->score) +
                            c.score;
                rows.push_back(row);
            }
            // found >= 3: the connection is ignored.
        }
    }

    // Steps 5-6: filter and write out.
    Result res;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int total = static_cast<int>(line.size());
    for (const Row& row : rows) {
        const double mean = row.score / row.count;
        if (row.count < p.part_count_threshold || mean < p.human_score_threshold) continue;
        for (int j = 0; j < kNumParts; ++j) {
            const int id = row.part[j];
            if (id >= 0 && id < total) {  // a merge can produce an id past the end: treat as missing
                res.keypoints.push_back(static_cast<float>(line[id]->x));
                res.keypoints.push_back(static_cast<float>(line[id]->y));
                res.keypoints.push_back(line[id]->score);
            } else {
                res.keypoints.push_back(nan);
                res.keypoints.push_back(nan);
                res.keypoints.push_back(0.0f);
            }
        }
        res.scores.push_back(static_cast<float>(mean));
    }
    return res;
}

}  // namespace pafprocess
