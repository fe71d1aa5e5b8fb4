// SPDX-License-Identifier: GPL-2.0
/*
 * scanperm: guest-side test of the per-call permission check of
 * HBALLOON_IOC_SCAN_YOUNG and HBALLOON_IOC_LOCATE
 * (tests/vm/test_scan_perm.py).
 *
 * usage: scanperm [DEVICE [UID]]     (run as root; UID default 65534)
 *
 * Opens DEVICE as root, forks a root process, then drops to UID (all ids,
 * no capabilities) while keeping the fd, and calls both ioctls on: the root
 * child and PID 1 (must fail with EPERM), itself and a dumpable child of
 * its own uid (must work and see the pages), a non-dumpable child of its
 * own uid (EPERM, as ptrace's read check), a reaped pid and a kernel thread
 * (ESRCH).  The same calls on the root child made as root before the drop
 * must work.  Prints one line per result:
 *   check OK|FAIL <name> <value>
 * and "done failures=N"; exit status 0 when every check passed, 2 when it
 * could not run.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/hballoon.h>

#include "check.h"

#define PG		4096UL
#define NPAGES		64
#define KTHREADD_PID	2

static int fd;
static char *buf;

/*
 * One call of @cmd on @pid over the test buffer (the same address in every
 * process of the test: they are forks of one another).  Returns 0 or errno;
 * *present gets the present pages (-1 on error).
 */
static int ioc(unsigned long cmd, pid_t pid, uint32_t flags, long *present)
{
	uint64_t map[NPAGES / 64];
	struct hballoon_scan_range r = {
		.start = (uintptr_t)buf, .len = NPAGES * PG,
		.bitmap_ptr = (uintptr_t)map,
	};
	struct hballoon_scan s = {
		.pid = pid, .flags = flags, .num_ranges = 1,
		.ranges_ptr = (uintptr_t)&r,
	};

	*present = -1;
	if (cmd == HBALLOON_IOC_LOCATE) {
		/* Any online node: the count of present pages is node-blind. */
		s.node = 0;
	}
	if (ioctl(fd, cmd, &s))
		return errno;
	*present = r.present_pages;
	return 0;
}

static void touch(void)
{
	size_t i;

	for (i = 0; i < NPAGES; i++)
		buf[i * PG] = (char)i;
}

/*
 * Forks a child that makes the test buffer its own (writes every page),
 * sets its dumpability to @dumpable, says so on a pipe and waits for EOF on
 * another.  Returns the pid; *release is the write end that ends it.
 */
static pid_t spawn(int dumpable, int *release)
{
	int ready[2], hold[2];
	pid_t pid;
	char c;

	if (pipe(ready) || pipe(hold)) {
		perror("pipe");
		exit(2);
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		exit(2);
	}
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		touch();
		if (dumpable >= 0 && prctl(PR_SET_DUMPABLE, dumpable))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		while (read(hold[0], &c, 1) > 0)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "scanperm: child %d did not start\n", pid);
		exit(2);
	}
	close(ready[0]);
	*release = hold[1];
	return pid;
}

static void reap(pid_t pid, int release)
{
	int status;

	close(release);
	waitpid(pid, &status, 0);
}

/* Both ioctls on @pid must give @want (and, when 0, every page present). */
static void expect(const char *who, pid_t pid, int want)
{
	static const struct {
		const char *name;
		unsigned long cmd;
		uint32_t flags;
	} calls[] = {
		{ "scan_young", HBALLOON_IOC_SCAN_YOUNG, 0 },
		{ "scan_young_noclear", HBALLOON_IOC_SCAN_YOUNG,
		  HBALLOON_SCAN_F_NO_CLEAR },
		{ "locate", HBALLOON_IOC_LOCATE, 0 },
	};
	char name[128];
	unsigned int i;
	long present;
	int err;

	for (i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		err = ioc(calls[i].cmd, pid, calls[i].flags, &present);
		snprintf(name, sizeof(name), "%s_%s_%s", who, calls[i].name,
			 want ? strerror(want) : "works");
		for (char *p = name; *p; p++)
			if (*p == ' ')
				*p = '_';
		check(err == want && (want || present == NPAGES), name,
		      "err=%d(%s) present=%ld", err, err ? strerror(err) : "ok",
		      present);
	}
}

int main(int argc, char **argv)
{
	const char *dev = argc > 1 ? argv[1] : "/dev/hballoon";
	uid_t uid = argc > 2 ? (uid_t)strtoul(argv[2], NULL, 0) : 65534;
	int root_release, rel, fd2;
	pid_t root_child, child, gone;

	if (geteuid() != 0 || uid == 0) {
		fprintf(stderr, "scanperm: run as root with a non-zero UID\n");
		return 2;
	}
	buf = mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	/* 4 KiB pages: a THP would be counted the same, but keep it simple. */
	madvise(buf, NPAGES * PG, MADV_NOHUGEPAGE);
	touch();
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		perror(dev);
		return 2;
	}

	root_child = spawn(-1, &root_release);
	/* Root (CAP_SYS_PTRACE) may read any process. */
	expect("root_on_root_child", root_child, 0);

	/* A pid that surely exists no more: a reaped child of ours. */
	child = spawn(-1, &rel);
	reap(child, rel);
	gone = child;

	if (setgroups(0, NULL) || setresgid(uid, uid, uid) ||
	    setresuid(uid, uid, uid)) {
		perror("dropping privileges");
		return 2;
	}
	check(getuid() == uid && geteuid() == uid, "dropped_to_uid",
	      "uid=%u euid=%u", getuid(), geteuid());
	fd2 = open(dev, O_RDWR);
	check(fd2 < 0, "open_after_drop_fails", "fd=%d errno=%d", fd2,
	      fd2 < 0 ? errno : 0);
	if (fd2 >= 0)
		close(fd2);

	/* The kept fd must not reach processes the caller could not ptrace. */
	expect("unpriv_on_root_child", root_child, EPERM);
	expect("unpriv_on_init", 1, EPERM);

	/* Its own pages: always. */
	expect("unpriv_on_self", getpid(), 0);

	/*
	 * Another process of the same uid: as ptrace's read check, if it is
	 * dumpable.  setresuid() above made this process (and so its forks)
	 * non-dumpable.
	 */
	if (prctl(PR_SET_DUMPABLE, 1))
		perror("PR_SET_DUMPABLE");
	child = spawn(1, &rel);
	expect("unpriv_on_same_uid_child", child, 0);
	reap(child, rel);
	child = spawn(0, &rel);
	expect("unpriv_on_nondumpable_same_uid_child", child, EPERM);
	reap(child, rel);

	/* No process, or no memory map: ESRCH as before. */
	expect("unpriv_on_reaped_pid", gone, ESRCH);
	expect("unpriv_on_kthreadd", KTHREADD_PID, ESRCH);

	reap(root_child, root_release);
	printf("done failures=%d\n", failures);
	return failures ? 1 : 0;
}
