// SPDX-License-Identifier: GPL-2.0
/*
 * hotset - guest workload of the hplaced residency test
 * (tests/vm/test_hplace_residency.py).
 *
 *   hotset [--hot-mib 64] [--free-below-mib 56] [--phase-s 40] [--phases 2]
 *          [--report-ms 500] [--fmem-node 0] [--smem-node 1] [--thp 1]
 *
 * 1. Maps one region of --hot-mib per phase and places every one of them
 *    on the SMEM node: mbind(MPOL_BIND, smem), fault in, then
 *    mbind(MPOL_DEFAULT, NULL) so the pages may migrate later.
 * 2. Fills the FMEM node with cold data (MPOL_PREFERRED fmem, 4 MiB at a
 *    time, each written once) until its MemFree is below --free-below-mib,
 *    then leaves it alone.
 * 3. Phase p (1..phases) hammers region p for --phase-s seconds: random
 *    64-byte lines, one write per four reads.  Every --report-ms it queries
 *    where the current hot region's pages are (move_pages, nodes = NULL)
 *    and prints one line:
 *      {"t_s":1.50,"phase":1,"node0":123,"node1":16261,"other":0,"mops":8.1}
 *    t_s: guest CLOCK_MONOTONIC seconds since phase 1 started; node0/node1:
 *    4 KiB pages of the hot region on the FMEM/SMEM node; other: absent or
 *    elsewhere; mops: million accesses per second since the last line.
 * Before phase 1 it prints {"ready":1,"cold_mib":N,"fmem_free_mib":M}.
 * --thp 1 (default) asks for transparent huge pages on every region
 * (MADV_HUGEPAGE), as a program with a large hot working set would; --thp 0
 * forbids them (MADV_NOHUGEPAGE).  Residency is counted in 4 KiB pages
 * either way.
 * Exit status 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MPOL_DEFAULT	0
#define MPOL_PREFERRED	1
#define MPOL_BIND	2
#define PAGE_SZ		4096UL
#define MIB		(1UL << 20)
#define MAX_PHASES	8

static long mbind_(void *addr, unsigned long len, int mode, const unsigned long *mask,
		   unsigned long maxnode)
{
	return syscall(SYS_mbind, addr, len, mode, mask, maxnode, 0);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
	fprintf(stderr, "hotset: %s: %s\n", what, strerror(errno));
	exit(1);
}

static long node_free_kib(int node)
{
	char path[96], line[256];
	long kib = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/meminfo", node);
	f = fopen(path, "r");
	if (!f)
		die(path);
	while (fgets(line, sizeof(line), f)) {
		char *p = strstr(line, "MemFree:");

		if (p) {
			kib = strtol(p + 8, NULL, 10);
			break;
		}
	}
	fclose(f);
	if (kib < 0) {
		errno = EINVAL;
		die("MemFree not found");
	}
	return kib;
}

static int use_thp = 1;

static char *map_region(size_t bytes)
{
	/* 2 MiB aligned, so a THP can back every part of the region. */
	size_t span = bytes + 2 * MIB;
	char *raw = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)raw + 2 * MIB - 1) & ~(uintptr_t)(2 * MIB - 1));
	if (p > raw && munmap(raw, p - raw))
		die("munmap");
	if (raw + span > p + bytes && munmap(p + bytes, raw + span - (p + bytes)))
		die("munmap");
	if (madvise(p, bytes, use_thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE))
		die("madvise");
	return p;
}

static void place(char *p, size_t bytes, int mode, int node)
{
	unsigned long mask = 1UL << node;

	if (mbind_(p, bytes, mode, &mask, 8 * sizeof(mask)))
		die("mbind");
	for (size_t off = 0; off < bytes; off += PAGE_SZ)
		p[off] = (char)(off >> 12) | 1;
	if (mbind_(p, bytes, MPOL_DEFAULT, NULL, 0))
		die("mbind default");
}

static void report(double t, int phase, char *region, size_t bytes, int fmem, int smem,
		   double mops)
{
	static void **pages;
	static int *status;
	size_t n = bytes / PAGE_SZ, on_f = 0, on_s = 0, other = 0;

	if (!pages) {
		pages = malloc(n * sizeof(*pages));
		status = malloc(n * sizeof(*status));
		if (!pages || !status)
			die("malloc");
	}
	for (size_t i = 0; i < n; i++)
		pages[i] = region + i * PAGE_SZ;
	if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0))
		die("move_pages query");
	for (size_t i = 0; i < n; i++) {
		if (status[i] == fmem)
			on_f++;
		else if (status[i] == smem)
			on_s++;
		else
			other++;
	}
	printf("{\"t_s\":%.3f,\"phase\":%d,\"node%d\":%zu,\"node%d\":%zu,\"other\":%zu,"
	       "\"mops\":%.2f}\n", t, phase, fmem, on_f, smem, on_s, other, mops);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	long hot_mib = 64, free_below_mib = 56, report_ms = 500;
	double phase_s = 40;
	int phases = 2, fmem = 0, smem = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "hotset: %s needs a value\n", a);
			return 2;
		}
		if (!strcmp(a, "--hot-mib"))
			hot_mib = atol(v);
		else if (!strcmp(a, "--free-below-mib"))
			free_below_mib = atol(v);
		else if (!strcmp(a, "--phase-s"))
			phase_s = atof(v);
		else if (!strcmp(a, "--phases"))
			phases = atoi(v);
		else if (!strcmp(a, "--report-ms"))
			report_ms = atol(v);
		else if (!strcmp(a, "--fmem-node"))
			fmem = atoi(v);
		else if (!strcmp(a, "--smem-node"))
			smem = atoi(v);
		else if (!strcmp(a, "--thp"))
			use_thp = atoi(v) != 0;
		else {
			fprintf(stderr, "hotset: unknown argument %s\n", a);
			return 2;
		}
		i++;
	}
	if (hot_mib <= 0 || phases < 1 || phases > MAX_PHASES || phase_s <= 0 || report_ms <= 0 ||
	    fmem < 0 || fmem > 63 || smem < 0 || smem > 63 || fmem == smem) {
		fprintf(stderr, "hotset: bad arguments\n");
		return 2;
	}
	size_t hot_bytes = (size_t)hot_mib * MIB;
	char *region[MAX_PHASES];

	for (int p = 0; p < phases; p++) {
		region[p] = map_region(hot_bytes);
		place(region[p], hot_bytes, MPOL_BIND, smem);
	}
	/* Cold fill of FMEM: 4 MiB chunks, written once, never again. */
	size_t cold = 0;
	while (node_free_kib(fmem) > free_below_mib * 1024) {
		char *c = map_region(4 * MIB);

		place(c, 4 * MIB, MPOL_PREFERRED, fmem);
		cold += 4 * MIB;
		if (cold > (64UL << 30)) {
			errno = ENOMEM;
			die("cold fill does not end");
		}
	}
	printf("{\"ready\":1,\"cold_mib\":%zu,\"fmem_free_mib\":%ld}\n", cold / MIB,
	       node_free_kib(fmem) / 1024);
	fflush(stdout);

	const double t0 = now_s();
	uint64_t x = 0x9e3779b97f4a7c15ULL, accesses = 0, acc_at_report = 0;
	uint64_t sum = 0;
	const size_t lines = hot_bytes / 64;
	double next_report = 0, last_report_t = 0;

	for (int p = 0; p < phases; p++) {
		volatile uint64_t *r = (volatile uint64_t *)region[p];
		const double end = (p + 1) * phase_s;

		next_report = p * phase_s;
		for (;;) {
			for (int k = 0; k < 4096; k++) {
				x ^= x << 13;
				x ^= x >> 7;
				x ^= x << 17;
				size_t w = (size_t)(x % lines) * 8;

				if ((k & 3) == 0)
					r[w] = x;
				else
					sum += r[w];
			}
			accesses += 4096;
			double t = now_s() - t0;

			if (t >= next_report) {
				double dt = t - last_report_t;

				report(t, p + 1, region[p], hot_bytes, fmem, smem,
				       dt > 0 ? (accesses - acc_at_report) / dt / 1e6 : 0);
				acc_at_report = accesses;
				last_report_t = t;
				next_report += report_ms / 1000.0;
				if (next_report < t)
					next_report = t;
			}
			if (t >= end)
				break;
		}
	}
	fprintf(stderr, "hotset: done (checksum %llu)\n", (unsigned long long)sum);
	return 0;
}
