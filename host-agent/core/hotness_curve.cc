#include "core/hotness_curve.h"

namespace tiervm::agent {

double ServedSharePpm(absl::Span<const HotnessPoint> points,
                      uint64_t fmem_bytes) {
  uint64_t prev_bytes = 0;
  double prev_share = 0;
  for (const HotnessPoint& p : points) {
    if (fmem_bytes <= p.bytes) {
      const double frac = static_cast<double>(fmem_bytes - prev_bytes) /
                          static_cast<double>(p.bytes - prev_bytes);
      return prev_share + frac * (p.share_ppm - prev_share);
    }
    prev_bytes = p.bytes;
    prev_share = p.share_ppm;
  }
  return prev_share;
}

void ConcaveSegments(absl::Span<const HotnessPoint> points,
                     std::vector<CurveSegment>* out) {
  // Andrew's monotone chain, upper half, over (0,0) + points.  Curves have
  // at most a few dozen points, so a small stack array beats allocation.
  struct P {
    double x, y;
  };
  constexpr size_t kMaxHull = 256;
  P hull[kMaxHull];
  size_t n = 0;
  hull[n++] = {0, 0};
  for (const HotnessPoint& hp : points) {
    const P p{static_cast<double>(hp.bytes), static_cast<double>(hp.share_ppm)};
    // Pop while the last hull point lies on or below the chord from the
    // one before it to p (cross product >= 0 means a non-right turn).
    while (n >= 2) {
      const P& a = hull[n - 2];
      const P& b = hull[n - 1];
      const double cross =
          (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
      if (cross < 0) break;
      --n;
    }
    if (n == kMaxHull) break;  // cannot happen with sanitized curves
    hull[n++] = p;
  }
  for (size_t i = 1; i < n; ++i) {
    const double dx = hull[i].x - hull[i - 1].x;
    const double dy = hull[i].y - hull[i - 1].y;
    if (dy <= 0 || dx <= 0) break;  // flat tail: worth nothing
    out->push_back({static_cast<uint64_t>(hull[i - 1].x),
                    static_cast<uint64_t>(hull[i].x), dy / dx});
  }
}

void UniformSegments(uint64_t span_bytes, std::vector<CurveSegment>* out) {
  if (span_bytes == 0) return;
  out->push_back({0, span_bytes, kPpmOne / static_cast<double>(span_bytes)});
}

}  // namespace tiervm::agent
