// Error helpers. The bindings' `guarded` maps std::invalid_argument to ValueError and
// std::out_of_range to IndexError, so callers of _C get Python's usual types.
//
// Messages are built with std::string and snprintf, never iostreams: on a toolchain that
// links libstdc++ statically (the GPU machine's), a stream formatting a number crashed
// the process, its locale facets resolved against the process's other libstdc++.
#pragma once
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace fedras {

namespace detail {
inline void append(std::string& s, std::string_view v) { s.append(v.data(), v.size()); }
inline void append(std::string& s, const char* v) { s += v; }
inline void append(std::string& s, char v) { s += v; }
template <typename T>
std::enable_if_t<std::is_integral_v<T>> append(std::string& s, T v) {
  s += std::to_string(v);  // bool as 0/1, as a stream prints it
}
template <typename T>
std::enable_if_t<std::is_floating_point_v<T>> append(std::string& s, T v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", static_cast<double>(v));  // a stream's default format
  s += buf;
}
}  // namespace detail

template <typename... Ts>
std::string cat(const Ts&... parts) {
  std::string s;
  (detail::append(s, parts), ...);
  return s;
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
