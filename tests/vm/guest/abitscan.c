/*
 * abitscan: guest-side test of HBALLOON_IOC_SCAN_YOUNG and HBALLOON_IOC_LOCATE
 * (tests/vm/test_abit_scan.py).
 *
 * usage: abitscan [DEVICE]
 *
 * Runs every scenario in one process and prints one line per result:
 *   check OK|FAIL <name> <value>
 *   figure <key> <value>
 *   skip <what>: <why>
 * Exit status 0 when every check passed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/hballoon.h>

#include "check.h"

_Static_assert(sizeof(struct hballoon_scan) == HBALLOON_SCAN_SIZE, "abi");
_Static_assert(sizeof(struct hballoon_scan_range) == HBALLOON_SCAN_RANGE_SIZE,
	       "abi");

#define PG 4096UL
#define HUGE (2UL << 20)

static int fd;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One range; returns 0 or errno.  map/huge: bitmaps or NULL. */
static int ioc1(unsigned long cmd, pid_t pid, uint64_t start, uint64_t len,
		uint32_t flags, int32_t node, uint64_t *map, uint64_t *huge,
		struct hballoon_scan_range *out, struct hballoon_scan *sout)
{
	struct hballoon_scan_range r = {
		.start = start, .len = len,
		.bitmap_ptr = (uintptr_t)map, .huge_ptr = (uintptr_t)huge,
	};
	struct hballoon_scan s = {
		.pid = pid, .flags = flags, .num_ranges = 1,
		.ranges_ptr = (uintptr_t)&r, .node = node,
	};

	if (ioctl(fd, cmd, &s))
		return errno;
	if (out)
		*out = r;
	if (sout)
		*sout = s;
	return 0;
}

static int scan1(pid_t pid, uint64_t start, uint64_t len, uint32_t flags,
		 uint64_t *young, uint64_t *huge, struct hballoon_scan_range *out,
		 struct hballoon_scan *sout)
{
	return ioc1(HBALLOON_IOC_SCAN_YOUNG, pid, start, len, flags, 0, young,
		    huge, out, sout);
}

/* HBALLOON_IOC_LOCATE of one range for @node. */
static int locate1(pid_t pid, uint64_t start, uint64_t len, int32_t node,
		   uint64_t *map, uint64_t *huge,
		   struct hballoon_scan_range *out, struct hballoon_scan *sout)
{
	return ioc1(HBALLOON_IOC_LOCATE, pid, start, len, 0, node, map, huge,
		    out, sout);
}

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif

static long sys_move_pages(unsigned long count, void **pages,
			   const int *nodes, int *status, int flags)
{
	return syscall(SYS_move_pages, 0, count, pages, nodes, status, flags);
}

/* move_pages(2) query of the @n pages at @p into @status; 0 or errno. */
static int query_nodes(char *p, size_t n, int *status)
{
	void **pages = malloc(n * sizeof(*pages));
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++)
		pages[i] = p + i * PG;
	if (sys_move_pages(n, pages, NULL, status, 0))
		err = errno;
	free(pages);
	return err;
}

/*
 * Moves the pages at @p + idx[i] * PG to @node; 0 when the call worked
 * and every status says @node.
 */
static int move_to(char *p, const size_t *idx, size_t n, int node)
{
	void **pages = malloc(n * sizeof(*pages));
	int *nodes = malloc(n * sizeof(*nodes));
	int *status = malloc(n * sizeof(*status));
	size_t i;
	int err = 0;

	for (i = 0; i < n; i++) {
		pages[i] = p + idx[i] * PG;
		nodes[i] = node;
	}
	if (sys_move_pages(n, pages, nodes, status, MPOL_MF_MOVE))
		err = errno;
	for (i = 0; !err && i < n; i++)
		if (status[i] != node)
			err = status[i] < 0 ? -status[i] : EAGAIN;
	free(pages);
	free(nodes);
	free(status);
	return err;
}

static int bit(const uint64_t *map, size_t i)
{
	return (map[i / 64] >> (i % 64)) & 1;
}

static volatile uint64_t sink;

static void touch(char *p, size_t npages, size_t every, int write)
{
	size_t i;

	for (i = 0; i < npages; i += every) {
		if (write)
			p[i * PG] = (char)i;
		else
			sink += (unsigned char)p[i * PG];
	}
}

/* Pages where the bitmap disagrees with "status[i] == node". */
static size_t node_mismatches(const uint64_t *map, const int *status,
			      size_t npages, int node)
{
	size_t i, bad = 0;

	for (i = 0; i < npages; i++)
		bad += bit(map, i) != (status[i] == node);
	return bad;
}

static size_t count_bits(const uint64_t *map, size_t npages)
{
	size_t i, n = 0;

	for (i = 0; i < npages; i++)
		n += bit(map, i);
	return n;
}

/* Bitmap equals "page i young iff i % every == 0". */
static size_t mismatches(const uint64_t *map, size_t npages, size_t every)
{
	size_t i, bad = 0;

	for (i = 0; i < npages; i++)
		bad += bit(map, i) != (i % every == 0);
	return bad;
}

#define N4K 16384		/* 64 MiB of 4 KiB pages */
#define HOT_EVERY 8

static void test_4k(void)
{
	uint64_t *young = calloc(N4K / 64, 8), *huge = calloc(N4K / 64, 8);
	struct hballoon_scan_range r;
	struct hballoon_scan s;
	char *p;
	int err, round;
	size_t bad;

	p = mmap(NULL, N4K * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, N4K * PG, MADV_NOHUGEPAGE);
	touch(p, N4K, 1, 1);
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, huge, &r, &s);
	check(!err && r.present_pages == N4K && s.ranges_done == 1 &&
	      s.scanned_pages == N4K && s.next_addr == 0,
	      "4k_first_scan_all_present", "err=%d present=%u young=%u done=%u",
	      err, r.present_pages, r.young_pages, s.ranges_done);
	check(r.young_pages == N4K, "4k_first_scan_all_young", "%u",
	      r.young_pages);

	/* Nothing touched since the clearing scan: nothing young. */
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, huge, &r, NULL);
	check(!err && r.young_pages == 0 && r.present_pages == N4K,
	      "4k_untouched_not_young", "err=%d young=%u", err, r.young_pages);

	for (round = 0; round < 3; round++) {
		char name[64];

		touch(p, N4K, HOT_EVERY, round & 1);
		err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, huge,
			    &r, NULL);
		bad = err ? N4K : mismatches(young, N4K, HOT_EVERY);
		snprintf(name, sizeof(name), "4k_hot_exact_round%d", round);
		check(!err && bad == 0 && r.young_pages == N4K / HOT_EVERY &&
		      r.huge_pages == 0, name,
		      "err=%d young=%u mismatches=%zu", err, r.young_pages,
		      bad);
		printf("figure young_pages_round%d_%s %u\n", round,
		       round & 1 ? "write" : "read", r.young_pages);
	}

	/* NO_CLEAR leaves the bits. */
	touch(p, N4K, HOT_EVERY, 0);
	scan1(getpid(), (uintptr_t)p, N4K * PG, HBALLOON_SCAN_F_NO_CLEAR,
	      young, NULL, &r, NULL);
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, HBALLOON_SCAN_F_NO_CLEAR,
		    young, NULL, &r, NULL);
	check(!err && r.young_pages == N4K / HOT_EVERY &&
	      mismatches(young, N4K, HOT_EVERY) == 0, "no_clear_keeps_bits",
	      "young=%u", r.young_pages);
	scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, NULL, &r, NULL);
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, NULL, &r, NULL);
	check(!err && r.young_pages == 0, "clear_after_no_clear", "young=%u",
	      r.young_pages);

	/* Budget and resume: 640 pages per call. */
	{
		uint64_t start = (uintptr_t)p, len = N4K * PG;
		unsigned int calls = 0, total_young = 0, total_scanned = 0;
		int ok = 1;

		touch(p, N4K, HOT_EVERY, 0);
		memset(young, 0, N4K / 8);
		while (len) {
			struct hballoon_scan_range rr = {
				.start = start, .len = len,
				.bitmap_ptr = (uintptr_t)(young +
					(start - (uintptr_t)p) / PG / 64),
			};
			struct hballoon_scan ss = {
				.pid = getpid(), .num_ranges = 1,
				.max_pages = 640,
				.ranges_ptr = (uintptr_t)&rr,
			};

			if (ioctl(fd, HBALLOON_IOC_SCAN_YOUNG, &ss)) {
				ok = 0;
				break;
			}
			calls++;
			total_young += rr.young_pages;
			total_scanned += ss.scanned_pages;
			if (ss.ranges_done == 1) {
				ok &= ss.next_addr == 0;
				break;
			}
			ok &= ss.scanned_pages == 640 &&
			      ss.next_addr == start + 640 * PG;
			len -= ss.next_addr - start;
			start = ss.next_addr;
		}
		check(ok && calls == (N4K + 639) / 640 &&
		      total_scanned == N4K && total_young == N4K / HOT_EVERY &&
		      mismatches(young, N4K, HOT_EVERY) == 0,
		      "budget_resume", "calls=%u scanned=%u young=%u", calls,
		      total_scanned, total_young);
	}

	/* EFAULT on a bad bitmap loses no accessed bit. */
	touch(p, N4K, HOT_EVERY, 0);
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0,
		    (uint64_t *)(uintptr_t)8, NULL, &r, NULL);
	check(err == EFAULT, "bad_bitmap_efault", "err=%d", err);
	err = scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, NULL, &r, NULL);
	check(!err && r.young_pages == N4K / HOT_EVERY,
	      "bad_bitmap_loses_nothing", "young=%u", r.young_pages);

	/* Throughput: all pages present, clearing, 4 KiB mappings. */
	{
		int i, n = 20;
		double t0 = now_s(), dt;

		for (i = 0; i < n; i++) {
			touch(p, N4K, HOT_EVERY, 0);
			scan1(getpid(), (uintptr_t)p, N4K * PG, 0, young, NULL,
			      NULL, NULL);
		}
		dt = now_s() - t0;
		/* Subtract nothing: the touches are 1/8 of the pages. */
		printf("figure scan_pages_per_s_4k %.0f\n", n * (double)N4K / dt);
	}
	/* Holes: unmapped address space costs little. */
	{
		uint64_t *y2 = calloc(N4K / 64, 8);
		double t0;
		int i;

		munmap(p + PG * (N4K / 2), PG * (N4K / 2));
		t0 = now_s();
		for (i = 0; i < 20; i++)
			scan1(getpid(), (uintptr_t)p, N4K * PG, 0, y2, NULL,
			      &r, NULL);
		printf("figure scan_pages_per_s_half_unmapped %.0f\n",
		       20 * (double)N4K / (now_s() - t0));
		check(r.present_pages == N4K / 2, "unmapped_half_not_present",
		      "present=%u", r.present_pages);
		free(y2);
	}
	munmap(p, N4K * PG);
	free(young);
	free(huge);
}

static unsigned long anon_huge_kb(void)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	char line[256];
	unsigned long kb = 0, v;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %lu kB", &v) == 1)
			kb = v;
	fclose(f);
	return kb;
}

static void test_thp(void)
{
	size_t n = 4 * HUGE / PG;	/* 4 THPs */
	uint64_t *young = calloc(n / 64, 8), *huge = calloc(n / 64, 8);
	struct hballoon_scan_range r;
	char *raw, *p;
	unsigned long kb;
	size_t i, bad = 0;
	int err;

	raw = mmap(NULL, 5 * HUGE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p = (char *)(((uintptr_t)raw + HUGE - 1) & ~(HUGE - 1));
	err = madvise(p, 4 * HUGE, MADV_HUGEPAGE);
	touch(p, n, 1, 1);
	kb = anon_huge_kb();
	printf("figure anon_huge_kb %lu\n", kb);
	check(!err && kb >= 4 * 2048, "thp_backed", "AnonHugePages=%lu kB",
	      kb);
	scan1(getpid(), (uintptr_t)p, 4 * HUGE, 0, young, huge, &r, NULL);
	check(r.huge_pages == n && r.present_pages == n, "thp_reported_huge",
	      "huge=%u present=%u", r.huge_pages, r.present_pages);
	for (i = 0; i < n; i++)
		bad += !bit(huge, i);
	check(bad == 0, "thp_huge_bitmap_full", "missing=%zu", bad);
	/* One byte in THP #1: its 512 pages young, the others not. */
	p[HUGE + 12345] = 1;
	err = scan1(getpid(), (uintptr_t)p, 4 * HUGE, 0, young, huge, &r,
		    NULL);
	bad = 0;
	for (i = 0; i < n; i++)
		bad += bit(young, i) != (i / 512 == 1);
	check(!err && r.young_pages == 512 && bad == 0, "thp_young_whole_pmd",
	      "young=%u mismatches=%zu", r.young_pages, bad);
	/* A range covering half of THP #2 only. */
	p[2 * HUGE + HUGE / 2 + 10] = 1;
	err = scan1(getpid(), (uintptr_t)p + 2 * HUGE + HUGE / 2, HUGE / 2, 0,
		    young, huge, &r, NULL);
	check(!err && r.young_pages == 256 && r.huge_pages == 256,
	      "thp_partial_range", "young=%u huge=%u", r.young_pages,
	      r.huge_pages);
	{
		double t0 = now_s();

		for (i = 0; i < 50; i++)
			scan1(getpid(), (uintptr_t)p, 4 * HUGE, 0, young, huge,
			      NULL, NULL);
		printf("figure scan_pages_per_s_thp %.0f\n",
		       50 * (double)n / (now_s() - t0));
	}
	munmap(raw, 5 * HUGE);
	free(young);
	free(huge);
}

/*
 * HBALLOON_IOC_LOCATE over 4 KiB pages: every 16th page never touched,
 * every third touched page moved to node 1, the rest left on node 0.  The
 * node bitmaps must equal move_pages(2)'s answer page for page.
 */
#define LN 4096			/* 16 MiB of 4 KiB pages */

static void test_locate_4k(void)
{
	uint64_t *b0 = calloc(LN / 64, 8), *b1 = calloc(LN / 64, 8);
	uint64_t *h0 = calloc(LN / 64, 8), *bres = calloc(LN / 64, 8);
	uint64_t *young = calloc(LN / 64, 8);
	int *status = calloc(LN, sizeof(int));
	size_t *idx = calloc(LN, sizeof(size_t));
	size_t i, m = 0, touched = LN - LN / 16, bad, on0 = 0;
	struct hballoon_scan_range r0, r1, r;
	struct hballoon_scan s0, s1;
	int err, err1;
	char *p;

	p = mmap(NULL, LN * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, LN * PG, MADV_NOHUGEPAGE);
	for (i = 0; i < LN; i++)
		if (i % 16 != 15)
			p[i * PG] = 1;
	err = query_nodes(p, LN, status);
	for (i = 0; i < LN; i++)
		on0 += status[i] == 0;
	check(!err && on0 == touched, "locate_4k_setup_on_node0",
	      "err=%d on_node0=%zu want=%zu", err, on0, touched);

	for (i = 0; i < LN; i++)
		if (i % 16 != 15 && i % 3 == 0)
			idx[m++] = i;
	err = move_to(p, idx, m, 1);
	check(!err, "locate_4k_moved_to_node1", "err=%d pages=%zu", err, m);
	err = query_nodes(p, LN, status);
	check(!err, "locate_4k_query", "err=%d", err);

	err = locate1(getpid(), (uintptr_t)p, LN * PG, 0, b0, h0, &r0, &s0);
	err1 = locate1(getpid(), (uintptr_t)p, LN * PG, 1, b1, NULL, &r1,
		       &s1);
	bad = err ? LN : node_mismatches(b0, status, LN, 0);
	check(!err && bad == 0 && r0.young_pages == touched - m &&
	      r0.present_pages == touched && r0.huge_pages == 0 &&
	      count_bits(h0, LN) == 0 && s0.ranges_done == 1 &&
	      s0.scanned_pages == LN && s0.next_addr == 0,
	      "locate_4k_node0_exact",
	      "err=%d mismatches=%zu on_node=%u want=%zu present=%u huge=%u",
	      err, bad, r0.young_pages, touched - m, r0.present_pages,
	      r0.huge_pages);
	bad = err1 ? LN : node_mismatches(b1, status, LN, 1);
	check(!err1 && bad == 0 && r1.young_pages == m &&
	      r1.present_pages == touched && r1.huge_pages == 0,
	      "locate_4k_node1_exact",
	      "err=%d mismatches=%zu on_node=%u want=%zu present=%u", err1,
	      bad, r1.young_pages, m, r1.present_pages);
	bad = 0;
	for (i = 15; i < LN; i += 16)
		bad += bit(b0, i) + bit(b1, i);
	check(bad == 0, "locate_4k_untouched_in_neither", "set=%zu", bad);

	/* LOCATE leaves the accessed bits alone. */
	scan1(getpid(), (uintptr_t)p, LN * PG, 0, young, NULL, &r, NULL);
	touch(p, LN, HOT_EVERY, 0);
	for (i = 0; i < 3; i++) {
		locate1(getpid(), (uintptr_t)p, LN * PG, 0, b0, NULL, NULL,
			NULL);
		locate1(getpid(), (uintptr_t)p, LN * PG, 1, b1, NULL, NULL,
			NULL);
	}
	err = scan1(getpid(), (uintptr_t)p, LN * PG, HBALLOON_SCAN_F_NO_CLEAR,
		    young, NULL, &r, NULL);
	bad = err ? LN : mismatches(young, LN, HOT_EVERY);
	check(!err && r.young_pages == LN / HOT_EVERY && bad == 0,
	      "locate_keeps_accessed_bits", "err=%d young=%u want=%d "
	      "mismatches=%zu", err, r.young_pages, LN / HOT_EVERY, bad);

	/* Budget and resume: 64 pages per call, as for SCAN_YOUNG. */
	{
		uint64_t start = (uintptr_t)p, len = LN * PG;
		unsigned int calls = 0, total = 0, total_scanned = 0;
		int ok = 1;

		locate1(getpid(), (uintptr_t)p, LN * PG, 0, b0, NULL, &r0,
			NULL);
		while (len) {
			struct hballoon_scan_range rr = {
				.start = start, .len = len,
				.bitmap_ptr = (uintptr_t)(bres +
					(start - (uintptr_t)p) / PG / 64),
			};
			struct hballoon_scan ss = {
				.pid = getpid(), .num_ranges = 1,
				.max_pages = 64, .node = 0,
				.ranges_ptr = (uintptr_t)&rr,
			};

			if (ioctl(fd, HBALLOON_IOC_LOCATE, &ss)) {
				ok = 0;
				break;
			}
			calls++;
			total += rr.young_pages;
			total_scanned += ss.scanned_pages;
			if (ss.ranges_done == 1) {
				ok &= ss.next_addr == 0 &&
				      ss.scanned_pages == 64;
				break;
			}
			ok &= ss.ranges_done == 0 && ss.scanned_pages == 64 &&
			      ss.next_addr == start + 64 * PG;
			len -= ss.next_addr - start;
			start = ss.next_addr;
		}
		check(ok && calls == LN / 64 && total_scanned == LN &&
		      total == r0.young_pages && total == touched - m &&
		      !memcmp(bres, b0, LN / 8), "locate_budget_resume",
		      "calls=%u scanned=%u on_node=%u want=%u", calls,
		      total_scanned, total, r0.young_pages);
	}
	munmap(p, LN * PG);

	/* Read-only pages map the shared zero page: on no node. */
	p = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, 64 * PG, MADV_NOHUGEPAGE);
	touch(p, 64, 1, 0);
	err = scan1(getpid(), (uintptr_t)p, 64 * PG, HBALLOON_SCAN_F_NO_CLEAR,
		    young, NULL, &r, NULL);
	check(!err && r.present_pages == 64, "zero_page_mapped",
	      "err=%d scan_young present=%u", err, r.present_pages);
	memset(b0, 0xff, 8);
	memset(b1, 0xff, 8);
	err = locate1(getpid(), (uintptr_t)p, 64 * PG, 0, b0, NULL, &r0, NULL);
	err1 = locate1(getpid(), (uintptr_t)p, 64 * PG, 1, b1, NULL, &r1,
		       NULL);
	check(!err && !err1 && r0.present_pages == 0 && r0.young_pages == 0 &&
	      r1.present_pages == 0 && r1.young_pages == 0 && !b0[0] && !b1[0],
	      "locate_zero_page_not_present",
	      "err=%d/%d present=%u/%u on_node=%u/%u", err, err1,
	      r0.present_pages, r1.present_pages, r0.young_pages,
	      r1.young_pages);
	/* Writing every other page replaces the zero page there. */
	touch(p, 64, 2, 1);
	err = locate1(getpid(), (uintptr_t)p, 64 * PG, 0, b0, NULL, &r0, NULL);
	check(!err && r0.present_pages == 32 && r0.young_pages == 32 &&
	      b0[0] == 0x5555555555555555ULL, "locate_zero_page_after_write",
	      "err=%d present=%u on_node=%u map=%" PRIx64, err,
	      r0.present_pages, r0.young_pages, b0[0]);
	munmap(p, 64 * PG);
	free(b0);
	free(b1);
	free(h0);
	free(bres);
	free(young);
	free(status);
	free(idx);
}

/* THP available at all (MADV_HUGEPAGE honoured)? */
static int thp_available(char *why, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";

	if (!f) {
		snprintf(why, len, "no /sys/kernel/mm/transparent_hugepage");
		return 0;
	}
	if (!fgets(line, sizeof(line), f))
		line[0] = 0;
	fclose(f);
	line[strcspn(line, "\n")] = 0;
	snprintf(why, len, "enabled: %s", line);
	return strstr(line, "[never]") == NULL;
}

static char *map_huge_aligned(size_t len, char **raw)
{
	*raw = mmap(NULL, len + HUGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (*raw == MAP_FAILED)
		return NULL;
	return (char *)(((uintptr_t)*raw + HUGE - 1) & ~(HUGE - 1));
}

/* LOCATE over 4 THPs, before and after moving two of them to node 1. */
static void test_locate_thp(void)
{
	size_t n = 4 * HUGE / PG, i, bad, on1 = 0, idx[2] = { 512, 1536 };
	uint64_t *b0 = calloc(n / 64, 8), *b1 = calloc(n / 64, 8);
	uint64_t *h0 = calloc(n / 64, 8), *h1 = calloc(n / 64, 8);
	int *status = calloc(n, sizeof(int));
	struct hballoon_scan_range r0, r1, r;
	char *raw, *p, why[160];
	int err, err1;

	if (!thp_available(why, sizeof(why))) {
		printf("skip locate_thp: THP not available in the guest (%s)\n",
		       why);
		return;
	}
	p = map_huge_aligned(4 * HUGE, &raw);
	err = madvise(p, 4 * HUGE, MADV_HUGEPAGE);
	touch(p, n, 1, 1);
	err = err ? errno : locate1(getpid(), (uintptr_t)p, 4 * HUGE, 0, b0, h0,
				    &r0, NULL);
	err1 = locate1(getpid(), (uintptr_t)p, 4 * HUGE, 1, b1, h1, &r1, NULL);
	check(!err && r0.present_pages == n && r0.huge_pages == n &&
	      r0.young_pages == n && count_bits(b0, n) == n &&
	      count_bits(h0, n) == n, "locate_thp_node0",
	      "err=%d present=%u huge=%u on_node=%u", err, r0.present_pages,
	      r0.huge_pages, r0.young_pages);
	check(!err1 && r1.present_pages == n && r1.huge_pages == n &&
	      r1.young_pages == 0 && count_bits(b1, n) == 0 &&
	      count_bits(h1, n) == n, "locate_thp_node1_empty",
	      "err=%d present=%u huge=%u on_node=%u", err1, r1.present_pages,
	      r1.huge_pages, r1.young_pages);

	/* THPs #1 and #3 to node 1: the head address moves the whole THP. */
	err = move_to(p, idx, 2, 1);
	check(!err, "locate_thp_moved_to_node1", "err=%d", err);
	err = query_nodes(p, n, status);
	for (i = 0; i < n; i++)
		on1 += status[i] == 1;
	check(!err && on1 == 1024, "locate_thp_query_after_move",
	      "err=%d on_node1=%zu want=1024", err, on1);
	err = locate1(getpid(), (uintptr_t)p, 4 * HUGE, 0, b0, h0, &r0, NULL);
	err1 = locate1(getpid(), (uintptr_t)p, 4 * HUGE, 1, b1, h1, &r1, NULL);
	bad = (err || err1) ? n : node_mismatches(b0, status, n, 0) +
				  node_mismatches(b1, status, n, 1);
	for (i = 0; i < n; i++)
		bad += bit(b1, i) != (i / 512 == 1 || i / 512 == 3);
	check(!err && !err1 && bad == 0 && r0.young_pages == 1024 &&
	      r1.young_pages == 1024, "locate_thp_nodes_after_move",
	      "err=%d/%d mismatches=%zu on_node0=%u on_node1=%u", err, err1,
	      bad, r0.young_pages, r1.young_pages);
	check(r0.huge_pages == n && r1.huge_pages == n &&
	      count_bits(h0, n) == n && count_bits(h1, n) == n,
	      "locate_thp_still_huge_after_move", "huge=%u/%u",
	      r0.huge_pages, r1.huge_pages);
	/* Half of THP #1 only. */
	err = locate1(getpid(), (uintptr_t)p + HUGE + HUGE / 2, HUGE / 2, 1,
		      b1, h1, &r1, NULL);
	check(!err && r1.young_pages == 256 && r1.huge_pages == 256 &&
	      r1.present_pages == 256 && count_bits(b1, 256) == 256,
	      "locate_thp_partial_range", "err=%d on_node=%u huge=%u", err,
	      r1.young_pages, r1.huge_pages);

	/* The accessed bit of a THP is left alone too. */
	scan1(getpid(), (uintptr_t)p, 4 * HUGE, 0, b0, NULL, &r, NULL);
	p[2 * HUGE + 77] = 1;
	locate1(getpid(), (uintptr_t)p, 4 * HUGE, 0, b1, NULL, NULL, NULL);
	locate1(getpid(), (uintptr_t)p, 4 * HUGE, 1, b1, NULL, NULL, NULL);
	err = scan1(getpid(), (uintptr_t)p, 4 * HUGE, HBALLOON_SCAN_F_NO_CLEAR,
		    b0, NULL, &r, NULL);
	bad = 0;
	for (i = 0; i < n; i++)
		bad += bit(b0, i) != (i / 512 == 2);
	check(!err && r.young_pages == 512 && bad == 0,
	      "locate_keeps_thp_accessed_bit", "err=%d young=%u", err,
	      r.young_pages);
	munmap(raw, 5 * HUGE);

	/* Read faults map the huge zero page: on no node. */
	p = map_huge_aligned(2 * HUGE, &raw);
	madvise(p, 2 * HUGE, MADV_HUGEPAGE);
	touch(p, 1024, 1, 0);
	err = scan1(getpid(), (uintptr_t)p, 2 * HUGE, HBALLOON_SCAN_F_NO_CLEAR,
		    NULL, NULL, &r, NULL);
	check(!err && r.present_pages == 1024 && r.huge_pages == 1024,
	      "huge_zero_page_mapped", "err=%d scan_young present=%u huge=%u",
	      err, r.present_pages, r.huge_pages);
	err = locate1(getpid(), (uintptr_t)p, 2 * HUGE, 0, b0, h0, &r0, NULL);
	err1 = locate1(getpid(), (uintptr_t)p, 2 * HUGE, 1, b1, h1, &r1, NULL);
	check(!err && !err1 && r0.present_pages == 0 && r0.huge_pages == 0 &&
	      r1.present_pages == 0 && r1.huge_pages == 0 &&
	      count_bits(b0, 1024) + count_bits(h0, 1024) +
	      count_bits(b1, 1024) + count_bits(h1, 1024) == 0,
	      "locate_huge_zero_page_not_present",
	      "err=%d/%d present=%u/%u huge=%u/%u", err, err1,
	      r0.present_pages, r1.present_pages, r0.huge_pages,
	      r1.huge_pages);
	munmap(raw, 3 * HUGE);
	free(b0);
	free(b1);
	free(h0);
	free(h1);
	free(status);
}

#define SPEED_N 65536		/* 256 MiB */

/*
 * LOCATE (node 0, then node 1: what hplaced needs) against one
 * move_pages(2) query of every page, over the same 256 MiB.
 */
static void locate_speed(const char *kind, char *p)
{
	uint64_t *map = calloc(SPEED_N / 64, 8);
	int *status = calloc(SPEED_N, sizeof(int));
	void **pages = malloc(SPEED_N * sizeof(*pages));
	struct hballoon_scan_range r0, r1;
	unsigned int reps_l = 5, reps_q = 2, k;
	size_t i, q0 = 0, q1 = 0;
	double t0, tl, tq;
	char name[64];
	int err = 0;

	for (i = 0; i < SPEED_N; i++)
		pages[i] = p + i * PG;
	t0 = now_s();
	for (k = 0; k < reps_l; k++) {
		err |= locate1(getpid(), (uintptr_t)p, SPEED_N * PG, 0, map,
			       NULL, &r0, NULL);
		err |= locate1(getpid(), (uintptr_t)p, SPEED_N * PG, 1, map,
			       NULL, &r1, NULL);
	}
	tl = (now_s() - t0) / reps_l;
	t0 = now_s();
	for (k = 0; k < reps_q; k++)
		if (sys_move_pages(SPEED_N, pages, NULL, status, 0))
			err |= errno;
	tq = (now_s() - t0) / reps_q;
	for (i = 0; i < SPEED_N; i++) {
		q0 += status[i] == 0;
		q1 += status[i] == 1;
	}
	snprintf(name, sizeof(name), "locate_speed_%s_agrees", kind);
	check(!err && r0.young_pages == q0 && r1.young_pages == q1 &&
	      r0.present_pages == SPEED_N, name,
	      "err=%d locate=%u/%u query=%zu/%zu present=%u", err,
	      r0.young_pages, r1.young_pages, q0, q1, r0.present_pages);
	printf("figure locate_pages_per_s_%s %.0f\n", kind, SPEED_N / tl);
	printf("figure move_pages_query_pages_per_s_%s %.0f\n", kind,
	       SPEED_N / tq);
	printf("figure locate_huge_pages_%s %u\n", kind, r0.huge_pages);
	free(map);
	free(status);
	free(pages);
}

static void test_locate_speed(void)
{
	char *p, *raw, why[160];

	p = mmap(NULL, SPEED_N * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, SPEED_N * PG, MADV_NOHUGEPAGE);
	touch(p, SPEED_N, 1, 1);
	locate_speed("4k", p);
	munmap(p, SPEED_N * PG);
	if (!thp_available(why, sizeof(why))) {
		printf("skip locate_speed_thp: THP not available (%s)\n", why);
		return;
	}
	p = map_huge_aligned(SPEED_N * PG, &raw);
	madvise(p, SPEED_N * PG, MADV_HUGEPAGE);
	touch(p, SPEED_N, 1, 1);
	locate_speed("thp", p);
	munmap(raw, SPEED_N * PG + HUGE);
}

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * A hot set small enough to stay in the (emulated) TLB: 16 pages, 256 KiB
 * apart.  Without a TLB flush after clearing, a CPU that keeps touching
 * them through cached translations never sets the accessed bits again and
 * the pages look cold from the second scan on.  Checked in this process
 * (touch, scan, touch, scan) and for a child spinning on another CPU.
 */
static void test_tlb_flush(void)
{
	size_t n = 1024, every = 64, hot = n / every;
	uint64_t *young = calloc(n / 64, 8);
	struct hballoon_scan_range r;
	int pfd[2], round, ok = 1, status;
	uint64_t addr;
	pid_t child;
	char *p;

	pin(0);
	p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	madvise(p, n * PG, MADV_NOHUGEPAGE);
	touch(p, n, 1, 1);
	scan1(getpid(), (uintptr_t)p, n * PG, 0, young, NULL, &r, NULL);
	for (round = 0; round < 5; round++) {
		touch(p, n, every, 0);
		scan1(getpid(), (uintptr_t)p, n * PG, 0, young, NULL, &r, NULL);
		ok &= r.young_pages == hot && mismatches(young, n, every) == 0;
	}
	check(ok, "tlb_small_hot_set_same_cpu", "young=%u want=%zu",
	      r.young_pages, hot);
	munmap(p, n * PG);

	if (pipe(pfd))
		return;
	child = fork();
	if (child == 0) {
		pin(1);
		p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		madvise(p, n * PG, MADV_NOHUGEPAGE);
		touch(p, n, 1, 1);
		addr = (uintptr_t)p;
		if (write(pfd[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		for (;;)
			touch(p, n, every, 0);
	}
	if (read(pfd[0], &addr, sizeof(addr)) != sizeof(addr))
		return;
	usleep(100000);
	scan1(child, addr, n * PG, 0, young, NULL, &r, NULL);
	ok = 1;
	for (round = 0; round < 5; round++) {
		usleep(200000);
		scan1(child, addr, n * PG, 0, young, NULL, &r, NULL);
		ok &= r.young_pages == hot && mismatches(young, n, every) == 0;
		printf("figure tlb_child_young_round%d %u\n", round,
		       r.young_pages);
	}
	check(ok, "tlb_small_hot_set_other_cpu", "young=%u want=%zu",
	      r.young_pages, hot);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	close(pfd[0]);
	close(pfd[1]);
	free(young);
}

/* Another process, touching its hot pages in a loop. */
static void test_other_process(void)
{
	size_t n = 4096;
	uint64_t *young = calloc(n / 64, 8);
	struct hballoon_scan_range r;
	int pfd[2], err, status, round, ok = 1;
	uint64_t addr;
	pid_t child;

	if (pipe(pfd))
		return;
	child = fork();
	if (child == 0) {
		char *p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		madvise(p, n * PG, MADV_NOHUGEPAGE);
		touch(p, n, 1, 1);
		addr = (uintptr_t)p;
		if (write(pfd[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		for (;;)
			touch(p, n, 4, 0);
	}
	if (read(pfd[0], &addr, sizeof(addr)) != sizeof(addr))
		return;
	usleep(200000);
	scan1(child, addr, n * PG, 0, young, NULL, &r, NULL);
	for (round = 0; round < 3; round++) {
		usleep(300000);
		err = scan1(child, addr, n * PG, 0, young, NULL, &r, NULL);
		ok &= !err && r.present_pages == n &&
		      mismatches(young, n, 4) == 0;
		printf("figure child_young_round%d %u\n", round, r.young_pages);
	}
	check(ok, "other_process_hot_exact", "young=%u", r.young_pages);
	kill(child, SIGKILL);
	waitpid(child, &status, 0);
	err = scan1(child, addr, n * PG, 0, young, NULL, &r, NULL);
	check(err == ESRCH, "exited_process_esrch", "err=%d", err);
	free(young);
}

static int raw_scan(struct hballoon_scan *s)
{
	return ioctl(fd, HBALLOON_IOC_SCAN_YOUNG, s) ? errno : 0;
}

static int raw_locate(struct hballoon_scan *s)
{
	return ioctl(fd, HBALLOON_IOC_LOCATE, s) ? errno : 0;
}

static void test_bad_args(void)
{
	static struct hballoon_scan_range rs[HBALLOON_SCAN_MAX_RANGES + 1];
	uint64_t words[4];
	struct hballoon_scan s;
	char *p;
	int i, err;

	p = mmap(NULL, 64 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	touch(p, 64, 1, 1);

#define RESET() do { \
	memset(&s, 0, sizeof(s)); memset(rs, 0, sizeof(rs)); \
	s.pid = getpid(); s.num_ranges = 1; s.ranges_ptr = (uintptr_t)rs; \
	rs[0].start = (uintptr_t)p; rs[0].len = 64 * PG; \
	rs[0].bitmap_ptr = (uintptr_t)words; \
} while (0)
#define EXPECT(name, want) do { \
	err = raw_scan(&s); \
	check(err == (want), name, "errno=%d want=%d", err, (want)); \
} while (0)

	RESET(); EXPECT("good_baseline", 0);
	RESET(); s.pid = 0; EXPECT("pid_zero_einval", EINVAL);
	RESET(); s.pid = -5; EXPECT("pid_negative_einval", EINVAL);
	RESET(); s.pid = 4194304 - 1; EXPECT("pid_missing_esrch", ESRCH);
	RESET(); s.pid = 2; EXPECT("kthread_esrch", ESRCH);
	RESET(); rs[0].start += 100; EXPECT("unaligned_start_einval", EINVAL);
	RESET(); rs[0].len = 100; EXPECT("unaligned_len_einval", EINVAL);
	RESET(); rs[0].len = 0; EXPECT("empty_range_einval", EINVAL);
	RESET(); s.num_ranges = 2; rs[1].start = (uintptr_t)p + 32 * PG;
	rs[1].len = 64 * PG; EXPECT("overlap_einval", EINVAL);
	RESET(); s.num_ranges = 2; rs[1] = rs[0]; rs[0].start += 32 * PG;
	rs[0].len = PG; rs[1].len = PG; EXPECT("descending_einval", EINVAL);
	RESET(); s.num_ranges = 2; rs[1] = rs[0]; rs[0].len = 32 * PG;
	rs[1].start += 32 * PG; rs[1].len = 32 * PG;
	rs[1].bitmap_ptr = (uintptr_t)&words[1]; EXPECT("adjacent_ok", 0);
	RESET(); s.num_ranges = HBALLOON_SCAN_MAX_RANGES + 1;
	for (i = 0; i <= HBALLOON_SCAN_MAX_RANGES; i++) {
		rs[i].start = (uintptr_t)p + i * PG;
		rs[i].len = PG;
	}
	EXPECT("too_many_ranges_einval", EINVAL);
	s.num_ranges = HBALLOON_SCAN_MAX_RANGES; EXPECT("max_ranges_ok", 0);
	RESET(); s.num_ranges = 0; EXPECT("zero_ranges_einval", EINVAL);
	RESET(); s.ranges_ptr = 16; EXPECT("bad_ranges_ptr_efault", EFAULT);
	RESET(); s.ranges_ptr = (uint64_t)-4096;
	EXPECT("kernel_ranges_ptr_efault", EFAULT);
	RESET(); rs[0].huge_ptr = 24; EXPECT("bad_huge_ptr_efault", EFAULT);
	RESET(); s.reserved = 1; EXPECT("scan_reserved_einval", EINVAL);
	RESET(); rs[0].reserved = 1; EXPECT("range_reserved_einval", EINVAL);
	RESET(); s.flags = 2; EXPECT("unknown_flag_einval", EINVAL);
	RESET(); s.max_pages = 100; EXPECT("max_pages_unaligned_einval", EINVAL);
	RESET(); s.max_pages = HBALLOON_SCAN_MAX_PAGES + 64;
	EXPECT("max_pages_too_big_einval", EINVAL);
	RESET(); rs[0].start = (uint64_t)-8192; rs[0].len = 16384;
	EXPECT("overflow_einval", EINVAL);
	RESET(); rs[0].start = 0x7fffffffe000ULL; rs[0].len = 0x2000;
	EXPECT("beyond_task_size_einval", EINVAL);
	RESET(); s.node = 1; EXPECT("scan_young_node_einval", EINVAL);
	RESET(); s.node = -1; EXPECT("scan_young_node_negative_einval", EINVAL);

#define EXPECT_LOCATE(name, want) do { \
	err = raw_locate(&s); \
	check(err == (want), name, "errno=%d want=%d", err, (want)); \
} while (0)
	RESET(); EXPECT_LOCATE("locate_node0_ok", 0);
	RESET(); s.node = 1; EXPECT_LOCATE("locate_node1_ok", 0);
	RESET(); s.flags = HBALLOON_SCAN_F_NO_CLEAR;
	EXPECT_LOCATE("locate_no_clear_einval", EINVAL);
	RESET(); s.flags = 2; EXPECT_LOCATE("locate_flag_einval", EINVAL);
	RESET(); s.node = -1; EXPECT_LOCATE("locate_node_negative_einval", EINVAL);
	RESET(); s.node = 4096; EXPECT_LOCATE("locate_node_4096_einval", EINVAL);
	RESET(); s.node = 7; EXPECT_LOCATE("locate_node_offline_einval", EINVAL);
	RESET(); s.reserved = 1; EXPECT_LOCATE("locate_reserved_einval", EINVAL);
	RESET(); rs[0].reserved = 1;
	EXPECT_LOCATE("locate_range_reserved_einval", EINVAL);
	RESET(); s.max_pages = 100;
	EXPECT_LOCATE("locate_max_pages_einval", EINVAL);
	RESET(); s.pid = 0; EXPECT_LOCATE("locate_pid_zero_einval", EINVAL);
	RESET(); s.pid = 4194304 - 1; EXPECT_LOCATE("locate_pid_missing_esrch", ESRCH);
	RESET(); rs[0].bitmap_ptr = 8;
	EXPECT_LOCATE("locate_bad_bitmap_efault", EFAULT);
	if (ioctl(fd, _IOWR(HBALLOON_IOC_MAGIC, 0x03, struct hballoon_info),
		  &s) == 0 || errno != ENOTTY)
		check(0, "wrong_size_enotty", "errno=%d", errno);
	else
		check(1, "wrong_size_enotty", "errno=%d", errno);
	munmap(p, 64 * PG);
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/hballoon";

	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 2;
	}
	test_bad_args();
	test_4k();
	test_thp();
	test_other_process();
	test_tlb_flush();
	test_locate_4k();
	test_locate_thp();
	test_locate_speed();
	printf("done failures=%d\n", failures);
	return failures ? 1 : 0;
}
