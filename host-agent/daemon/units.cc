#include "daemon/units.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tiervm::agent {

absl::StatusOr<uint64_t> ParseByteSize(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t i = 0;
  while (i < t.size() && (absl::ascii_isdigit(t[i]) || t[i] == '.')) ++i;
  const std::string num(t.substr(0, i));
  const std::string unit = absl::AsciiStrToLower(
      absl::StripAsciiWhitespace(t.substr(i)));
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size '", std::string(text), "': ", std::string(why)));
  };
  if (num.empty()) return bad("expected a number (e.g. 512MiB)");
  uint64_t mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "k" || unit == "kib") mult = uint64_t{1} << 10;
  else if (unit == "m" || unit == "mib") mult = uint64_t{1} << 20;
  else if (unit == "g" || unit == "gib") mult = uint64_t{1} << 30;
  else if (unit == "t" || unit == "tib") mult = uint64_t{1} << 40;
  else return bad("unknown unit (use B, KiB, MiB, GiB, TiB)");
  if (num.find('.') == std::string::npos) {
    uint64_t n = 0;
    if (!absl::SimpleAtoi(num, &n)) return bad("not a number");
    if (n > UINT64_MAX / mult) return bad("too large");
    return n * mult;
  }
  double d = 0;
  if (!absl::SimpleAtod(num, &d) || !std::isfinite(d) || d < 0) {
    return bad("not a number");
  }
  const double bytes = d * static_cast<double>(mult);
  if (bytes >= 1.8e19) return bad("too large");
  return static_cast<uint64_t>(std::floor(bytes));
}

std::string FormatBytes(uint64_t bytes) {
  if (bytes >= (uint64_t{1} << 30)) return absl::StrFormat("%.2f GiB", bytes / 1073741824.0);
  if (bytes >= (uint64_t{1} << 20)) return absl::StrFormat("%.0f MiB", bytes / 1048576.0);
  if (bytes >= (uint64_t{1} << 10)) return absl::StrFormat("%.0f KiB", bytes / 1024.0);
  return absl::StrCat(bytes, " B");
}

}  // namespace tiervm::agent
