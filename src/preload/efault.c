/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * efault.c - host system calls given a buffer inside a udax mapping.
 *
 * The kernel cannot fault udax pages in: read(2) from a pipe into a
 * mapping, or write(2) from one to a socket, fails with EFAULT where a
 * page is not mapped yet (udax.h, "System calls"). Here read, write,
 * readv, writev, send, sendto, sendmsg, recv, recvfrom and recvmsg on a
 * host descriptor that fail with EFAULT are run again through
 * udax_retry_efault(), which prefaults the buffer first. A buffer that is
 * not udax's keeps its EFAULT. Nothing here allocates: these run from
 * signal handlers too.
 */
#include "preload.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct pl_call {
	int fd;
	void *buf;
	size_t len;
	int flags;
	const struct iovec *iov;
	int cnt;
	const struct msghdr *msg;
	struct sockaddr *addr;
	socklen_t alen;
	socklen_t *alenp;
	int op;
};

enum {
	OP_READ,
	OP_WRITE,
	OP_READV,
	OP_WRITEV,
	OP_SEND,
	OP_SENDTO,
	OP_RECV,
	OP_RECVFROM,
	OP_SENDMSG,
	OP_RECVMSG
};

static ssize_t run(void *arg)
{
	struct pl_call *c = arg;

	switch (c->op) {
	case OP_READ:
		return PL_REAL(read)(c->fd, c->buf, c->len);
	case OP_WRITE:
		return PL_REAL(write)(c->fd, c->buf, c->len);
	case OP_READV:
		return PL_REAL(readv)(c->fd, c->iov, c->cnt);
	case OP_WRITEV:
		return PL_REAL(writev)(c->fd, c->iov, c->cnt);
	case OP_SEND:
		return PL_REAL(send)(c->fd, c->buf, c->len, c->flags);
	case OP_SENDTO:
		return PL_REAL(sendto)(c->fd, c->buf, c->len, c->flags, c->addr,
				       c->alen);
	case OP_RECV:
		return PL_REAL(recv)(c->fd, c->buf, c->len, c->flags);
	case OP_RECVFROM:
		return PL_REAL(recvfrom)(c->fd, c->buf, c->len, c->flags,
					 c->addr, c->alenp);
	case OP_SENDMSG:
		return PL_REAL(sendmsg)(c->fd, c->msg, c->flags);
	case OP_RECVMSG:
		return PL_REAL(recvmsg)(c->fd, (struct msghdr *)c->msg,
					c->flags);
	}
	return -1;
}

/* After an EFAULT: one buffer through udax_retry_efault. */
static ssize_t retry_one(struct pl_call *c, bool store)
{
	ssize_t r;

	if (atomic_load(&pl_forked))
		return pl_err(-EFAULT);
	r = udax_retry_efault(run, c, c->buf, c->len, store);
	if (r < -1) /* the prefault's -errno: not udax's, or beyond EOF */
		return pl_err(-EFAULT);
	return r;
}

/* After an EFAULT: every buffer of a vector prefaulted, then again. */
static ssize_t retry_vec(struct pl_call *c, const struct iovec *iov, int cnt,
			 bool store)
{
	ssize_t r = -1;

	if (atomic_load(&pl_forked) || cnt <= 0)
		return pl_err(-EFAULT);
	for (int tries = 0; tries < 16; tries++) {
		bool any = false;

		for (int i = 0; i < cnt; i++)
			if (iov[i].iov_len &&
			    !udax_prefault(iov[i].iov_base, iov[i].iov_len,
					   store))
				any = true;
		if (!any)
			return pl_err(-EFAULT);
		r = run(c);
		if (!(r == -1 && errno == EFAULT))
			return r;
	}
	return r;
}

#define PL_EFAULT(c, expr)                                                     \
	({                                                                     \
		ssize_t pl_r = run(c);                                         \
		if (pl_r == -1 && errno == EFAULT)                             \
			pl_r = (expr);                                         \
		pl_r;                                                          \
	})

ssize_t pl_host_read(int fd, void *buf, size_t len)
{
	struct pl_call c = {.op = OP_READ, .fd = fd, .buf = buf, .len = len};

	return PL_EFAULT(&c, retry_one(&c, true));
}

ssize_t pl_host_write(int fd, const void *buf, size_t len)
{
	struct pl_call c = {
	    .op = OP_WRITE, .fd = fd, .buf = (void *)buf, .len = len};

	return PL_EFAULT(&c, retry_one(&c, false));
}

ssize_t pl_host_readv(int fd, const struct iovec *iov, int cnt)
{
	struct pl_call c = {.op = OP_READV, .fd = fd, .iov = iov, .cnt = cnt};

	return PL_EFAULT(&c, retry_vec(&c, iov, cnt, true));
}

ssize_t pl_host_writev(int fd, const struct iovec *iov, int cnt)
{
	struct pl_call c = {.op = OP_WRITEV, .fd = fd, .iov = iov, .cnt = cnt};

	return PL_EFAULT(&c, retry_vec(&c, iov, cnt, false));
}

/* Sockets are never pool descriptors: only the EFAULT retry here. */

PL_EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	struct pl_call c = {.op = OP_SEND,
			    .fd = fd,
			    .buf = (void *)buf,
			    .len = len,
			    .flags = flags};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(&c, retry_one(&c, false));
}

PL_EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	struct pl_call c = {.op = OP_SENDTO,
			    .fd = fd,
			    .buf = (void *)buf,
			    .len = len,
			    .flags = flags,
			    .addr = (struct sockaddr *)addr,
			    .alen = alen};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(&c, retry_one(&c, false));
}

PL_EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	struct pl_call c = {
	    .op = OP_RECV, .fd = fd, .buf = buf, .len = len, .flags = flags};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(&c, retry_one(&c, true));
}

PL_EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags,
			   struct sockaddr *addr, socklen_t *alenp)
{
	struct pl_call c = {.op = OP_RECVFROM,
			    .fd = fd,
			    .buf = buf,
			    .len = len,
			    .flags = flags,
			    .addr = addr,
			    .alenp = alenp};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(&c, retry_one(&c, true));
}

PL_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct pl_call c = {
	    .op = OP_SENDMSG, .fd = fd, .msg = msg, .flags = flags};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(
	    &c, retry_vec(&c, msg->msg_iov, (int)msg->msg_iovlen, false));
}

PL_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct pl_call c = {
	    .op = OP_RECVMSG, .fd = fd, .msg = msg, .flags = flags};

	if (pl_fd_is_pool(fd))
		return pl_err(-ENOTSOCK);
	return PL_EFAULT(
	    &c, retry_vec(&c, msg->msg_iov, (int)msg->msg_iovlen, true));
}
