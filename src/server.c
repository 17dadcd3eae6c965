/* tcp_server and tcp_bind (AnyEvent::Socket 7.17 _tcp_bind/tcp_server):
 * bind + listen synchronously, then an accept loop on one ev_io. */
#include "internal.h"

#include <ev.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdbool.h>
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

/* The bound socket before it is handed to the op or the caller. */
typedef struct bound {
    int fd;
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
    bool cancelled;
    bound file;                /* unix socket file to remove on cancel */
} server;

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

/* A unix path may be replaced only when it is a socket: 7.17 unlinks
 * whatever is there, which can delete a user's file. */
static int clear_unix_path(const char *path)
{
    struct stat st;

    if (lstat(path, &st) < 0)
        return 0;   /* nothing there, or bind reports the real problem */
    if (!S_ISSOCK(st.st_mode))
        return ANYSOCK_ENOTSOCK;
    if (unlink(path) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

/* socket, options, bind, prepare_cb, listen. On error nothing is left:
 * the fd is closed and a socket file we created is removed. */
static int do_bind(anysock_ctx *ctx, const char *host, const char *service,
                   anysock_listen_prepare_cb prepare_cb, void *data,
                   bound *out)
{
    anysock_addr addr;
    anysock_sockaddr sa;
    uint16_t port = 0;
    bool dual = false;
    bool is_unix;
    int fd = -1, rc, backlog = 0;
    struct stat st;
    bound b;

    memset(&b, 0, sizeof b);
    b.fd = -1;
    *out = b;   /* defined even on failure: callers never read garbage */
    if (host == NULL) {
        /* Beyond 7.17: one dual-stack socket for IPv4 and IPv6. */
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
        memcpy(b.path, service, plen + 1);
    } else {
        rc = parse_service(service, &port);
        if (rc < 0)
            return rc;
    }

    for (;;) {
        if (!is_unix)
            (void)anysock_pack_sockaddr(&addr, port, NULL, 0, &sa);
        fd = anysock__socket(addr.family, SOCK_STREAM, 0);
        if (fd == -EAFNOSUPPORT && dual) {
            /* no IPv6 on this host: plain IPv4 wildcard */
            addr.family = AF_INET;
            dual = false;
            continue;
        }
        if (fd < 0)
            return fd;
        break;
    }
    b.fd = fd;

    if (!is_unix) {
        if ((rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0)
            goto fail;
        if ((ctx->server_flags & ANYSOCK_SERVER_REUSEPORT) &&
            (rc = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1)) < 0)
            goto fail;
        if (dual && (rc = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)) < 0)
            goto fail;
    } else if ((rc = clear_unix_path(b.path)) < 0) {
        goto fail;
    }

    if (bind(fd, &sa.u.sa, sa.len) < 0) {
        rc = -errno;
        goto fail;
    }
    if (is_unix && lstat(b.path, &st) == 0) {
        b.has_path = true;
        b.dev = st.st_dev;
        b.ino = st.st_ino;
        b.mtime = st.st_mtim;
    }

    if (prepare_cb != NULL) {
        anysock_sockaddr bsa;
        char text[ANYSOCK_ADDRESS_STRLEN];
        unsigned bport;

        bsa.len = sizeof bsa.u;
        if (getsockname(fd, &bsa.u.sa, &bsa.len) < 0) {
            rc = -errno;
            goto fail;
        }
        describe(&bsa.u.sa, bsa.len, text, &bport);
        backlog = prepare_cb(data, fd, text, bport);
    }
    /* 7.17 uses 128; the kernel's cap lets bursts queue instead of being
     * dropped (and it is clamped to net.core.somaxconn anyway). */
    if (backlog <= 0)
        backlog = SOMAXCONN;
    if (listen(fd, backlog) < 0) {
        rc = -errno;
        goto fail;
    }
    *out = b;
    return 0;

fail:
    unlink_if_ours(&b);
    anysock__close(fd);
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
    int cfd, lost = 0;

    (void)revents;
    s->busy++;
    while (!s->cancelled) {
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

static server *server_new(anysock_ctx *ctx, const bound *b)
{
    server *s = anysock__calloc(1, sizeof *s);

    if (s == NULL)
        return NULL;
    s->op.cancel = server_cancel;
    s->fd = -1;
    s->reserve = -1;
    s->file = *b;
    s->file.fd = -1;
    ev_io_init(&s->io, server_io_cb, -1, EV_READ);
    ev_timer_init(&s->pause, server_pause_cb, EMFILE_PAUSE, 0.);
    (void)ctx;
    return s;
}

int anysock_tcp_server(anysock_ctx *ctx, const char *host,
                       const char *service, anysock_accept_cb accept_cb,
                       anysock_listen_prepare_cb prepare_cb, void *data,
                       anysock_guard **guard)
{
    bound b;
    server *s;
    int rc;

    if (ctx == NULL || accept_cb == NULL)
        return -EINVAL;
    rc = do_bind(ctx, host, service, prepare_cb, data, &b);
    if (rc < 0)
        return rc;
    s = server_new(ctx, &b);
    if (s == NULL) {
        unlink_if_ours(&b);
        anysock__close(b.fd);
        return -ENOMEM;
    }
    s->op.kind = ANYSOCK__OP_SERVER;   /* anysock_ctx_stats.servers */
    s->accept_cb = accept_cb;
    s->data = data;
    s->fd = b.fd;
    s->reserve = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (s->reserve < 0)
        s->reserve = -1;   /* EMFILE then falls back to pausing */
    ev_io_set(&s->io, s->fd, EV_READ);
    ev_io_start(ctx->loop, &s->io);
    anysock__op_link(ctx, &s->op);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&s->op;
    return 0;
}

int anysock_tcp_bind(anysock_ctx *ctx, const char *host, const char *service,
                     anysock_listen_prepare_cb prepare_cb, void *data,
                     int *fd, anysock_guard **guard)
{
    bound b;
    server *s = NULL;
    int rc;

    if (ctx == NULL || fd == NULL)
        return -EINVAL;
    rc = do_bind(ctx, host, service, prepare_cb, data, &b);
    if (rc < 0)
        return rc;
    if (guard != NULL) {
        /* The op only remembers the unix path; the fd is the caller's. */
        s = server_new(ctx, &b);
        if (s == NULL) {
            unlink_if_ours(&b);
            anysock__close(b.fd);
            return -ENOMEM;
        }
        anysock__op_link(ctx, &s->op);
        *guard = (anysock_guard *)(void *)&s->op;
    }
    *fd = b.fd;
    return 0;
}
