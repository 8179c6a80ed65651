/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * signal.c - udax_handle_fault and udax_set_fault_chaining: for programs
 * and runtimes that own SIGSEGV (JVMs, sanitizers, crash reporters) and
 * give udax first look at each fault, as signal-chaining libraries do.
 */
#include <errno.h>
#include <stdatomic.h>

#include "api.h"

static atomic_bool chaining;

int udax_handle_fault(int sig, siginfo_t *info, void *ucontext)
{
	/* No DAX_API_ENTER: this is the fault path, not a call into udax. */
	return dax_vm_handle_fault(sig, info, ucontext) ? 1 : 0;
}

int udax_set_fault_chaining(int on)
{
	DAX_API_ENTER();
	atomic_store(&chaining, on != 0);
	return 0;
}

/* May udax_mmap() go ahead with SIGSEGV handled by someone else? */
bool dax_api_chaining(void)
{
	return atomic_load(&chaining);
}
