// Forwarders for Linux calls that Swift's Glibc module does not export (they live behind
// _GNU_SOURCE or in headers the module map leaves out). One line each; no logic belongs here.
#ifndef CGANGER_SHIMS_H
#define CGANGER_SHIMS_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <signal.h>
#include <spawn.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

// epoll_event is packed on x86_64 (12 bytes): Swift must see the same layout the kernel writes.
#if defined(__x86_64__)
_Static_assert(sizeof(struct epoll_event) == 12, "epoll_event must be packed on x86_64");
#endif
_Static_assert(sizeof(struct signalfd_siginfo) == 128, "signalfd_siginfo is 128 bytes");

int ganger_epoll_create1(int flags);
int ganger_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data);
int ganger_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout);

/// splice(2) between a socket and a pipe; both offsets NULL (neither end is seekable).
ssize_t ganger_splice(int fd_in, int fd_out, size_t len, unsigned int flags);
int ganger_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);
int ganger_pipe2(int fds[2], int flags);
/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes every fd >= from.
int ganger_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from);
/// OpenSSL macros, as functions: SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION),
/// SSL_set_mode(ssl, ENABLE_PARTIAL_WRITE | ACCEPT_MOVING_WRITE_BUFFER), SSL_set_tlsext_host_name.
int ganger_tls_ctx_min_tls12(SSL_CTX *ctx);
long ganger_tls_set_partial_write(SSL *ssl);
int ganger_tls_set_sni(SSL *ssl, const char *name);
/// fcntl(F_SETPIPE_SZ); returns the size the kernel granted, or -1.
int ganger_set_pipe_size(int fd, int size);
/// fcntl(F_GETPIPE_SZ).
int ganger_get_pipe_size(int fd);
/// ioctl(FIONREAD): bytes waiting to be read (a pipe, a socket), or -1.
int ganger_bytes_queued(int fd);
int ganger_eventfd(unsigned int initval, int flags);
int ganger_signalfd(int fd, const sigset_t *mask, int flags);
/// The CMSG_* macros (descriptor passing with SCM_RIGHTS), as functions.
size_t ganger_cmsg_space(size_t length);
size_t ganger_cmsg_len(size_t length);
struct cmsghdr *ganger_cmsg_firsthdr(struct msghdr *message);
struct cmsghdr *ganger_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header);
unsigned char *ganger_cmsg_data(struct cmsghdr *header);
/// getsockopt(SO_PEERCRED): the peer's uid and pid on a unix socket.
int ganger_peer_credentials(int fd, uid_t *uid, pid_t *pid);

extern const uint32_t GANGER_EPOLLIN, GANGER_EPOLLOUT, GANGER_EPOLLRDHUP, GANGER_EPOLLHUP,
    GANGER_EPOLLERR, GANGER_EPOLLET;
extern const int GANGER_EPOLL_CTL_ADD, GANGER_EPOLL_CTL_MOD, GANGER_EPOLL_CTL_DEL,
    GANGER_EPOLL_CLOEXEC;
extern const unsigned int GANGER_SPLICE_F_MOVE, GANGER_SPLICE_F_NONBLOCK;
extern const int GANGER_SOCK_STREAM, GANGER_SOCK_NONBLOCK, GANGER_SOCK_CLOEXEC;
extern const int GANGER_O_NONBLOCK, GANGER_O_CLOEXEC;
extern const int GANGER_EFD_NONBLOCK, GANGER_EFD_CLOEXEC, GANGER_SFD_NONBLOCK, GANGER_SFD_CLOEXEC;
extern const int GANGER_MSG_NOSIGNAL;
extern const int GANGER_SOCK_SEQPACKET, GANGER_MSG_CMSG_CLOEXEC, GANGER_SCM_RIGHTS, GANGER_MSG_TRUNC,
    GANGER_MSG_CTRUNC;

#endif
