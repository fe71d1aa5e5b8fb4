#include "sim/sim.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace tiervm::sim {

double LatencyModel::MigrateNs(uint64_t page_bytes) const {
  const double gbps = page_bytes >= placement::kHugePageBytes ? copy_gb_per_s_2m : copy_gb_per_s_4k;
  return migrate_fixed_ns + static_cast<double>(page_bytes) / gbps;  // bytes / (GB/s) = ns
}

absl::Status LatencyModel::Validate() const {
  for (double v : {fmem_ns, smem_ns, copy_gb_per_s_4k, copy_gb_per_s_2m}) {
    if (!(v > 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError("latency model: latencies and copy rates must be > 0");
    }
  }
  for (double v : {migrate_fixed_ns, hint_fault_ns, pebs_sample_ns, pte_scan_ns}) {
    if (!(v >= 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError("latency model: costs must be >= 0");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<SimTrace> SimTrace::Build(std::string name, std::vector<Sample> records,
                                         uint64_t page_bytes) {
  if (page_bytes != placement::kBasePageBytes && page_bytes != placement::kHugePageBytes) {
    return absl::InvalidArgumentError("page size must be 4096 or 2097152 bytes");
  }
  if (records.empty()) return absl::InvalidArgumentError("trace has no records");
  SimTrace t;
  t.name = std::move(name);
  t.page_bytes = page_bytes;
  // Spans: 2 MiB chunks holding a touched address, adjacent chunks merged.
  constexpr uint64_t kChunk = placement::kHugePageBytes;
  std::vector<std::pair<Pid, Vaddr>> chunks;
  chunks.reserve(records.size() / 8 + 16);
  for (const Sample& s : records) chunks.emplace_back(s.pid, s.vaddr / kChunk);
  std::sort(chunks.begin(), chunks.end());
  chunks.erase(std::unique(chunks.begin(), chunks.end()), chunks.end());
  uint64_t pages = 0;
  for (size_t i = 0; i < chunks.size();) {
    size_t j = i + 1;
    while (j < chunks.size() && chunks[j].first == chunks[i].first &&
           chunks[j].second == chunks[j - 1].second + 1) {
      ++j;
    }
    SimSpan sp;
    sp.pid = chunks[i].first;
    sp.start = chunks[i].second * kChunk;
    sp.end = (chunks[j - 1].second + 1) * kChunk;
    sp.first_page = static_cast<uint32_t>(pages);
    pages += (sp.end - sp.start) / page_bytes;
    if (pages > std::numeric_limits<uint32_t>::max() / 2) {
      return absl::InvalidArgumentError("trace footprint too large for the simulator");
    }
    t.spans.push_back(sp);
    i = j;
  }
  t.num_pages = static_cast<uint32_t>(pages);
  t.page_of.resize(records.size());
  std::vector<bool> touched(t.num_pages, false);
  for (size_t i = 0; i < records.size(); ++i) {
    const int64_t p = t.PageOf(records[i].pid, records[i].vaddr);
    if (p < 0) return absl::InternalError("record outside the spans built from it");
    t.page_of[i] = static_cast<uint32_t>(p);
    if (!touched[p]) {
      touched[p] = true;
      ++t.touched_pages;
    }
    t.total_accesses += records[i].weight;
  }
  t.records = std::move(records);
  return t;
}

int64_t SimTrace::PageOf(Pid pid, Vaddr vaddr) const {
  // Last span with (pid, start) <= (pid, vaddr).
  auto it = std::upper_bound(spans.begin(), spans.end(), std::make_pair(pid, vaddr),
                             [](const std::pair<Pid, Vaddr>& k, const SimSpan& s) {
                               return k.first < s.pid || (k.first == s.pid && k.second < s.start);
                             });
  if (it == spans.begin()) return -1;
  --it;
  if (it->pid != pid || vaddr >= it->end) return -1;
  return it->first_page + static_cast<int64_t>((vaddr - it->start) / page_bytes);
}

const SimSpan& SimTrace::SpanOf(uint32_t page) const {
  auto it = std::upper_bound(spans.begin(), spans.end(), page,
                             [](uint32_t p, const SimSpan& s) { return p < s.first_page; });
  return *std::prev(it);
}

Vaddr SimTrace::PageAddr(uint32_t page) const {
  const SimSpan& s = SpanOf(page);
  return s.start + static_cast<uint64_t>(page - s.first_page) * page_bytes;
}

Pid SimTrace::PagePid(uint32_t page) const { return SpanOf(page).pid; }

Tier Policy::AllocTier(Simulation& sim, uint32_t page) {
  (void)page;
  return sim.fmem_free_pages() > 0 ? Tier::kFmem : Tier::kSmem;
}

Simulation::Simulation(const SimTrace* trace, const SimConfig& config)
    : trace_(trace), config_(config), state_(trace->num_pages, PageState::kAbsent),
      bounces_({config.bounce_window_ns, 0}) {}

void Simulation::ScoreEpoch(size_t e) {
  const std::vector<uint32_t>& set = (*config_.reference_sets)[e];
  uint64_t both = 0;
  for (uint32_t page : set) both += state_[page] == PageState::kFmem ? 1 : 0;
  m_.epoch_precision.push_back(
      fmem_used_ > 0 ? static_cast<double>(both) / static_cast<double>(fmem_used_) : 0);
  m_.epoch_recall.push_back(set.empty() ? 1 : static_cast<double>(both) /
                                                  static_cast<double>(set.size()));
}

void Simulation::Place(uint32_t page, Tier t) {
  if (t == Tier::kFmem) {
    state_[page] = PageState::kFmem;
    ++fmem_used_;
  } else {
    state_[page] = PageState::kSmem;
  }
}

bool Simulation::Move(uint32_t page, Tier dest) {
  const PageState s = state_[page];
  if (s == PageState::kAbsent) return false;
  if ((s == PageState::kFmem) == (dest == Tier::kFmem)) return false;
  if (dest == Tier::kFmem) {
    if (fmem_used_ >= config_.fmem_capacity_pages) {
      ++m_.failed_promotions;
      return false;
    }
    state_[page] = PageState::kFmem;
    ++fmem_used_;
    ++m_.promotions;
    bounces_.Promoted(0, page, 1, now_ns());
  } else {
    state_[page] = PageState::kSmem;
    --fmem_used_;
    ++m_.demotions;
    bounces_.Demoted(0, page, now_ns());
    m_.promotions_bounced = bounces_.stats().bounced;
  }
  const double ns = config_.latency.MigrateNs(trace_->page_bytes);
  m_.migrate_ns += ns;
  m_.modelled_ns += ns;
  return true;
}

absl::Status Simulation::Run(Policy& policy) {
  if (absl::Status st = config_.latency.Validate(); !st.ok()) return st;
  if (config_.window_accesses == 0) return absl::InvalidArgumentError("window_accesses must be > 0");
  if (absl::Status st = policy.Init(*this); !st.ok()) return st;
  const LatencyModel& lat = config_.latency;
  uint64_t win_acc = 0, win_fmem = 0;
  int64_t next_wake = policy.NextWakeNs();
  const auto close_window = [&] {
    m_.win_accesses.push_back(win_acc);
    m_.win_fmem.push_back(win_fmem);
    m_.win_end_ns.push_back(m_.modelled_ns);
    m_.win_migrations.push_back(m_.promotions + m_.demotions);
    win_acc = win_fmem = 0;
  };
  const bool scored = config_.reference_sets != nullptr && config_.reference_first_access != nullptr &&
                      config_.reference_sets->size() == config_.reference_first_access->size();
  size_t epoch = 0;  // the reference epoch the next record belongs to
  for (size_t i = 0; i < trace_->records.size(); ++i) {
    const uint32_t page = trace_->page_of[i];
    const uint64_t w = trace_->records[i].weight;
    // An epoch ends where the next one starts: score the one that ended.
    while (scored && epoch + 1 < config_.reference_sets->size() &&
           m_.accesses >= (*config_.reference_first_access)[epoch + 1]) {
      ScoreEpoch(epoch++);
    }
    policy.BeginRecord(*this, i);
    if (state_[page] == PageState::kAbsent) {
      Tier t = policy.AllocTier(*this, page);
      if (t == Tier::kFmem && fmem_used_ >= config_.fmem_capacity_pages) t = Tier::kSmem;
      Place(page, t);
    }
    const PageState before = state_[page];
    const double fault_ns = policy.OnAccess(*this, i, page);
    const PageState after = state_[page];
    // The first access of the record is served where the page was, the
    // rest where the policy left it (a hint fault promotes in between).
    const uint64_t first_fmem = before == PageState::kFmem ? 1 : 0;
    const uint64_t rest_fmem = after == PageState::kFmem ? w - 1 : 0;
    const double ns = lat.AccessNs(before == PageState::kFmem ? Tier::kFmem : Tier::kSmem) +
                      static_cast<double>(w - 1) *
                          lat.AccessNs(after == PageState::kFmem ? Tier::kFmem : Tier::kSmem);
    m_.access_ns += ns;
    m_.hint_fault_ns += fault_ns;
    m_.modelled_ns += ns + fault_ns;
    m_.accesses += w;
    m_.fmem_accesses += first_fmem + rest_fmem;
    win_acc += w;
    win_fmem += first_fmem + rest_fmem;
    // Window boundaries are in accesses so every policy's windows cover the
    // same records; a record is never split across windows.
    if ((m_.accesses / config_.window_accesses) != ((m_.accesses - w) / config_.window_accesses)) {
      close_window();
    }
    while (static_cast<int64_t>(m_.modelled_ns) >= next_wake) {
      if (absl::Status st = policy.Wake(*this); !st.ok()) return st;
      const int64_t nw = policy.NextWakeNs();
      if (nw <= next_wake) return absl::InternalError(policy.Name() + ": wake time did not advance");
      next_wake = nw;
    }
  }
  if (win_acc > 0) close_window();
  if (scored && epoch < config_.reference_sets->size()) ScoreEpoch(epoch);
  return absl::OkStatus();
}

}  // namespace tiervm::sim
