// pybind11 adapter for pafprocess: validates every argument, then runs the grouping without the GIL.
// The only file of pafprocess_cpp that knows about Python. Imported only by posekit/paf.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "pafprocess.hpp"

namespace py = pybind11;

namespace {

std::string shape_str(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i) {
        if (i) s += ", ";
        s += std::to_string(a.shape(i));
    }
    if (a.ndim() == 1) s += ",";
    return s + ")";
}

// Checks type, dtype, ndim, contiguity and alignment; never copies or converts.
template <typename T>
py::array checked_array(const py::handle& obj, const char* name, int ndim, const char* dtype_name) {
    if (!py::isinstance<py::array>(obj)) {
        throw py::type_error(std::string(name) + " must be a numpy.ndarray of " + dtype_name + ", got " +
                             std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    }
    py::array a = py::reinterpret_borrow<py::array>(obj);
    if (!a.dtype().is(py::dtype::of<T>()) && !a.dtype().equal(py::dtype::of<T>())) {
        throw py::type_error(std::string(name) + " must have dtype " + dtype_name + ", got " +
                             std::string(py::str(a.dtype())));
    }
    if (a.ndim() != ndim) {
        throw py::value_error(std::string(name) + " must be " + std::to_string(ndim) + "-D, got shape " +
                              shape_str(a));
    }
    const int flags = a.flags();
    if (!(flags & py::array::c_style)) {
        throw py::value_error(std::string(name) +
                              " must be C-contiguous (use numpy.ascontiguousarray); got a strided view");
    }
    if (!(flags & py::detail::npy_api::NPY_ARRAY_ALIGNED_)) {
        throw py::value_error(std::string(name) + " must be aligned in memory");
    }
    return a;
}

// The cancel hook given to the C++ core: at most every kSignalPeriod it takes the GIL and runs
// Python's signal handlers (PyErr_CheckSignals), so Ctrl-C interrupts a long grouping. A short call
// never takes the GIL. Handlers run only in the main thread; elsewhere the check is a no-op.
class SignalCheck {
public:
    bool operator()() {
        const auto now = std::chrono::steady_clock::now();
        if (now - last_ < kSignalPeriod) return false;
        last_ = now;
        py::gil_scoped_acquire gil;
        if (PyErr_CheckSignals() != 0) {
            raised_ = true;  // the handler's exception stays set in this thread's state
            return true;
        }
        return false;
    }
    bool raised() const { return raised_; }

private:
    static constexpr std::chrono::milliseconds kSignalPeriod{20};
    std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
    bool raised_ = false;
};

// Validates, runs the grouping without the GIL and returns (keypoints, scores); `times` gets the
// time of each step when given.
py::tuple run_group(const py::handle& peaks_obj, const py::handle& heat_obj, const py::handle& pafs_obj,
                    const py::handle& limbs_obj, int num_parts, int start_limbs, double heat_threshold,
                    double vector_score_threshold, int vector_count_threshold, int part_count_threshold,
                    double human_score_threshold, int paf_steps, int max_peaks_per_part, int paf_upsample,
                    pafprocess::StageTimes* times) {
    py::array peaks = checked_array<float>(peaks_obj, "peaks", 3, "float32");
    py::array heat = checked_array<float>(heat_obj, "heatmaps", 3, "float32");
    py::array pafs = checked_array<float>(pafs_obj, "pafs", 3, "float32");
    py::array limbs = checked_array<std::int32_t>(limbs_obj, "limbs", 2, "int32");

    if (num_parts < 1) throw py::value_error("num_parts must be >= 1, got " + std::to_string(num_parts));
    const std::string parts_str = std::to_string(num_parts);
    const py::ssize_t H = peaks.shape(0), W = peaks.shape(1);
    if (peaks.shape(2) < num_parts)
        throw py::value_error("peaks must have at least " + parts_str + " channels, got shape " + shape_str(peaks));
    if (heat.shape(0) != H || heat.shape(1) != W)
        throw py::value_error("heatmaps must have the same height and width as peaks " + shape_str(peaks) +
                              ", got shape " + shape_str(heat));
    if (heat.shape(2) < num_parts)
        throw py::value_error("heatmaps must have at least " + parts_str + " channels, got shape " +
                              shape_str(heat));
    if (paf_upsample < 1 || paf_upsample > (1 << 20))
        throw py::value_error("paf_upsample must be an integer in 1..2**20, got " + std::to_string(paf_upsample));
    if (H % paf_upsample || W % paf_upsample || pafs.shape(0) != H / paf_upsample || pafs.shape(1) != W / paf_upsample)
        throw py::value_error("pafs must have the same height and width as peaks " + shape_str(peaks) +
                              (paf_upsample > 1 ? " divided by paf_upsample=" + std::to_string(paf_upsample) : "") +
                              ", got shape " + shape_str(pafs));
    if (H > (1 << 20) || W > (1 << 20) || peaks.shape(2) > (1 << 20) || heat.shape(2) > (1 << 20) ||
        pafs.shape(2) > (1 << 20))
        throw py::value_error("peaks, heatmaps and pafs must have fewer than 2**20 rows, columns and channels");
    if (limbs.shape(1) != 4)
        throw py::value_error("limbs must have shape (L, 4) (part_a, part_b, paf_x, paf_y), got shape " +
                              shape_str(limbs));
    if (limbs.shape(0) > (1 << 20)) throw py::value_error("limbs must have fewer than 2**20 rows");
    if (paf_steps < 1) throw py::value_error("paf_steps must be >= 1, got " + std::to_string(paf_steps));
    if (max_peaks_per_part < 1)
        throw py::value_error("max_peaks_per_part must be >= 1, got " + std::to_string(max_peaks_per_part));

    pafprocess::Skeleton skeleton;
    skeleton.num_parts = num_parts;
    skeleton.start_limbs = start_limbs;
    const auto* lv = static_cast<const std::int32_t*>(limbs.data());
    for (py::ssize_t k = 0; k < limbs.shape(0); ++k) {
        const std::int32_t* r = lv + 4 * k;
        for (int j = 0; j < 2; ++j)
            if (r[j] < 0 || r[j] >= num_parts)
                throw py::value_error("limbs[" + std::to_string(k) + "] has part index " + std::to_string(r[j]) +
                                      " outside 0.." + std::to_string(num_parts - 1));
        for (int j = 2; j < 4; ++j)
            if (r[j] < 0 || r[j] >= pafs.shape(2))
                throw py::value_error("limbs[" + std::to_string(k) + "] has PAF channel " + std::to_string(r[j]) +
                                      " but pafs has " + std::to_string(pafs.shape(2)) + " channels");
        skeleton.limbs.push_back({r[0], r[1], r[2], r[3]});
    }

    const pafprocess::Field fp{static_cast<const float*>(peaks.data()), static_cast<int>(H), static_cast<int>(W),
                               static_cast<int>(peaks.shape(2))};
    const pafprocess::Field fh{static_cast<const float*>(heat.data()), static_cast<int>(H), static_cast<int>(W),
                               static_cast<int>(heat.shape(2))};
    const pafprocess::Field ff{static_cast<const float*>(pafs.data()), static_cast<int>(pafs.shape(0)),
                               static_cast<int>(pafs.shape(1)), static_cast<int>(pafs.shape(2)), paf_upsample};
    pafprocess::Params params;
    params.heat_threshold = heat_threshold;
    params.vector_score_threshold = vector_score_threshold;
    params.vector_count_threshold = vector_count_threshold;
    params.part_count_threshold = part_count_threshold;
    params.human_score_threshold = human_score_threshold;
    params.paf_steps = paf_steps;
    params.max_peaks_per_part = max_peaks_per_part;

    pafprocess::Result res;
    SignalCheck signals;
    bool cancelled = false;
    {
        // The arrays stay referenced by this frame, so their memory is valid without the GIL.
        py::gil_scoped_release release;
        try {
            res = pafprocess::group_people(fp, fh, ff, skeleton, params, [&signals]() { return signals(); }, times);
        } catch (const pafprocess::Cancelled&) {
            cancelled = true;
        }
    }
    if (cancelled) {
        if (signals.raised()) throw py::error_already_set();  // e.g. KeyboardInterrupt from Ctrl-C
        throw std::runtime_error("pafprocess: grouping cancelled");
    }

    const py::ssize_t P = res.num_people();
    py::array_t<float> keypoints({P, static_cast<py::ssize_t>(num_parts), static_cast<py::ssize_t>(3)});
    py::array_t<float> scores({P});
    std::copy(res.keypoints.begin(), res.keypoints.end(), keypoints.mutable_data());
    std::copy(res.scores.begin(), res.scores.end(), scores.mutable_data());
    return py::make_tuple(keypoints, scores);
}

py::tuple group(const py::handle& peaks, const py::handle& heat, const py::handle& pafs, const py::handle& limbs,
                int num_parts, int start_limbs, double heat_threshold, double vector_score_threshold,
                int vector_count_threshold, int part_count_threshold, double human_score_threshold, int paf_steps,
                int max_peaks_per_part, int paf_upsample) {
    return run_group(peaks, heat, pafs, limbs, num_parts, start_limbs, heat_threshold, vector_score_threshold,
                     vector_count_threshold, part_count_threshold, human_score_threshold, paf_steps,
                     max_peaks_per_part, paf_upsample, nullptr);
}

py::tuple group_timed(const py::handle& peaks, const py::handle& heat, const py::handle& pafs,
                      const py::handle& limbs, int num_parts, int start_limbs, double heat_threshold,
                      double vector_score_threshold, int vector_count_threshold, int part_count_threshold,
                      double human_score_threshold, int paf_steps, int max_peaks_per_part, int paf_upsample) {
    pafprocess::StageTimes times;
    py::tuple out = run_group(peaks, heat, pafs, limbs, num_parts, start_limbs, heat_threshold,
                              vector_score_threshold, vector_count_threshold, part_count_threshold,
                              human_score_threshold, paf_steps, max_peaks_per_part, paf_upsample, &times);
    py::dict ms;
    ms["peaks"] = times.peaks_ms;
    ms["scoring"] = times.scoring_ms;
    ms["matching"] = times.matching_ms;
    ms["assembly"] = times.assembly_ms;
    return py::make_tuple(out[0], out[1], ms);
}

}  // namespace

PYBIND11_MODULE(_pafprocess, m) {
    m.doc() = "Private C++ PAF grouping for posekit.paf; see pafprocess_cpp/README.md for the array contract.";
    m.def("group", &group, py::arg("peaks"), py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"),
          py::arg("num_parts"), py::arg("start_limbs"), py::arg("heat_threshold"), py::arg("vector_score_threshold"),
          py::arg("vector_count_threshold"), py::arg("part_count_threshold"), py::arg("human_score_threshold"),
          py::arg("paf_steps"), py::arg("max_peaks_per_part"), py::arg("paf_upsample") = 1,
          "Group peaks into people. Returns (keypoints float32 (P, num_parts, 3), scores float32 (P,)). "
          "Ctrl-C (a Python signal) interrupts it.");
    m.def("group_timed", &group_timed, py::arg("peaks"), py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"),
          py::arg("num_parts"), py::arg("start_limbs"), py::arg("heat_threshold"), py::arg("vector_score_threshold"),
          py::arg("vector_count_threshold"), py::arg("part_count_threshold"), py::arg("human_score_threshold"),
          py::arg("paf_steps"), py::arg("max_peaks_per_part"), py::arg("paf_upsample") = 1,
          "group, also returning the milliseconds of each step: {'peaks', 'scoring', 'matching', 'assembly'}.");
}
