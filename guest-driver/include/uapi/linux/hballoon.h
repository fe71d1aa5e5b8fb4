/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * hballoon.ko user ABI: ioctls on /dev/hballoon (root only, mode 0600).
 *
 * This is NOT the wire format (that is <linux/virtio_hballoon.h>); it is
 * the interface between the guest driver and guest user space (hplaced,
 * hbctl).  All fields have fixed sizes and natural alignment so that the
 * layout is the same for 32- and 64-bit user space; the sizes are pinned
 * by the HBALLOON_*_SIZE macros below, asserted in the driver
 * (BUILD_BUG_ON) and in user programs (_Static_assert).
 *
 * Every ioctl returns 0 or -1 with errno:
 *   ENODEV     the device is gone (driver unbound while the file is open)
 *   EIO        the device is broken (it needs a reset: reload the module)
 *   ETIMEDOUT  the device did not answer in time; it is now treated as
 *              broken
 *   EINVAL     a malformed argument (reserved fields must be zero)
 *   EFAULT     a bad user pointer
 * HBALLOON_IOC_SCAN_YOUNG has more (see its comment).
 */
#ifndef _UAPI_LINUX_HBALLOON_H
#define _UAPI_LINUX_HBALLOON_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Not registered in ioctl-number.rst: out of tree, private device node. */
#define HBALLOON_IOC_MAGIC		0xBB

/* Same value as VIRTIO_HBALLOON_MAX_NODES. */
#define HBALLOON_MAX_NODES		8

/*
 * HBALLOON_IOC_SUBMIT_STATS: send one stats message on the stats queue.
 *
 * @stats_ptr points to @num_stats struct virtio_hballoon_stat records
 * (1..VIRTIO_HBALLOON_MAX_STATS), little-endian as on the wire.  The
 * driver checks every record (known tag, zero reserved field, node valid
 * for the tag) before anything is sent, prepends the message header and
 * waits until the device has consumed the message.  On return @seq holds
 * the sequence number the message carried.
 */
struct hballoon_stats_submit {
	__u32 num_stats;	/* in: number of records */
	__u32 flags;		/* in: must be zero */
	__u64 stats_ptr;	/* in: user address of the records */
	__u32 seq;		/* out: sequence number sent */
	__u32 reserved;		/* must be zero */
};

/* hballoon_node_info.flags */
/* The config entry is valid and the driver balloons on this node. */
#define HBALLOON_NODE_F_ACTIVE		(1U << 0)

struct hballoon_node_info {
	__u32 node;		/* guest NUMA node id (== index) */
	__u32 flags;		/* HBALLOON_NODE_F_* */
	__u32 tier;		/* VIRTIO_HBALLOON_TIER_* */
	__u32 node_pages;	/* node RAM, 4 KiB pages, from the host */
	__u32 target_pages;	/* host's wanted balloon size, 4 KiB pages */
	__u32 actual_pages;	/* pages the driver holds in the balloon */
	__u32 device_pages;	/* host's count in its last response */
	__u32 reserved;
};

/* hballoon_info.flags */
/* The device is broken (NEEDS_RESET or timed out); queues are not used. */
#define HBALLOON_INFO_F_BROKEN		(1U << 0)
/* VIRTIO_HBALLOON_F_DEFLATE_ON_OOM was negotiated. */
#define HBALLOON_INFO_F_DEFLATE_ON_OOM	(1U << 1)
/* The driver was built with HBALLOON_DEBUG (raw requests available). */
#define HBALLOON_INFO_F_DEBUG		(1U << 2)

/* HBALLOON_IOC_GET_INFO: snapshot of the driver's view, nodes[0..num_nodes). */
struct hballoon_info {
	__u32 num_nodes;	/* config entries (valid or not) */
	__u32 pressure_level;	/* VIRTIO_HBALLOON_PRESSURE_* */
	__u32 flags;		/* HBALLOON_INFO_F_* */
	__u32 reserved;
	struct hballoon_node_info nodes[HBALLOON_MAX_NODES];
};

/*
 * HBALLOON_IOC_DEBUG_RAW_REQ: test-only, compiled into the driver only with
 * HBALLOON_DEBUG (otherwise the ioctl fails with ENOTTY).
 *
 * The @len bytes at @buf_ptr (1..HBALLOON_RAW_MAX_LEN) are sent as they
 * are as the one driver->device descriptor of a request on @queue, followed
 * when HBALLOON_RAW_F_RESP is set by a device-writable buffer of
 * sizeof(struct virtio_hballoon_resp) bytes.  The driver does not look at
 * the bytes and does not change its own accounting: this is for testing
 * the device's validation.  On success @used_len is the length the device
 * reported and @resp holds the bytes of the response buffer (zero when no
 * buffer was given).  A device that declares itself broken makes the call
 * fail with EIO.
 */
#define HBALLOON_RAW_QUEUE_INFLATE	0
#define HBALLOON_RAW_QUEUE_DEFLATE	1

/* Append a response (device-writable) buffer. */
#define HBALLOON_RAW_F_RESP		(1U << 0)

#define HBALLOON_RAW_MAX_LEN		16384

struct hballoon_raw_req {
	__u32 queue;		/* in: HBALLOON_RAW_QUEUE_* */
	__u32 flags;		/* in: HBALLOON_RAW_F_* */
	__u32 len;		/* in: bytes at buf_ptr */
	__u32 used_len;		/* out: bytes the device wrote */
	__u64 buf_ptr;		/* in: user address of the request bytes */
	__u8 resp[16];		/* out: struct virtio_hballoon_resp */
};

/*
 * HBALLOON_IOC_SCAN_YOUNG: test (and by default clear) the accessed bits of
 * the pages of process @pid in @num_ranges ranges.
 *
 * Does not use the device: it works while the device is broken.  The
 * ranges (struct hballoon_scan_range at @ranges_ptr) must be page aligned,
 * non-empty, below the user address limit, ascending and non-overlapping.
 *
 * Bounded work: one call covers at most @max_pages 4 KiB pages of address
 * space (holes and skipped areas count too), 0 meaning
 * HBALLOON_SCAN_MAX_PAGES; @max_pages must be a multiple of
 * HBALLOON_SCAN_CHUNK_PAGES (64, one bitmap word) and at most
 * HBALLOON_SCAN_MAX_PAGES.  Ranges are scanned in order; a range is cut
 * only at a multiple of 64 pages from its start.  On return @ranges_done
 * ranges were scanned completely and, when @ranges_done < @num_ranges,
 * range @ranges_done was scanned from its start up to @next_addr (its start
 * if not begun): resume with start = @next_addr and the bitmap pointers
 * advanced by (@next_addr - start) / 4096 / 8 bytes.  @scanned_pages is the
 * address space covered, in 4 KiB pages.
 *
 * Per range, bit i of the young bitmap (LSB first in each __u64 word) is
 * set when the page at start + i * 4096 was present and its accessed bit
 * was set.  A PMD-mapped THP is tested as one: when young, all its pages
 * inside the range are young.  The optional huge bitmap marks every
 * present page mapped by a PMD (young or not).  Bitmaps are
 * ceil(len / 4096 / 64) __u64 words; only the words of the part scanned in
 * this call are written (bits beyond the range end are zero); a zero
 * pointer means "no bitmap".  The counts cover the scanned part:
 * @present_pages (4 KiB pages; a PMD THP counts its pages inside the range),
 * @young_pages, @huge_pages (present pages mapped by a PMD).
 *
 * Without HBALLOON_SCAN_F_NO_CLEAR the accessed bits are cleared and the
 * TLBs of all CPUs are flushed afterwards (otherwise a CPU that cached the
 * translation would not set the bit again and a hot page would look cold).
 * Areas mapped VM_IO, VM_PFNMAP or hugetlbfs are skipped (not present).
 *
 * The bitmap memory of the part to be scanned is zeroed before any
 * accessed bit is touched, so a bad bitmap pointer fails with EFAULT
 * without losing accessed bits.
 *
 * Errors: EINVAL (flags, reserved fields, num_ranges 0 or above
 * HBALLOON_SCAN_MAX_RANGES, max_pages, alignment, empty range, overflow,
 * beyond the user address limit, not ascending or overlapping, pid <= 0),
 * ESRCH (no such process, or it has no memory map: kernel thread, exited),
 * EFAULT (bad @ranges_ptr or bitmap pointer), EINTR (fatal signal while
 * waiting for the mmap lock), ENOMEM, EOPNOTSUPP (not x86-64), EPERM (see
 * below).
 *
 * Permission: opening /dev/hballoon requires CAP_SYS_ADMIN, and every call
 * also requires that the caller, with its credentials at the time of the
 * call, may read process @pid as ptrace_may_access(PTRACE_MODE_READ_FSCREDS)
 * decides (the rule of /proc/PID/pagemap): itself, a dumpable process of
 * the same uid and gid with no more capabilities, or any process with
 * CAP_SYS_PTRACE.  Otherwise EPERM.
 */
/*
 * HBALLOON_IOC_LOCATE: on which NUMA node the pages of process @pid in
 * @num_ranges ranges are.  It takes struct hballoon_scan and walks exactly
 * like HBALLOON_IOC_SCAN_YOUNG (same ranges, page budget, 64-page cut and
 * resume rule, huge bitmap, VMA skipping, errors), with these differences:
 *  - accessed bits and TLBs are left alone; @flags must be 0;
 *  - @node names a node; bit i of a range's @bitmap_ptr bitmap is set when
 *    the page at start + i * 4096 is present and its memory is on @node
 *    (a PMD-mapped THP: all its pages inside the range), and @young_pages
 *    counts those pages;
 *  - the shared zero page (and the huge zero page where the kernel lets a
 *    module recognise it) is not present: it is on no node a page can be
 *    moved to or from;
 *  - EINVAL also when @node is negative, not below MAX_NUMNODES or not
 *    online.
 * It is the cheap replacement for move_pages(2) in query mode (one PTE read
 * per page instead of a page-table walk and a page reference per page, and
 * one PMD read per THP).  Pages on a third node are present in neither
 * node's bitmap: call once per node of interest.
 */
/* Test only: leave the accessed bits (and the TLBs) alone. */
#define HBALLOON_SCAN_F_NO_CLEAR	(1U << 0)

#define HBALLOON_SCAN_MAX_RANGES	64
#define HBALLOON_SCAN_CHUNK_PAGES	64
#define HBALLOON_SCAN_MAX_PAGES		(256 * 1024)

struct hballoon_scan_range {
	__u64 start;		/* in: user virtual address, page aligned */
	__u64 len;		/* in: bytes, page multiple, > 0 */
	__u64 bitmap_ptr;	/* in: young bitmap or 0 */
	__u64 huge_ptr;		/* in: huge bitmap or 0 */
	__u32 present_pages;	/* out */
	__u32 young_pages;	/* out */
	__u32 huge_pages;	/* out */
	__u32 reserved;		/* must be zero */
};

struct hballoon_scan {
	__s32 pid;		/* in: process (in the caller's pid namespace) */
	__u32 flags;		/* in: HBALLOON_SCAN_F_* */
	__u32 num_ranges;	/* in: 1..HBALLOON_SCAN_MAX_RANGES */
	__u32 max_pages;	/* in: page budget, 0 = HBALLOON_SCAN_MAX_PAGES */
	__u64 ranges_ptr;	/* in: user address of the ranges (in/out) */
	__u64 next_addr;	/* out: resume address in range @ranges_done */
	__u32 ranges_done;	/* out: ranges scanned completely */
	__u32 scanned_pages;	/* out: 4 KiB pages of address space covered */
	__s32 node;		/* in: HBALLOON_IOC_LOCATE's node, else 0 */
	__u32 reserved;		/* must be zero */
};

#define HBALLOON_STATS_SUBMIT_SIZE	24
#define HBALLOON_NODE_INFO_SIZE		32
#define HBALLOON_INFO_SIZE		(16 + 32 * HBALLOON_MAX_NODES)
#define HBALLOON_RAW_REQ_SIZE		40
#define HBALLOON_SCAN_RANGE_SIZE	48
#define HBALLOON_SCAN_SIZE		48

#define HBALLOON_IOC_SUBMIT_STATS \
	_IOWR(HBALLOON_IOC_MAGIC, 0x01, struct hballoon_stats_submit)
#define HBALLOON_IOC_GET_INFO \
	_IOR(HBALLOON_IOC_MAGIC, 0x02, struct hballoon_info)
#define HBALLOON_IOC_SCAN_YOUNG \
	_IOWR(HBALLOON_IOC_MAGIC, 0x03, struct hballoon_scan)
#define HBALLOON_IOC_LOCATE \
	_IOWR(HBALLOON_IOC_MAGIC, 0x04, struct hballoon_scan)
#define HBALLOON_IOC_DEBUG_RAW_REQ \
	_IOWR(HBALLOON_IOC_MAGIC, 0x80, struct hballoon_raw_req)

#endif /* _UAPI_LINUX_HBALLOON_H */
