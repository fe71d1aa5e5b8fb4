// SPDX-License-Identifier: GPL-2.0
/*
 * hbctl - talk to hballoon.ko through /dev/hballoon (guest test tool).
 *
 *   hbctl info [-v]
 *   hbctl stats TAG:NODE:VAL ...
 *   hbctl raw inflate|deflate NODE ORDER [PFN...] [options]   (debug build)
 *
 * Built by build.sh; "raw" needs -DHBALLOON_DEBUG here and a driver built
 * with HBALLOON_DEBUG=1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/hballoon.h>
#include <linux/virtio_hballoon.h>

_Static_assert(sizeof(struct hballoon_stats_submit) ==
	       HBALLOON_STATS_SUBMIT_SIZE, "ABI size");
_Static_assert(sizeof(struct hballoon_node_info) == HBALLOON_NODE_INFO_SIZE,
	       "ABI size");
_Static_assert(sizeof(struct hballoon_info) == HBALLOON_INFO_SIZE,
	       "ABI size");
_Static_assert(sizeof(struct hballoon_raw_req) == HBALLOON_RAW_REQ_SIZE,
	       "ABI size");
_Static_assert(sizeof(struct virtio_hballoon_stat) ==
	       VIRTIO_HBALLOON_STAT_SIZE, "wire size");
_Static_assert(sizeof(struct virtio_hballoon_req) == VIRTIO_HBALLOON_REQ_SIZE,
	       "wire size");
_Static_assert(sizeof(struct virtio_hballoon_resp) ==
	       VIRTIO_HBALLOON_RESP_SIZE, "wire size");

static const char *dev_path = "/dev/hballoon";

static void usage(void)
{
	fprintf(stderr,
"usage: hbctl [-D DEVICE] info [-v]\n"
"         print 'pressure=P' then one line per node:\n"
"         'node=N tier=T node_pages=.. target_pages=.. actual_pages=..'\n"
"         (-v appends active=, device_pages= and prints a flags line)\n"
"       hbctl [-D DEVICE] stats TAG:NODE:VAL ...\n"
"         submit one stats message; TAG is a number or one of\n"
"         free_bytes total_bytes psi_some_us psi_full_us hot_bytes\n"
"         hot_share_ppm smem_share_ppm promoted_pages demoted_pages\n"
"         budget_ppm; NODE is a number or 'any'; prints 'ok seq=S'\n"
"       hbctl [-D DEVICE] raw inflate|deflate NODE ORDER [PFN...] [options]\n"
"         send one hand-made request (driver and hbctl built with\n"
"         HBALLOON_DEBUG); PFNs in hex (0x..) or decimal; options:\n"
"           --pfns-file F   also take PFNs from F, one per line\n"
"           --count K       use at most K PFNs from --pfns-file\n"
"           --num-pfns N    declare N PFNs whatever follows\n"
"           --reserved V    value of the reserved field\n"
"           --seq S         sequence number (default 0x5eed)\n"
"           --len L         send only the first L bytes of the message\n"
"           --no-resp       do not add a response buffer\n"
"         prints 'status=S bad_index=I node_actual_pages=A seq=Q used_len=L'\n"
"         ('status=none used_len=L' without a response buffer) or\n"
"         'error=EIO' / 'error=ETIMEDOUT' when the device broke.\n"
"exit status: 0 on success (including error=EIO/ETIMEDOUT from raw),\n"
"1 on failure, 2 on usage errors\n");
	exit(2);
}

static int open_dev(void)
{
	int fd = open(dev_path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		fprintf(stderr, "hbctl: %s: %s\n", dev_path, strerror(errno));
		exit(1);
	}
	return fd;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' ? -1 : 0;
}

static __attribute__((unused)) uint64_t
need_u64(const char *what, const char *s, uint64_t max)
{
	uint64_t v;

	if (parse_u64(s, &v) || v > max) {
		fprintf(stderr, "hbctl: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

static int cmd_info(int argc, char **argv)
{
	struct hballoon_info info;
	int verbose = 0, fd;
	unsigned int i;

	if (argc == 2 && !strcmp(argv[1], "-v"))
		verbose = 1;
	else if (argc != 1)
		usage();
	fd = open_dev();
	memset(&info, 0, sizeof(info));
	if (ioctl(fd, HBALLOON_IOC_GET_INFO, &info)) {
		fprintf(stderr, "hbctl: GET_INFO: %s\n", strerror(errno));
		return 1;
	}
	printf("pressure=%u\n", info.pressure_level);
	if (verbose)
		printf("num_nodes=%u broken=%d deflate_on_oom=%d debug=%d\n",
		       info.num_nodes,
		       !!(info.flags & HBALLOON_INFO_F_BROKEN),
		       !!(info.flags & HBALLOON_INFO_F_DEFLATE_ON_OOM),
		       !!(info.flags & HBALLOON_INFO_F_DEBUG));
	for (i = 0; i < info.num_nodes && i < HBALLOON_MAX_NODES; i++) {
		struct hballoon_node_info *n = &info.nodes[i];

		printf("node=%u tier=%u node_pages=%u target_pages=%u actual_pages=%u",
		       n->node, n->tier, n->node_pages, n->target_pages,
		       n->actual_pages);
		if (verbose)
			printf(" active=%d device_pages=%u",
			       !!(n->flags & HBALLOON_NODE_F_ACTIVE),
			       n->device_pages);
		printf("\n");
	}
	close(fd);
	return 0;
}

static const char *const tag_names[VIRTIO_HBALLOON_STAT_NR_TAGS] = {
	[VIRTIO_HBALLOON_STAT_FREE_BYTES] = "free_bytes",
	[VIRTIO_HBALLOON_STAT_TOTAL_BYTES] = "total_bytes",
	[VIRTIO_HBALLOON_STAT_PSI_SOME_US] = "psi_some_us",
	[VIRTIO_HBALLOON_STAT_PSI_FULL_US] = "psi_full_us",
	[VIRTIO_HBALLOON_STAT_HOT_BYTES] = "hot_bytes",
	[VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM] = "hot_share_ppm",
	[VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM] = "smem_share_ppm",
	[VIRTIO_HBALLOON_STAT_PROMOTED_PAGES] = "promoted_pages",
	[VIRTIO_HBALLOON_STAT_DEMOTED_PAGES] = "demoted_pages",
	[VIRTIO_HBALLOON_STAT_BUDGET_PPM] = "budget_ppm",
};

static int parse_stat(const char *arg, struct virtio_hballoon_stat *st)
{
	char buf[128], *tag, *node, *val;
	uint64_t t, n, v;
	unsigned int i;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	tag = buf;
	node = strchr(tag, ':');
	if (!node)
		return -1;
	*node++ = '\0';
	val = strchr(node, ':');
	if (!val)
		return -1;
	*val++ = '\0';

	t = UINT64_MAX;
	for (i = 0; i < VIRTIO_HBALLOON_STAT_NR_TAGS; i++)
		if (!strcasecmp(tag, tag_names[i]))
			t = i;
	/* Numeric tags may be out of range on purpose (driver rejects). */
	if (t == UINT64_MAX && (parse_u64(tag, &t) || t > 0xffff))
		return -1;
	if (!strcasecmp(node, "any"))
		n = VIRTIO_HBALLOON_STAT_NODE_ANY;
	else if (parse_u64(node, &n) || n > 0xffff)
		return -1;
	if (parse_u64(val, &v))
		return -1;
	/* x86 is little-endian: the wire fields are stored as they are. */
	st->tag = (uint16_t)t;
	st->node = (uint16_t)n;
	st->reserved = 0;
	st->val = v;
	return 0;
}

static int cmd_stats(int argc, char **argv)
{
	struct virtio_hballoon_stat st[VIRTIO_HBALLOON_MAX_STATS + 1];
	struct hballoon_stats_submit req;
	int i, n = argc - 1, fd;

	if (n < 1 || n > VIRTIO_HBALLOON_MAX_STATS + 1)
		usage();
	for (i = 0; i < n; i++) {
		if (parse_stat(argv[i + 1], &st[i])) {
			fprintf(stderr, "hbctl: bad record '%s'\n", argv[i + 1]);
			return 2;
		}
	}
	fd = open_dev();
	memset(&req, 0, sizeof(req));
	req.num_stats = n;
	req.stats_ptr = (uintptr_t)st;
	if (ioctl(fd, HBALLOON_IOC_SUBMIT_STATS, &req)) {
		fprintf(stderr, "hbctl: SUBMIT_STATS: %s\n", strerror(errno));
		return 1;
	}
	printf("ok seq=%u\n", req.seq);
	close(fd);
	return 0;
}

#ifdef HBALLOON_DEBUG
#define RAW_MAX_PFNS ((HBALLOON_RAW_MAX_LEN - sizeof(struct virtio_hballoon_req)) / 8)

static int cmd_raw(int argc, char **argv)
{
	static uint8_t buf[HBALLOON_RAW_MAX_LEN];
	struct virtio_hballoon_req *hdr = (void *)buf;
	uint64_t *pfns = (uint64_t *)(buf + sizeof(*hdr));
	uint64_t num_pfns = UINT64_MAX, reserved = 0, seq = 0x5eed;
	uint64_t len = UINT64_MAX, count = RAW_MAX_PFNS, v;
	const char *pfns_file = NULL, *pos[2];
	struct virtio_hballoon_resp resp;
	struct hballoon_raw_req req;
	unsigned int npos = 0, n = 0;
	int i, fd, with_resp = 1;
	uint32_t queue;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "inflate"))
		queue = HBALLOON_RAW_QUEUE_INFLATE;
	else if (!strcmp(argv[1], "deflate"))
		queue = HBALLOON_RAW_QUEUE_DEFLATE;
	else
		usage();

	for (i = 2; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--no-resp")) {
			with_resp = 0;
		} else if (!strncmp(a, "--", 2)) {
			if (i + 1 >= argc)
				usage();
			if (!strcmp(a, "--num-pfns"))
				num_pfns = need_u64(a, argv[++i], UINT32_MAX);
			else if (!strcmp(a, "--reserved"))
				reserved = need_u64(a, argv[++i], UINT16_MAX);
			else if (!strcmp(a, "--seq"))
				seq = need_u64(a, argv[++i], UINT32_MAX);
			else if (!strcmp(a, "--len"))
				len = need_u64(a, argv[++i], sizeof(buf));
			else if (!strcmp(a, "--count"))
				count = need_u64(a, argv[++i], RAW_MAX_PFNS);
			else if (!strcmp(a, "--pfns-file"))
				pfns_file = argv[++i];
			else
				usage();
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			if (n >= RAW_MAX_PFNS) {
				fprintf(stderr, "hbctl: more than %zu PFNs\n",
					(size_t)RAW_MAX_PFNS);
				return 2;
			}
			pfns[n++] = need_u64("PFN", a, UINT64_MAX);
		}
	}
	if (npos != 2)
		usage();
	if (pfns_file) {
		char line[64];
		uint64_t taken = 0;
		FILE *f = fopen(pfns_file, "r");

		if (!f) {
			fprintf(stderr, "hbctl: %s: %s\n", pfns_file,
				strerror(errno));
			return 1;
		}
		while (taken < count && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\r\n")] = '\0';
			if (!line[0])
				continue;
			if (n >= RAW_MAX_PFNS) {
				fprintf(stderr, "hbctl: more than %zu PFNs\n",
					(size_t)RAW_MAX_PFNS);
				return 2;
			}
			pfns[n++] = need_u64("PFN", line, UINT64_MAX);
			taken++;
		}
		fclose(f);
	}

	hdr->node = (uint32_t)need_u64("NODE", pos[0], UINT32_MAX);
	v = need_u64("ORDER", pos[1], UINT16_MAX);
	hdr->order = (uint16_t)v;
	hdr->reserved = (uint16_t)reserved;
	hdr->num_pfns = (uint32_t)(num_pfns == UINT64_MAX ? n : num_pfns);
	hdr->seq = (uint32_t)seq;
	if (len == UINT64_MAX)
		len = sizeof(*hdr) + (uint64_t)n * 8;
	if (!len) {
		fprintf(stderr, "hbctl: --len must be at least 1\n");
		return 2;
	}

	fd = open_dev();
	memset(&req, 0, sizeof(req));
	req.queue = queue;
	req.flags = with_resp ? HBALLOON_RAW_F_RESP : 0;
	req.len = (uint32_t)len;
	req.buf_ptr = (uintptr_t)buf;
	if (ioctl(fd, HBALLOON_IOC_DEBUG_RAW_REQ, &req)) {
		int err = errno;

		if (err == EIO || err == ETIMEDOUT) {
			printf("error=%s\n", err == EIO ? "EIO" : "ETIMEDOUT");
			return 0;
		}
		fprintf(stderr, "hbctl: DEBUG_RAW_REQ: %s\n", strerror(err));
		return 1;
	}
	close(fd);
	if (!with_resp) {
		printf("status=none used_len=%u\n", req.used_len);
		return 0;
	}
	memcpy(&resp, req.resp, sizeof(resp));
	printf("status=%u bad_index=%u node_actual_pages=%u seq=%u used_len=%u\n",
	       resp.status, resp.bad_index, resp.node_actual_pages, resp.seq,
	       req.used_len);
	return 0;
}
#endif

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "-D")) {
		dev_path = argv[2];
		argc -= 2;
		argv += 2;
	}
	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "info"))
		return cmd_info(argc - 1, argv + 1);
	if (!strcmp(argv[1], "stats"))
		return cmd_stats(argc - 1, argv + 1);
	if (!strcmp(argv[1], "raw")) {
#ifdef HBALLOON_DEBUG
		return cmd_raw(argc - 1, argv + 1);
#else
		fprintf(stderr, "hbctl: built without HBALLOON_DEBUG\n");
		return 2;
#endif
	}
	usage();
	return 2;
}
