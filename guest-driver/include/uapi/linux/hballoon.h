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

#define HBALLOON_STATS_SUBMIT_SIZE	24
#define HBALLOON_NODE_INFO_SIZE		32
#define HBALLOON_INFO_SIZE		(16 + 32 * HBALLOON_MAX_NODES)
#define HBALLOON_RAW_REQ_SIZE		40

#define HBALLOON_IOC_SUBMIT_STATS \
	_IOWR(HBALLOON_IOC_MAGIC, 0x01, struct hballoon_stats_submit)
#define HBALLOON_IOC_GET_INFO \
	_IOR(HBALLOON_IOC_MAGIC, 0x02, struct hballoon_info)
#define HBALLOON_IOC_DEBUG_RAW_REQ \
	_IOWR(HBALLOON_IOC_MAGIC, 0x80, struct hballoon_raw_req)

#endif /* _UAPI_LINUX_HBALLOON_H */
