/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * udax.h - the public interface of udax, Linux DAX (direct access) in user
 * space. Every function returns 0 (or a byte count where it says so) on
 * success and a negative errno value on failure.
 *
 * The pool, file and mapping calls arrive with the filesystem and the
 * user-mode MMU; this header is their home.
 */
#ifndef UDAX_UDAX_H
#define UDAX_UDAX_H

#ifdef __cplusplus
extern "C" {
#endif

#define UDAX_VERSION_MAJOR 0
#define UDAX_VERSION_MINOR 1
#define UDAX_VERSION_PATCH 0

/*
 * udax_version() - the version of the library actually loaded, as
 * MAJOR * 10000 + MINOR * 100 + PATCH (compare with the macros above to
 * detect a header/library mismatch).
 */
int udax_version(void);

#ifdef __cplusplus
}
#endif

#endif /* UDAX_UDAX_H */
