#include "adapters/stats/stats_decoder.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace tiervm::agent {

namespace {

// Δus * 1e6 / Δt_us, saturated to INT64_MAX (a lying counter can be huge).
int64_t RatePpm(uint64_t delta_us, int64_t delta_ms) {
  const unsigned __int128 num = static_cast<unsigned __int128>(delta_us) * 1000;
  const unsigned __int128 ppm = num / static_cast<unsigned __int128>(delta_ms);
  if (ppm > static_cast<unsigned __int128>(INT64_MAX)) return INT64_MAX;
  int64_t v = static_cast<int64_t>(ppm);
  if (v > kPpmOne && v <= kPpmOne + kPsiJitterPpm) v = kPpmOne;
  return v;
}

}  // namespace

absl::StatusOr<std::optional<RawTelemetry>> StatsDecoder::Decode(
    const qmp::HballoonStats& stats) {
  if (stats.last_update_ms <= 0) return std::optional<RawTelemetry>();
  if (have_report_ && stats.seq == last_seq_ &&
      stats.last_update_ms == last_update_ms_) {
    return std::optional<RawTelemetry>();
  }
  have_report_ = true;
  last_seq_ = stats.seq;
  last_update_ms_ = stats.last_update_ms;

  RawTelemetry raw;
  // index -> (bytes, share); -1 marks a missing half.
  std::map<uint16_t, std::pair<int64_t, int64_t>> points;
  std::optional<uint64_t> some_us, full_us;
  for (const qmp::HballoonStatRecord& r : stats.records) {
    const int64_t v = static_cast<int64_t>(r.value);  // le64 read as signed
    switch (r.tag) {
      case kStatHotBytes:
      case kStatHotSharePpm: {
        if (r.node == kStatNodeAny) {
          return absl::InvalidArgumentError(absl::StrCat(
              "stats record tag ", r.tag, ": curve point without an index"));
        }
        auto [it, fresh] = points.try_emplace(r.node, -1, -1);
        (r.tag == kStatHotBytes ? it->second.first : it->second.second) = v;
        break;
      }
      case kStatSmemSharePpm:
        if (r.node == kStatNodeAny) raw.smem_access_share_ppm = v;
        break;
      case kStatPsiSomeUs:
        if (r.node == kStatNodeAny) some_us = r.value;
        break;
      case kStatPsiFullUs:
        if (r.node == kStatNodeAny) full_us = r.value;
        break;
      default:
        break;
    }
  }

  // PSI first: its baseline advances even if the curve is malformed.
  if (some_us.has_value()) {
    const uint64_t full = full_us.value_or(0);
    const int64_t dt_ms = stats.last_update_ms - psi_at_ms_;
    if (have_psi_ && dt_ms > 0 && *some_us >= psi_some_us_ &&
        full >= psi_full_us_) {
      raw.psi_some_ppm = RatePpm(*some_us - psi_some_us_, dt_ms);
      raw.psi_full_ppm = RatePpm(full - psi_full_us_, dt_ms);
      if (raw.psi_full_ppm > raw.psi_some_ppm &&
          raw.psi_full_ppm - raw.psi_some_ppm <= kPsiFullExcessPpm) {
        raw.psi_full_ppm = raw.psi_some_ppm;
      }
    }
    // First report, or a counter went backwards (guest reboot): new
    // baseline, no PSI this time.
    have_psi_ = true;
    psi_some_us_ = *some_us;
    psi_full_us_ = full;
    psi_at_ms_ = stats.last_update_ms;
  }

  uint32_t expect = 0;
  for (const auto& [index, pt] : points) {
    if (index != expect) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hotness curve: point ", expect, " missing (next index ", index, ")"));
    }
    if (pt.first == -1 && pt.second == -1) continue;  // unreachable
    if (pt.first == -1 || pt.second == -1) {
      // A real -1 (2^64-1) also lands here; the sanitizer would reject it
      // anyway.
      return absl::InvalidArgumentError(absl::StrCat(
          "hotness curve: point ", index, " lacks its ",
          pt.first == -1 ? "HOT_BYTES" : "HOT_SHARE_PPM", " record"));
    }
    if (raw.hotness.size() >= kMaxHotnessPoints) {
      return absl::InvalidArgumentError(absl::StrCat(
          "hotness curve: more than ", kMaxHotnessPoints, " points"));
    }
    raw.hotness.push_back({pt.first, pt.second});
    ++expect;
  }
  return std::optional<RawTelemetry>(std::move(raw));
}

}  // namespace tiervm::agent
