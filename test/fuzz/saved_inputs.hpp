// The saved inputs of one fuzz target: corpus/<target>/* and regressions/<target>/*,
// in name order.
#pragma once

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ebpfix::fuzz {

struct SavedInput {
    std::string path;
    std::vector<std::uint8_t> bytes;
};

inline std::vector<SavedInput> saved_inputs(const std::filesystem::path& fuzz_dir, const std::string& target) {
    std::vector<SavedInput> out;
    for (const char* kind : {"corpus", "regressions"}) {
        const auto dir = fuzz_dir / kind / target;
        if (!std::filesystem::is_directory(dir)) continue;
        std::vector<std::filesystem::path> files;
        for (const auto& entry : std::filesystem::directory_iterator(dir))
            if (entry.is_regular_file()) files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            std::ifstream in(file, std::ios::binary);
            out.push_back({file.string(), std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), {})});
        }
    }
    return out;
}

}  // namespace ebpfix::fuzz
