/* gups: GUPS (random read-modify-write of 8-byte words) with a hot set and
 * optional phase shifts, for the TierVM VM harness (benchmarks/vm).
 *
 * Every access picks, with probability hot_pct/100, a word inside the
 * current hot region, otherwise a word anywhere in the buffer (uniform).
 * Every phase_s seconds the hot region moves to the next of `regions`
 * evenly spaced slots.  With --hot-on-smem the hot slots are faulted in on
 * NUMA node 1 (SMEM) and the rest with the default local policy (node 0
 * first, spilling to node 1 when it is full); afterwards the whole buffer's
 * policy is reset to MPOL_DEFAULT so that NUMA balancing may migrate it (a
 * VMA with MPOL_BIND is never migrated by NUMA balancing).
 *
 * After the initial placement one line {"placed":true} goes to stdout; then
 * every report_ms milliseconds one JSON line goes to stdout:
 *   t_s, phase, ops, ops_per_s (over the interval; the clock restarts after
 *   the residency query, so its time is left out), query_s, hot_fmem_pct / all_fmem_pct (share of the hot
 *   region's / whole buffer's present pages on node 0, from move_pages(2)
 *   with nodes == NULL), hot_pages_n0/n1, all_pages_n0/n1, and
 *   hit_share_pct: the access-weighted FMEM hit share this access mix gets
 *   from that residency (hot_pct * hot_fmem + (100 - hot_pct) * all_fmem).
 * Written in C (no libnuma) so it runs in the rig's busybox guest.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MIB (1UL << 20)
#define HUGE (2UL * MIB)
#define PAGE 4096UL
#ifndef MPOL_DEFAULT
#define MPOL_DEFAULT 0
#define MPOL_BIND 2
#endif

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static long mbind_(void *addr, unsigned long len, int mode,
                   const unsigned long *mask, unsigned long maxnode) {
  return syscall(SYS_mbind, addr, len, mode, mask, maxnode, 0);
}

static uint64_t rng_state = 88172645463325252ULL;
static inline uint64_t rnd(void) {
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

/* Counts pages of [p, p+len) on node 0 and node 1 (sampled every `stride`
 * pages).  Returns -1 when move_pages fails. */
static int residency(char *p, size_t len, size_t stride, long *n0, long *n1) {
  enum { BATCH = 4096 };
  void *pages[BATCH];
  int status[BATCH];
  size_t npages = len / PAGE;
  *n0 = *n1 = 0;
  for (size_t i = 0; i < npages;) {
    int n = 0;
    for (; n < BATCH && i < npages; i += stride) pages[n++] = p + i * PAGE;
    if (syscall(SYS_move_pages, 0, (unsigned long)n, pages, NULL, status, 0)
        != 0)
      return -1;
    for (int k = 0; k < n; k++) {
      if (status[k] == 0) (*n0)++;
      else if (status[k] == 1) (*n1)++;
    }
  }
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: gups --mib N --hot-mib H [--hot-pct P] [--regions R] "
          "[--phase-s S] [--duration-s D] [--report-ms MS] [--hot-on-smem] "
          "[--seed X]\n");
  exit(2);
}

static long parse_long(const char *s, const char *what, long lo, long hi) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v < lo || v > hi) {
    fprintf(stderr, "gups: bad %s '%s' (want %ld..%ld)\n", what, s, lo, hi);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  long mib = 0, hot_mib = 0, hot_pct = 90, regions = 2, phase_s = 0;
  long duration_s = 60, report_ms = 2000, hot_on_smem = 0;
  static struct option opts[] = {
      {"mib", 1, 0, 'm'},      {"hot-mib", 1, 0, 'h'},
      {"hot-pct", 1, 0, 'p'},  {"regions", 1, 0, 'r'},
      {"phase-s", 1, 0, 'f'},  {"duration-s", 1, 0, 'd'},
      {"report-ms", 1, 0, 'i'}, {"hot-on-smem", 0, 0, 's'},
      {"seed", 1, 0, 'x'},     {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
      case 'm': mib = parse_long(optarg, "--mib", 4, 1 << 20); break;
      case 'h': hot_mib = parse_long(optarg, "--hot-mib", 2, 1 << 20); break;
      case 'p': hot_pct = parse_long(optarg, "--hot-pct", 0, 100); break;
      case 'r': regions = parse_long(optarg, "--regions", 1, 64); break;
      case 'f': phase_s = parse_long(optarg, "--phase-s", 0, 1 << 20); break;
      case 'd': duration_s = parse_long(optarg, "--duration-s", 1, 1 << 20);
        break;
      case 'i': report_ms = parse_long(optarg, "--report-ms", 100, 600000);
        break;
      case 's': hot_on_smem = 1; break;
      case 'x': rng_state = (uint64_t)parse_long(optarg, "--seed", 1,
                                                 0x7fffffffffffffffL); break;
      default: usage();
    }
  }
  if (!mib || !hot_mib) usage();
  size_t len = (size_t)mib * MIB, hot_len = (size_t)hot_mib * MIB;
  size_t slot = len / regions / HUGE * HUGE;
  if (hot_len % HUGE || hot_len > slot) {
    fprintf(stderr, "gups: hot set must be a multiple of 2 MiB and fit in "
                    "one of %ld slots of %zu MiB\n", regions, slot / MIB);
    return 2;
  }
  char *raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) { perror("gups: mmap"); return 1; }
  char *buf = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
  madvise(buf, len, MADV_HUGEPAGE);

  /* Placement: hot slots on node 1, the rest local first-touch. */
  unsigned long node1 = 1UL << 1;
  if (hot_on_smem)
    for (long r = 0; r < regions; r++)
      if (mbind_(buf + r * slot, hot_len, MPOL_BIND, &node1, 64) != 0) {
        perror("gups: mbind node 1");
        return 1;
      }
  for (size_t off = 0; off < len; off += PAGE) buf[off] = 1;
  if (mbind_(buf, len, MPOL_DEFAULT, NULL, 0) != 0) {
    perror("gups: mbind MPOL_DEFAULT");
    return 1;
  }
  /* The harness starts the policy under test after this line, so every
   * policy starts from the same placement. */
  printf("{\"placed\":true}\n");
  fflush(stdout);
  uint64_t *words = (uint64_t *)buf;
  size_t nwords = len / 8, hot_words = hot_len / 8;
  uint64_t hot_thresh = (uint64_t)hot_pct * (UINT64_MAX / 100);

  double t0 = now_s(), last = t0;
  long phase = 0;
  unsigned long ops = 0;
  size_t all_stride = len / PAGE > 65536 ? 4 : 1;
  for (;;) {
    size_t hot_base = (size_t)(phase % regions) * slot / 8;
    for (int k = 0; k < 65536; k++) {
      uint64_t r = rnd();
      size_t i = r < hot_thresh ? hot_base + (rnd() % hot_words)
                                : rnd() % nwords;
      words[i] += r;
    }
    ops += 65536;
    double t = now_s();
    if ((t - last) * 1000 >= report_ms) {
      long h0, h1, a0, a1;
      double q0 = now_s();
      if (residency(buf + (phase % regions) * slot, hot_len, 1, &h0, &h1) ||
          residency(buf, len, all_stride, &a0, &a1)) {
        perror("gups: move_pages");
        return 1;
      }
      double q = now_s() - q0;
      double hot_f = h0 + h1 ? 100.0 * h0 / (h0 + h1) : 0;
      double all_f = a0 + a1 ? 100.0 * a0 / (a0 + a1) : 0;
      double busy = t - last;
      printf("{\"t_s\":%.2f,\"phase\":%ld,\"ops\":%lu,\"ops_per_s\":%.0f,"
             "\"hot_fmem_pct\":%.2f,\"all_fmem_pct\":%.2f,"
             "\"hit_share_pct\":%.2f,\"hot_pages_n0\":%ld,"
             "\"hot_pages_n1\":%ld,\"all_pages_n0\":%ld,\"all_pages_n1\":%ld,"
             "\"all_stride\":%zu,\"query_s\":%.3f}\n",
             t - t0, phase, ops, busy > 0 ? ops / busy : 0, hot_f, all_f,
             (hot_pct * hot_f + (100 - hot_pct) * all_f) / 100.0, h0, h1,
             a0, a1, all_stride, q);
      fflush(stdout);
      ops = 0;
      last = now_s();
      if (t - t0 >= duration_s) break;
    }
    /* No new phase at the very end: the last report belongs to the last
     * phase of the run. */
    if (phase_s && t - t0 < duration_s &&
        (long)((t - t0) / phase_s) != phase)
      phase = (long)((t - t0) / phase_s);
  }
  return 0;
}
