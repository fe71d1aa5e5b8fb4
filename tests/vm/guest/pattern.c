// SPDX-License-Identifier: GPL-2.0
/*
 * pattern - keep a known pattern in memory of one node and check it later
 * (guest test for the device's PFN validation).
 *
 *   pattern write --node N --mb M --pfns FILE [--seed S] [--thp]
 *
 * 1. Binds M MiB to node N, fills it with a pattern derived from the
 *    offset and the seed, locks it (mlock), and writes the PFN of every
 *    4 KiB page to FILE, one per line in hex ("0x1234"), from
 *    /proc/self/pagemap (needs root).  FILE appears complete (rename).
 * 2. Prints "ready pages=P" and waits for SIGUSR1 or a line on stdin
 *    (stdin at EOF is ignored; SIGTERM/SIGINT end the wait).
 * 3. Checks the whole area and prints "intact", or
 *    "corrupt at offset 0x.. expected 0x.. got 0x.." (first bad word) and
 *    the number of bad words, and exits 0 when intact, 1 otherwise.
 *
 * A test writes the pattern on node 1, sends those PFNs to the device as
 * if they were node 0 pages, or out of range, and so on (hbctl raw), and
 * then asks this process whether its memory survived.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MPOL_BIND	2
#define PAGE_SZ		4096UL
#define PM_PRESENT	(1ULL << 63)
#define PM_PFN_MASK	((1ULL << 55) - 1)

static volatile sig_atomic_t got_usr1, got_term;

static void on_usr1(int sig)
{
	(void)sig;
	got_usr1 = 1;
}

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void usage(void)
{
	fprintf(stderr,
"usage: pattern write --node N --mb M --pfns FILE [--seed S] [--thp]\n"
"  Fill M MiB bound to node N with a pattern, write the PFNs of its\n"
"  4 KiB pages to FILE (hex, one per line), print 'ready pages=P', wait\n"
"  for SIGUSR1 or a line on stdin, then print 'intact' (exit 0) or\n"
"  'corrupt at offset 0x.. expected 0x.. got 0x..' (exit 1).\n"
"  --seed S  pattern seed (default 1)\n"
"  --thp     allow transparent huge pages (default: MADV_NOHUGEPAGE)\n"
"exit status: 0 intact, 1 corrupt or failure, 2 usage errors\n");
	exit(2);
}

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
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

static int write_pfns(const char *path, const char *p, size_t len)
{
	char tmp[4096];
	size_t off;
	FILE *f;
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "pattern: pagemap: %s\n", strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "pattern: %s: %s\n", tmp, strerror(errno));
		close(fd);
		return -1;
	}
	for (off = 0; off < len; off += PAGE_SZ) {
		uint64_t e, vpn = ((uintptr_t)p + off) / PAGE_SZ;

		if (pread(fd, &e, sizeof(e), (off_t)(vpn * sizeof(e))) !=
		    sizeof(e) || !(e & PM_PRESENT) || !(e & PM_PFN_MASK)) {
			fprintf(stderr,
				"pattern: no PFN for offset 0x%zx (not root?)\n",
				off);
			fclose(f);
			close(fd);
			return -1;
		}
		fprintf(f, "0x%llx\n", (unsigned long long)(e & PM_PFN_MASK));
	}
	close(fd);
	if (fclose(f) || rename(tmp, path)) {
		fprintf(stderr, "pattern: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Wait for SIGUSR1, a stdin line, or SIGTERM/SIGINT (returns -1). */
static int wait_trigger(void)
{
	struct pollfd pfd = { .fd = 0, .events = POLLIN };
	char line[256];
	int r;

	for (;;) {
		if (got_term)
			return -1;
		if (got_usr1)
			return 0;
		r = poll(&pfd, pfd.fd < 0 ? 0 : 1, 200);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r > 0 && pfd.fd >= 0) {
			if (!fgets(line, sizeof(line), stdin))
				pfd.fd = -1;	/* EOF: signals only */
			else
				return 0;
		}
	}
}

int main(int argc, char **argv)
{
	long node = -1, mb = -1, seed = 1;
	unsigned long mask[2] = { 0, 0 };
	const char *pfns = NULL;
	size_t len, i, words, bad = 0, first = 0;
	uint64_t *w;
	int thp = 0;
	char *p;

	if (argc < 2 || strcmp(argv[1], "write"))
		usage();
	for (int a = 2; a < argc; a++) {
		if (!strcmp(argv[a], "--thp"))
			thp = 1;
		else if (a + 1 >= argc)
			usage();
		else if (!strcmp(argv[a], "--node"))
			node = parse_long(argv[++a]);
		else if (!strcmp(argv[a], "--mb"))
			mb = parse_long(argv[++a]);
		else if (!strcmp(argv[a], "--seed"))
			seed = parse_long(argv[++a]);
		else if (!strcmp(argv[a], "--pfns"))
			pfns = argv[++a];
		else
			usage();
	}
	if (node < 0 || node >= 128 || mb <= 0 || !pfns)
		usage();

	signal(SIGUSR1, on_usr1);
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);

	len = (size_t)mb << 20;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "pattern: mmap: %s\n", strerror(errno));
		return 1;
	}
	if (!thp)
		madvise(p, len, MADV_NOHUGEPAGE);
	mask[node / 64] |= 1UL << (node % 64);
	if (syscall(SYS_mbind, p, len, MPOL_BIND, mask, 128UL, 0)) {
		fprintf(stderr, "pattern: mbind: %s\n", strerror(errno));
		return 1;
	}

	w = (uint64_t *)p;
	words = len / sizeof(*w);
	for (i = 0; i < words; i++)
		w[i] = mix((uint64_t)seed ^ (i * sizeof(*w)));
	/* Keep the pages (and so their PFNs) where they are. */
	if (mlock(p, len))
		fprintf(stderr, "pattern: mlock: %s (continuing)\n",
			strerror(errno));
	if (write_pfns(pfns, p, len))
		return 1;
	printf("ready pages=%zu\n", len / PAGE_SZ);
	fflush(stdout);

	if (wait_trigger())
		return 1;

	for (i = 0; i < words; i++) {
		if (w[i] != mix((uint64_t)seed ^ (i * sizeof(*w)))) {
			if (!bad++)
				first = i;
		}
	}
	if (!bad) {
		printf("intact\n");
		return 0;
	}
	printf("corrupt at offset 0x%zx expected 0x%llx got 0x%llx bad_words=%zu\n",
	       first * sizeof(*w),
	       (unsigned long long)mix((uint64_t)seed ^ (first * sizeof(*w))),
	       (unsigned long long)w[first], bad);
	return 1;
}
