// Error helpers. pybind11 maps std::invalid_argument to ValueError and
// std::out_of_range to IndexError, so callers of _C get Python's usual types.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fedras {

template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return os.str();
}

template <typename... Ts>
[[noreturn]] void value_error(const Ts&... parts) {
  throw std::invalid_argument(cat(parts...));
}

template <typename... Ts>
[[noreturn]] void index_error(const Ts&... parts) {
  throw std::out_of_range(cat(parts...));
}

}  // namespace fedras
