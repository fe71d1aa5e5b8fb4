// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-hballoon: per-NUMA-node ("heterogeneous memory") balloon driver.
 *
 * The host gives every guest NUMA node its own balloon target (config
 * space, 4 KiB pages).  This driver inflates the balloon of a node by
 * allocating free pages on that node only and handing their PFNs to the
 * device on the inflate queue; it deflates by sending PFNs of ballooned
 * pages on the deflate queue and freeing them once the device agreed.
 * The wire format is <linux/virtio_hballoon.h>.
 *
 * Requests.  One request names one node, one page order (4 KiB or 2 MiB)
 * and up to VIRTIO_HBALLOON_MAX_PFNS PFNs, followed by a device-writable
 * response.  At most one request is in flight per queue: the sender holds
 * the queue's mutex, adds the buffers, and waits (bounded) until the
 * device returns them.  The device checks every PFN and rejects a request
 * as a whole; on rejection an inflate gives its pages back to the buddy
 * allocator and a deflate puts them back on the balloon lists, and the node
 * backs off.
 *
 * The worker.  Config interrupts only queue the delayed work.  One run of
 * the worker re-reads the targets and sends at most HBALLOON_BATCHES_PER_RUN
 * requests, then requeues itself: at once if some node still needs work,
 * later if every remaining node waits for a back-off (failed allocation,
 * refused request) or for the hold-off after an OOM deflate.  Inflating
 * prefers 2 MiB pages (module parameter "huge") while at least 2 MiB remain
 * to inflate and falls back to 4 KiB pages when the node has no free 2 MiB
 * block.  Deflating releases 2 MiB pages first.
 *
 * Deflate on OOM.  With VIRTIO_HBALLOON_F_DEFLATE_ON_OOM the OOM notifier
 * deflates up to oom_pages from each node that has ballooned pages and is
 * below its high watermarks (the notifier is not told which nodes the
 * failing allocation wanted; a node-bound allocation leaves exactly its
 * nodes short), or from each node with ballooned pages if none is short,
 * and keeps those nodes from re-inflating for oom_holdoff_ms.
 *
 * A broken device.  When the device sets NEEDS_RESET, misbehaves, or does
 * not answer within req_timeout_ms, the driver logs once and stops using
 * the queues; the balloon stays as it is until the device is reset
 * (unbind or module unload).  Pages whose inflate outcome is unknown are
 * parked on a limbo list: the device may still discard them, so they go
 * back to the guest only after the reset.  Pages the device accepted are
 * always safe to give back (the host refaults them), so OOM deflate and
 * removal free them locally when the device cannot be told.
 *
 * Locking, outermost first:
 *   inflate_mutex, deflate_mutex, stats_mutex - one per queue (never two
 *	held together except in teardown, in this order);
 *   cfg_mutex - config-space writes of actual_pages;
 *   lists_lock - page lists and counters.
 * The OOM notifier takes only deflate_mutex (blocking): nothing holds
 * deflate_mutex while allocating memory or waiting without a timeout, so
 * the notifier waits at most one request timeout.  inflate_mutex is held
 * across page allocation and is never taken by the notifier.
 *
 * Not done: ballooned pages are not migratable (no balloon compaction), so
 * they are allocated unmovable (HBALLOON_GFP); managed page counts are not
 * adjusted.
 */

#include <linux/bitmap.h>
#include <linux/bits.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/gfp.h>
#include <linux/jiffies.h>
#include <linux/kobject.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nodemask.h>
#include <linux/oom.h>
#include <linux/pgtable.h>
#include <linux/pid.h>
#include <linux/rcupdate.h>
#include <linux/rwsem.h>
#include <linux/scatterlist.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/spinlock.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vmstat.h>
#include <linux/virtio.h>
#include <linux/virtio_config.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <asm/tlbflush.h>

#include <linux/virtio_hballoon.h>
#include <linux/hballoon.h>

static bool huge = true;
module_param(huge, bool, 0644);
MODULE_PARM_DESC(huge, "Inflate with 2 MiB pages when possible (default: true)");

static unsigned long oom_pages = 1024;
module_param(oom_pages, ulong, 0644);
MODULE_PARM_DESC(oom_pages,
		 "4 KiB pages to deflate per node on OOM (default: 1024 = 4 MiB)");

static unsigned int oom_holdoff_ms = 5000;
module_param(oom_holdoff_ms, uint, 0644);
MODULE_PARM_DESC(oom_holdoff_ms,
		 "Do not re-inflate a node for this long after an OOM deflate (default: 5000)");

static unsigned int req_timeout_ms = 10000;
module_param(req_timeout_ms, uint, 0644);
MODULE_PARM_DESC(req_timeout_ms,
		 "Time the device has to answer a request before it is deemed broken (default: 10000, min 100)");

/* Requests sent by one run of the worker before it yields. */
#define HBALLOON_BATCHES_PER_RUN	16
/* Per-node back-off after a failed allocation or a refused request. */
#define HBALLOON_RETRY_MIN_MS		100
#define HBALLOON_RETRY_MAX_MS		10000
/* Do not try 2 MiB allocations on a node for this long after one failed. */
#define HBALLOON_HUGE_RETRY_MS		1000

#define HBALLOON_HUGE_ORDER		VIRTIO_HBALLOON_ORDER_2M
#define HBALLOON_HUGE_PAGES		(1UL << HBALLOON_HUGE_ORDER)

/*
 * Ballooned pages never move (no balloon compaction), so they must not be
 * taken as movable: a movable pageblock holding one of them can no longer
 * be compacted into a free 2 MiB block (THP) or offlined.  Unmovable
 * pages are grouped in unmovable pageblocks by the page allocator's
 * anti-fragmentation, which is what virtio_balloon does without
 * CONFIG_BALLOON_COMPACTION (balloon_mapping_gfp_mask(): GFP_HIGHUSER).
 * The cost: no inflating from ZONE_MOVABLE.
 */
#define HBALLOON_GFP	(GFP_HIGHUSER | __GFP_THISNODE | \
			 __GFP_NOMEMALLOC | __GFP_NORETRY | __GFP_NOWARN)

enum hballoon_vq {
	HBALLOON_VQ_INFLATE,
	HBALLOON_VQ_DEFLATE,
	HBALLOON_VQ_STATS,
	HBALLOON_NR_VQS
};

/* Index of the page lists: 4 KiB pages, 2 MiB pages. */
enum {
	HBALLOON_LIST_4K,
	HBALLOON_LIST_2M,
	HBALLOON_NR_LISTS
};

/* Bits in hballoon.flags. */
enum {
	/* The device is unusable; set once, cleared only by a reset. */
	HBALLOON_BROKEN,
	/* Queues are being or have been torn down (remove, freeze). */
	HBALLOON_NO_VQS,
	/* The worker must not be (re)queued. */
	HBALLOON_STOPPING,
};

/* Inflate/deflate request buffer: header, PFNs, then the response. */
struct hballoon_msg {
	struct virtio_hballoon_req req;
	__le64 pfns[VIRTIO_HBALLOON_MAX_PFNS];
	/* Device-writable: keep it off the driver-written cache lines. */
	struct virtio_hballoon_resp resp ____cacheline_aligned;
};

struct hballoon_stats_msg {
	struct virtio_hballoon_stats_hdr hdr;
	struct virtio_hballoon_stat stats[VIRTIO_HBALLOON_MAX_STATS];
};

#ifdef HBALLOON_DEBUG
struct hballoon_raw_buf {
	u8 out[HBALLOON_RAW_MAX_LEN];
	struct virtio_hballoon_resp resp ____cacheline_aligned;
};
#endif

struct hballoon_node {
	/* Guest NUMA node id == config index. */
	int nid;
	/* The config entry is valid: a memory node we balloon on. */
	bool active;
	/* From config at probe: VIRTIO_HBALLOON_TIER_* and RAM in pages. */
	u32 tier;
	u32 node_pages;
	/* Host's target in 4 KiB pages, clamped to node_pages (worker). */
	u32 target_pages;
	/*
	 * Ballooned pages per order, linked through page->lru, and their
	 * number (list entries).  Adding needs lists_lock; removing needs
	 * lists_lock and deflate_mutex, so that a deflater that counted
	 * entries finds them on the list.
	 */
	struct list_head pages[HBALLOON_NR_LISTS];
	unsigned long nr_pages[HBALLOON_NR_LISTS];
	/* 4 KiB pages in the balloon (lists_lock; lockless readers). */
	u32 actual_pages;
	/* Device's node_actual_pages from its last response (lists_lock). */
	u32 device_pages;
	/* No inflate / deflate before these times, in jiffies (lists_lock). */
	unsigned long inflate_after;
	unsigned long deflate_after;
	/* Current back-off, doubled on each failure (lists_lock). */
	unsigned int backoff_ms;
	/* No 2 MiB allocation before this time (inflate_mutex). */
	unsigned long huge_after;
	/* sysfs directory hballoon/nodeN. */
	struct kobject *kobj;
};

struct hballoon {
	/* The device we drive. */
	struct virtio_device *vdev;
	/* Queues, indexed by enum hballoon_vq. */
	struct virtqueue *vqs[HBALLOON_NR_VQS];
	/* Woken by the queue callbacks and when the device breaks. */
	wait_queue_head_t acked;
	/* HBALLOON_BROKEN, _NO_VQS, _STOPPING (atomic bitops). */
	unsigned long flags;

	/*
	 * Mutex that serialises the use of the inflate queue and its buffer.
	 * Held across the allocation of the pages of a request.
	 */
	struct mutex inflate_mutex;
	/*
	 * Mutex that serialises the use of the deflate queue and its buffer,
	 * and the removal of pages from the balloon lists.  Taken by the OOM
	 * notifier: never allocate memory or wait unboundedly under it.
	 */
	struct mutex deflate_mutex;
	/* Mutex that serialises the use of the stats queue and buffer. */
	struct mutex stats_mutex;
	/* Request buffers of the inflate and deflate queues. */
	struct hballoon_msg *msg[2];
	/* Sequence number of the last message per queue (queue's mutex). */
	u32 seq[HBALLOON_NR_VQS];
	/* Stats message buffer (stats_mutex). */
	struct hballoon_stats_msg *stats;
#ifdef HBALLOON_DEBUG
	/* Raw request buffer (mutex of the queue used). */
	struct hballoon_raw_buf *raw;
#endif

	/* Spinlock that protects page lists and counters of all nodes. */
	spinlock_t lists_lock;
	/* Pages of inflates with unknown outcome, freed after reset. */
	struct list_head limbo[HBALLOON_NR_LISTS];
	/* Mutex that orders config writes of actual_pages. */
	struct mutex cfg_mutex;

	/* Config entries, validated at probe (<= MAX_NODES). */
	u32 num_nodes;
	/* Last host pressure level read from config (worker). */
	u32 pressure_level;
	struct hballoon_node nodes[VIRTIO_HBALLOON_MAX_NODES];

	/* The balloon worker. */
	struct delayed_work work;
	/* Spinlock that orders HBALLOON_STOPPING against queueing work. */
	spinlock_t stop_lock;

	/* Deflate-on-OOM notifier, registered if the feature is. */
	struct notifier_block oom_nb;
	bool oom_registered;

	/* /dev/hballoon (only the first device gets it). */
	struct miscdevice misc;
	bool misc_registered;
	/* Read-held by ioctls, write-held by remove to set @gone. */
	struct rw_semaphore ioctl_rwsem;
	/* The driver is unbound: open files must not touch the device. */
	bool gone;
	/* Open files and the bound device each hold a reference. */
	struct kref kref;

	/* sysfs directory "hballoon" under the virtio device. */
	struct kobject *kobj;
};

/* Only one device gets /dev/hballoon. */
static unsigned long hballoon_misc_taken;

static unsigned int hballoon_list(unsigned int order)
{
	return order ? HBALLOON_LIST_2M : HBALLOON_LIST_4K;
}

static unsigned int hballoon_list_order(unsigned int list)
{
	return list == HBALLOON_LIST_2M ? HBALLOON_HUGE_ORDER : 0;
}

static void hballoon_set_broken(struct hballoon *hb, const char *why)
{
	if (test_and_set_bit(HBALLOON_BROKEN, &hb->flags))
		return;
	dev_err(&hb->vdev->dev,
		"device unusable (%s); ballooning stopped until reset\n", why);
	wake_up_all(&hb->acked);
}

/* May be called in interrupt context. */
static bool hballoon_broken(struct hballoon *hb)
{
	if (test_bit(HBALLOON_BROKEN, &hb->flags))
		return true;
	if (hb->vdev->config->get_status(hb->vdev) &
	    VIRTIO_CONFIG_S_NEEDS_RESET) {
		hballoon_set_broken(hb, "device needs reset");
		return true;
	}
	return false;
}

/* Whether the queues may be used.  Call with the queue's mutex held. */
static bool hballoon_vqs_usable(struct hballoon *hb)
{
	return !test_bit(HBALLOON_NO_VQS, &hb->flags) && !hballoon_broken(hb);
}

static void hballoon_ack(struct virtqueue *vq)
{
	struct hballoon *hb = vq->vdev->priv;

	wake_up(&hb->acked);
}

/* Queue the worker after @delay jiffies; @now also pulls it forward. */
static void hballoon_kick(struct hballoon *hb, unsigned long delay, bool now)
{
	unsigned long flags;

	spin_lock_irqsave(&hb->stop_lock, flags);
	if (!test_bit(HBALLOON_STOPPING, &hb->flags)) {
		if (now)
			mod_delayed_work(system_freezable_wq, &hb->work, delay);
		else
			queue_delayed_work(system_freezable_wq, &hb->work,
					   delay);
	}
	spin_unlock_irqrestore(&hb->stop_lock, flags);
}

/*
 * Send the buffers in @sgs on queue @q and wait until the device returns
 * them.  Call with the queue's mutex held.  Returns 0 with *@used_len set,
 * -EIO if nothing was sent, -ECONNABORTED if the device broke before
 * answering, -ETIMEDOUT if it did not answer in time (it is then treated
 * as broken).  After the last two the device may still act on the request.
 */
static int hballoon_xfer(struct hballoon *hb, unsigned int q,
			 struct scatterlist *sgs[], unsigned int out,
			 unsigned int in, unsigned int *used_len)
{
	struct virtqueue *vq = hb->vqs[q];
	unsigned long timeout;
	void *buf = NULL;
	int err;

	if (!hballoon_vqs_usable(hb))
		return -EIO;
	/* No sleeping allocation: the OOM notifier deflates through here. */
	err = virtqueue_add_sgs(vq, sgs, out, in, hb, GFP_NOWAIT | __GFP_NOWARN);
	if (err) {
		dev_warn_ratelimited(&hb->vdev->dev,
				     "cannot queue on %s: %d\n", vq->name, err);
		if (err == -EIO)
			hballoon_set_broken(hb, "queue broken");
		return -EIO;
	}
	virtqueue_kick(vq);

	timeout = msecs_to_jiffies(max(req_timeout_ms, 100U));
	wait_event_timeout(hb->acked,
			   (buf = virtqueue_get_buf(vq, used_len)) ||
			   hballoon_broken(hb),
			   timeout);
	if (buf)
		return 0;
	if (test_bit(HBALLOON_BROKEN, &hb->flags))
		return -ECONNABORTED;
	hballoon_set_broken(hb, "request timed out");
	return -ETIMEDOUT;
}

/*
 * Send the @n PFNs already in the queue's buffer as one request for
 * @node/@order and check the response.  Call with the queue's mutex held.
 * Returns the response status (>= 0) or an error of hballoon_xfer().
 */
static int hballoon_request(struct hballoon *hb, unsigned int q,
			    struct hballoon_node *node, unsigned int order,
			    unsigned int n)
{
	struct hballoon_msg *msg = hb->msg[q];
	struct scatterlist sg_out, sg_in, *sgs[2] = { &sg_out, &sg_in };
	unsigned int used_len;
	u32 seq = ++hb->seq[q];
	int err;

	msg->req.node = cpu_to_le32(node->nid);
	msg->req.order = cpu_to_le16(order);
	msg->req.reserved = 0;
	msg->req.num_pfns = cpu_to_le32(n);
	msg->req.seq = cpu_to_le32(seq);
	memset(&msg->resp, 0, sizeof(msg->resp));
	sg_init_one(&sg_out, &msg->req,
		    sizeof(msg->req) + n * sizeof(msg->pfns[0]));
	sg_init_one(&sg_in, &msg->resp, sizeof(msg->resp));

	err = hballoon_xfer(hb, q, sgs, 1, 1, &used_len);
	if (err)
		return err;
	if (used_len < sizeof(msg->resp) || le32_to_cpu(msg->resp.seq) != seq) {
		hballoon_set_broken(hb, "malformed response");
		return -ECONNABORTED;
	}
	return le32_to_cpu(msg->resp.status);
}

/* Write @node's actual size to config space.  Hold a queue's mutex. */
static void hballoon_publish(struct hballoon *hb, struct hballoon_node *node)
{
	u32 actual;

	mutex_lock(&hb->cfg_mutex);
	actual = READ_ONCE(node->actual_pages);
	if (!test_bit(HBALLOON_NO_VQS, &hb->flags))
		virtio_cwrite_le(hb->vdev, struct virtio_hballoon_config,
				 nodes[node->nid].actual_pages, &actual);
	mutex_unlock(&hb->cfg_mutex);
}

/* Push *@after to at least now + the node's next back-off. */
static void hballoon_backoff(struct hballoon *hb, struct hballoon_node *node,
			     unsigned long *after)
{
	unsigned long deadline;

	spin_lock(&hb->lists_lock);
	node->backoff_ms = clamp(node->backoff_ms * 2, HBALLOON_RETRY_MIN_MS,
				 HBALLOON_RETRY_MAX_MS);
	deadline = jiffies + msecs_to_jiffies(node->backoff_ms);
	if (time_after(deadline, *after))
		*after = deadline;
	spin_unlock(&hb->lists_lock);
}

/* Account @count pages of @order as added to (@add) or gone from @node. */
static void hballoon_account(struct hballoon *hb, struct hballoon_node *node,
			     unsigned int order, unsigned long count, bool add,
			     const struct virtio_hballoon_resp *resp)
{
	unsigned int l = hballoon_list(order);

	lockdep_assert_held(&hb->lists_lock);
	if (add) {
		node->nr_pages[l] += count;
		node->actual_pages += count << order;
	} else {
		node->nr_pages[l] -= count;
		node->actual_pages -= count << order;
	}
	if (resp) {
		node->device_pages = le32_to_cpu(resp->node_actual_pages);
		node->backoff_ms = 0;
	}
}

static void hballoon_free_list(struct list_head *list, unsigned int order)
{
	struct page *page, *next;

	list_for_each_entry_safe(page, next, list, lru) {
		list_del(&page->lru);
		__free_pages(page, order);
	}
}

/*
 * Inflate @node by up to @want 4 KiB pages with one request.  Worker only.
 * Returns the number of 4 KiB pages added or -errno.
 */
static long hballoon_inflate(struct hballoon *hb, struct hballoon_node *node,
			     unsigned long want)
{
	struct hballoon_msg *msg = hb->msg[HBALLOON_VQ_INFLATE];
	unsigned int order = 0, n = 0, max;
	struct page *page;
	LIST_HEAD(pages);
	int ret;

	if (huge && want >= HBALLOON_HUGE_PAGES &&
	    time_after_eq(jiffies, node->huge_after))
		order = HBALLOON_HUGE_ORDER;
	max = min_t(unsigned long, want >> order, VIRTIO_HBALLOON_MAX_PFNS);

	mutex_lock(&hb->inflate_mutex);
	if (!hballoon_vqs_usable(hb)) {
		ret = -EIO;
		goto out_unlock;
	}
	while (n < max) {
		page = alloc_pages_node(node->nid, HBALLOON_GFP, order);
		if (!page) {
			if (order && !n) {
				/* No free 2 MiB block: 4 KiB pages this time. */
				node->huge_after = jiffies +
					msecs_to_jiffies(HBALLOON_HUGE_RETRY_MS);
				order = 0;
				max = min_t(unsigned long, want,
					    VIRTIO_HBALLOON_MAX_PFNS);
				continue;
			}
			break;
		}
		list_add_tail(&page->lru, &pages);
		msg->pfns[n++] = cpu_to_le64(page_to_pfn(page));
		cond_resched();
	}
	if (!n) {
		hballoon_backoff(hb, node, &node->inflate_after);
		dev_dbg(&hb->vdev->dev,
			"node %d: no free page to inflate, retry in %u ms\n",
			node->nid, node->backoff_ms);
		ret = -ENOMEM;
		goto out_unlock;
	}

	ret = hballoon_request(hb, HBALLOON_VQ_INFLATE, node, order, n);
	if (ret == VIRTIO_HBALLOON_S_OK) {
		spin_lock(&hb->lists_lock);
		list_splice_tail(&pages, &node->pages[hballoon_list(order)]);
		hballoon_account(hb, node, order, n, true, &msg->resp);
		spin_unlock(&hb->lists_lock);
		hballoon_publish(hb, node);
		dev_dbg(&hb->vdev->dev, "node %d: inflated %u pages of order %u\n",
			node->nid, n, order);
		ret = n << order;
	} else if (ret == -ETIMEDOUT || ret == -ECONNABORTED) {
		/* The device may still discard them: keep until reset. */
		spin_lock(&hb->lists_lock);
		list_splice_tail(&pages, &hb->limbo[hballoon_list(order)]);
		spin_unlock(&hb->lists_lock);
	} else {
		/* Refused or never sent: nothing was discarded. */
		hballoon_free_list(&pages, order);
		hballoon_backoff(hb, node, &node->inflate_after);
		if (ret > 0) {
			dev_warn_ratelimited(&hb->vdev->dev,
					     "inflate of %u pages (order %u) on node %d refused: status %d, bad_index %u\n",
					     n, order, node->nid, ret,
					     le32_to_cpu(msg->resp.bad_index));
			ret = -EAGAIN;
		}
	}
out_unlock:
	mutex_unlock(&hb->inflate_mutex);
	return ret;
}

/*
 * Move up to @count pages of list @l of @node onto @list.  Counters are
 * left alone.  Call with deflate_mutex and lists_lock held.
 */
static unsigned int hballoon_take(struct hballoon_node *node, unsigned int l,
				  unsigned long count, struct list_head *list)
{
	unsigned int n = 0;
	struct page *page;

	while (n < count && !list_empty(&node->pages[l])) {
		page = list_first_entry(&node->pages[l], struct page, lru);
		list_move_tail(&page->lru, list);
		n++;
	}
	return n;
}

/*
 * Deflate @node by up to @want 4 KiB pages (a 2 MiB page may overshoot)
 * with one request.  Returns the number of 4 KiB pages given back to the
 * guest or -errno; -EIO means the device cannot be told.
 */
static long hballoon_deflate(struct hballoon *hb, struct hballoon_node *node,
			     unsigned long want)
{
	struct hballoon_msg *msg = hb->msg[HBALLOON_VQ_DEFLATE];
	unsigned int order, l, n, i = 0;
	unsigned long count;
	struct page *page;
	LIST_HEAD(pages);
	long ret;

	mutex_lock(&hb->deflate_mutex);
	if (!hballoon_vqs_usable(hb)) {
		ret = -EIO;
		goto out_unlock;
	}
	spin_lock(&hb->lists_lock);
	if (node->nr_pages[HBALLOON_LIST_2M] &&
	    (want >= HBALLOON_HUGE_PAGES || !node->nr_pages[HBALLOON_LIST_4K])) {
		l = HBALLOON_LIST_2M;
		count = max(want >> HBALLOON_HUGE_ORDER, 1UL);
	} else {
		l = HBALLOON_LIST_4K;
		count = want;
	}
	count = min_t(unsigned long, count, VIRTIO_HBALLOON_MAX_PFNS);
	n = hballoon_take(node, l, count, &pages);
	spin_unlock(&hb->lists_lock);
	if (!n) {
		ret = 0;
		goto out_unlock;
	}
	order = hballoon_list_order(l);
	list_for_each_entry(page, &pages, lru)
		msg->pfns[i++] = cpu_to_le64(page_to_pfn(page));

	ret = hballoon_request(hb, HBALLOON_VQ_DEFLATE, node, order, n);
	if (ret == VIRTIO_HBALLOON_S_OK || ret == -ETIMEDOUT ||
	    ret == -ECONNABORTED) {
		/* Deflated, or outcome unknown: safe to use either way. */
		spin_lock(&hb->lists_lock);
		hballoon_account(hb, node, order, n, false,
				 ret ? NULL : &msg->resp);
		spin_unlock(&hb->lists_lock);
		hballoon_free_list(&pages, order);
		hballoon_publish(hb, node);
		ret = n << order;
	} else {
		spin_lock(&hb->lists_lock);
		list_splice(&pages, &node->pages[l]);
		spin_unlock(&hb->lists_lock);
		hballoon_backoff(hb, node, &node->deflate_after);
		if (ret > 0) {
			dev_warn_ratelimited(&hb->vdev->dev,
					     "deflate of %u pages (order %u) on node %d refused: status %ld, bad_index %u\n",
					     n, order, node->nid, ret,
					     le32_to_cpu(msg->resp.bad_index));
			ret = -EAGAIN;
		}
	}
out_unlock:
	mutex_unlock(&hb->deflate_mutex);
	return ret;
}

/*
 * Give up to @want 4 KiB pages of @node back to the guest without telling
 * the device, which must be unusable.  Returns the 4 KiB pages freed.
 */
static unsigned long hballoon_free_local(struct hballoon *hb,
					 struct hballoon_node *node,
					 unsigned long want)
{
	struct list_head pages[HBALLOON_NR_LISTS];
	unsigned long count, freed = 0;
	unsigned int l, n, order;

	for (l = 0; l < HBALLOON_NR_LISTS; l++)
		INIT_LIST_HEAD(&pages[l]);

	mutex_lock(&hb->deflate_mutex);
	spin_lock(&hb->lists_lock);
	/* 2 MiB pages first. */
	for (l = HBALLOON_NR_LISTS; l-- > 0 && freed < want; ) {
		order = hballoon_list_order(l);
		/* Round up without overflowing for want == ULONG_MAX. */
		count = ((want - freed - 1) >> order) + 1;
		n = hballoon_take(node, l, count, &pages[l]);
		hballoon_account(hb, node, order, n, false, NULL);
		freed += (unsigned long)n << order;
	}
	spin_unlock(&hb->lists_lock);
	mutex_unlock(&hb->deflate_mutex);

	for (l = 0; l < HBALLOON_NR_LISTS; l++)
		hballoon_free_list(&pages[l], hballoon_list_order(l));
	return freed;
}

/*
 * Whether node @nid is short of free memory: below the sum of its zones'
 * high watermarks.  An OOM caused by a node-bound allocation leaves that
 * node short and the others not.
 */
static bool hballoon_node_short(int nid)
{
	pg_data_t *pgdat = NODE_DATA(nid);
	unsigned long free = 0, high = 0;
	struct zone *zone;
	int z;

	for (z = 0; z < MAX_NR_ZONES; z++) {
		zone = &pgdat->node_zones[z];
		if (!populated_zone(zone))
			continue;
		free += zone_page_state(zone, NR_FREE_PAGES);
		high += high_wmark_pages(zone);
	}
	return free < high;
}

/*
 * Deflate up to oom_pages from every node that has ballooned pages and is
 * short of memory, or from every node with ballooned pages if none is
 * (the notifier is not told which nodes the failing allocation wanted).
 */
static int hballoon_oom_notify(struct notifier_block *nb,
			       unsigned long dummy, void *parm)
{
	struct hballoon *hb = container_of(nb, struct hballoon, oom_nb);
	unsigned long *freed = parm, total = 0, victims = 0, mask = 0;
	unsigned int i;

	BUILD_BUG_ON(VIRTIO_HBALLOON_MAX_NODES > BITS_PER_LONG);
	for (i = 0; i < hb->num_nodes; i++) {
		if (!hb->nodes[i].active || !READ_ONCE(hb->nodes[i].actual_pages))
			continue;
		victims |= BIT(i);
		if (hballoon_node_short(i))
			mask |= BIT(i);
	}
	if (!mask)
		mask = victims;

	for (i = 0; i < hb->num_nodes; i++) {
		struct hballoon_node *node = &hb->nodes[i];
		unsigned long done = 0;
		long ret;

		if (!(mask & BIT(i)))
			continue;
		while (done < oom_pages) {
			ret = hballoon_deflate(hb, node, oom_pages - done);
			if (ret == -EIO)
				ret = hballoon_free_local(hb, node,
							  oom_pages - done);
			if (ret <= 0)
				break;
			done += ret;
		}
		if (!done)
			continue;
		spin_lock(&hb->lists_lock);
		node->inflate_after = jiffies + msecs_to_jiffies(oom_holdoff_ms);
		spin_unlock(&hb->lists_lock);
		total += done;
	}
	if (total) {
		dev_info_ratelimited(&hb->vdev->dev,
				     "OOM: deflated %lu pages (nodes %#lx)\n",
				     total, mask);
		*freed += total;
		hballoon_kick(hb, msecs_to_jiffies(oom_holdoff_ms), false);
	}
	return NOTIFY_OK;
}

static void hballoon_read_config(struct hballoon *hb)
{
	struct virtio_device *vdev = hb->vdev;
	u32 pressure, target;
	unsigned int i;

	virtio_cread_le(vdev, struct virtio_hballoon_config, pressure_level,
			&pressure);
	if (pressure != READ_ONCE(hb->pressure_level)) {
		WRITE_ONCE(hb->pressure_level, pressure);
		if (hb->kobj)
			sysfs_notify(hb->kobj, NULL, "pressure_level");
	}
	for (i = 0; i < hb->num_nodes; i++) {
		struct hballoon_node *node = &hb->nodes[i];

		if (!node->active)
			continue;
		virtio_cread_le(vdev, struct virtio_hballoon_config,
				nodes[i].target_pages, &target);
		WRITE_ONCE(node->target_pages, min(target, node->node_pages));
	}
}

/*
 * Whether @node is off target; if so, *@due is the time (jiffies) from
 * which the worker may send it a request.
 */
static bool hballoon_node_pending(struct hballoon_node *node,
				  unsigned long *due)
{
	u32 target = READ_ONCE(node->target_pages);
	u32 actual = READ_ONCE(node->actual_pages);

	if (actual < target)
		*due = READ_ONCE(node->inflate_after);
	else if (actual > target)
		*due = READ_ONCE(node->deflate_after);
	else
		return false;
	return true;
}

/* One request for @node if it is due.  Returns true on progress. */
static bool hballoon_node_step(struct hballoon *hb, struct hballoon_node *node)
{
	u32 target = READ_ONCE(node->target_pages);
	u32 actual = READ_ONCE(node->actual_pages);
	unsigned long due;

	if (!hballoon_node_pending(node, &due) || time_after(due, jiffies))
		return false;
	if (actual < target)
		return hballoon_inflate(hb, node, target - actual) > 0;
	return hballoon_deflate(hb, node, actual - target) > 0;
}

static void hballoon_work(struct work_struct *work)
{
	struct hballoon *hb = container_of(to_delayed_work(work),
					   struct hballoon, work);
	unsigned int i, budget = HBALLOON_BATCHES_PER_RUN;
	unsigned long due, now, delay = MAX_JIFFY_OFFSET;
	bool progress;

	if (test_bit(HBALLOON_STOPPING, &hb->flags) || hballoon_broken(hb))
		return;
	hballoon_read_config(hb);

	do {
		progress = false;
		for (i = 0; i < hb->num_nodes && budget; i++) {
			if (!hb->nodes[i].active)
				continue;
			if (hballoon_node_step(hb, &hb->nodes[i])) {
				progress = true;
				budget--;
			}
			if (test_bit(HBALLOON_BROKEN, &hb->flags))
				return;
		}
	} while (progress && budget);

	/* Run again when the first node still off target is due. */
	now = jiffies;
	for (i = 0; i < hb->num_nodes; i++) {
		if (!hb->nodes[i].active ||
		    !hballoon_node_pending(&hb->nodes[i], &due))
			continue;
		delay = min(delay, time_after(due, now) ? due - now : 0);
	}
	if (delay != MAX_JIFFY_OFFSET)
		hballoon_kick(hb, delay, false);
}

static void hballoon_config_changed(struct virtio_device *vdev)
{
	struct hballoon *hb = vdev->priv;

	if (hballoon_broken(hb))
		return;
	hballoon_kick(hb, 0, true);
}

/* sysfs: <virtio device>/hballoon/{num_nodes,pressure_level,broken} */

static struct hballoon *hballoon_from_kobj(struct kobject *kobj)
{
	return dev_to_virtio(kobj_to_dev(kobj->parent))->priv;
}

static struct hballoon_node *hballoon_node_from_kobj(struct kobject *kobj)
{
	struct hballoon *hb = hballoon_from_kobj(kobj->parent);
	unsigned int i;

	for (i = 0; i < hb->num_nodes; i++)
		if (hb->nodes[i].kobj == kobj)
			return &hb->nodes[i];
	return NULL;
}

static ssize_t num_nodes_show(struct kobject *kobj,
			      struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n", hballoon_from_kobj(kobj)->num_nodes);
}

static ssize_t pressure_level_show(struct kobject *kobj,
				   struct kobj_attribute *attr, char *buf)
{
	return sysfs_emit(buf, "%u\n",
			  READ_ONCE(hballoon_from_kobj(kobj)->pressure_level));
}

static ssize_t broken_show(struct kobject *kobj, struct kobj_attribute *attr,
			   char *buf)
{
	return sysfs_emit(buf, "%d\n", test_bit(HBALLOON_BROKEN,
						&hballoon_from_kobj(kobj)->flags));
}

static struct kobj_attribute hballoon_attr_num_nodes = __ATTR_RO(num_nodes);
static struct kobj_attribute hballoon_attr_pressure = __ATTR_RO(pressure_level);
static struct kobj_attribute hballoon_attr_broken = __ATTR_RO(broken);

static struct attribute *hballoon_attrs[] = {
	&hballoon_attr_num_nodes.attr,
	&hballoon_attr_pressure.attr,
	&hballoon_attr_broken.attr,
	NULL
};

static const struct attribute_group hballoon_group = {
	.attrs = hballoon_attrs,
};

/* sysfs: <virtio device>/hballoon/nodeN/<field> */
#define HBALLOON_NODE_ATTR(field)					\
static ssize_t field##_show(struct kobject *kobj,			\
			    struct kobj_attribute *attr, char *buf)	\
{									\
	struct hballoon_node *node = hballoon_node_from_kobj(kobj);	\
									\
	if (!node)							\
		return -ENODEV;						\
	return sysfs_emit(buf, "%u\n", READ_ONCE(node->field));	\
}									\
static struct kobj_attribute hballoon_attr_##field = __ATTR_RO(field)

HBALLOON_NODE_ATTR(tier);
HBALLOON_NODE_ATTR(node_pages);
HBALLOON_NODE_ATTR(target_pages);
HBALLOON_NODE_ATTR(actual_pages);
HBALLOON_NODE_ATTR(device_pages);

static struct attribute *hballoon_node_attrs[] = {
	&hballoon_attr_tier.attr,
	&hballoon_attr_node_pages.attr,
	&hballoon_attr_target_pages.attr,
	&hballoon_attr_actual_pages.attr,
	&hballoon_attr_device_pages.attr,
	NULL
};

static const struct attribute_group hballoon_node_group = {
	.attrs = hballoon_node_attrs,
};

static void hballoon_sysfs_del(struct hballoon *hb)
{
	unsigned int i;

	for (i = 0; i < hb->num_nodes; i++) {
		if (!hb->nodes[i].kobj)
			continue;
		sysfs_remove_group(hb->nodes[i].kobj, &hballoon_node_group);
		kobject_put(hb->nodes[i].kobj);
		hb->nodes[i].kobj = NULL;
	}
	if (hb->kobj) {
		sysfs_remove_group(hb->kobj, &hballoon_group);
		kobject_put(hb->kobj);
		hb->kobj = NULL;
	}
}

static int hballoon_sysfs_add(struct hballoon *hb)
{
	struct hballoon_node *node;
	char name[16];
	unsigned int i;
	int err;

	hb->kobj = kobject_create_and_add("hballoon", &hb->vdev->dev.kobj);
	if (!hb->kobj)
		return -ENOMEM;
	err = sysfs_create_group(hb->kobj, &hballoon_group);
	if (err) {
		kobject_put(hb->kobj);
		hb->kobj = NULL;
		return err;
	}
	for (i = 0; i < hb->num_nodes; i++) {
		node = &hb->nodes[i];
		snprintf(name, sizeof(name), "node%u", i);
		node->kobj = kobject_create_and_add(name, hb->kobj);
		if (!node->kobj) {
			err = -ENOMEM;
			goto out_del;
		}
		err = sysfs_create_group(node->kobj, &hballoon_node_group);
		if (err) {
			kobject_put(node->kobj);
			node->kobj = NULL;
			goto out_del;
		}
	}
	return 0;

out_del:
	hballoon_sysfs_del(hb);
	return err;
}

/* /dev/hballoon */

static void hballoon_release(struct kref *kref)
{
	struct hballoon *hb = container_of(kref, struct hballoon, kref);

#ifdef HBALLOON_DEBUG
	kfree(hb->raw);
#endif
	kfree(hb->stats);
	kfree(hb->msg[HBALLOON_VQ_DEFLATE]);
	kfree(hb->msg[HBALLOON_VQ_INFLATE]);
	kfree(hb);
}

static int hballoon_open(struct inode *inode, struct file *file)
{
	/* misc_open() holds misc_mtx: misc_deregister() cannot race. */
	struct hballoon *hb = container_of(file->private_data,
					   struct hballoon, misc);

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	kref_get(&hb->kref);
	file->private_data = hb;
	return nonseekable_open(inode, file);
}

static int hballoon_file_release(struct inode *inode, struct file *file)
{
	struct hballoon *hb = file->private_data;

	kref_put(&hb->kref, hballoon_release);
	return 0;
}

static long hballoon_ioc_get_info(struct hballoon *hb, void __user *uarg)
{
	struct hballoon_info info;
	unsigned int i;

	memset(&info, 0, sizeof(info));
	info.num_nodes = hb->num_nodes;
	info.pressure_level = READ_ONCE(hb->pressure_level);
	if (test_bit(HBALLOON_BROKEN, &hb->flags))
		info.flags |= HBALLOON_INFO_F_BROKEN;
	if (virtio_has_feature(hb->vdev, VIRTIO_HBALLOON_F_DEFLATE_ON_OOM))
		info.flags |= HBALLOON_INFO_F_DEFLATE_ON_OOM;
#ifdef HBALLOON_DEBUG
	info.flags |= HBALLOON_INFO_F_DEBUG;
#endif

	spin_lock(&hb->lists_lock);
	for (i = 0; i < hb->num_nodes; i++) {
		struct hballoon_node *node = &hb->nodes[i];
		struct hballoon_node_info *ni = &info.nodes[i];

		ni->node = i;
		ni->flags = node->active ? HBALLOON_NODE_F_ACTIVE : 0;
		ni->tier = node->tier;
		ni->node_pages = node->node_pages;
		ni->target_pages = READ_ONCE(node->target_pages);
		ni->actual_pages = node->actual_pages;
		ni->device_pages = node->device_pages;
	}
	spin_unlock(&hb->lists_lock);

	return copy_to_user(uarg, &info, sizeof(info)) ? -EFAULT : 0;
}

static int hballoon_check_stats(struct hballoon *hb,
				const struct virtio_hballoon_stat *st,
				unsigned int n)
{
	unsigned int i, tag, node;

	for (i = 0; i < n; i++) {
		tag = le16_to_cpu(st[i].tag);
		node = le16_to_cpu(st[i].node);
		if (tag >= VIRTIO_HBALLOON_STAT_NR_TAGS || st[i].reserved)
			return -EINVAL;
		if (tag == VIRTIO_HBALLOON_STAT_HOT_BYTES ||
		    tag == VIRTIO_HBALLOON_STAT_HOT_SHARE_PPM) {
			if (node >= VIRTIO_HBALLOON_MAX_STATS)
				return -EINVAL;
		} else if (node != VIRTIO_HBALLOON_STAT_NODE_ANY &&
			   node >= hb->num_nodes) {
			return -EINVAL;
		}
	}
	return 0;
}

static long hballoon_ioc_submit_stats(struct hballoon *hb, void __user *uarg)
{
	struct hballoon_stats_msg *msg = hb->stats;
	struct hballoon_stats_submit req;
	struct virtio_hballoon_stat *st;
	struct scatterlist sg, *sgs[1] = { &sg };
	unsigned int used_len;
	size_t size;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if (req.flags || req.reserved || !req.num_stats ||
	    req.num_stats > VIRTIO_HBALLOON_MAX_STATS)
		return -EINVAL;
	size = req.num_stats * sizeof(*st);
	st = memdup_user(u64_to_user_ptr(req.stats_ptr), size);
	if (IS_ERR(st))
		return PTR_ERR(st);
	ret = hballoon_check_stats(hb, st, req.num_stats);
	if (ret)
		goto out_free;

	mutex_lock(&hb->stats_mutex);
	req.seq = ++hb->seq[HBALLOON_VQ_STATS];
	msg->hdr.num_stats = cpu_to_le32(req.num_stats);
	msg->hdr.seq = cpu_to_le32(req.seq);
	memcpy(msg->stats, st, size);
	sg_init_one(&sg, msg, sizeof(msg->hdr) + size);
	ret = hballoon_xfer(hb, HBALLOON_VQ_STATS, sgs, 1, 0, &used_len);
	mutex_unlock(&hb->stats_mutex);

	if (ret == -ECONNABORTED)
		ret = -EIO;
	else if (!ret && copy_to_user(uarg, &req, sizeof(req)))
		ret = -EFAULT;
out_free:
	kfree(st);
	return ret;
}

/*
 * Accessed-bit scanner (HBALLOON_IOC_SCAN_YOUNG) and page locator
 * (HBALLOON_IOC_LOCATE): one page-table walker, two modes.
 *
 * Independent of the virtio device.  The page tables of the target mm are
 * walked by hand under mmap_read_lock: walk_page_range() and the
 * pte_offset_map_lock() helpers of 6.5+ are not exported to modules.  A PTE
 * table is used the way __pte_offset_map_lock() does it: the PMD is read
 * once, the table is looked up from that copy inside an RCU read section
 * (6.5+ frees retracted tables of file mappings after a grace period,
 * without the mmap lock), and the PMD is checked to be unchanged once the
 * table's lock is held.  Anonymous tables cannot go away under the mmap
 * read lock on any kernel.
 *
 * x86-64 only: accessed bits are cleared with test_and_clear_bit() on the
 * entry, as ptep_test_and_clear_young() does (not exported either), and
 * the TLBs are flushed with __flush_tlb_all() on every CPU (the ranged
 * flushes are not exported).  The flush matters: a CPU that keeps the
 * translation cached never sets the accessed bit again.
 *
 * The locator reads the same entries and never writes them: its "young"
 * bit means "on the wanted node" (the node of the entry's pfn, read from
 * the struct page flags).  It leaves out what no page migration can move:
 * the shared zero page (pte_special or zero_pfn), the huge zero page (a
 * PMD-mapped page in an anonymous VMA that is not an anonymous page: the
 * huge zero page's own symbols are not exported) and pfns without a struct
 * page.
 */
enum hballoon_scan_mode {
	HBALLOON_MODE_YOUNG,
	HBALLOON_MODE_LOCATE,
};

#ifdef CONFIG_X86_64

struct hballoon_scan_ctx {
	struct mm_struct *mm;
	bool locate;
	/* Locate mode: the node asked for. */
	int node;
	bool clear;
	/* Some accessed bit was cleared: TLBs must be flushed. */
	bool cleared;
	/* The VMA being walked is anonymous (vma_is_anonymous()). */
	bool anon_vma;
	/* Bitmaps of the range part being scanned; bit 0 is @base. */
	unsigned long *young;
	unsigned long *huge;
	unsigned long base;
	struct hballoon_scan_range *range;
};

static void hballoon_scan_mark(struct hballoon_scan_ctx *ctx,
			       unsigned long addr, unsigned long n,
			       bool young, bool huge)
{
	unsigned long idx = (addr - ctx->base) >> PAGE_SHIFT;

	ctx->range->present_pages += n;
	if (huge) {
		ctx->range->huge_pages += n;
		bitmap_set(ctx->huge, idx, n);
	}
	if (young) {
		ctx->range->young_pages += n;
		if (n == 1)
			__set_bit(idx, ctx->young);
		else
			bitmap_set(ctx->young, idx, n);
	}
}

/* Locate mode: is the page at @pfn on the wanted node?  -1: leave it out. */
static int hballoon_locate_pfn(struct hballoon_scan_ctx *ctx,
			       unsigned long pfn)
{
	if (is_zero_pfn(pfn) || !pfn_valid(pfn))
		return -1;
	return pfn_to_nid(pfn) == ctx->node;
}

/* Returns the PMD entry for @addr, or NULL if an upper level is empty. */
static pmd_t *hballoon_scan_pmd_entry(struct mm_struct *mm, unsigned long addr)
{
	pgd_t *pgd;
	p4d_t *p4d;
	pud_t *pud;

	pgd = pgd_offset(mm, addr);
	if (pgd_none(READ_ONCE(*pgd)) || pgd_bad(READ_ONCE(*pgd)))
		return NULL;
	p4d = p4d_offset(pgd, addr);
	if (p4d_none(READ_ONCE(*p4d)) || p4d_bad(READ_ONCE(*p4d)))
		return NULL;
	pud = pud_offset(p4d, addr);
	/* pud_bad() is also true for a 1 GiB leaf: never anonymous THP. */
	if (pud_none(READ_ONCE(*pud)) || pud_bad(READ_ONCE(*pud)))
		return NULL;
	return pmd_offset(pud, addr);
}

/*
 * A PMD-mapped THP covering [@addr, @end).  Returns false if the PMD is no
 * longer a present huge PMD (split meanwhile): scan it as a table.
 */
static bool hballoon_scan_huge(struct hballoon_scan_ctx *ctx, pmd_t *pmd,
			       unsigned long addr, unsigned long end)
{
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	spinlock_t *ptl;
	pmd_t pmdval;
	int young;

	ptl = pmd_lock(ctx->mm, pmd);
	pmdval = READ_ONCE(*pmd);
	if (!pmd_present(pmdval) || !pmd_trans_huge(pmdval)) {
		spin_unlock(ptl);
		/* Split into a table: scan that; gone or migrating: done. */
		return !pmd_present(pmdval) || pmd_bad(pmdval);
	}
	if (ctx->locate) {
		/*
		 * In an anonymous VMA a PMD maps an anonymous THP or the
		 * huge zero page, which is not PageAnon.  The page cannot
		 * go away while the PMD lock is held.
		 */
		young = hballoon_locate_pfn(ctx, pmd_pfn(pmdval));
		if (young >= 0 && ctx->anon_vma &&
		    !PageAnon(pmd_page(pmdval)))
			young = -1;
	} else {
		young = pmd_young(pmdval);
		if (young && ctx->clear) {
			test_and_clear_bit(_PAGE_BIT_ACCESSED,
					   (unsigned long *)pmd);
			ctx->cleared = true;
		}
	}
	spin_unlock(ptl);
	if (young >= 0)
		hballoon_scan_mark(ctx, addr, (end - addr) >> PAGE_SHIFT,
				   young, true);
	return true;
#else
	return false;
#endif
}

/* The pages in [@addr, @end), all under one PMD. */
static void hballoon_scan_pmd(struct hballoon_scan_ctx *ctx, pmd_t *pmd,
			      unsigned long addr, unsigned long end)
{
	pte_t *pte, ptent;
	spinlock_t *ptl;
	pmd_t pmdval;
	int tries = 2;
	int on_node;

again:
	pmdval = READ_ONCE(*pmd);
	if (pmd_none(pmdval))
		return;
#ifdef CONFIG_TRANSPARENT_HUGEPAGE
	if (pmd_trans_huge(pmdval) || pmd_devmap(pmdval)) {
		if (pmd_devmap(pmdval) ||
		    hballoon_scan_huge(ctx, pmd, addr, end))
			return;
		if (--tries)
			goto again;
		return;
	}
#endif
	/* Migration entries and bad entries: nothing present to test. */
	if (!pmd_present(pmdval) || pmd_bad(pmdval))
		return;

	rcu_read_lock();
	ptl = pte_lockptr(ctx->mm, &pmdval);
	spin_lock(ptl);
	if (!pmd_same(pmdval, READ_ONCE(*pmd))) {
		spin_unlock(ptl);
		rcu_read_unlock();
		if (--tries)
			goto again;
		return;
	}
	pte = pte_offset_kernel(&pmdval, addr);
	for (; addr < end; pte++, addr += PAGE_SIZE) {
		ptent = ptep_get(pte);
		if (!pte_present(ptent))
			continue;
		if (ctx->locate) {
			/* The zero page is special on x86 (pte_mkspecial). */
			on_node = pte_special(ptent) ? -1 :
				  hballoon_locate_pfn(ctx, pte_pfn(ptent));
			if (on_node >= 0)
				hballoon_scan_mark(ctx, addr, 1, on_node,
						   false);
			continue;
		}
		if (pte_young(ptent) && ctx->clear) {
			test_and_clear_bit(_PAGE_BIT_ACCESSED,
					   (unsigned long *)&pte->pte);
			ctx->cleared = true;
		}
		hballoon_scan_mark(ctx, addr, 1, pte_young(ptent), false);
	}
	spin_unlock(ptl);
	rcu_read_unlock();
}

/* [@addr, @end) of the current range part.  Holds the mmap read lock. */
static void hballoon_scan_part(struct hballoon_scan_ctx *ctx,
			       unsigned long addr, unsigned long end)
{
	struct vm_area_struct *vma;
	unsigned long vend, next;
	pmd_t *pmd;

	while (addr < end) {
		vma = find_vma(ctx->mm, addr);
		if (!vma || vma->vm_start >= end)
			return;
		addr = max(addr, vma->vm_start);
		vend = min(end, vma->vm_end);
		if (vma->vm_flags & (VM_IO | VM_PFNMAP | VM_HUGETLB)) {
			addr = vend;
			continue;
		}
		ctx->anon_vma = vma_is_anonymous(vma);
		for (; addr < vend; addr = next) {
			next = pmd_addr_end(addr, vend);
			pmd = hballoon_scan_pmd_entry(ctx->mm, addr);
			if (pmd)
				hballoon_scan_pmd(ctx, pmd, addr, next);
			cond_resched();
		}
	}
}

static void hballoon_flush_tlb_local(void *unused)
{
	__flush_tlb_all();
}

/* Bitmap words of a part of @pages pages. */
static unsigned long hballoon_scan_words(unsigned long pages)
{
	return DIV_ROUND_UP(pages, HBALLOON_SCAN_CHUNK_PAGES);
}

static int hballoon_scan_check(const struct hballoon_scan *scan,
			       const struct hballoon_scan_range *ranges)
{
	u64 prev_end = 0;
	unsigned int i;

	for (i = 0; i < scan->num_ranges; i++) {
		const struct hballoon_scan_range *r = &ranges[i];

		if (r->reserved || !r->len || !PAGE_ALIGNED(r->start) ||
		    !PAGE_ALIGNED(r->len) || r->start + r->len < r->start ||
		    r->start < prev_end)
			return -EINVAL;
		prev_end = r->start + r->len;
	}
	return 0;
}

/*
 * May the caller read the page tables of @task (whose memory map is @mm)?
 *
 * Opening /dev/hballoon takes CAP_SYS_ADMIN, but an open fd outlives the
 * privileges of whoever opened it: a daemon that drops them, an fd passed
 * over a socket or inherited.  So every SCAN_YOUNG and LOCATE call is
 * checked against the caller's credentials at the time of the call, by the
 * rules of ptrace_may_access(task, PTRACE_MODE_READ_FSCREDS), the check
 * /proc/PID/pagemap and process_madvise() make.  Neither that function nor
 * security_ptrace_access_check() is exported to modules (6.1 and 6.12
 * Module.symvers), so its credential rules are restated here:
 *  - a process may always look at itself (its thread group);
 *  - otherwise the caller's fsuid/fsgid must equal the target's real,
 *    effective and saved ids, or the caller has CAP_SYS_PTRACE in the
 *    target's user namespace;
 *  - a non-dumpable target (setuid, or one that dropped privileges)
 *    needs CAP_SYS_PTRACE in its mm's user namespace;
 *  - the capability LSM's rule: a target holding capabilities the caller
 *    does not have effective (or in another user namespace) needs
 *    CAP_SYS_PTRACE.
 * Other LSMs (SELinux, AppArmor, Yama) cannot be asked from a module.  READ
 * rather than ATTACH: the two differ only in what LSMs decide.
 * Called under task_lock(), as ptrace_may_access() runs its checks.
 */
static bool hballoon_may_read_task(struct task_struct *task,
				   struct mm_struct *mm)
{
	const struct cred *cred = current_cred();
	const struct cred *tcred;
	bool ids_match, ok;

	if (same_thread_group(task, current))
		return true;

	rcu_read_lock();
	tcred = __task_cred(task);
	ids_match = uid_eq(cred->fsuid, tcred->uid) &&
		    uid_eq(cred->fsuid, tcred->euid) &&
		    uid_eq(cred->fsuid, tcred->suid) &&
		    gid_eq(cred->fsgid, tcred->gid) &&
		    gid_eq(cred->fsgid, tcred->egid) &&
		    gid_eq(cred->fsgid, tcred->sgid);
	/* (ids or CAP_SYS_PTRACE) and (capability LSM or CAP_SYS_PTRACE) */
	ok = (ids_match && cred->user_ns == tcred->user_ns &&
	      cap_issubset(tcred->cap_permitted, cred->cap_effective)) ||
	     ns_capable(tcred->user_ns, CAP_SYS_PTRACE);
	rcu_read_unlock();
	if (!ok)
		return false;

	/*
	 * Dumpability after the credentials: commit_creds() changes them in
	 * the other order, so a task dropping privileges is never seen with
	 * the new ids and the old dumpability.
	 */
	smp_rmb();
	return get_dumpable(mm) == SUID_DUMP_USER ||
	       ns_capable(mm->user_ns, CAP_SYS_PTRACE);
}

/*
 * The memory map of process @nr (caller's pid namespace) with a reference,
 * or ERR_PTR: -ESRCH (no such process, or no mm: kernel thread, exited),
 * -EPERM (hballoon_may_read_task() says no), -EINTR (fatal signal).
 */
static struct mm_struct *hballoon_scan_get_mm(pid_t nr)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct pid *pid;
	bool allowed;
	int err;

	pid = find_get_pid(nr);
	if (!pid)
		return ERR_PTR(-ESRCH);
	task = get_pid_task(pid, PIDTYPE_PID);
	put_pid(pid);
	if (!task)
		return ERR_PTR(-ESRCH);
	/*
	 * Held across the lookup and the check, as mm_access() does, so that
	 * the credentials checked are those of the program whose mm we
	 * return: an exec of a setuid program cannot slip in between.
	 */
	err = down_read_killable(&task->signal->exec_update_lock);
	if (err) {
		put_task_struct(task);
		return ERR_PTR(-EINTR);
	}
	mm = get_task_mm(task);
	if (!mm) {
		err = -ESRCH;
	} else {
		task_lock(task);
		allowed = hballoon_may_read_task(task, mm);
		task_unlock(task);
		if (!allowed) {
			mmput(mm);
			err = -EPERM;
		}
	}
	up_read(&task->signal->exec_update_lock);
	put_task_struct(task);
	return err ? ERR_PTR(err) : mm;
}

/* The mode-specific fields of @scan: flags, node. */
static bool hballoon_scan_mode_ok(const struct hballoon_scan *scan,
				  enum hballoon_scan_mode mode)
{
	if (mode == HBALLOON_MODE_YOUNG)
		return !(scan->flags & ~HBALLOON_SCAN_F_NO_CLEAR) &&
		       !scan->node;
	return !scan->flags && scan->node >= 0 &&
	       scan->node < MAX_NUMNODES && node_online(scan->node);
}

/* HBALLOON_IOC_SCAN_YOUNG and HBALLOON_IOC_LOCATE. */
static long hballoon_ioc_scan(void __user *uarg, enum hballoon_scan_mode mode)
{
	struct hballoon_scan_ctx ctx = { };
	struct hballoon_scan_range *ranges;
	struct hballoon_scan scan;
	unsigned long *young = NULL, *huge = NULL;
	unsigned long budget, pages, part, words, total_words = 0;
	unsigned long parts[HBALLOON_SCAN_MAX_RANGES];
	unsigned int i, n;
	long ret;

	if (copy_from_user(&scan, uarg, sizeof(scan)))
		return -EFAULT;
	if (!hballoon_scan_mode_ok(&scan, mode) || scan.reserved ||
	    !scan.num_ranges || scan.num_ranges > HBALLOON_SCAN_MAX_RANGES ||
	    scan.max_pages % HBALLOON_SCAN_CHUNK_PAGES ||
	    scan.max_pages > HBALLOON_SCAN_MAX_PAGES || scan.pid <= 0)
		return -EINVAL;
	ranges = memdup_user(u64_to_user_ptr(scan.ranges_ptr),
			     scan.num_ranges * sizeof(*ranges));
	if (IS_ERR(ranges))
		return PTR_ERR(ranges);
	ret = hballoon_scan_check(&scan, ranges);
	if (ret)
		goto out_free;

	/*
	 * Plan the parts: whole ranges while the budget lasts, then a prefix
	 * of the next one cut at a multiple of 64 pages.
	 */
	budget = scan.max_pages ? scan.max_pages : HBALLOON_SCAN_MAX_PAGES;
	for (n = 0; n < scan.num_ranges; n++) {
		ranges[n].present_pages = 0;
		ranges[n].young_pages = 0;
		ranges[n].huge_pages = 0;
	}
	for (n = 0; n < scan.num_ranges && budget; n++) {
		pages = ranges[n].len >> PAGE_SHIFT;
		part = pages <= budget ? pages :
			rounddown(budget, HBALLOON_SCAN_CHUNK_PAGES);
		if (!part)
			break;
		parts[n] = part;
		budget -= part;
		total_words += hballoon_scan_words(part);
		if (part < pages) {
			n++;
			break;
		}
	}
	/* Ranges [0, n) get scanned, the last one maybe in part. */

	/* Fail on a bad bitmap pointer before any accessed bit is touched. */
	for (i = 0; i < n; i++) {
		words = hballoon_scan_words(parts[i]);
		if ((ranges[i].bitmap_ptr &&
		     clear_user(u64_to_user_ptr(ranges[i].bitmap_ptr),
				words * sizeof(u64))) ||
		    (ranges[i].huge_ptr &&
		     clear_user(u64_to_user_ptr(ranges[i].huge_ptr),
				words * sizeof(u64)))) {
			ret = -EFAULT;
			goto out_free;
		}
	}

	young = kvcalloc(total_words, sizeof(*young), GFP_KERNEL);
	huge = kvcalloc(total_words, sizeof(*huge), GFP_KERNEL);
	if (!young || !huge) {
		ret = -ENOMEM;
		goto out_bitmaps;
	}

	ctx.mm = hballoon_scan_get_mm(scan.pid);
	if (IS_ERR(ctx.mm)) {
		ret = PTR_ERR(ctx.mm);
		goto out_bitmaps;
	}
	if (ranges[scan.num_ranges - 1].start +
	    ranges[scan.num_ranges - 1].len > ctx.mm->task_size) {
		ret = -EINVAL;
		goto out_mm;
	}
	ctx.locate = mode == HBALLOON_MODE_LOCATE;
	ctx.node = scan.node;
	ctx.clear = !ctx.locate && !(scan.flags & HBALLOON_SCAN_F_NO_CLEAR);

	if (mmap_read_lock_killable(ctx.mm)) {
		ret = -EINTR;
		goto out_mm;
	}
	ctx.young = young;
	ctx.huge = huge;
	for (i = 0; i < n; i++) {
		ctx.base = ranges[i].start;
		ctx.range = &ranges[i];
		hballoon_scan_part(&ctx, ctx.base,
				   ctx.base + (parts[i] << PAGE_SHIFT));
		words = hballoon_scan_words(parts[i]);
		ctx.young += words;
		ctx.huge += words;
	}
	mmap_read_unlock(ctx.mm);
	if (ctx.cleared)
		on_each_cpu(hballoon_flush_tlb_local, NULL, 1);

	scan.scanned_pages = 0;
	scan.ranges_done = 0;
	scan.next_addr = 0;
	for (i = 0; i < n; i++) {
		scan.scanned_pages += parts[i];
		if (parts[i] == ranges[i].len >> PAGE_SHIFT)
			scan.ranges_done++;
		else
			scan.next_addr = ranges[i].start +
					 (parts[i] << PAGE_SHIFT);
	}
	if (scan.ranges_done < scan.num_ranges && !scan.next_addr)
		scan.next_addr = ranges[scan.ranges_done].start;

	/* The bits are gone from the page tables: report what we can. */
	ret = 0;
	words = 0;
	for (i = 0; i < n; i++) {
		unsigned long w = hballoon_scan_words(parts[i]);

		if ((ranges[i].bitmap_ptr &&
		     copy_to_user(u64_to_user_ptr(ranges[i].bitmap_ptr),
				  young + words, w * sizeof(u64))) ||
		    (ranges[i].huge_ptr &&
		     copy_to_user(u64_to_user_ptr(ranges[i].huge_ptr),
				  huge + words, w * sizeof(u64))))
			ret = -EFAULT;
		words += w;
	}
	if (copy_to_user(u64_to_user_ptr(scan.ranges_ptr), ranges,
			 scan.num_ranges * sizeof(*ranges)) ||
	    copy_to_user(uarg, &scan, sizeof(scan)))
		ret = -EFAULT;
out_mm:
	mmput(ctx.mm);
out_bitmaps:
	kvfree(huge);
	kvfree(young);
out_free:
	kfree(ranges);
	return ret;
}

#else /* !CONFIG_X86_64 */

static long hballoon_ioc_scan(void __user *uarg, enum hballoon_scan_mode mode)
{
	return -EOPNOTSUPP;
}

#endif /* CONFIG_X86_64 */

#ifdef HBALLOON_DEBUG
static struct mutex *hballoon_vq_mutex(struct hballoon *hb, unsigned int q)
{
	switch (q) {
	case HBALLOON_VQ_INFLATE:
		return &hb->inflate_mutex;
	case HBALLOON_VQ_DEFLATE:
		return &hb->deflate_mutex;
	default:
		return &hb->stats_mutex;
	}
}

static long hballoon_ioc_raw_req(struct hballoon *hb, void __user *uarg)
{
	struct hballoon_raw_buf *raw = hb->raw;
	struct scatterlist sg_out, sg_in, *sgs[2] = { &sg_out, &sg_in };
	struct hballoon_raw_req req;
	unsigned int used_len, in;
	struct mutex *lock;	/* of the queue used */
	void *buf;
	long ret;

	if (copy_from_user(&req, uarg, sizeof(req)))
		return -EFAULT;
	if ((req.queue != HBALLOON_RAW_QUEUE_INFLATE &&
	     req.queue != HBALLOON_RAW_QUEUE_DEFLATE) ||
	    (req.flags & ~HBALLOON_RAW_F_RESP) ||
	    !req.len || req.len > HBALLOON_RAW_MAX_LEN)
		return -EINVAL;
	buf = memdup_user(u64_to_user_ptr(req.buf_ptr), req.len);
	if (IS_ERR(buf))
		return PTR_ERR(buf);

	lock = hballoon_vq_mutex(hb, req.queue);
	mutex_lock(lock);
	memcpy(raw->out, buf, req.len);
	memset(&raw->resp, 0, sizeof(raw->resp));
	sg_init_one(&sg_out, raw->out, req.len);
	sg_init_one(&sg_in, &raw->resp, sizeof(raw->resp));
	in = req.flags & HBALLOON_RAW_F_RESP ? 1 : 0;
	ret = hballoon_xfer(hb, req.queue, sgs, 1, in, &used_len);
	if (!ret) {
		req.used_len = used_len;
		memcpy(req.resp, &raw->resp, sizeof(req.resp));
	}
	mutex_unlock(lock);
	kfree(buf);

	if (ret == -ECONNABORTED)
		return -EIO;
	if (!ret && copy_to_user(uarg, &req, sizeof(req)))
		return -EFAULT;
	return ret;
}
#endif

static long hballoon_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct hballoon *hb = file->private_data;
	void __user *uarg = (void __user *)arg;
	long ret;

	down_read(&hb->ioctl_rwsem);
	if (hb->gone) {
		ret = -ENODEV;
		goto out;
	}
	switch (cmd) {
	case HBALLOON_IOC_GET_INFO:
		ret = hballoon_ioc_get_info(hb, uarg);
		break;
	case HBALLOON_IOC_SUBMIT_STATS:
		ret = hballoon_ioc_submit_stats(hb, uarg);
		break;
	case HBALLOON_IOC_SCAN_YOUNG:
		ret = hballoon_ioc_scan(uarg, HBALLOON_MODE_YOUNG);
		break;
	case HBALLOON_IOC_LOCATE:
		ret = hballoon_ioc_scan(uarg, HBALLOON_MODE_LOCATE);
		break;
#ifdef HBALLOON_DEBUG
	case HBALLOON_IOC_DEBUG_RAW_REQ:
		ret = hballoon_ioc_raw_req(hb, uarg);
		break;
#endif
	default:
		ret = -ENOTTY;
		break;
	}
out:
	up_read(&hb->ioctl_rwsem);
	return ret;
}

static const struct file_operations hballoon_fops = {
	.owner		= THIS_MODULE,
	.open		= hballoon_open,
	.release	= hballoon_file_release,
	.unlocked_ioctl	= hballoon_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
};

static int hballoon_misc_add(struct hballoon *hb)
{
	int err;

	if (test_and_set_bit(0, &hballoon_misc_taken)) {
		dev_warn(&hb->vdev->dev,
			 "/dev/hballoon belongs to another device\n");
		return 0;
	}
	hb->misc.minor = MISC_DYNAMIC_MINOR;
	hb->misc.name = "hballoon";
	hb->misc.fops = &hballoon_fops;
	hb->misc.mode = 0600;
	hb->misc.parent = &hb->vdev->dev;
	err = misc_register(&hb->misc);
	if (err) {
		clear_bit(0, &hballoon_misc_taken);
		return err;
	}
	hb->misc_registered = true;
	return 0;
}

static void hballoon_misc_del(struct hballoon *hb)
{
	if (hb->misc_registered) {
		misc_deregister(&hb->misc);
		hb->misc_registered = false;
		clear_bit(0, &hballoon_misc_taken);
	}
	/* Wait for running ioctls; later ones see @gone. */
	down_write(&hb->ioctl_rwsem);
	hb->gone = true;
	up_write(&hb->ioctl_rwsem);
}

/* Setup and teardown */

static int hballoon_init_vqs(struct hballoon *hb)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 11, 0)
	struct virtqueue_info vqs_info[HBALLOON_NR_VQS] = {
		[HBALLOON_VQ_INFLATE] = { "inflate", hballoon_ack },
		[HBALLOON_VQ_DEFLATE] = { "deflate", hballoon_ack },
		[HBALLOON_VQ_STATS] = { "stats", hballoon_ack },
	};

	return virtio_find_vqs(hb->vdev, HBALLOON_NR_VQS, hb->vqs, vqs_info,
			       NULL);
#else
	vq_callback_t *callbacks[HBALLOON_NR_VQS] = {
		hballoon_ack, hballoon_ack, hballoon_ack
	};
	static const char * const names[HBALLOON_NR_VQS] = {
		[HBALLOON_VQ_INFLATE] = "inflate",
		[HBALLOON_VQ_DEFLATE] = "deflate",
		[HBALLOON_VQ_STATS] = "stats",
	};

	return virtio_find_vqs(hb->vdev, HBALLOON_NR_VQS, hb->vqs, callbacks,
			       names, NULL);
#endif
}

/* Read and check the node layout.  Bad entries are ignored, not used. */
static int hballoon_read_layout(struct hballoon *hb)
{
	struct virtio_device *vdev = hb->vdev;
	u32 num_nodes, guest_node;
	unsigned int i;

	virtio_cread_le(vdev, struct virtio_hballoon_config, num_nodes,
			&num_nodes);
	if (num_nodes > VIRTIO_HBALLOON_MAX_NODES) {
		dev_err(&vdev->dev, "num_nodes %u exceeds %u\n", num_nodes,
			VIRTIO_HBALLOON_MAX_NODES);
		return -EINVAL;
	}
	hb->num_nodes = num_nodes;

	for (i = 0; i < num_nodes; i++) {
		struct hballoon_node *node = &hb->nodes[i];

		node->nid = i;
		node->inflate_after = jiffies;
		node->deflate_after = jiffies;
		node->huge_after = jiffies;
		virtio_cread_le(vdev, struct virtio_hballoon_config,
				nodes[i].guest_node, &guest_node);
		virtio_cread_le(vdev, struct virtio_hballoon_config,
				nodes[i].tier, &node->tier);
		virtio_cread_le(vdev, struct virtio_hballoon_config,
				nodes[i].node_pages, &node->node_pages);
		if (guest_node != i || i >= nr_node_ids ||
		    !node_state(i, N_MEMORY) || !node->node_pages) {
			dev_warn(&vdev->dev,
				 "ignoring config entry %u (guest_node %u, %u pages): not a memory node of this guest\n",
				 i, guest_node, node->node_pages);
			continue;
		}
		node->active = true;
	}
	return 0;
}

static void hballoon_stop_work(struct hballoon *hb)
{
	spin_lock_irq(&hb->stop_lock);
	set_bit(HBALLOON_STOPPING, &hb->flags);
	spin_unlock_irq(&hb->stop_lock);
	cancel_delayed_work_sync(&hb->work);
}

/*
 * Deflate every node through the device if it works, reset the device,
 * delete the queues, and give every page left back to the guest.
 */
static void hballoon_teardown(struct hballoon *hb)
{
	struct virtio_device *vdev = hb->vdev;
	unsigned int i, l;

	for (i = 0; i < hb->num_nodes; i++) {
		while (READ_ONCE(hb->nodes[i].actual_pages)) {
			if (hballoon_deflate(hb, &hb->nodes[i], ULONG_MAX) <= 0)
				break;
			cond_resched();
		}
	}

	/* No queue user is mid-request once we hold every queue mutex. */
	mutex_lock(&hb->inflate_mutex);
	mutex_lock(&hb->deflate_mutex);
	mutex_lock(&hb->stats_mutex);
	set_bit(HBALLOON_NO_VQS, &hb->flags);
	mutex_unlock(&hb->stats_mutex);
	mutex_unlock(&hb->deflate_mutex);
	mutex_unlock(&hb->inflate_mutex);
	wake_up_all(&hb->acked);

	/* After the reset the device no longer touches our pages or buffers. */
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);

	for (i = 0; i < hb->num_nodes; i++)
		hballoon_free_local(hb, &hb->nodes[i], ULONG_MAX);
	for (l = 0; l < HBALLOON_NR_LISTS; l++)
		hballoon_free_list(&hb->limbo[l], hballoon_list_order(l));
}

/* Bring the queues up and start ballooning (probe, restore). */
static int hballoon_start(struct hballoon *hb)
{
	int err;

	err = hballoon_init_vqs(hb);
	if (err)
		return err;
	virtio_device_ready(hb->vdev);
	/* A reset device is not broken. */
	clear_bit(HBALLOON_BROKEN, &hb->flags);
	clear_bit(HBALLOON_STOPPING, &hb->flags);
	clear_bit(HBALLOON_NO_VQS, &hb->flags);
	return 0;
}

static int hballoon_oom_add(struct hballoon *hb)
{
	int err;

	if (!virtio_has_feature(hb->vdev, VIRTIO_HBALLOON_F_DEFLATE_ON_OOM))
		return 0;
	hb->oom_nb.notifier_call = hballoon_oom_notify;
	hb->oom_nb.priority = 80;
	err = register_oom_notifier(&hb->oom_nb);
	if (!err)
		hb->oom_registered = true;
	return err;
}

static void hballoon_oom_del(struct hballoon *hb)
{
	if (hb->oom_registered) {
		unregister_oom_notifier(&hb->oom_nb);
		hb->oom_registered = false;
	}
}

static void hballoon_build_checks(void)
{
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_node_config) !=
		     VIRTIO_HBALLOON_NODE_CONFIG_SIZE);
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_config) !=
		     VIRTIO_HBALLOON_CONFIG_SIZE);
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_req) !=
		     VIRTIO_HBALLOON_REQ_SIZE);
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_resp) !=
		     VIRTIO_HBALLOON_RESP_SIZE);
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_stat) !=
		     VIRTIO_HBALLOON_STAT_SIZE);
	BUILD_BUG_ON(sizeof(struct virtio_hballoon_stats_hdr) !=
		     VIRTIO_HBALLOON_STATS_HDR_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_stats_submit) !=
		     HBALLOON_STATS_SUBMIT_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_node_info) !=
		     HBALLOON_NODE_INFO_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_info) != HBALLOON_INFO_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_raw_req) != HBALLOON_RAW_REQ_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_scan_range) !=
		     HBALLOON_SCAN_RANGE_SIZE);
	BUILD_BUG_ON(sizeof(struct hballoon_scan) != HBALLOON_SCAN_SIZE);
	BUILD_BUG_ON(HBALLOON_SCAN_MAX_PAGES % HBALLOON_SCAN_CHUNK_PAGES);
	/* Bitmaps are arrays of __u64 words, built as unsigned longs. */
	BUILD_BUG_ON(IS_ENABLED(CONFIG_X86_64) &&
		     (BITS_PER_LONG != HBALLOON_SCAN_CHUNK_PAGES ||
		      PAGE_SIZE != 4096));
	BUILD_BUG_ON(sizeof(((struct hballoon_raw_req *)0)->resp) !=
		     VIRTIO_HBALLOON_RESP_SIZE);
	BUILD_BUG_ON(HBALLOON_MAX_NODES != VIRTIO_HBALLOON_MAX_NODES);
	/* The PFNs follow the header in the same descriptor. */
	BUILD_BUG_ON(offsetof(struct hballoon_msg, pfns) !=
		     sizeof(struct virtio_hballoon_req));
	BUILD_BUG_ON(offsetof(struct hballoon_stats_msg, stats) !=
		     sizeof(struct virtio_hballoon_stats_hdr));
	BUILD_BUG_ON(PAGE_SHIFT != VIRTIO_HBALLOON_PFN_SHIFT);
}

static int hballoon_validate(struct virtio_device *vdev)
{
	if (!virtio_has_feature(vdev, VIRTIO_F_VERSION_1)) {
		dev_err(&vdev->dev, "device does not offer VIRTIO_F_VERSION_1\n");
		return -ENODEV;
	}
	return 0;
}

static int hballoon_probe(struct virtio_device *vdev)
{
	struct hballoon *hb;
	unsigned int i, l;
	int err;

	hballoon_build_checks();

	if (!vdev->config->get) {
		dev_err(&vdev->dev, "config space access disabled\n");
		return -EINVAL;
	}

	hb = kzalloc(sizeof(*hb), GFP_KERNEL);
	if (!hb)
		return -ENOMEM;
	hb->vdev = vdev;
	vdev->priv = hb;
	kref_init(&hb->kref);
	init_waitqueue_head(&hb->acked);
	mutex_init(&hb->inflate_mutex);
	mutex_init(&hb->deflate_mutex);
	mutex_init(&hb->stats_mutex);
	mutex_init(&hb->cfg_mutex);
	spin_lock_init(&hb->lists_lock);
	spin_lock_init(&hb->stop_lock);
	init_rwsem(&hb->ioctl_rwsem);
	INIT_DELAYED_WORK(&hb->work, hballoon_work);
	for (l = 0; l < HBALLOON_NR_LISTS; l++) {
		INIT_LIST_HEAD(&hb->limbo[l]);
		for (i = 0; i < VIRTIO_HBALLOON_MAX_NODES; i++)
			INIT_LIST_HEAD(&hb->nodes[i].pages[l]);
	}

	err = hballoon_read_layout(hb);
	if (err)
		goto out_put;

	err = -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(hb->msg); i++)
		hb->msg[i] = kzalloc(sizeof(*hb->msg[i]), GFP_KERNEL);
	hb->stats = kzalloc(sizeof(*hb->stats), GFP_KERNEL);
	if (!hb->msg[HBALLOON_VQ_INFLATE] || !hb->msg[HBALLOON_VQ_DEFLATE] ||
	    !hb->stats)
		goto out_put;
#ifdef HBALLOON_DEBUG
	hb->raw = kzalloc(sizeof(*hb->raw), GFP_KERNEL);
	if (!hb->raw)
		goto out_put;
	dev_warn(&vdev->dev, "debug build: raw requests enabled\n");
#endif

	err = hballoon_start(hb);
	if (err)
		goto out_put;

	err = hballoon_sysfs_add(hb);
	if (err)
		goto out_reset;

	err = hballoon_misc_add(hb);
	if (err)
		goto out_sysfs;

	err = hballoon_oom_add(hb);
	if (err)
		goto out_misc;

	hballoon_kick(hb, 0, true);
	return 0;

out_misc:
	hballoon_misc_del(hb);
out_sysfs:
	hballoon_sysfs_del(hb);
out_reset:
	virtio_reset_device(vdev);
	vdev->config->del_vqs(vdev);
out_put:
	vdev->priv = NULL;
	kref_put(&hb->kref, hballoon_release);
	return err;
}

static void hballoon_remove(struct virtio_device *vdev)
{
	struct hballoon *hb = vdev->priv;

	hballoon_oom_del(hb);
	hballoon_misc_del(hb);
	hballoon_stop_work(hb);
	hballoon_teardown(hb);
	hballoon_sysfs_del(hb);
	vdev->priv = NULL;
	kref_put(&hb->kref, hballoon_release);
}

#ifdef CONFIG_PM_SLEEP
static int hballoon_freeze(struct virtio_device *vdev)
{
	struct hballoon *hb = vdev->priv;

	/* Give everything back; the worker re-inflates after restore. */
	hballoon_oom_del(hb);
	hballoon_stop_work(hb);
	hballoon_teardown(hb);
	return 0;
}

static int hballoon_restore(struct virtio_device *vdev)
{
	struct hballoon *hb = vdev->priv;
	int err;

	err = hballoon_start(hb);
	if (err)
		return err;
	err = hballoon_oom_add(hb);
	if (err)
		dev_warn(&vdev->dev, "no deflate on OOM: %d\n", err);
	hballoon_kick(hb, 0, true);
	return 0;
}
#endif

static unsigned int hballoon_features[] = {
	VIRTIO_HBALLOON_F_DEFLATE_ON_OOM,
};

static const struct virtio_device_id hballoon_id_table[] = {
	{ VIRTIO_ID_HBALLOON, VIRTIO_DEV_ANY_ID },
	{ 0 },
};

static struct virtio_driver hballoon_driver = {
	.feature_table		= hballoon_features,
	.feature_table_size	= ARRAY_SIZE(hballoon_features),
	.driver.name		= KBUILD_MODNAME,
#ifndef register_virtio_driver	/* older kernels: owner set by hand */
	.driver.owner		= THIS_MODULE,
#endif
	.id_table		= hballoon_id_table,
	.validate		= hballoon_validate,
	.probe			= hballoon_probe,
	.remove			= hballoon_remove,
	.config_changed		= hballoon_config_changed,
#ifdef CONFIG_PM_SLEEP
	.freeze			= hballoon_freeze,
	.restore		= hballoon_restore,
#endif
};

module_virtio_driver(hballoon_driver);
MODULE_DEVICE_TABLE(virtio, hballoon_id_table);
MODULE_DESCRIPTION("virtio-hballoon per-NUMA-node balloon driver");
MODULE_LICENSE("GPL");
