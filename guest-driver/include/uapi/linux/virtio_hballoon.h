/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * virtio-hballoon: per-NUMA-node ("heterogeneous") memory balloon.
 *
 * This is the one wire-format header of TierVM.  The guest driver
 * (guest-driver/kmod/hballoon.c) includes it from the kernel tree layout
 * and the QEMU series imports it verbatim as
 * include/standard-headers/linux/virtio_hballoon.h, so it may only use the
 * types available to both: <linux/types.h>, <linux/virtio_types.h>.
 *
 * All multi-byte fields are little-endian (virtio 1.x, no legacy layout).
 *
 * Device model
 * ------------
 * One device per VM covers every guest NUMA node that has memory.  Config
 * entry i describes guest NUMA node i.  The host sets a per-node balloon
 * *target*; the guest inflates (gives pages to the host) or deflates (takes
 * them back) on that node only, and mirrors its progress in *actual*.  The
 * host keeps its own account of every ballooned page and never trusts the
 * guest's numbers: the device reports what it has validated.
 *
 * Units: page counts in config space are in 4 KiB pages
 * (VIRTIO_HBALLOON_PFN_SHIFT) whatever the order used on the queues.  A PFN
 * is a guest-physical address >> VIRTIO_HBALLOON_PFN_SHIFT.
 *
 * Queues
 * ------
 *   0 inflate:  driver -> device, struct virtio_hballoon_req + PFNs
 *               followed by a device-writable struct virtio_hballoon_resp
 *   1 deflate:  same layout
 *   2 stats:    driver -> device, struct virtio_hballoon_stats_hdr +
 *               records; the device consumes it and returns the buffer
 *
 * Error handling (host side)
 * --------------------------
 * Structural violations make the device broken (virtio "NEEDS_RESET"):
 * a descriptor shorter than its header, num_pfns of 0 or above
 * VIRTIO_HBALLOON_MAX_PFNS, num_pfns not matching the buffer length,
 * an unknown node, an unsupported order, non-zero reserved fields, a
 * missing response buffer, a stats message with too many records.
 *
 * A well-formed request whose PFNs are not acceptable is rejected as a
 * whole with a status in the response and nothing is changed:
 *   VIRTIO_HBALLOON_S_RANGE   a PFN outside the named node's RAM, outside
 *                             guest RAM, or not aligned to the order
 *   VIRTIO_HBALLOON_S_DUP     the same page twice in one request
 *   VIRTIO_HBALLOON_S_STATE   inflating a page already in the balloon, or
 *                             deflating one that is not in it
 *   VIRTIO_HBALLOON_S_REFUSED the host cannot discard now (e.g. VFIO or
 *                             postcopy disabled RAM discards); no page
 *                             of the request is in the balloon
 */
#ifndef _LINUX_VIRTIO_HBALLOON_H
#define _LINUX_VIRTIO_HBALLOON_H

#include <linux/types.h>
#include <linux/virtio_types.h>

/*
 * Not assigned by the virtio specification (the spec's table ends below
 * 50; 61-63 are used privately by crosvm).  Chosen below 64 so that the
 * modern virtio-pci device id 0x1040 + 57 = 0x1079 is valid.
 */
#define VIRTIO_ID_HBALLOON		57

/* Feature bits */
/* Driver may deflate on guest OOM without waiting for the host. */
#define VIRTIO_HBALLOON_F_DEFLATE_ON_OOM	0

#define VIRTIO_HBALLOON_PFN_SHIFT	12
#define VIRTIO_HBALLOON_MAX_NODES	8
/* Upper bound on PFNs in one inflate/deflate request. */
#define VIRTIO_HBALLOON_MAX_PFNS	1024
/* Upper bound on records in one stats message. */
#define VIRTIO_HBALLOON_MAX_STATS	128

/* Page orders accepted on the inflate/deflate queues. */
#define VIRTIO_HBALLOON_ORDER_4K	0
#define VIRTIO_HBALLOON_ORDER_2M	9

/* Tier class of a node (config nodes[i].tier). */
#define VIRTIO_HBALLOON_TIER_FMEM	0
#define VIRTIO_HBALLOON_TIER_SMEM	1

/* Host memory pressure level (config pressure_level), M3-style. */
#define VIRTIO_HBALLOON_PRESSURE_NONE	0
#define VIRTIO_HBALLOON_PRESSURE_LOW	1
#define VIRTIO_HBALLOON_PRESSURE_HIGH	2

struct virtio_hballoon_node_config {
	/* Guest NUMA node id this entry describes (== index). Read-only. */
	__le32 guest_node;
	/* VIRTIO_HBALLOON_TIER_*. Read-only. */
	__le32 tier;
	/* RAM of this node in 4 KiB pages. Read-only. */
	__le32 node_pages;
	/* Host's wanted balloon size on this node, 4 KiB pages. Read-only. */
	__le32 target_pages;
	/* Guest's balloon size on this node, 4 KiB pages. Driver-written. */
	__le32 actual_pages;
	/* Must be zero. */
	__le32 reserved[3];
};

struct virtio_hballoon_config {
	/* Number of valid entries in nodes[]. Read-only. */
	__le32 num_nodes;
	/* VIRTIO_HBALLOON_PRESSURE_*. Read-only. */
	__le32 pressure_level;
	struct virtio_hballoon_node_config nodes[VIRTIO_HBALLOON_MAX_NODES];
};

/* Header of an inflate or deflate request (driver -> device). */
struct virtio_hballoon_req {
	/* Config index (== guest NUMA node id) the pages belong to. */
	__le32 node;
	/* VIRTIO_HBALLOON_ORDER_*: each PFN names 1 << order 4 KiB pages. */
	__le16 order;
	/* Must be zero. */
	__le16 reserved;
	/* Number of PFNs that follow, 1..VIRTIO_HBALLOON_MAX_PFNS. */
	__le32 num_pfns;
	/* Driver cookie echoed in the response. */
	__le32 seq;
	/* __le64 pfns[num_pfns] follow. */
};

/* Request status values (virtio_hballoon_resp.status). */
#define VIRTIO_HBALLOON_S_OK		0
#define VIRTIO_HBALLOON_S_RANGE		1
#define VIRTIO_HBALLOON_S_DUP		2
#define VIRTIO_HBALLOON_S_STATE		3
#define VIRTIO_HBALLOON_S_REFUSED	4

/* Device-writable response to an inflate/deflate request. */
struct virtio_hballoon_resp {
	/* VIRTIO_HBALLOON_S_*. */
	__le32 status;
	/* seq of the request. */
	__le32 seq;
	/* Index of the first offending PFN when status != OK. */
	__le32 bad_index;
	/* Device's count of ballooned 4 KiB pages on the node afterwards. */
	__le32 node_actual_pages;
};

/*
 * Stats (telemetry) records, guest -> host.  The host treats every value
 * as an untrusted hint: it stores the latest value per (tag, node) and
 * exposes it over QMP, bounded and rate limited.
 */
#define VIRTIO_HBALLOON_STAT_FREE_BYTES		0  /* node free memory */
#define VIRTIO_HBALLOON_STAT_TOTAL_BYTES	1  /* node managed memory */
#define VIRTIO_HBALLOON_STAT_PSI_SOME_US	2  /* memory PSI some, total us */
#define VIRTIO_HBALLOON_STAT_PSI_FULL_US	3  /* memory PSI full, total us */
#define VIRTIO_HBALLOON_STAT_HOT_BYTES		4  /* hotness curve: x (bytes) */
#define VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM	5  /* hotness curve: y (ppm) */
#define VIRTIO_HBALLOON_STAT_SMEM_SHARE_PPM	6  /* accesses served by SMEM */
#define VIRTIO_HBALLOON_STAT_PROMOTED_PAGES	7  /* cumulative promotions */
#define VIRTIO_HBALLOON_STAT_DEMOTED_PAGES	8  /* cumulative demotions */
#define VIRTIO_HBALLOON_STAT_BUDGET_PPM		9  /* sampler CPU budget use */
#define VIRTIO_HBALLOON_STAT_NR_TAGS		10

/* No node: the record is VM-wide (PSI, budget). */
#define VIRTIO_HBALLOON_STAT_NODE_ANY	0xffff

struct virtio_hballoon_stat {
	/* VIRTIO_HBALLOON_STAT_*. */
	__le16 tag;
	/*
	 * Guest NUMA node, VIRTIO_HBALLOON_STAT_NODE_ANY, or for the
	 * hotness curve the point index (0..VIRTIO_HBALLOON_MAX_STATS-1).
	 */
	__le16 node;
	/* Must be zero. */
	__le32 reserved;
	__le64 val;
};

struct virtio_hballoon_stats_hdr {
	/* Number of records that follow, 1..VIRTIO_HBALLOON_MAX_STATS. */
	__le32 num_stats;
	/* Driver's sequence number; the host reports the latest. */
	__le32 seq;
	/* struct virtio_hballoon_stat stats[num_stats] follow. */
};

/*
 * Wire sizes, asserted by both sides (BUILD_BUG_ON in the driver,
 * QEMU_BUILD_BUG_ON in the device, static_assert in the unit tests).
 */
#define VIRTIO_HBALLOON_NODE_CONFIG_SIZE	32
#define VIRTIO_HBALLOON_CONFIG_SIZE	(8 + 32 * VIRTIO_HBALLOON_MAX_NODES)
#define VIRTIO_HBALLOON_REQ_SIZE	16
#define VIRTIO_HBALLOON_RESP_SIZE	16
#define VIRTIO_HBALLOON_STAT_SIZE	16
#define VIRTIO_HBALLOON_STATS_HDR_SIZE	8

#endif /* _LINUX_VIRTIO_HBALLOON_H */
