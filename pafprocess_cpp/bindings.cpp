// pybind11 adapter for pafprocess: validates every argument, then runs the grouping without the GIL.
// The only file of pafprocess_cpp that knows about Python. Imported only by posekit/paf.py.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
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

py::tuple group(const py::handle& peaks_obj, const py::handle& heat_obj, const py::handle& pafs_obj,
                const py::handle& limbs_obj, double heat_threshold, double vector_score_threshold,
                int vector_count_threshold, int part_count_threshold, double human_score_threshold,
                int paf_steps, int start_limbs) {
    py::array peaks = checked_array<float>(peaks_obj, "peaks", 3, "float32");
    py::array heat = checked_array<float>(heat_obj, "heatmaps", 3, "float32");
    py::array pafs = checked_array<float>(pafs_obj, "pafs", 3, "float32");
    py::array limbs = checked_array<std::int32_t>(limbs_obj, "limbs", 2, "int32");

    const py::ssize_t H = peaks.shape(0), W = peaks.shape(1);
    if (peaks.shape(2) < pafprocess::kNumParts)
        throw py::value_error("peaks must have at least 18 channels, got shape " + shape_str(peaks));
    if (heat.shape(0) != H || heat.shape(1) != W)
        throw py::value_error("heatmaps must have the same height and width as peaks " + shape_str(peaks) +
                              ", got shape " + shape_str(heat));
    if (heat.shape(2) < pafprocess::kNumParts)
        throw py::value_error("heatmaps must have at least 18 channels, got shape " + shape_str(heat));
    if (pafs.shape(0) != H || pafs.shape(1) != W)
        throw py::value_error("pafs must have the same height and width as peaks " + shape_str(peaks) +
                              ", got shape " + shape_str(pafs));
    if (H > (1 << 20) || W > (1 << 20) || peaks.shape(2) > (1 << 20) || heat.shape(2) > (1 << 20) ||
        pafs.shape(2) > (1 << 20))
        throw py::value_error("peaks, heatmaps and pafs must have fewer than 2**20 rows, columns and channels");
    if (limbs.shape(1) != 4)
        throw py::value_error("limbs must have shape (L, 4) (part_a, part_b, paf_x, paf_y), got shape " +
                              shape_str(limbs));
    if (paf_steps < 1) throw py::value_error("paf_steps must be >= 1, got " + std::to_string(paf_steps));

    const auto* lv = static_cast<const std::int32_t*>(limbs.data());
    std::vector<pafprocess::Limb> table;
    for (py::ssize_t k = 0; k < limbs.shape(0); ++k) {
        const std::int32_t* r = lv + 4 * k;
        for (int j = 0; j < 2; ++j)
            if (r[j] < 0 || r[j] >= pafprocess::kNumParts)
                throw py::value_error("limbs[" + std::to_string(k) + "] has part index " + std::to_string(r[j]) +
                                      " outside 0..17");
        for (int j = 2; j < 4; ++j)
            if (r[j] < 0 || r[j] >= pafs.shape(2))
                throw py::value_error("limbs[" + std::to_string(k) + "] has PAF channel " + std::to_string(r[j]) +
                                      " but pafs has " + std::to_string(pafs.shape(2)) + " channels");
        table.push_back({r[0], r[1], r[2], r[3]});
    }

    const pafprocess::Field fp{static_cast<const float*>(peaks.data()), static_cast<int>(H), static_cast<int>(W),
                               static_cast<int>(peaks.shape(2))};
    const pafprocess::Field fh{static_cast<const float*>(heat.data()), static_cast<int>(H), static_cast<int>(W),
                               static_cast<int>(heat.shape(2))};
    const pafprocess::Field ff{static_cast<const float*>(pafs.data()), static_cast<int>(H), static_cast<int>(W),
                               static_cast<int>(pafs.shape(2))};
    pafprocess::Params params;
    params.heat_threshold = heat_threshold;
    params.vector_score_threshold = vector_score_threshold;
    params.vector_count_threshold = vector_count_threshold;
    params.part_count_threshold = part_count_threshold;
    params.human_score_threshold = human_score_threshold;
    params.paf_steps = paf_steps;
    params.start_limbs = start_limbs;

    pafprocess::Result res;
    {
        // The arrays stay referenced by this frame, so their memory is valid without the GIL.
        py::gil_scoped_release release;
        res = pafprocess::group_people(fp, fh, ff, table, params);
    }

    const py::ssize_t P = res.num_people();
    py::array_t<float> keypoints({P, static_cast<py::ssize_t>(pafprocess::kNumParts), static_cast<py::ssize_t>(3)});
    py::array_t<float> scores({P});
    std::copy(res.keypoints.begin(), res.keypoints.end(), keypoints.mutable_data());
    std::copy(res.scores.begin(), res.scores.end(), scores.mutable_data());
    return py::make_tuple(keypoints, scores);
}

py::list find_peaks(const py::handle& peaks_obj, const py::handle& heat_obj, double heat_threshold) {
    py::array peaks = checked_array<float>(peaks_obj, "peaks", 3, "float32");
    py::array heat = checked_array<float>(heat_obj, "heatmaps", 3, "float32");
    if (peaks.shape(2) < pafprocess::kNumParts)
        throw py::value_error("peaks must have at least 18 channels, got shape " + shape_str(peaks));
    if (heat.shape(0) != peaks.shape(0) || heat.shape(1) != peaks.shape(1) || heat.shape(2) < pafprocess::kNumParts)
        throw py::value_error("heatmaps must have the height and width of peaks and >= 18 channels, got shape " +
                              shape_str(heat));
    const pafprocess::Field fp{static_cast<const float*>(peaks.data()), static_cast<int>(peaks.shape(0)),
                               static_cast<int>(peaks.shape(1)), static_cast<int>(peaks.shape(2))};
    const pafprocess::Field fh{static_cast<const float*>(heat.data()), static_cast<int>(heat.shape(0)),
                               static_cast<int>(heat.shape(1)), static_cast<int>(heat.shape(2))};
    std::vector<std::vector<pafprocess::Peak>> by_part;
    {
        py::gil_scoped_release release;
        by_part = pafprocess::find_peaks(fp, fh, heat_threshold);
    }
    py::list out;
    for (const auto& list : by_part) {
        py::array_t<float> arr({static_cast<py::ssize_t>(list.size()), static_cast<py::ssize_t>(4)});
        float* d = arr.mutable_data();
        for (const auto& pk : list) {
            *d++ = static_cast<float>(pk.id);
            *d++ = static_cast<float>(pk.x);
            *d++ = static_cast<float>(pk.y);
            *d++ = pk.score;
        }
        out.append(arr);
    }
    return out;
}

}  // namespace

PYBIND11_MODULE(_pafprocess, m) {
    m.doc() = "Private C++ PAF grouping for posekit.paf; see pafprocess_cpp/README.md for the array contract.";
    m.def("group", &group, py::arg("peaks"), py::arg("heatmaps"), py::arg("pafs"), py::arg("limbs"),
          py::arg("heat_threshold"), py::arg("vector_score_threshold"), py::arg("vector_count_threshold"),
          py::arg("part_count_threshold"), py::arg("human_score_threshold"), py::arg("paf_steps"),
          py::arg("start_limbs"),
          "Group peaks into people. Returns (keypoints float32 (P, 18, 3), scores float32 (P,)).");
    m.def("find_peaks", &find_peaks, py::arg("peaks"), py::arg("heatmaps"), py::arg("heat_threshold"),
          "Peaks per part: list of 18 float32 (N, 4) arrays of (global id, x, y, score).");
}
