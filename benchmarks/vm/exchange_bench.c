// SPDX-License-Identifier: GPL-2.0
/*
 * exchange_bench - guest program of benchmarks/vm/exchange_bench.py:
 * swapping pages between two NUMA nodes with one move_pages(2) call that
 * moves both directions vs two calls, one per direction.
 *
 *   exchange_bench [--pairs N[,N...]] [--pages-per-mode P] [--fmem-node 0]
 *                  [--smem-node 1]
 *
 * For each N: N pages on node F and N pages on node S (4 KiB, THP off,
 * written once).  One swap exchanges one page of each.  A repetition swaps
 * all N pairs and the next one swaps them back, so each repetition does
 * the same work.
 *   one_call:  one call; pages = the N pages going to S then the N going to
 *              F (the kernel migrates each run of one destination as a
 *              batch), status checked for every page
 *   two_calls: one call for the N pages going to S, then one for the N
 *              going to F
 * Modes alternate per repetition (one_call, two_calls, one_call, ...) so
 * drift in the emulator's speed hits both alike.  Repetitions per mode:
 * max(3, P / (2N)).  Prints one JSON line per N:
 *   {"pairs":N,"reps":R,"one_call_swaps_per_s":X,"two_calls_swaps_per_s":Y,
 *    "ratio":X/Y,"one_call_s":..,"two_calls_s":..,
 *    "one_call_failed":F1,"two_calls_failed":F2,"busy":B,"other_failed":O}
 * F1/F2: pages of that mode not on their destination after the call (they
 * are moved by the next repetition instead); busy: of all failures, those
 * with -EBUSY/-EAGAIN (page briefly pinned or off the LRU: the kernel's
 * transient refusal); not_present: -ENOENT (seen on 6.1 under TCG for
 * pages that exist and move in the next repetition); other_failed: any
 * other status, first_error the first such status (a negative errno).  Swaps/s count
 * attempted swaps.  Exit status 1 if a whole call failed or a page failed
 * with anything but EBUSY/EAGAIN/ENOENT.
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
#define MPOL_BIND	2
#define MPOL_MF_MOVE	(1 << 1)
#define PAGE_SZ		4096UL

static void die(const char *what)
{
	fprintf(stderr, "exchange_bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *alloc_on(size_t n, int node)
{
	size_t bytes = n * PAGE_SZ;
	unsigned long mask = 1UL << node;
	char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	if (madvise(p, bytes, MADV_NOHUGEPAGE))
		die("madvise");
	if (syscall(SYS_mbind, p, bytes, MPOL_BIND, &mask, 8 * sizeof(mask), 0))
		die("mbind");
	for (size_t i = 0; i < n; i++)
		p[i * PAGE_SZ] = (char)i | 1;
	if (syscall(SYS_mbind, p, bytes, MPOL_DEFAULT, NULL, 0, 0))
		die("mbind default");
	return p;
}

static size_t failed, busy, not_present, other_failed, other_failed_total;
static int first_error;

static void move(void **pages, int *nodes, int *status, size_t n)
{
	long rc = syscall(SYS_move_pages, 0, n, pages, nodes, status, MPOL_MF_MOVE);

	if (rc < 0)
		die("move_pages");
	for (size_t i = 0; i < n; i++) {
		if (status[i] == nodes[i])
			continue;
		failed++;
		if (status[i] == -EBUSY || status[i] == -EAGAIN)
			busy++;
		else if (status[i] == -ENOENT)
			not_present++;
		else {
			other_failed++;
			other_failed_total++;
			if (!first_error)
				first_error = status[i];
		}
	}
}

int main(int argc, char **argv)
{
	size_t pairs_list[16], npairs = 0, per_mode = 65536;
	int fmem = 0, smem = 1;
	const char *pairs_arg = "64,1024,8192";

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--pairs"))
			pairs_arg = argv[i + 1];
		else if (!strcmp(argv[i], "--pages-per-mode"))
			per_mode = strtoul(argv[i + 1], NULL, 10);
		else if (!strcmp(argv[i], "--fmem-node"))
			fmem = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--smem-node"))
			smem = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "exchange_bench: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (argc % 2 == 0) {
		fprintf(stderr, "exchange_bench: arguments come in pairs\n");
		return 2;
	}
	for (char *s = strdup(pairs_arg), *tok = strtok(s, ","); tok && npairs < 16;
	     tok = strtok(NULL, ","))
		pairs_list[npairs++] = strtoul(tok, NULL, 10);
	if (fmem < 0 || fmem > 63 || smem < 0 || smem > 63 || fmem == smem || per_mode == 0) {
		fprintf(stderr, "exchange_bench: bad arguments\n");
		return 2;
	}

	for (size_t k = 0; k < npairs; k++) {
		size_t n = pairs_list[k];

		if (n == 0 || n > (1 << 20)) {
			fprintf(stderr, "exchange_bench: bad pair count %zu\n", n);
			return 2;
		}
		char *a = alloc_on(n, fmem), *b = alloc_on(n, smem);
		void **pages = malloc(2 * n * sizeof(*pages));
		int *nodes = malloc(2 * n * sizeof(*nodes));
		int *status = malloc(2 * n * sizeof(*status));
		size_t reps = per_mode / (2 * n);
		double t_one = 0, t_two = 0;
		size_t f_one = 0, f_two = 0;
		/* a_on_f: where the "a" pages are now. */
		int a_on_f = 1;

		if (!pages || !nodes || !status)
			die("malloc");
		if (reps < 3)
			reps = 3;
		for (size_t r = 0; r < 2 * reps; r++) {
			/* First half of the arrays: pages leaving F; second: leaving S. */
			char *to_s = a_on_f ? a : b, *to_f = a_on_f ? b : a;

			for (size_t i = 0; i < n; i++) {
				pages[i] = to_s + i * PAGE_SZ;
				nodes[i] = smem;
				pages[n + i] = to_f + i * PAGE_SZ;
				nodes[n + i] = fmem;
			}
			double t = now_s();

			size_t f0 = failed;

			if (r % 2 == 0) {
				move(pages, nodes, status, 2 * n);
				t_one += now_s() - t;
				f_one += failed - f0;
			} else {
				move(pages, nodes, status, n);
				move(pages + n, nodes + n, status + n, n);
				t_two += now_s() - t;
				f_two += failed - f0;
			}
			a_on_f = !a_on_f;
		}
		double one = n * reps / t_one, two = n * reps / t_two;

		printf("{\"pairs\":%zu,\"reps\":%zu,\"one_call_swaps_per_s\":%.1f,"
		       "\"two_calls_swaps_per_s\":%.1f,\"ratio\":%.4f,\"one_call_s\":%.4f,"
		       "\"two_calls_s\":%.4f,\"one_call_failed\":%zu,\"two_calls_failed\":%zu,"
		       "\"busy\":%zu,\"not_present\":%zu,\"other_failed\":%zu,"
		       "\"first_error\":%d}\n",
		       n, reps, one, two, one / two, t_one, t_two, f_one, f_two, busy,
		       not_present, other_failed, first_error);
		busy = not_present = other_failed = 0;
		first_error = 0;
		fflush(stdout);
		munmap(a, n * PAGE_SZ);
		munmap(b, n * PAGE_SZ);
		free(pages);
		free(nodes);
		free(status);
	}
	return other_failed_total ? 1 : 0;
}
