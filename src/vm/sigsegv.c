/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sigsegv.c - the one SIGSEGV handler: turns an access to a region page
 * that is not (or not writably) mapped into a call to the fault engine,
 * like the kernel's page fault path.
 *
 * @r is the region found for the faulting address. The handler:
 *  1. finds @r under RCU, without a lock (an address that is not udax's
 *     goes to the handler the application had installed before, or gets
 *     the default action: a genuine segmentation fault);
 *  2. learns read or write from the fault context (x86-64: bit 1 of the
 *     page-fault error code; elsewhere a present read-only page means a
 *     write, an absent page is first faulted for reading and a write then
 *     faults once more);
 *  3. calls dax_mkwrite() for a store to a clean block in a shared region,
 *     dax_fault() otherwise, with 2 MiB order when the aligned 2 MiB
 *     around the address lies inside @r;
 *  4. returns, and the access is retried; or, if the engine said SIGBUS
 *     (beyond EOF, no space, I/O error, out of memory or mappings), queues
 *     SIGBUS (BUS_ADRERR, si_addr) to the thread, which the kernel delivers
 *     as the handler returns, as it would for a DAX file.
 *
 * Rules this relies on: udax never touches udax mappings while holding a
 * lock (the I/O paths bounce or prefault), and the handler only takes
 * locks that are never held by code that can be interrupted by a fault on
 * a udax page. The first fault on a thread registers it with liburcu
 * (which takes liburcu's registry mutex): harmless for a synchronous fault
 * unless the application faults on a udax page from inside liburcu.
 */
#define _GNU_SOURCE /* REG_ERR */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "vm.h"
#include "../index/rcu.h"

static struct sigaction previous;
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static int install_error;

/* Is the fault described by @uctx a write? */
static bool fault_is_write(void *uctx, struct dax_region *r, uint64_t i)
{
#if defined(__x86_64__)
	ucontext_t *uc = uctx;

	(void)r;
	(void)i;
	return uc->uc_mcontext.gregs[REG_ERR] & 0x2;
#else
	uint8_t s = atomic_load(&r->pte[i]) & DAX_PTE_STATE_MASK;

	(void)uctx;
	return s == DAX_PTE_ZERO || s == DAX_PTE_RO;
#endif
}

/*
 * Can the fault at region page @i be served by a 2 MiB mapping? The
 * aligned 2 MiB of address space around it must lie inside @r, and
 * virtual and file pages must agree modulo 512 so that it holds one
 * aligned 2 MiB of the file.
 */
static bool huge_ok(struct dax_region *r, uint64_t i)
{
	uint64_t base = (uintptr_t)r->addr >> DAX_PAGE_SHIFT;
	uint64_t vh = (base + i) & ~(DAX_PMD_NR - 1);

	if ((base - r->pgoff) % DAX_PMD_NR)
		return false;
	return vh >= base && vh - base + DAX_PMD_NR <= r->nr_pages;
}

/*
 * dax_vm_fault() - resolve an access to @addr inside @r.
 * Context: any thread, in or out of the signal handler; no udax lock held.
 * Return: 0 (access again), -EACCES (the region does not allow it: a
 * genuine segmentation fault), -EFAULT (SIGBUS), -ENOMEM (SIGBUS too).
 */
int dax_vm_fault(struct dax_region *r, const void *addr, bool write)
{
	uint64_t i = (uint64_t)((const char *)addr - r->addr) >>
		     DAX_PAGE_SHIFT;
	struct dax_vmf vmf;
	uint8_t s;
	int ret;

	if (i >= r->nr_pages)
		return -EFAULT;
	if (write ? !(r->prot & PROT_WRITE) : !(r->prot & PROT_READ))
		return -EACCES;
	atomic_fetch_add_explicit(&r->faults, 1, memory_order_relaxed);
	vmf.region = r;
	vmf.index = r->pgoff + i;
	vmf.flags = (write ? DAX_VMF_WRITE : 0) |
		    ((r->flags & DAX_REGION_SHARED) ? DAX_VMF_SHARED : 0) |
		    ((r->flags & DAX_REGION_SYNC) ? DAX_VMF_SYNC : 0);
	/* A store where the last write span ended: a sequential writer. */
	if (write && atomic_load_explicit(&r->next_write,
					  memory_order_relaxed) == i + 1)
		vmf.flags |= DAX_VMF_SEQ;
	s = atomic_load_explicit(&r->pte[i], memory_order_relaxed);
	if (write && (r->flags & DAX_REGION_SHARED) &&
	    (s & DAX_PTE_STATE_MASK) == DAX_PTE_RO)
		ret = dax_mkwrite(r->vf->fmap, &vmf,
				  (s & DAX_PTE_HUGE) ? DAX_PMD_ORDER : 0);
	else if (write && (s & DAX_PTE_STATE_MASK) == DAX_PTE_RW)
		ret = DAX_FAULT_DONE; /* raced with another fault: retry */
	else
		ret = dax_fault(r->vf->fmap, &vmf,
				huge_ok(r, i) ? DAX_PMD_ORDER : 0);
	if (ret & DAX_FAULT_OOM) {
		atomic_fetch_add_explicit(&r->sigbus, 1, memory_order_relaxed);
		return -ENOMEM;
	}
	if (ret & DAX_FAULT_SIGBUS) {
		atomic_fetch_add_explicit(&r->sigbus, 1, memory_order_relaxed);
		return -EFAULT;
	}
	return 0;
}

/* Hand a fault that is not ours to whoever had SIGSEGV before us. */
static void chain(int sig, siginfo_t *si, void *uctx)
{
	if (previous.sa_flags & SA_SIGINFO) {
		previous.sa_sigaction(sig, si, uctx);
		return;
	}
	if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
		previous.sa_handler(sig);
		return;
	}
	/* Default action: let the access fault again, unhandled. */
	signal(SIGSEGV, SIG_DFL);
}

static void raise_sigbus(void *addr)
{
	siginfo_t info;

	memset(&info, 0, sizeof(info));
	info.si_signo = SIGBUS;
	info.si_code = BUS_ADRERR;
	info.si_addr = addr;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), (pid_t)syscall(SYS_gettid),
		SIGBUS, &info);
}

volatile int dax_vm_forked;
__thread int dax_vm_depth;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

/* One line on stderr, async-signal-safe. */
static void say(const char *msg)
{
	ssize_t n = write(STDERR_FILENO, msg, strlen(msg));

	(void)n;
}

atomic_long dax_vm_live; /* open pools + regions */

static void fork_child(void)
{
	/*
	 * A child of a process with no pool open and no mapping left has no
	 * udax state to misuse: it may open pools of its own.
	 */
	if (atomic_load_explicit(&dax_vm_live, memory_order_relaxed) > 0)
		dax_vm_forked = 1;
}

static void fork_guard_install(void)
{
	pthread_atfork(NULL, NULL, fork_child);
}

/*
 * dax_vm_fork_guard_init() - from the first pool or mapping on: a forked
 * child is marked, so that it never runs the parent's engine or
 * filesystem (copies of them, with locks maybe held by threads that do
 * not exist in the child, and an allocator that would hand out the
 * parent's blocks again).
 */
void dax_vm_fork_guard_init(void)
{
	pthread_once(&fork_once, fork_guard_install);
}

/*
 * Is @addr on a udax region? In a forked child without RCU (one thread:
 * nothing is freed there, and liburcu's state is the parent's); else
 * under a read-side critical section (they nest) if the thread is
 * registered: a thread inside udax is.
 */
static bool is_udax_addr(const void *addr)
{
	bool hit;

	if (dax_vm_forked || !dax_rcu_thread_registered)
		return dax_vm_forked && dax_vm_find(addr) != NULL;
	urcu_memb_read_lock();
	hit = dax_vm_find(addr) != NULL;
	urcu_memb_read_unlock();
	return hit;
}

/*
 * dax_vm_handle_fault() - the fault handler's work: true if @si was a
 * fault on a udax page, served (the access is retried) or turned into a
 * SIGBUS queued to the thread; false if it is not udax's.
 * Context: the SIGSEGV handler, or an application's handler chaining to
 * udax (udax_handle_fault).
 */
bool dax_vm_handle_fault(int sig, siginfo_t *si, void *uctx)
{
	struct dax_region *r;
	int err = 0;

	if (sig != SIGSEGV || !si)
		return false;
	if (dax_vm_forked || dax_vm_depth > 0) {
		/* Not served here: the engine must not run (see vm.h). */
		if (!is_udax_addr(si->si_addr))
			return false;
		say(dax_vm_forked
			    ? "udax: fault on a udax page in a forked child: "
			      "SIGBUS (only pages mapped before fork are usable "
			      "there)\n"
			    : "udax: fault on a udax page while this thread is "
			      "inside udax (from a signal handler?): SIGBUS\n");
		raise_sigbus(si->si_addr);
		return true;
	}
	dax_vm_depth++;
	dax_rcu_read_lock();
	r = dax_vm_find(si->si_addr);
	if (r) {
		uint64_t i = (uint64_t)((char *)si->si_addr - r->addr) >>
			     DAX_PAGE_SHIFT;

		err = dax_vm_fault(r, si->si_addr,
				   fault_is_write(uctx, r, i));
	}
	dax_rcu_read_unlock();
	dax_vm_depth--;
	if (!r || err == -EACCES)
		return false;
	if (err)
		raise_sigbus(si->si_addr);
	return true;
}

static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	int saved_errno = errno;

	if (!dax_vm_handle_fault(sig, si, uctx))
		chain(sig, si, uctx);
	errno = saved_errno;
}

/* Is SIGSEGV still handled by udax's handler? */
bool dax_vm_handler_installed(void)
{
	struct sigaction cur;

	if (sigaction(SIGSEGV, NULL, &cur))
		return false;
	return (cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == segv_handler;
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = segv_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/*
	 * Block SIGBUS while we run: the SIGBUS we queue is then delivered
	 * after we return, in the context of the faulting access, as the
	 * kernel's is. Unblocked, it would run nested in this handler, and a
	 * handler that jumps out of it (siglongjmp) would leave SIGSEGV
	 * blocked for good.
	 */
	sigaddset(&sa.sa_mask, SIGBUS);
	if (sigaction(SIGSEGV, &sa, &previous))
		install_error = -errno;
}

/*
 * dax_vm_init() - install the SIGSEGV handler, once per process. The
 * handler the application had installed before keeps every fault that is
 * not on a udax region; install yours before the first udax_mmap().
 * Return: 0 or -errno.
 */
int dax_vm_init(void)
{
	dax_vm_fork_guard_init();
	pthread_once(&install_once, install);
	return install_error;
}
