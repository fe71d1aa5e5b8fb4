// SPDX-License-Identifier: GPL-2.0
/*
 * memhog - allocate and touch memory bound to one NUMA node (guest test).
 *
 *   memhog --node N --mb M [--hold SECONDS] [--touch] [--holes K]
 *
 * Binds an anonymous mapping to node N (mbind MPOL_BIND, raw syscall),
 * writes every page, reports where the pages landed (move_pages query),
 * prints "ok allocated=M", then holds the memory.  --holes K fragments
 * the node: 4 KiB pages only, and every K-th one is freed again before the
 * hold (so the node's free memory is then one-page holes in every
 * pageblock the mapping used).  An allocation the node
 * cannot satisfy ends in the OOM killer (exit by SIGKILL) unless something
 * (deflate on OOM) gives memory back.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MPOL_BIND	2
#define PAGE_SZ		4096UL
#define QUERY_BATCH	4096

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
"usage: memhog --node N --mb M [--hold SECONDS] [--touch] [--holes K]\n"
"  Allocate M MiB bound to NUMA node N and write every page; print\n"
"  'placement node=N pages=P on_node=K' and 'ok allocated=M'.\n"
"  --hold S   keep the memory S seconds before exiting (-1: until\n"
"             SIGTERM/SIGINT); default 0\n"
"  --touch    while holding, rewrite every page once a second\n"
"  --holes K  4 KiB pages; free every K-th page (K >= 2) before holding\n"
"exit status: 0 on success, 1 on failure, 2 on usage errors\n");
	exit(2);
}

static long parse_long(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end)
		usage();
	return v;
}

static void touch(char *p, size_t len, unsigned int round)
{
	size_t off;

	for (off = 0; off < len; off += PAGE_SZ)
		p[off] = (char)(off / PAGE_SZ + round);
}

/* Count pages of [p, p+len) that are on node @node. */
static long count_on_node(char *p, size_t len, int node)
{
	static void *pages[QUERY_BATCH];
	static int status[QUERY_BATCH];
	size_t npages = len / PAGE_SZ, done = 0, i, n;
	long on = 0;

	while (done < npages) {
		n = npages - done < QUERY_BATCH ? npages - done : QUERY_BATCH;
		for (i = 0; i < n; i++)
			pages[i] = p + (done + i) * PAGE_SZ;
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0))
			return -1;
		for (i = 0; i < n; i++)
			on += status[i] == node;
		done += n;
	}
	return on;
}

int main(int argc, char **argv)
{
	long node = -1, mb = -1, hold = 0, on;
	unsigned long mask[2] = { 0, 0 };
	unsigned int round = 0;
	long holes = 0;
	int i, retouch = 0;
	struct timespec ts;
	size_t len;
	char *p;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--touch"))
			retouch = 1;
		else if (i + 1 >= argc)
			usage();
		else if (!strcmp(argv[i], "--node"))
			node = parse_long(argv[++i]);
		else if (!strcmp(argv[i], "--mb"))
			mb = parse_long(argv[++i]);
		else if (!strcmp(argv[i], "--hold"))
			hold = parse_long(argv[++i]);
		else if (!strcmp(argv[i], "--holes"))
			holes = parse_long(argv[++i]);
		else
			usage();
	}
	if (node < 0 || node >= 128 || mb <= 0 || hold < -1 ||
	    holes < 0 || holes == 1 || (holes && retouch))
		usage();

	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);

	len = (size_t)mb << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "memhog: mmap %ld MiB: %s\n", mb, strerror(errno));
		return 1;
	}
	mask[node / 64] |= 1UL << (node % 64);
	if (syscall(SYS_mbind, p, len, MPOL_BIND, mask, 128UL, 0)) {
		fprintf(stderr, "memhog: mbind node %ld: %s\n", node,
			strerror(errno));
		return 1;
	}
	/* A THP would leave no hole behind when half of it is freed. */
	if (holes && madvise(p, len, MADV_NOHUGEPAGE)) {
		fprintf(stderr, "memhog: MADV_NOHUGEPAGE: %s\n", strerror(errno));
		return 1;
	}
	touch(p, len, round++);

	on = count_on_node(p, len, (int)node);
	if (on < 0) {
		fprintf(stderr, "memhog: move_pages: %s\n", strerror(errno));
		return 1;
	}
	printf("placement node=%ld pages=%zu on_node=%ld\n", node,
	       len / PAGE_SZ, on);
	if (holes) {
		size_t off;

		for (off = (holes - 1) * PAGE_SZ; off < len;
		     off += holes * PAGE_SZ) {
			if (madvise(p + off, PAGE_SZ, MADV_DONTNEED)) {
				fprintf(stderr, "memhog: MADV_DONTNEED: %s\n",
					strerror(errno));
				return 1;
			}
		}
		printf("holes freed=%zu\n", len / PAGE_SZ / holes);
	}
	printf("ok allocated=%ld\n", mb);
	fflush(stdout);

	ts.tv_sec = 1;
	ts.tv_nsec = 0;
	for (i = 0; !stop && (hold < 0 || i < hold); i++) {
		nanosleep(&ts, NULL);
		if (retouch)
			touch(p, len, round++);
	}
	return 0;
}
