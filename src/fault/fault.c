/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fault.c - the entry point the VM calls for a fault of either size.
 */
#include "fault.h"

/*
 * dax_fault() - resolve a fault at @vmf, trying a 2 MiB mapping first
 * when @order is DAX_PMD_ORDER (the VM asks only when the aligned 2 MiB
 * around the address lies inside the region), else or on fallback 4 KiB.
 * Context: as dax_pte_fault().
 * Return: DAX_FAULT_* bits (never FALLBACK).
 */
int dax_fault(struct dax_fmap *f, const struct dax_vmf *vmf,
	      unsigned int order)
{
	if (order == DAX_PMD_ORDER) {
		int ret = dax_pmd_fault(f, vmf);

		if (!(ret & DAX_FAULT_FALLBACK))
			return ret;
	}
	return dax_pte_fault(f, vmf);
}
