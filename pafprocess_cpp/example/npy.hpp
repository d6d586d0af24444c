// A minimal reader of NumPy .npy files (format versions 1-3): little-endian float32 or int32,
// C order, any number of dimensions. Enough for the example and the test; not part of the library.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace npy {

struct Array {
    std::string dtype;  // "<f4" or "<i4"
    std::vector<std::int64_t> shape;
    std::vector<unsigned char> bytes;  // the values, C order

    std::int64_t size() const {
        std::int64_t n = 1;
        for (std::int64_t d : shape) n *= d;
        return n;
    }
    const float* f32() const { return reinterpret_cast<const float*>(bytes.data()); }
};

// The value of `key` in the header dict, e.g. "'<f4'" for 'descr', "(46, 54, 19)" for 'shape'.
inline std::string header_value(const std::string& header, const std::string& key) {
    const std::size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) throw std::runtime_error("npy header has no '" + key + "'");
    std::size_t v = header.find(':', k) + 1;
    while (v < header.size() && header[v] == ' ') ++v;
    const char open = header[v];
    const char close = open == '(' ? ')' : (open == '\'' ? '\'' : ',');
    const std::size_t e = header.find(close, v + 1);
    if (e == std::string::npos) throw std::runtime_error("npy header: cannot read '" + key + "'");
    return header.substr(v, e - v + (close == ',' ? 0 : 1));
}

inline Array load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    char magic[8];
    if (!in.read(magic, 8) || std::memcmp(magic, "\x93NUMPY", 6) != 0)
        throw std::runtime_error(path + ": not a .npy file");
    const int major = static_cast<unsigned char>(magic[6]);
    std::uint32_t header_len = 0;
    unsigned char len_bytes[4] = {0, 0, 0, 0};
    if (!in.read(reinterpret_cast<char*>(len_bytes), major == 1 ? 2 : 4))
        throw std::runtime_error(path + ": truncated header");
    header_len = len_bytes[0] | (len_bytes[1] << 8) | (static_cast<std::uint32_t>(len_bytes[2]) << 16) |
                 (static_cast<std::uint32_t>(len_bytes[3]) << 24);
    std::string header(header_len, '\0');
    if (!in.read(&header[0], header_len)) throw std::runtime_error(path + ": truncated header");

    Array a;
    const std::string descr = header_value(header, "descr");
    a.dtype = descr.substr(1, descr.size() - 2);
    if (a.dtype != "<f4" && a.dtype != "<i4")
        throw std::runtime_error(path + ": dtype " + a.dtype + " not supported (float32 or int32, little-endian)");
    if (header_value(header, "fortran_order") != "False")
        throw std::runtime_error(path + ": Fortran order not supported (save a C-contiguous array)");
    const std::string shape = header_value(header, "shape");
    for (std::size_t i = 1; i < shape.size();) {
        while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
        if (i >= shape.size() || shape[i] == ')') break;
        std::size_t used = 0;
        a.shape.push_back(std::stoll(shape.substr(i), &used));
        i += used;
    }
    a.bytes.resize(static_cast<std::size_t>(a.size()) * 4);
    if (!in.read(reinterpret_cast<char*>(a.bytes.data()), static_cast<std::streamsize>(a.bytes.size())))
        throw std::runtime_error(path + ": truncated data");
    return a;
}

}  // namespace npy
