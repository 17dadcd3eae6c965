/* tcp_server and tcp_bind (AnyEvent::Socket 7.17 _tcp_bind/tcp_server):
 * bind + listen synchronously, then an accept loop on one ev_io; the
 * _ex variants with listener options, adoption of listening fds, and
 * systemd's socket-activation protocol. */
#include "internal.h"

#include <ev.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* While fds are exhausted and the reserve trick cannot help (ENFILE, or
 * the reserve could not be reopened), the listener sleeps this long
 * instead of spinning on a readable socket it cannot accept from. */
#define EMFILE_PAUSE 0.1

/* "Connection lost" errors in a row, in one wake-up, after which the
 * listener pauses too: an LSM denies accept() before the queue is looked
 * at (security_socket_accept), so the error repeats for ever while the
 * socket stays readable and the loop would never get control back. */
#define LOST_RUN_MAX 16

/* Accepts per wake-up: under a connect flood the listener stays readable,
 * and without a bound every other watcher would starve (nginx accepts one
 * by default, Node a bounded batch). The ev_io is level-triggered, so
 * what is left is picked up on the next loop iteration. */
#define ACCEPT_BUDGET 64

/* The bound socket's unix file, to remove on cancel if still ours. */
typedef struct bound {
    bool has_path;
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
} bound;

typedef struct server {
    anysock__op op;            /* first: the guard points here */
    anysock_accept_cb accept_cb;
    void *data;
    ev_io io;
    ev_timer pause;            /* EMFILE/ENFILE back-off */
    int fd;                    /* listener; -1 for tcp_bind (caller's) */
    int reserve;               /* spare fd given up on EMFILE, or -1 */
    int busy;                  /* depth of user callbacks on the stack */
    int budget;                /* accepts per wake-up */
    bool cancelled;
    bound file;                /* unix socket file to remove on cancel */
} server;

/* The options every set-up path uses, the caller's copied honouring
 * its size (fields beyond it keep their defaults). */
typedef struct sopts {
    unsigned flags;
    int backlog, fastopen_qlen, defer_accept, accept_budget;
} sopts;

static int copy_opts(const anysock_ctx *ctx, const anysock_server_opts *o,
                     sopts *out)
{
    anysock_server_opts full;

    anysock_server_opts_init(&full);
    if (o != NULL) {
        if (o->size < sizeof o->size)
            return -EINVAL;
        /* a newer caller's extra fields are beyond what we know */
        memcpy(&full, o, o->size < sizeof full ? o->size : sizeof full);
        full.size = sizeof full;
    }
    if (full.backlog < 0 || full.fastopen_qlen < 0 ||
        full.defer_accept < 0 || full.accept_budget < 0 ||
        (full.flags & ~(ANYSOCK_SERVER_REUSEPORT | ANYSOCK_LISTEN_MPTCP |
                        ANYSOCK_LISTEN_V6ONLY)) != 0)
        return -EINVAL;
    out->flags = full.flags | (ctx != NULL ? ctx->server_flags : 0);
    out->backlog = full.backlog;
    out->fastopen_qlen = full.fastopen_qlen;
    out->defer_accept = full.defer_accept;
    out->accept_budget =
        full.accept_budget > 0 ? full.accept_budget : ACCEPT_BUDGET;
    return 0;
}

void anysock_server_opts_init(anysock_server_opts *o)
{
    memset(o, 0, sizeof *o);
    o->size = sizeof *o;
}

/* Port number, service name (tcp) or NULL/""/"0" for an ephemeral port. */
static int parse_service(const char *service, uint16_t *port)
{
    unsigned long v = 0;
    const char *p;
    struct servent se, *res = NULL;
    char buf[1024];

    if (service == NULL || *service == '\0') {
        *port = 0;
        return 0;
    }
    for (p = service; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > 65535)
            return ANYSOCK_ESERVICE;
    }
    if (*p == '\0') {
        *port = (uint16_t)v;
        return 0;
    }
    if (getservbyname_r(service, "tcp", &se, buf, sizeof buf, &res) != 0 ||
        res == NULL)
        return ANYSOCK_ESERVICE;
    *port = ntohs((uint16_t)res->s_port);
    return 0;
}

/* Remove the socket file only if it is still the one we bound: another
 * process may have replaced it since. 7.17 compares the inode only, but
 * file systems reuse a freed inode number at once, so the creation mtime
 * (which chmod does not touch) must match too. */
static void unlink_if_ours(const bound *b)
{
    struct stat st;

    if (b->has_path && lstat(b->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
        st.st_dev == b->dev && st.st_ino == b->ino &&
        st.st_mtim.tv_sec == b->mtime.tv_sec &&
        st.st_mtim.tv_nsec == b->mtime.tv_nsec)
        (void)unlink(b->path);
}

/* Text and port of a bound or peer address, formatted on the stack. */
static void describe(const struct sockaddr *sa, socklen_t len,
                     char host[ANYSOCK_ADDRESS_STRLEN], unsigned *port)
{
    anysock_addr a;
    uint16_t p = 0;

    *port = 0;
    if (anysock_unpack_sockaddr(sa, len, &a, &p, NULL, NULL) < 0 ||
        anysock_format_address(&a, host, ANYSOCK_ADDRESS_STRLEN) < 0) {
        /* unnamed unix peers (socketpair-like clients) land here */
        memcpy(host, "unix/", 6);
        return;
    }
    *port = p;
}

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno
                                                                 : 0;
}

/* Who is behind an existing socket file? A live server answers a
 * connect() (or has a full backlog: EAGAIN; or is not a stream socket:
 * EPROTOTYPE); a dead one's file refuses. 7.17 unlinks it either way,
 * silently stealing the path from a running server. */
static int probe_unix(const anysock_sockaddr *sa)
{
    int fd = anysock__socket(AF_UNIX, SOCK_STREAM, 0), rc;

    if (fd < 0)
        return fd;
    do
        rc = connect(fd, &sa->u.sa, sa->len) < 0 ? -errno : 0;
    while (rc == -EINTR);
    anysock__close(fd);
    if (rc == 0 || rc == -EAGAIN || rc == -EINPROGRESS ||
        rc == -EPROTOTYPE)
        return -EADDRINUSE;
    if (rc == -ECONNREFUSED || rc == -ENOENT)
        return 0;   /* stale, or gone since lstat */
    return rc;      /* EACCES...: we could not remove it either */
}

/* A unix path may be replaced only when it is a socket nobody serves:
 * 7.17 unlinks whatever is there, which can delete a user's file. */
static int clear_unix_path(const char *path, const anysock_sockaddr *sa)
{
    struct stat st;
    int rc;

    if (lstat(path, &st) < 0)
        return 0;   /* nothing there, or bind reports the real problem */
    if (!S_ISSOCK(st.st_mode))
        return ANYSOCK_ENOTSOCK;
    if ((rc = probe_unix(sa)) < 0)
        return rc;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* A listening-side TCP socket with its pre-bind options. An MPTCP socket
 * that refuses one of them (older kernels lack TCP_FASTOPEN or
 * TCP_DEFER_ACCEPT there) is replaced by plain TCP: fallback, not
 * failure, as for a kernel without MPTCP. */
static int tcp_listener(int family, const sopts *o, bool v6only_set,
                        int v6only)
{
    int fd, rc, mp;

    fd = anysock__tcp_socket(family, (o->flags & ANYSOCK_LISTEN_MPTCP) != 0,
                             &mp);
    for (;;) {
        if (fd < 0)
            return fd;
        rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
        if (rc == 0 && (o->flags & ANYSOCK_SERVER_REUSEPORT))
            rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
        if (rc == 0 && v6only_set)
            rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, v6only);
        if (rc == 0 && o->fastopen_qlen > 0)
            rc = set_int(fd, IPPROTO_TCP, TCP_FASTOPEN, o->fastopen_qlen);
        if (rc == 0 && o->defer_accept > 0)
            rc = set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT,
                         o->defer_accept);
        if (rc == 0)
            return fd;
        anysock__close(fd);
        if (!mp || (rc != -EOPNOTSUPP && rc != -ENOPROTOOPT))
            return rc;
        mp = 0;
        fd = anysock__socket(family, SOCK_STREAM, 0);
    }
}

/* socket, options, bind, prepare_cb, listen, with s already linked to
 * ctx so that anysock_ctx_free from inside prepare_cb cancels it (then
 * -ECANCELED, and ctx must not be touched again). On error nothing is
 * left: the fd is closed and a socket file we created is removed. On
 * success *fd is the listening socket. */
static int do_bind(anysock_ctx *ctx, server *s, const char *host,
                   const char *service, const sopts *o,
                   anysock_listen_prepare_cb prepare_cb, void *data, int *fd)
{
    anysock_addr addr;
    anysock_sockaddr sa;
    uint16_t port = 0;
    bool dual = false, v6only_set = false, abstract = false;
    bool is_unix;
    int rc, backlog = 0, v6only = 0;
    struct stat st;
    bound *b = &s->file;

    *fd = -1;
    if (host == NULL) {
        /* Beyond 7.17: one dual-stack socket for IPv4 and IPv6, or an
         * IPv6-only one when the preference allows only IPv6. */
        memset(&addr, 0, sizeof addr);
        addr.family = ctx->pref_ipv6 > 0 ? AF_INET6 : AF_INET;
        dual = addr.family == AF_INET6;
    } else if (anysock_parse_address(host, strlen(host), &addr) < 0) {
        return -EINVAL;
    }
    is_unix = addr.family == AF_UNIX;
    if (is_unix) {
        size_t plen;

        if (service == NULL || *service == '\0')
            return -EINVAL;
        plen = strlen(service);
        rc = anysock_pack_sockaddr(&addr, 0, service, plen, &sa);
        if (rc < 0)
            return rc;
        /* an abstract name has no file: nothing to clear or remove */
        abstract = service[0] == '@';
        if (!abstract)
            memcpy(b->path, service, plen + 1);
    } else {
        rc = parse_service(service, &port);
        if (rc < 0)
            return rc;
    }

    for (;;) {
        if (addr.family == AF_INET6) {
            /* Say it explicitly: the system default (bindv6only) varies */
            v6only_set = true;
            v6only = (o->flags & ANYSOCK_LISTEN_V6ONLY) ||
                     (dual && ctx->pref_ipv4 <= 0);
        }
        if (is_unix) {
            s->fd = anysock__socket(AF_UNIX, SOCK_STREAM, 0);
        } else {
            (void)anysock_pack_sockaddr(&addr, port, NULL, 0, &sa);
            s->fd = tcp_listener(addr.family, o, v6only_set, v6only);
        }
        if (s->fd == -EAFNOSUPPORT && dual && ctx->pref_ipv4 > 0) {
            /* no IPv6 on this host: plain IPv4 wildcard */
            addr.family = AF_INET;
            dual = v6only_set = false;
            continue;
        }
        if (s->fd < 0) {
            rc = s->fd;
            s->fd = -1;
            return rc;
        }
        break;
    }

    if (is_unix && !abstract && (rc = clear_unix_path(b->path, &sa)) < 0)
        goto fail;

    if (bind(s->fd, &sa.u.sa, sa.len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (is_unix && !abstract && lstat(b->path, &st) == 0) {
        b->has_path = true;
        b->dev = st.st_dev;
        b->ino = st.st_ino;
        b->mtime = st.st_mtim;
    }

    if (prepare_cb != NULL) {
        anysock_sockaddr bsa;
        char text[ANYSOCK_ADDRESS_STRLEN];
        unsigned bport;

        bsa.len = sizeof bsa.u;
        if (getsockname(s->fd, &bsa.u.sa, &bsa.len) < 0) {
            rc = -errno;
            goto fail;
        }
        describe(&bsa.u.sa, bsa.len, text, &bport);
        s->busy++;
        backlog = prepare_cb(data, s->fd, text, bport);
        s->busy--;
        /* anysock_ctx_free inside prepare_cb: the cancel has already
         * closed the fd and removed the file; ctx is gone. */
        if (s->cancelled)
            return -ECANCELED;
    }
    if (backlog <= 0)
        backlog = o->backlog;
    /* 7.17 uses 128; the kernel's cap lets bursts queue instead of being
     * dropped (and it is clamped to net.core.somaxconn anyway). */
    if (backlog <= 0)
        backlog = SOMAXCONN;
    if (listen(s->fd, backlog) < 0) {
        rc = -errno;
        goto fail;
    }
    *fd = s->fd;
    return 0;

fail:
    unlink_if_ours(b);
    b->has_path = false;
    anysock__close(s->fd);
    s->fd = -1;
    return rc;
}

static void server_free(server *s)
{
    if (s->reserve >= 0)
        anysock__close(s->reserve);
    anysock__free(s);
}

static void server_cancel(anysock__op *op)
{
    server *s = (server *)(void *)op;
    struct ev_loop *loop = s->op.ctx->loop;

    if (s->cancelled)
        return;
    ev_io_stop(loop, &s->io);
    ev_timer_stop(loop, &s->pause);
    if (s->fd >= 0)
        anysock__close(s->fd);
    s->fd = -1;
    unlink_if_ours(&s->file);
    s->file.has_path = false;
    anysock__op_unlink(op);
    s->cancelled = true;
    if (s->busy == 0)
        server_free(s);
}

/* Stop the watcher for EMFILE_PAUSE: the listener stays readable while
 * the error lasts, so retrying at once would spin. */
static void pause_accepting(server *s, struct ev_loop *loop)
{
    ev_io_stop(loop, &s->io);
    ev_timer_set(&s->pause, EMFILE_PAUSE, 0.);
    ev_timer_start(loop, &s->pause);
}

/* Out of fds: give up the reserve so one accept can succeed, drop the
 * pending connections (their clients see a reset instead of a hang), then
 * take the reserve back. If that is impossible, pause the watcher. */
static void shed_load(server *s, struct ev_loop *loop)
{
    int cfd;

    if (s->reserve >= 0) {
        anysock__close(s->reserve);
        s->reserve = -1;
        while ((cfd = anysock__accept(s->fd, NULL, NULL)) >= 0)
            anysock__close(cfd);
        s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (s->reserve >= 0 && cfd == -EAGAIN)
            return;
        if (s->reserve < 0)
            s->reserve = -1;
    }
    pause_accepting(s, loop);
}

static void server_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    server *s = anysock__container_of(w, server, io);
    anysock_sockaddr peer;
    char host[ANYSOCK_ADDRESS_STRLEN];
    unsigned port;
    int cfd, lost = 0, left = s->budget;

    (void)revents;
    s->busy++;
    while (!s->cancelled && left-- > 0) {
        peer.len = sizeof peer.u;
        cfd = anysock__accept(s->fd, &peer.u.sa, &peer.len);
        if (cfd >= 0) {
            lost = 0;
            describe(&peer.u.sa, peer.len, host, &port);
            s->accept_cb(s->data, 0, cfd, host, port);
            continue;
        }
        if (cfd == -EAGAIN || cfd == -EWOULDBLOCK)
            break;
        if (cfd == -EMFILE || cfd == -ENFILE) {
            /* Linux reports EMFILE before looking at the queue, so it
             * says nothing about pending connections: shed them (the
             * queue is then empty) and wait for the next wake-up. */
            shed_load(s, loop);
            s->accept_cb(s->data, cfd, -1, NULL, 0);
            break;
        }
        /* ENOBUFS, ENOMEM, ...: the listener itself is in trouble; one
         * lost connection (aborted, firewalled): go on, unless they keep
         * coming (LOST_RUN_MAX) */
        if ((cfd != -ECONNABORTED && cfd != -EPROTO && cfd != -EPERM) ||
            ++lost >= LOST_RUN_MAX) {
            pause_accepting(s, loop);
            s->accept_cb(s->data, cfd, -1, NULL, 0);
            break;
        }
        s->accept_cb(s->data, cfd, -1, NULL, 0);
    }
    if (--s->busy == 0 && s->cancelled)
        server_free(s);
}

static void server_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    server *s = anysock__container_of(w, server, pause);

    (void)revents;
    if (s->reserve < 0)
        s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->reserve < 0)
        s->reserve = -1;
    ev_io_start(loop, &s->io);
    /* Let the io watcher find pending connections itself. */
}

/* Allocated and linked before the socket exists, so a ctx_free during
 * set-up (from prepare_cb) finds and cancels it. */
static server *server_new(anysock_ctx *ctx, uint8_t kind)
{
    server *s = anysock__calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->op.cancel = server_cancel;
    s->op.kind = kind;
    s->fd = -1;
    s->reserve = -1;
    ev_io_init(&s->io, server_io_cb, -1, EV_READ);
    ev_timer_init(&s->pause, server_pause_cb, EMFILE_PAUSE, 0.);
    anysock__op_link(ctx, &s->op);
    return s;
}

/* Set-up failed (not cancelled): unlink and free; nothing is open. */
static void server_discard(server *s)
{
    anysock__op_unlink(&s->op);
    server_free(s);
}

/* Start accepting on s->fd. */
static void server_start(anysock_ctx *ctx, server *s, const sopts *o,
                         anysock_accept_cb accept_cb, void *data)
{
    s->accept_cb = accept_cb;
    s->data = data;
    s->budget = o->accept_budget;
    s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->reserve < 0)
        s->reserve = -1;   /* EMFILE then falls back to pausing */
    ev_io_set(&s->io, s->fd, EV_READ);
    ev_io_start(ctx->loop, &s->io);
}

int anysock_tcp_server_ex(anysock_ctx *ctx, const char *host,
                          const char *service,
                          const anysock_server_opts *opts,
                          anysock_accept_cb accept_cb,
                          anysock_listen_prepare_cb prepare_cb, void *data,
                          anysock_guard **guard)
{
    sopts o;
    server *s;
    int rc, fd;

    if (ctx == NULL || accept_cb == NULL)
        return -EINVAL;
    if ((rc = copy_opts(ctx, opts, &o)) < 0)
        return rc;
    if ((s = server_new(ctx, ANYSOCK__OP_SERVER)) == NULL)
        return -ENOMEM;
    rc = do_bind(ctx, s, host, service, &o, prepare_cb, data, &fd);
    if (rc == -ECANCELED) {
        server_free(s);   /* already unlinked and closed; ctx is gone */
        return rc;
    }
    if (rc < 0) {
        server_discard(s);
        return rc;
    }
    server_start(ctx, s, &o, accept_cb, data);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&s->op;
    return 0;
}

int anysock_tcp_server(anysock_ctx *ctx, const char *host,
                       const char *service, anysock_accept_cb accept_cb,
                       anysock_listen_prepare_cb prepare_cb, void *data,
                       anysock_guard **guard)
{
    return anysock_tcp_server_ex(ctx, host, service, NULL, accept_cb,
                                 prepare_cb, data, guard);
}

int anysock_tcp_bind_ex(anysock_ctx *ctx, const char *host,
                        const char *service, const anysock_server_opts *opts,
                        anysock_listen_prepare_cb prepare_cb, void *data,
                        int *fd, anysock_guard **guard)
{
    sopts o;
    server *s;
    int rc, lfd;

    if (ctx == NULL || fd == NULL)
        return -EINVAL;
    if ((rc = copy_opts(ctx, opts, &o)) < 0)
        return rc;
    if ((s = server_new(ctx, ANYSOCK__OP_BIND)) == NULL)
        return -ENOMEM;
    rc = do_bind(ctx, s, host, service, &o, prepare_cb, data, &lfd);
    if (rc == -ECANCELED) {
        server_free(s);
        return rc;
    }
    if (rc < 0) {
        server_discard(s);
        return rc;
    }
    /* The fd is the caller's; the op only remembers the unix path. */
    s->fd = -1;
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&s->op;
    else
        server_discard(s);   /* the file stays, as documented */
    *fd = lfd;
    return 0;
}

int anysock_tcp_bind(anysock_ctx *ctx, const char *host, const char *service,
                     anysock_listen_prepare_cb prepare_cb, void *data,
                     int *fd, anysock_guard **guard)
{
    return anysock_tcp_bind_ex(ctx, host, service, NULL, prepare_cb, data,
                               fd, guard);
}

/* A listening stream socket? 0, -EBADF, -ENOTSOCK, -EPROTOTYPE (not a
 * stream socket) or -EINVAL (not listening). */
static int check_listener(int fd)
{
    struct stat st;
    int v = 0;
    socklen_t len = sizeof v;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISSOCK(st.st_mode))
        return -ENOTSOCK;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0)
        return -errno;
    if (v != SOCK_STREAM)
        return -EPROTOTYPE;
    len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0)
        return -errno;
    return v ? 0 : -EINVAL;
}

/* Every fd is non-blocking and close-on-exec, adopted ones too. */
static int make_ours(int fd)
{
    int fl = fcntl(fd, F_GETFL), fdf = fcntl(fd, F_GETFD);

    if (fl < 0 || fdf < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, fdf | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int anysock_tcp_server_adopt(anysock_ctx *ctx, int fd,
                             const anysock_server_opts *opts,
                             anysock_accept_cb accept_cb, void *data,
                             anysock_guard **guard)
{
    anysock_sockaddr sa;
    sopts o;
    server *s;
    int rc;

    if (ctx == NULL || accept_cb == NULL || fd < 0)
        return -EINVAL;
    if ((rc = copy_opts(ctx, opts, &o)) < 0)
        return rc;
    if ((rc = check_listener(fd)) < 0 || (rc = make_ours(fd)) < 0)
        return rc;
    sa.len = sizeof sa.u;
    if (getsockname(fd, &sa.u.sa, &sa.len) < 0)
        return -errno;
    /* These two work on a socket that already listens (TCP only). */
    if (sa.u.sa.sa_family != AF_UNIX) {
        if (o.fastopen_qlen > 0 &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_FASTOPEN,
                          o.fastopen_qlen)) < 0)
            return rc;
        if (o.defer_accept > 0 &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT,
                          o.defer_accept)) < 0)
            return rc;
    }
    if ((s = server_new(ctx, ANYSOCK__OP_SERVER)) == NULL)
        return -ENOMEM;
    s->fd = fd;
    server_start(ctx, s, &o, accept_cb, data);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&s->op;
    return 0;
}

/* A decimal int in [0, INT_MAX], the whole string. */
static int parse_uint(const char *s, long *out)
{
    long v = 0;

    if (s == NULL || *s == '\0')
        return -EINVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

/* sd_listen_fds(3)'s rules: LISTEN_PID must be this process (else the
 * variables were meant for another one, e.g. a parent: 0 fds); the fds
 * start at 3 (SD_LISTEN_FDS_START). */
int anysock_listen_fds(int unset_env, int *fds, const char **names,
                       size_t max)
{
    const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
    const char *snames = getenv("LISTEN_FDNAMES");
    long pid, n = 0;
    int rc = 0;

    if (spid == NULL || sfds == NULL)
        goto out;
    if (parse_uint(spid, &pid) < 0 || pid == 0 ||
        parse_uint(sfds, &n) < 0 || n > INT_MAX - 3) {
        rc = -EINVAL;
        goto out;
    }
    if ((pid_t)pid != getpid()) {
        n = 0;
        goto out;
    }
    for (long i = 0; i < n; i++) {
        int fd = 3 + (int)i;

        if ((rc = check_listener(fd)) < 0 || (rc = make_ours(fd)) < 0)
            goto out;
        if ((size_t)i >= max)
            continue;
        if (fds != NULL)
            fds[i] = fd;
        if (names != NULL) {
            /* entry i of "a:b:c", ending at ':' or the end */
            const char *p = snames;

            for (long k = 0; p != NULL && k < i; k++) {
                p = strchr(p, ':');
                if (p != NULL)
                    p++;
            }
            names[i] = p != NULL && *p != '\0' && *p != ':' ? p
                                                             : "unknown";
        }
    }
    rc = (int)n;
out:
    if (unset_env) {
        /* as sd_listen_fds(1): children must not see them */
        (void)unsetenv("LISTEN_PID");
        (void)unsetenv("LISTEN_FDS");
        (void)unsetenv("LISTEN_FDNAMES");
    }
    return rc;
}
