#include "daemon/adapters/move_pages.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <tuple>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace tiervm::adapters {

using placement::ExchangePlan;
using placement::ExchangeRound;
using placement::kBasePageBytes;
using placement::PageInfo;
using placement::PageMove;
using placement::Residency;
using placement::Tier;

namespace {
constexpr int kMpolMfMove = 1 << 1;  // <linux/mempolicy.h> MPOL_MF_MOVE
}  // namespace

long LinuxPageMoveSyscall::MovePages(Pid pid, absl::Span<const Vaddr> pages,
                                     absl::Span<const int> nodes, absl::Span<int> status) {
  if (status.size() != pages.size() || (!nodes.empty() && nodes.size() != pages.size())) {
    return -EINVAL;
  }
  if (pages.empty()) return 0;
  std::vector<void*> ptrs(pages.size());
  for (size_t i = 0; i < pages.size(); ++i) {
    ptrs[i] = reinterpret_cast<void*>(static_cast<uintptr_t>(pages[i]));
  }
  const long r = ::syscall(SYS_move_pages, static_cast<long>(pid),
                           static_cast<unsigned long>(pages.size()), ptrs.data(),
                           nodes.empty() ? nullptr : nodes.data(), status.data(),
                           nodes.empty() ? 0 : kMpolMfMove);
  return r < 0 ? -static_cast<long>(errno) : r;
}

// ------------------------------------------------------------- executor --

bool MovePagesExecutor::Apply(absl::Span<const PageMove> moves, bool check_budget,
                              std::vector<Outcome>& outcomes, MoverResult& result) {
  outcomes.assign(moves.size(), Outcome::kNotTried);
  std::vector<Vaddr> pages;
  std::vector<int> nodes, status;
  size_t i = 0;
  while (i < moves.size()) {
    if (check_budget && config_.out_of_budget && config_.out_of_budget()) {
      result.stop = MoverStop::kBudget;
      return false;
    }
    // One call: same pid, at most max_batch_pages.
    size_t j = i + 1;
    uint64_t batch_bytes = moves[i].bytes;
    while (j < moves.size() && moves[j].pid == moves[i].pid &&
           j - i < std::max<size_t>(1, config_.max_batch_pages) &&
           (config_.max_batch_bytes == 0 || batch_bytes + moves[j].bytes <= config_.max_batch_bytes)) {
      batch_bytes += moves[j].bytes;
      ++j;
    }
    const Pid pid = moves[i].pid;
    pages.clear();
    nodes.clear();
    for (size_t k = i; k < j; ++k) {
      pages.push_back(moves[k].addr);
      nodes.push_back(moves[k].dest_node);
    }
    status.assign(pages.size(), -EINVAL);
    ++result.syscalls;
    const long r = syscall_.MovePages(pid, pages, nodes, absl::MakeSpan(status));
    bool stop = false;
    if (r < 0) {
      const int err = static_cast<int>(-r);
      Outcome o = Outcome::kOther;
      if (err == ESRCH) {
        o = Outcome::kGone;
      } else if (err == ENOMEM) {
        o = Outcome::kNoMem;
        result.stop = MoverStop::kNoMemory;
        stop = true;
      } else if (err == EINVAL || err == ENODEV || err == E2BIG || err == EFAULT) {
        result.stop = MoverStop::kFatal;
        result.fatal = absl::InternalError(absl::StrCat(
            "move_pages(pid ", pid, ", ", pages.size(), " pages, node ", moves[i].dest_node,
            "): ", std::strerror(err)));
        stop = true;
      }
      for (size_t k = i; k < j; ++k) outcomes[k] = o;
    } else {
      for (size_t k = i; k < j; ++k) {
        const int s = status[k - i];
        Outcome o;
        if (s == moves[k].dest_node) {
          o = Outcome::kApplied;
        } else if (s >= 0) {
          o = Outcome::kOther;  // still elsewhere without an error
        } else if (s == -EBUSY || s == -EAGAIN) {
          o = Outcome::kBusy;
        } else if (s == -EFAULT || s == -ENOENT) {
          o = Outcome::kGone;
        } else if (s == -ENOMEM) {
          o = Outcome::kNoMem;
          result.stop = MoverStop::kNoMemory;
          stop = true;
        } else {
          o = Outcome::kOther;
        }
        outcomes[k] = o;
      }
    }
    if (stop) return false;
    i = j;
  }
  return true;
}

MoverResult MovePagesExecutor::Execute(const ExchangePlan& plan) {
  MoverResult result;
  placement::ExecutionReport& rep = result.report;
  for (const ExchangeRound& r : plan.rounds) {
    for (const auto* list : {&r.demotions, &r.promotions}) {
      for (const PageMove& m : *list) {
        ++rep.planned_moves;
        rep.planned_bytes += m.bytes;
      }
    }
  }
  auto by_dest = [](const PageMove& a, const PageMove& b) {
    return std::tie(a.dest_node, a.pid, a.addr) < std::tie(b.dest_node, b.pid, b.addr);
  };
  // Issues `moves` grouped by destination node; returns per-move outcomes
  // in the order of `moves`.
  bool stopped = false;
  std::vector<Outcome> group_out;
  auto run = [&](std::vector<PageMove>& moves, bool check_budget, std::vector<Outcome>& out) {
    std::sort(moves.begin(), moves.end(), by_dest);
    out.assign(moves.size(), Outcome::kNotTried);
    size_t i = 0;
    while (i < moves.size() && !stopped) {
      size_t j = i;
      while (j < moves.size() && moves[j].dest_node == moves[i].dest_node) ++j;
      const bool go_on = Apply(absl::MakeConstSpan(moves).subspan(i, j - i), check_budget,
                               group_out, result);
      std::copy(group_out.begin(), group_out.end(), out.begin() + static_cast<ptrdiff_t>(i));
      if (!go_on) stopped = true;
      i = j;
    }
  };
  auto unapplied = [&](const PageMove& m) {
    if (m.dest_tier == placement::Tier::kFmem) result.unapplied_promotions.push_back(m);
  };
  auto tally = [&](const PageMove& m, Outcome o) {
    if (o != Outcome::kApplied) unapplied(m);
    switch (o) {
      case Outcome::kApplied:
        result.applied.push_back(m);
        ++rep.applied_moves;
        rep.applied_bytes += m.bytes;
        (m.dest_tier == placement::Tier::kFmem ? rep.applied_to_fmem_bytes
                                               : rep.applied_to_smem_bytes) += m.bytes;
        break;
      case Outcome::kBusy:
        ++rep.busy;
        result.retry.push_back(m);
        break;
      case Outcome::kGone:
        ++rep.gone;
        break;
      case Outcome::kNoMem:
        ++rep.no_mem;
        break;
      case Outcome::kOther:
        ++result.other_failed;
        break;
      case Outcome::kNotTried:
        ++result.not_attempted;
        break;
    }
  };

  // Bytes of FMEM the plan assumed free but are not (see the header).
  int64_t deficit = 0;
  std::vector<PageMove> moves;
  std::vector<Outcome> out;
  for (const ExchangeRound& round : plan.rounds) {
    if (stopped) {
      for (const auto* list : {&round.demotions, &round.promotions}) {
        result.not_attempted += list->size();
      }
      for (const PageMove& m : round.promotions) unapplied(m);
      continue;
    }
    moves = round.demotions;
    run(moves, /*check_budget=*/true, out);
    for (size_t k = 0; k < moves.size(); ++k) {
      tally(moves[k], out[k]);
      if (out[k] != Outcome::kApplied) deficit += static_cast<int64_t>(moves[k].bytes);
    }
    // Out of budget among the demotions: the promotions that what did
    // apply makes room for still go (the deficit skips the rest), without
    // asking the budget again; then execution stops.
    const bool completing = stopped && result.stop == MoverStop::kBudget;
    if (completing) stopped = false;
    // Promotions the FMEM left by this round's demotions can still hold.
    std::vector<PageMove> promote = round.promotions;
    std::sort(promote.begin(), promote.end(), by_dest);
    moves.clear();
    for (const PageMove& m : promote) {
      if (stopped) {
        ++result.not_attempted;
        unapplied(m);
      } else if (deficit > 0) {
        ++rep.skipped;
        unapplied(m);
        deficit -= static_cast<int64_t>(m.bytes);
      } else {
        moves.push_back(m);
      }
    }
    run(moves, /*check_budget=*/!completing, out);
    for (size_t k = 0; k < moves.size(); ++k) {
      tally(moves[k], out[k]);
      if (out[k] != Outcome::kApplied) deficit -= static_cast<int64_t>(moves[k].bytes);
    }
    if (completing) stopped = true;
  }
  return result;
}

// -------------------------------------------------------------- locator --

absl::Status MovePagesLocator::Query(Pid pid, absl::Span<const Vaddr> pages,
                                     absl::Span<int> status) const {
  const size_t batch = std::max<size_t>(1, config_.batch_pages);
  for (size_t i = 0; i < pages.size(); i += batch) {
    const size_t n = std::min(batch, pages.size() - i);
    const long r = syscall_.MovePages(pid, pages.subspan(i, n), {}, status.subspan(i, n));
    if (r < 0) {
      const int err = static_cast<int>(-r);
      const std::string msg =
          absl::StrCat("move_pages query of pid ", pid, ": ", std::strerror(err));
      if (err == ESRCH) return absl::NotFoundError(msg);
      if (err == EPERM || err == EACCES) return absl::PermissionDeniedError(msg);
      return absl::InternalError(msg);
    }
  }
  return absl::OkStatus();
}

absl::Status MovePagesLocator::ForEachPage(
    Pid pid, Vaddr start, Vaddr end, absl::FunctionRef<bool(const PageInfo&)> fn) const {
  if (start >= end) return absl::OkStatus();
  Vaddr addr = start & ~(kBasePageBytes - 1);
  const size_t batch = std::max<size_t>(1, config_.batch_pages);
  std::vector<Vaddr> pages;
  std::vector<int> status;
  while (addr < end) {
    pages.clear();
    while (pages.size() < batch && addr < end) {
      pages.push_back(addr);
      if (addr > ~uint64_t{0} - kBasePageBytes) break;  // top of the address space
      addr += kBasePageBytes;
    }
    status.assign(pages.size(), -ENOENT);
    if (absl::Status st = Query(pid, pages, absl::MakeSpan(status)); !st.ok()) return st;
    for (size_t k = 0; k < pages.size(); ++k) {
      const int s = status[k];
      if (s != config_.fmem_node && s != config_.smem_node) continue;
      PageInfo info;
      info.addr = pages[k];
      info.bytes = kBasePageBytes;
      info.tier = s == config_.fmem_node ? Tier::kFmem : Tier::kSmem;
      if (!fn(info)) return absl::OkStatus();
    }
    if (pages.back() > ~uint64_t{0} - kBasePageBytes) break;
  }
  return absl::OkStatus();
}

absl::StatusOr<Residency> MovePagesLocator::Locate(Pid pid, Vaddr start, Vaddr end) const {
  Residency res;
  if (start >= end) return res;
  const Vaddr first = start & ~(kBasePageBytes - 1);
  const uint64_t npages = (end - first + kBasePageBytes - 1) / kBasePageBytes;
  if (npages <= config_.max_exact_pages || config_.sample_pages == 0 ||
      npages < config_.sample_pages) {
    absl::Status st = ForEachPage(pid, start, end, [&](const PageInfo& p) {
      // Count only the overlap, so residency of adjacent ranges adds up.
      const uint64_t lo = std::max(p.addr, start);
      const uint64_t hi = std::min(p.addr + p.bytes, end);
      (p.tier == Tier::kFmem ? res.fmem_bytes : res.smem_bytes) += hi - lo;
      return true;
    });
    if (!st.ok()) return st;
    return res;
  }
  // A stratified sample, scaled to the range's length.
  const size_t n = config_.sample_pages;
  const uint64_t stride = npages / n;  // >= 1: npages >= n here
  std::vector<Vaddr> pages(n);
  // One page at a pseudo-random offset inside each stride (stratified
  // sampling): a fixed offset would alias with periodic layouts (a THP
  // every 64 MiB, say).  Deterministic per range, so repeated calls agree.
  uint64_t h = first ^ (static_cast<uint64_t>(pid) << 32);
  for (size_t i = 0; i < n; ++i) {
    h += 0x9e3779b97f4a7c15ull;  // splitmix64
    uint64_t z = h;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    pages[i] = first + (static_cast<uint64_t>(i) * stride + z % stride) * kBasePageBytes;
  }
  std::vector<int> status(n, -ENOENT);
  if (absl::Status st = Query(pid, pages, absl::MakeSpan(status)); !st.ok()) return st;
  uint64_t fmem = 0, smem = 0;
  for (int s : status) {
    fmem += s == config_.fmem_node;
    smem += s == config_.smem_node;
  }
  const double per_sample = static_cast<double>(end - start) / static_cast<double>(n);
  const uint64_t len = end - start;
  auto scale = [&](uint64_t hits) {
    const uint64_t v = static_cast<uint64_t>(static_cast<double>(hits) * per_sample + 0.5);
    return std::min(v, len);  // double rounding must not exceed the range
  };
  res.fmem_bytes = scale(fmem);
  res.smem_bytes = std::min(scale(smem), len - res.fmem_bytes);
  return res;
}

}  // namespace tiervm::adapters
