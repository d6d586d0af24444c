// pafprocess: see pafprocess.hpp. Written from the description of the algorithm in Cao et al.,
// "Realtime Multi-Person 2D Pose Estimation using Part Affinity Fields" (CVPR 2017) and the
// behaviour of tf-pose-estimation's `tf_pose/pafprocess` (Apache-2.0); no code was copied.
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
#include <chrono>
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

// Partial people ("subset" rows): peak id per part (-1 when absent), total score, part count.
struct Rows {
    int num_parts;
    std::vector<int> part;  // size() * num_parts ids
    std::vector<double> score;
    std::vector<int> count;

    int size() const { return static_cast<int>(count.size()); }
    int* row(int r) { return part.data() + static_cast<std::size_t>(r) * num_parts; }
    const int* row(int r) const { return part.data() + static_cast<std::size_t>(r) * num_parts; }
    void erase(int r) {
        part.erase(part.begin() + static_cast<std::ptrdiff_t>(r) * num_parts,
                   part.begin() + static_cast<std::ptrdiff_t>(r + 1) * num_parts);
        score.erase(score.begin() + r);
        count.erase(count.begin() + r);
    }
};

// Calls the cancel hook about every kCheckEvery units of work (and when forced).
class Canceller {
public:
    explicit Canceller(const CancelHook& hook) : hook_(hook) {}
    void work(std::int64_t units) {
        budget_ -= units;
        if (budget_ <= 0) check();
    }
    void check() {
        budget_ = kCheckEvery;
        if (hook_ && hook_()) throw Cancelled();
    }

private:
    static constexpr std::int64_t kCheckEvery = 1 << 16;
    const CancelHook& hook_;
    std::int64_t budget_ = kCheckEvery;
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
                                        const Field& pafs, const Limb& limb, const Params& p, int height,
                                        Canceller& canceller) {
    std::vector<Candidate> out;
    const int steps = p.paf_steps;
    const int up = pafs.upsample;
    const int grid_w = pafs.width * up;
    const int grid_h = pafs.height * up;
    const double length_ref = 0.5 * static_cast<double>(height);
    for (int ia = 0; ia < static_cast<int>(list_a.size()); ++ia) {
        canceller.work(static_cast<std::int64_t>(list_b.size()) * steps);
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
            bool hopeless = false;
            for (int i = 0; i < steps; ++i) {
                const int sx = clamp_int(sample_coord(a.x, dx, i, steps), 0, grid_w - 1) / up;
                const int sy = clamp_int(sample_coord(a.y, dy, i, steps), 0, grid_h - 1) / up;
                const float* v = pafs.data + (static_cast<std::int64_t>(sy) * pafs.width + sx) * pafs.channels;
                const double vx = v[limb.paf_x];
                const double vy = v[limb.paf_y];
                const double px = ux * vx;
                const double py = uy * vy;
                const double dot = px + py;
                sum += dot;
                if (dot > p.vector_score_threshold) {
                    ++count;
                } else if (count + (steps - 1 - i) <= p.vector_count_threshold) {
                    // Even if every remaining sample counted, the count test fails: a rejected candidate
                    // needs no score. Accepted candidates always read all samples, so sums are unchanged.
                    hopeless = true;
                    break;
                }
            }
            if (hopeless) continue;
            const double mean_dot = sum / steps;
            const double distance_penalty = std::min(0.0, length_ref / norm - 1.0);
            const double criterion2 = mean_dot + distance_penalty;
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

// The largest float <= t: for every float x (NaN included), `(double)x > t` equals `x > float_floor(t)`,
// so the peak scan compares floats without converting each value to double.
inline float float_floor(double t) {
    if (std::isnan(t)) return std::numeric_limits<float>::quiet_NaN();
    if (t >= static_cast<double>(std::numeric_limits<float>::max()))
        return t == std::numeric_limits<double>::infinity() ? std::numeric_limits<float>::infinity()
                                                            : std::numeric_limits<float>::max();
    if (t < -static_cast<double>(std::numeric_limits<float>::max())) return -std::numeric_limits<float>::infinity();
    float f = static_cast<float>(t);
    if (static_cast<double>(f) > t) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
    return f;
}

// Whether any of n values is above thr; written so that the compiler vectorises it (no early exit).
inline bool any_above(const float* v, std::int64_t n, float thr) {
    int any = 0;
    for (std::int64_t i = 0; i < n; ++i) any |= v[i] > thr;
    return any != 0;
}

// Adds the time since the previous lap to one field of StageTimes; does nothing without a target.
class StageClock {
public:
    explicit StageClock(StageTimes* times) : times_(times) {
        if (times_) {
            *times_ = StageTimes{};
            last_ = std::chrono::steady_clock::now();
        }
    }
    void lap(double StageTimes::*field) {
        if (!times_) return;
        const auto now = std::chrono::steady_clock::now();
        times_->*field += std::chrono::duration<double, std::milli>(now - last_).count();
        last_ = now;
    }

private:
    StageTimes* times_;
    std::chrono::steady_clock::time_point last_;
};

struct ScanPeak {
    int x;
    int y;
    float value;  // the `peaks` value: the ranking key of the cap
    float score;  // the `heatmaps` value
};

}  // namespace

std::vector<std::vector<Peak>> find_peaks(const Field& peaks, const Field& heatmaps, int num_parts,
                                          double heat_threshold, int max_peaks, const CancelHook& cancel) {
    Canceller canceller(cancel);
    std::vector<std::vector<ScanPeak>> found(num_parts);
    // One pass over memory, in blocks: a block with no value above the threshold (after the NMS almost
    // every block: only local maxima are non-zero) costs one vectorised comparison, and only blocks
    // holding a peak are looked at value by value. Memory order is (row, column, channel), so per part
    // the peaks come in scan order (row, then column).
    const float thr = float_floor(heat_threshold);
    const std::int64_t channels = peaks.channels;
    const std::int64_t total = static_cast<std::int64_t>(peaks.height) * peaks.width * channels;
    constexpr std::int64_t kBlock = 64;
    for (std::int64_t base = 0; base < total; base += kBlock) {
        const std::int64_t end = std::min(base + kBlock, total);
        if ((base & ((1 << 16) - 1)) == 0) canceller.work(1 << 16);
        if (!any_above(peaks.data + base, end - base, thr)) continue;
        for (std::int64_t i = base; i < end; ++i) {
            if (!(peaks.data[i] > thr)) continue;
            const int part = static_cast<int>(i % channels);
            if (part >= num_parts) continue;
            const std::int64_t pixel = i / channels;
            const int y = static_cast<int>(pixel / peaks.width);
            const int x = static_cast<int>(pixel % peaks.width);
            found[part].push_back({x, y, peaks.data[i], heatmaps.at(y, x, part)});
        }
    }
    std::vector<std::vector<Peak>> by_part(num_parts);
    int next_id = 0;
    for (int part = 0; part < num_parts; ++part) {
        const std::vector<ScanPeak>& list = found[part];
        std::vector<int> keep(list.size());
        for (int i = 0; i < static_cast<int>(list.size()); ++i) keep[i] = i;
        if (static_cast<int>(list.size()) > max_peaks) {
            // The strongest max_peaks (value descending, earlier scan position first on ties: a strict
            // total order, so the choice is deterministic), then back to scan order.
            std::nth_element(keep.begin(), keep.begin() + max_peaks, keep.end(), [&list](int l, int r) {
                return list[l].value > list[r].value || (list[l].value == list[r].value && l < r);
            });
            keep.resize(max_peaks);
            std::sort(keep.begin(), keep.end());
        }
        by_part[part].reserve(keep.size());
        for (int i : keep) by_part[part].push_back({next_id++, list[i].x, list[i].y, list[i].score});
    }
    return by_part;
}

Result group_people(const Field& peaks, const Field& heatmaps, const Field& pafs, const Skeleton& skeleton,
                    const Params& p, const CancelHook& cancel, StageTimes* times) {
    StageClock clock(times);
    const int num_parts = skeleton.num_parts;
    const std::vector<std::vector<Peak>> by_part =
        find_peaks(peaks, heatmaps, num_parts, p.heat_threshold, p.max_peaks_per_part, cancel);
    clock.lap(&StageTimes::peaks_ms);
    std::vector<const Peak*> line;  // global id -> peak
    for (const auto& list : by_part)
        for (const Peak& pk : list) line.push_back(&pk);

    Canceller canceller(cancel);
    // Steps 2-3 per limb, step 4 across limbs in table order.
    Rows rows{num_parts, {}, {}, {}};
    for (int k = 0; k < static_cast<int>(skeleton.limbs.size()); ++k) {
        canceller.check();
        const Limb& limb = skeleton.limbs[k];
        const auto& list_a = by_part[limb.part_a];
        const auto& list_b = by_part[limb.part_b];
        if (list_a.empty() || list_b.empty()) continue;
        std::vector<Candidate> cands = score_candidates(list_a, list_b, pafs, limb, p, peaks.height, canceller);
        clock.lap(&StageTimes::scoring_ms);
        const std::vector<Connection> conns = match(cands, list_a, list_b);
        clock.lap(&StageTimes::matching_ms);

        const int A = limb.part_a;
        const int B = limb.part_b;
        for (const Connection& c : conns) {
            canceller.work(rows.size() + 1);
            int found = 0;
            int r1 = 0, r2 = 0;
            for (int r = 0; r < rows.size(); ++r) {
                if (rows.row(r)[A] == c.cid_a || rows.row(r)[B] == c.cid_b) {
                    if (found == 0) r1 = r;
                    if (found == 1) r2 = r;
                    ++found;
                }
            }
            if (found == 1) {
                int* row = rows.row(r1);  // quirk: row[A] is never updated
                if (row[B] != c.cid_b) {
                    row[B] = c.cid_b;
                    rows.count[r1] += 1;
                    rows.score[r1] += static_cast<double>(line[c.cid_b]->score) + c.score;
                }
            } else if (found == 2) {
                int* row1 = rows.row(r1);
                const int* row2 = rows.row(r2);
                bool overlap = false;  // quirk: '> 0', so peak id 0 counts as absent
                for (int j = 0; j < num_parts; ++j)
                    if (row1[j] > 0 && row2[j] > 0) overlap = true;
                if (!overlap) {
                    for (int j = 0; j < num_parts; ++j) row1[j] += row2[j] + 1;
                    rows.count[r1] += rows.count[r2];
                    rows.score[r1] += rows.score[r2];
                    rows.score[r1] += c.score;
                    rows.erase(r2);
                } else {  // as the original: no check that part B already holds cid_b
                    row1[B] = c.cid_b;
                    rows.count[r1] += 1;
                    rows.score[r1] += static_cast<double>(line[c.cid_b]->score) + c.score;
                }
            } else if (found == 0 && k < skeleton.start_limbs) {
                rows.part.resize(rows.part.size() + num_parts, -1);
                int* row = rows.row(rows.size());
                row[A] = c.cid_a;
                row[B] = c.cid_b;
                rows.count.push_back(2);
                rows.score.push_back(static_cast<double>(line[c.cid_a]->score) +
                                     static_cast<double>(line[c.cid_b]->score) + c.score);
            }
            // found >= 3: the connection is ignored.
        }
        clock.lap(&StageTimes::assembly_ms);
    }

    // Steps 5-6: filter and write out.
    Result res;
    const float nan = std::numeric_limits<float>::quiet_NaN();
    const int total = static_cast<int>(line.size());
    for (int r = 0; r < rows.size(); ++r) {
        const double mean = rows.score[r] / rows.count[r];
        if (rows.count[r] < p.part_count_threshold || mean < p.human_score_threshold) continue;
        const int* row = rows.row(r);
        for (int j = 0; j < num_parts; ++j) {
            const int id = row[j];
            if (id >= 0 && id < total) {  // a merge can produce an id past the end: treat as missing
                res.keypoints.push_back(static_cast<float>(line[id]->x));
                res.keypoints.push_back(static_cast<float>(line[id]->y));
                res.keypoints.push_back(line[id]->score);
                res.peak_ids.push_back(id);
            } else {
                res.keypoints.push_back(nan);
                res.keypoints.push_back(nan);
                res.keypoints.push_back(0.0f);
                res.peak_ids.push_back(-1);
            }
        }
        res.scores.push_back(static_cast<float>(mean));
    }
    clock.lap(&StageTimes::assembly_ms);
    return res;
}

}  // namespace pafprocess
