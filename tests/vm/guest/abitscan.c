/*
 * abitscan: guest-side test of HBALLOON_IOC_SCAN_YOUNG (tests/vm/test_abit_scan.py).
 *
 * usage: abitscan [DEVICE]
 *
 * Runs every scenario in one process and prints one line per result:
 *   check OK|FAIL <name> <value>
 *   figure <key> <value>
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/hballoon.h>

_Static_assert(sizeof(struct hballoon_scan) == HBALLOON_SCAN_SIZE, "abi");
_Static_assert(sizeof(struct hballoon_scan_range) == HBALLOON_SCAN_RANGE_SIZE,
	       "abi");

#define PG 4096UL
#define HUGE (2UL << 20)

static int fd;
static int failures;

static void check(int ok, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check(int ok, const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("check %s %s ", ok ? "OK" : "FAIL", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!ok)
		failures++;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* One range; returns 0 or errno.  young/huge: bitmaps or NULL. */
static int scan1(pid_t pid, uint64_t start, uint64_t len, uint32_t flags,
		 uint64_t *young, uint64_t *huge, struct hballoon_scan_range *out,
		 struct hballoon_scan *sout)
{
	struct hballoon_scan_range r = {
		.start = start, .len = len,
		.bitmap_ptr = (uintptr_t)young, .huge_ptr = (uintptr_t)huge,
	};
	struct hballoon_scan s = {
		.pid = pid, .flags = flags, .num_ranges = 1,
		.ranges_ptr = (uintptr_t)&r,
	};

	if (ioctl(fd, HBALLOON_IOC_SCAN_YOUNG, &s))
		return errno;
	if (out)
		*out = r;
	if (sout)
		*sout = s;
	return 0;
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
	printf("done failures=%d\n", failures);
	return failures ? 1 : 0;
}
