/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* version.c - udax_version(). */
#include <udax/udax.h>

int udax_version(void)
{
	return UDAX_VERSION_MAJOR * 10000 + UDAX_VERSION_MINOR * 100 +
	       UDAX_VERSION_PATCH;
}
