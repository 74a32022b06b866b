#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <spawn.h>
#include <openssl/ssl.h>
#include "CGangerShims.h"

int ganger_epoll_create1(int flags) { return epoll_create1(flags); }

int ganger_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t data) {
    struct epoll_event ev = {.events = events, .data = {.u64 = data}};
    return epoll_ctl(epfd, op, fd, &ev);
}

int ganger_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout) {
    return epoll_wait(epfd, events, maxevents, timeout);
}

ssize_t ganger_splice(int fd_in, int fd_out, size_t len, unsigned int flags) {
    return splice(fd_in, NULL, fd_out, NULL, len, flags);
}

int ganger_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    return accept4(fd, addr, len, flags);
}

int ganger_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }
int ganger_spawn_addclosefrom(posix_spawn_file_actions_t *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np(actions, from);
}
int ganger_tls_ctx_min_tls12(SSL_CTX *ctx) { return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
long ganger_tls_set_partial_write(SSL *ssl) {
    return SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}
int ganger_tls_set_sni(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
int ganger_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }
int ganger_get_pipe_size(int fd) { return fcntl(fd, F_GETPIPE_SZ); }
int ganger_bytes_queued(int fd) { int n = 0; return ioctl(fd, FIONREAD, &n) == 0 ? n : -1; }
int ganger_eventfd(unsigned int initval, int flags) { return eventfd(initval, flags); }
int ganger_signalfd(int fd, const sigset_t *mask, int flags) { return signalfd(fd, mask, flags); }

size_t ganger_cmsg_space(size_t length) { return CMSG_SPACE(length); }
size_t ganger_cmsg_len(size_t length) { return CMSG_LEN(length); }
struct cmsghdr *ganger_cmsg_firsthdr(struct msghdr *message) { return CMSG_FIRSTHDR(message); }
struct cmsghdr *ganger_cmsg_nxthdr(struct msghdr *message, struct cmsghdr *header) { return CMSG_NXTHDR(message, header); }
unsigned char *ganger_cmsg_data(struct cmsghdr *header) { return CMSG_DATA(header); }
int ganger_peer_credentials(int fd, uid_t *uid, pid_t *pid) {
    struct ucred cred; socklen_t length = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
    *uid = cred.uid; *pid = cred.pid; return 0;
}

const uint32_t GANGER_EPOLLIN = EPOLLIN, GANGER_EPOLLOUT = EPOLLOUT, GANGER_EPOLLRDHUP = EPOLLRDHUP,
    GANGER_EPOLLHUP = EPOLLHUP, GANGER_EPOLLERR = EPOLLERR, GANGER_EPOLLET = EPOLLET;
const int GANGER_EPOLL_CTL_ADD = EPOLL_CTL_ADD, GANGER_EPOLL_CTL_MOD = EPOLL_CTL_MOD,
    GANGER_EPOLL_CTL_DEL = EPOLL_CTL_DEL, GANGER_EPOLL_CLOEXEC = EPOLL_CLOEXEC;
const unsigned int GANGER_SPLICE_F_MOVE = SPLICE_F_MOVE, GANGER_SPLICE_F_NONBLOCK = SPLICE_F_NONBLOCK;
const int GANGER_SOCK_STREAM = SOCK_STREAM, GANGER_SOCK_NONBLOCK = SOCK_NONBLOCK,
    GANGER_SOCK_CLOEXEC = SOCK_CLOEXEC;
const int GANGER_O_NONBLOCK = O_NONBLOCK, GANGER_O_CLOEXEC = O_CLOEXEC;
const int GANGER_EFD_NONBLOCK = EFD_NONBLOCK, GANGER_EFD_CLOEXEC = EFD_CLOEXEC,
    GANGER_SFD_NONBLOCK = SFD_NONBLOCK, GANGER_SFD_CLOEXEC = SFD_CLOEXEC;
const int GANGER_MSG_NOSIGNAL = MSG_NOSIGNAL;
const int GANGER_SOCK_SEQPACKET = SOCK_SEQPACKET, GANGER_MSG_CMSG_CLOEXEC = MSG_CMSG_CLOEXEC,
    GANGER_SCM_RIGHTS = SCM_RIGHTS, GANGER_MSG_TRUNC = MSG_TRUNC, GANGER_MSG_CTRUNC = MSG_CTRUNC;
