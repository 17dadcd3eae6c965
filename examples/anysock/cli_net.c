/* anysock connect / anysock listen: tcp_connect and tcp_server on the
 * command line (contract: shared CLI.md). */
#include <anysock.h>
#include <ev.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define BUFSZ 65536

/* Write everything to a blocking-or-not fd (stdout), waiting if needed. */
static int write_all(int fd, const char *p, size_t n)
{
    fd_set ws;

    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            FD_ZERO(&ws);
            FD_SET(fd, &ws);
            (void)select(fd + 1, NULL, &ws, NULL, NULL);
        } else if (w < 0 && errno != EINTR) {
            return -errno;
        }
    }
    return 0;
}

/* ---- connect ------------------------------------------------------------ */

typedef struct client {
    struct ev_loop *loop;
    const char *service;     /* printed as the PORT of a unix socket */
    double timeout;
    int fd;
    int status;              /* exit status once done */
    bool stdin_eof;
    ev_io in_w;              /* stdin readable */
    ev_io sock_r;            /* socket readable */
    ev_io sock_w;            /* socket writable (pending output) */
    size_t len, off;         /* pending stdin bytes in buf */
    char buf[BUFSZ];
} client;

static void client_end(client *c, int status)
{
    c->status = status;
    ev_io_stop(c->loop, &c->in_w);
    ev_io_stop(c->loop, &c->sock_r);
    ev_io_stop(c->loop, &c->sock_w);
    ev_break(c->loop, EVBREAK_ALL);
}

/* Push buffered stdin bytes; returns false when the socket is full. */
static bool client_flush(client *c)
{
    while (c->off < c->len) {
        ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off,
                         MSG_NOSIGNAL);

        if (w > 0) {
            c->off += (size_t)w;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return false;
        } else if (errno != EINTR) {
            fprintf(stderr, "%s\n", anysock_strerror(-errno));
            client_end(c, 1);
            return false;
        }
    }
    c->off = c->len = 0;
    if (c->stdin_eof)
        (void)shutdown(c->fd, SHUT_WR);
    return true;
}

static void client_in_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    client *c = w->data;
    ssize_t r = read(STDIN_FILENO, c->buf, sizeof c->buf);

    (void)revents;
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        ev_io_stop(loop, w);
        c->stdin_eof = true;
        (void)client_flush(c);
        return;
    }
    c->len = (size_t)r;
    c->off = 0;
    if (!client_flush(c) && c->off < c->len) {
        ev_io_stop(loop, w);
        ev_io_start(loop, &c->sock_w);
    }
}

static void client_sock_w_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    client *c = w->data;

    (void)revents;
    if (client_flush(c)) {
        ev_io_stop(loop, w);
        if (!c->stdin_eof)
            ev_io_start(loop, &c->in_w);
    }
}

static void client_sock_r_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    client *c = w->data;
    char buf[BUFSZ];
    ssize_t r = read(c->fd, buf, sizeof buf);

    (void)loop;
    (void)revents;
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r == 0) {
        client_end(c, 0);     /* the peer closed: done */
    } else if (r < 0) {
        fprintf(stderr, "%s\n", anysock_strerror(-errno));
        client_end(c, 1);
    } else if (write_all(STDOUT_FILENO, buf, (size_t)r) < 0) {
        client_end(c, 1);
    }
}

static double client_prepare(void *data, int fd)
{
    client *c = data;

    (void)fd;
    return c->timeout;
}

static void client_connected(void *data, int status, int fd,
                             const char *host, unsigned port)
{
    client *c = data;

    if (status < 0) {
        fprintf(stderr, "%s\n", anysock_strerror(status));
        client_end(c, 1);
        return;
    }
    /* unix/ has no port: the path stands in for it, as listen prints */
    if (strcmp(host, "unix/") == 0)
        fprintf(stderr, "connected unix/ %s\n", c->service);
    else
        fprintf(stderr, "connected %s %u\n", host, port);
    c->fd = fd;
    ev_io_init(&c->in_w, client_in_cb, STDIN_FILENO, EV_READ);
    ev_io_init(&c->sock_r, client_sock_r_cb, fd, EV_READ);
    ev_io_init(&c->sock_w, client_sock_w_cb, fd, EV_WRITE);
    c->in_w.data = c->sock_r.data = c->sock_w.data = c;
    ev_io_start(c->loop, &c->in_w);
    ev_io_start(c->loop, &c->sock_r);
}

static const char *fam_name(int family)
{
    return family == AF_INET ? "inet" : family == AF_INET6 ? "inet6"
           : family == AF_UNIX ? "unix" : "-";
}

static const char *phase_name(int phase)
{
    switch (phase) {
    case ANYSOCK_PHASE_RESOLVE: return "resolve";
    case ANYSOCK_PHASE_SOCKET: return "socket";
    case ANYSOCK_PHASE_PREPARE: return "timeout";
    case ANYSOCK_PHASE_CONNECT: return "connect";
    case ANYSOCK_PHASE_DEADLINE: return "deadline";
    case ANYSOCK_PHASE_CANCEL: return "cancel";
    case ANYSOCK_PHASE_WON: return "won";
    default: return "-";
    }
}

/* -v: one line per event on stderr, "+SECONDS EVENT ...":
 *   +0.001 answer inet 2            (a family answered, 2 addresses)
 *   +0.001 answer inet6 0 REASON    (that family failed)
 *   +0.002 start inet 127.0.0.1 80
 *   +0.003 fail inet 127.0.0.1 80 connect REASON
 *   +0.004 won inet6 ::1 80
 *   +0.004 transport inet6 ::1 80 mptcp|tcp */
static void client_trace(void *data, const anysock_trace *ev)
{
    const anysock_attempt *a = ev->attempt;
    char host[ANYSOCK_ADDRESS_STRLEN] = "-";

    (void)data;
    if (a != NULL && a->addr.family != 0 &&
        anysock_format_address(&a->addr, host, sizeof host) < 0)
        memcpy(host, "?", 2);
    switch (ev->event) {
    case ANYSOCK_TRACE_ANSWER:
        if (ev->status < 0)
            fprintf(stderr, "+%.3f answer %s %zu %s\n", ev->elapsed,
                    fam_name(ev->family), ev->count,
                    anysock_strerror(ev->status));
        else
            fprintf(stderr, "+%.3f answer %s %zu\n", ev->elapsed,
                    fam_name(ev->family), ev->count);
        break;
    case ANYSOCK_TRACE_ATTEMPT_START:
        fprintf(stderr, "+%.3f start %s %s %u\n", ev->elapsed,
                fam_name(a->family), host, (unsigned)a->port);
        break;
    case ANYSOCK_TRACE_ATTEMPT_FAIL:
        fprintf(stderr, "+%.3f fail %s %s %u %s %s\n", ev->elapsed,
                fam_name(a->family), host, (unsigned)a->port,
                phase_name(a->phase), anysock_strerror(ev->status));
        break;
    case ANYSOCK_TRACE_ATTEMPT_WON:
        fprintf(stderr, "+%.3f won %s %s %u\n", ev->elapsed,
                fam_name(a->family), host, (unsigned)a->port);
        break;
    case ANYSOCK_TRACE_TRANSPORT:
        fprintf(stderr, "+%.3f transport %s %s %u %s\n", ev->elapsed,
                fam_name(a->family), host, (unsigned)a->port,
                ev->status ? "mptcp" : "tcp");
        break;
    default:
        break;
    }
}

/* SECONDS for the Happy Eyeballs options: finite, >= 0. */
static bool parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !(v >= 0.) || v > 86400.)
        return false;
    *out = v;
    return true;
}

/* connect's transport options (CLI.md). Returns 1 when argv[*i] was one
 * (and consumed its value), 0 when it is not, -1 for a bad value. */
static int transport_flag(int argc, char **argv, int *i,
                          anysock_connect_opts *o)
{
    const char *a = argv[*i], *v = *i + 1 < argc ? argv[*i + 1] : NULL;
    char *end;
    long n;

    if (strcmp(a, "--mptcp") == 0) {
        o->flags |= ANYSOCK_CONNECT_MPTCP;
        return 1;
    }
    if (strcmp(a, "--fastopen") == 0) {
        o->flags |= ANYSOCK_CONNECT_FASTOPEN;
        return 1;
    }
    if (strcmp(a, "--keepalive") != 0 && strcmp(a, "--user-timeout") != 0 &&
        strcmp(a, "--bind") != 0 && strcmp(a, "--interface") != 0)
        return 0;
    if (v == NULL)
        return -1;
    ++*i;
    if (strcmp(a, "--bind") == 0) {
        o->bind_addr = v;
    } else if (strcmp(a, "--interface") == 0) {
        o->interface = v;
    } else if (strcmp(a, "--user-timeout") == 0) {
        n = strtol(v, &end, 10);
        if (*end != '\0' || end == v || n <= 0 || n > 0x7fffffffL)
            return -1;
        o->user_timeout_ms = (unsigned)n;
    } else {
        /* IDLE,INTVL,CNT */
        int *f[3] = {&o->keepidle, &o->keepintvl, &o->keepcnt};

        for (int k = 0; k < 3; k++) {
            n = strtol(v, &end, 10);
            if (end == v || n <= 0 || n > 32767 ||
                *end != (k < 2 ? ',' : '\0'))
                return -1;
            *f[k] = (int)n;
            v = end + 1;
        }
        o->keepalive = 1;
    }
    return 1;
}

int cli_connect(int argc, char **argv)
{
    anysock_connect_opts opts;
    anysock_config cfg;
    anysock_ctx *ctx = NULL;
    anysock_guard *guard = NULL;
    client *c;
    int i, rc, status;
    char *end;

    c = calloc(1, sizeof *c);
    if (c == NULL)
        return 1;
    c->fd = -1;
    c->status = 1;
    anysock_config_init(&cfg);
    anysock_connect_opts_init(&opts);
    for (i = 0; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--deadline") == 0 && i + 1 < argc) {
            if (!parse_seconds(argv[++i], &opts.deadline))
                goto usage;
        } else if (strcmp(argv[i], "--resolution-delay") == 0 &&
                   i + 1 < argc) {
            if (!parse_seconds(argv[++i], &opts.resolution_delay))
                goto usage;
        } else if (strcmp(argv[i], "--attempt-delay") == 0 && i + 1 < argc) {
            if (!parse_seconds(argv[++i], &opts.attempt_delay))
                goto usage;
        } else if (strcmp(argv[i], "-v") == 0) {
            opts.trace = client_trace;
            opts.trace_data = c;
        } else if (strcmp(argv[i], "-4") == 0) {
            cfg.protocols = "ipv4";
        } else if (strcmp(argv[i], "-6") == 0) {
            cfg.protocols = "ipv6";
        } else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc) {
            c->timeout = strtod(argv[++i], &end);
            if (*end != '\0' || !(c->timeout >= 0.))
                goto usage;
        } else if ((rc = transport_flag(argc, argv, &i, &opts)) != 0) {
            if (rc < 0)
                goto usage;
        } else {
            goto usage;
        }
    }
    if (argc - i != 2)
        goto usage;

    c->service = argv[i + 1];
    signal(SIGPIPE, SIG_IGN);
    c->loop = ev_default_loop(0);
    rc = anysock_ctx_new(c->loop, &cfg, &ctx);
    if (rc == 0)
        rc = anysock_tcp_connect_ex(ctx, argv[i], argv[i + 1], &opts,
                                    client_connected, client_prepare, c,
                                    &guard);
    if (rc < 0) {
        fprintf(stderr, "%s\n", anysock_strerror(rc));
        anysock_ctx_free(ctx);
        free(c);
        return 1;
    }
    ev_run(c->loop, 0);
    status = c->status;
    anysock_guard_cancel(&guard);
    anysock_ctx_free(ctx);
    if (c->fd >= 0)
        close(c->fd);
    free(c);
    return status;

usage:
    free(c);
    return cli_usage();
}

/* ---- listen ------------------------------------------------------------- */

typedef struct peer peer;

typedef struct listener {
    struct ev_loop *loop;
    bool echo;
    peer *peers;             /* open connections, closed at exit */
    /* the bound address from prepare_cb, printed once listen() has
     * succeeded: a client reading the line can connect at once */
    char host[ANYSOCK_ADDRESS_STRLEN];
    unsigned port;
    const char *transport;   /* -v: "mptcp", "tcp" or "unix" */
    /* One read buffer for every connection: a connection keeps only the
     * bytes a write could not deliver (issue 15: 64 KiB per connection
     * pinned 11 MiB of heap after 5,000 idle clients came and went). */
    char buf[BUFSZ];
} listener;

struct peer {
    listener *l;
    peer *prev, *next;
    ev_io r, w;
    int fd;
    char *pend;              /* echo bytes not yet sent back (heap) */
    size_t len, off;         /* pend's size; bytes of it already sent */
};

static void peer_close(peer *p)
{
    ev_io_stop(p->l->loop, &p->r);
    ev_io_stop(p->l->loop, &p->w);
    close(p->fd);
    if (p->prev)
        p->prev->next = p->next;
    else
        p->l->peers = p->next;
    if (p->next)
        p->next->prev = p->prev;
    free(p->pend);
    free(p);
}

/* Send as much of b[0..n) as the socket takes: the count sent, or -1
 * when the connection failed. */
static ssize_t peer_send(peer *p, const char *b, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(p->fd, b + off, n - off, MSG_NOSIGNAL);

        if (w > 0)
            off += (size_t)w;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        else if (errno != EINTR)
            return -1;
    }
    return (ssize_t)off;
}

static void peer_w_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    peer *p = w->data;
    ssize_t sent = peer_send(p, p->pend + p->off, p->len - p->off);

    (void)revents;
    if (sent < 0) {
        peer_close(p);
        return;
    }
    p->off += (size_t)sent;
    if (p->off < p->len)
        return;
    /* all delivered: drop the copy, read again */
    free(p->pend);
    p->pend = NULL;
    p->len = p->off = 0;
    ev_io_stop(loop, &p->w);
    ev_io_start(loop, &p->r);
}

static void peer_r_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    peer *p = w->data;
    char *buf = p->l->buf;
    ssize_t r = read(p->fd, buf, BUFSZ), sent;
    size_t rest;

    (void)revents;
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        peer_close(p);
        return;
    }
    if (!p->l->echo) {
        (void)write_all(STDOUT_FILENO, buf, (size_t)r);
        return;
    }
    sent = peer_send(p, buf, (size_t)r);
    if (sent < 0) {
        peer_close(p);
        return;
    }
    rest = (size_t)r - (size_t)sent;
    if (rest == 0)
        return;
    /* The shared buffer is reused by the next read: keep a copy of just
     * the unsent bytes, and stop reading until they are out. */
    p->pend = malloc(rest);
    if (p->pend == NULL) {
        peer_close(p);
        return;
    }
    memcpy(p->pend, buf + sent, rest);
    p->len = rest;
    p->off = 0;
    ev_io_stop(loop, &p->r);
    ev_io_start(loop, &p->w);
}

static void listener_accept(void *data, int status, int fd,
                            const char *host, unsigned port)
{
    listener *l = data;
    peer *p;

    (void)host;
    (void)port;
    if (status < 0)
        return;   /* e.g. out of fds: the server keeps going */
    p = malloc(sizeof *p);
    if (p == NULL) {
        close(fd);
        return;
    }
    p->l = l;
    p->fd = fd;
    p->pend = NULL;
    p->len = p->off = 0;
    p->prev = NULL;
    p->next = l->peers;
    if (l->peers)
        l->peers->prev = p;
    l->peers = p;
    ev_io_init(&p->r, peer_r_cb, fd, EV_READ);
    ev_io_init(&p->w, peer_w_cb, fd, EV_WRITE);
    p->r.data = p->w.data = p;
    ev_io_start(l->loop, &p->r);
}

/* SO_PROTOCOL of a listener: MPTCP or the TCP fallback (for -v). */
static const char *transport_name(int fd)
{
    int proto = 0;
    socklen_t len = sizeof proto;

    if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) < 0)
        return "?";
    return proto == IPPROTO_MPTCP ? "mptcp" : proto == 0 ? "unix" : "tcp";
}

static int listener_prepare(void *data, int fd, const char *host,
                            unsigned port)
{
    listener *l = data;

    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->transport = transport_name(fd);
    return 0;
}

static void stop_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

/* "listening HOST PORT" for an adopted socket, from its own address;
 * an abstract unix name prints as "@name". */
static void print_listening(int fd)
{
    anysock_sockaddr sa;
    anysock_addr a;
    uint16_t port = 0;
    const char *path = NULL;
    size_t plen = 0;
    char host[ANYSOCK_ADDRESS_STRLEN];

    sa.len = sizeof sa.u;
    if (getsockname(fd, &sa.u.sa, &sa.len) < 0 ||
        anysock_unpack_sockaddr(&sa.u.sa, sa.len, &a, &port, &path,
                                &plen) < 0) {
        printf("listening ? 0\n");
        return;
    }
    if (a.family == AF_UNIX) {
        if (plen > 0 && path[0] == '\0')
            printf("listening unix/ @%.*s\n", (int)plen - 1, path + 1);
        else
            printf("listening unix/ %.*s\n", (int)plen, path);
        return;
    }
    (void)anysock_format_address(&a, host, sizeof host);
    printf("listening %s %u\n", host, (unsigned)port);
}

/* --systemd: why there is nothing to serve, in words. */
static int systemd_error(int rc, const char *pid, const char *nfds)
{
    if (rc < 0)
        fprintf(stderr, "socket activation: %s (LISTEN_PID=%s "
                "LISTEN_FDS=%s)\n", anysock_strerror(rc),
                pid ? pid : "(unset)", nfds ? nfds : "(unset)");
    else if (pid == NULL || nfds == NULL)
        fprintf(stderr, "socket activation: LISTEN_PID and LISTEN_FDS "
                "are not set (not started by systemd?)\n");
    else if (atol(pid) != (long)getpid())
        fprintf(stderr, "socket activation: LISTEN_PID=%s is not this "
                "process (%ld)\n", pid, (long)getpid());
    else
        fprintf(stderr, "socket activation: LISTEN_FDS=%s: no socket "
                "passed\n", nfds);
    return 1;
}

#define MAX_ADOPTED 16

int cli_listen(int argc, char **argv)
{
    listener l = {0};
    anysock_ctx *ctx = NULL;
    anysock_guard *guard[MAX_ADOPTED] = {NULL};
    anysock_server_opts so;
    ev_signal sint, sterm;
    const char *host;
    bool systemd = false, verbose = false;
    int i, rc = 0, fds[MAX_ADOPTED], n = 0;
    char *end;

    anysock_server_opts_init(&so);
    for (i = 0; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--echo") == 0) {
            l.echo = true;
        } else if (strcmp(argv[i], "--mptcp") == 0) {
            so.flags |= ANYSOCK_LISTEN_MPTCP;
        } else if (strcmp(argv[i], "--reuseport") == 0) {
            so.flags |= ANYSOCK_SERVER_REUSEPORT;
        } else if (strcmp(argv[i], "--v6only") == 0) {
            so.flags |= ANYSOCK_LISTEN_V6ONLY;
        } else if (strcmp(argv[i], "--systemd") == 0) {
            systemd = true;
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "--fastopen") == 0 && i + 1 < argc) {
            long q = strtol(argv[++i], &end, 10);

            if (*end != '\0' || q <= 0 || q > 0x7fffffffL)
                return cli_usage();
            so.fastopen_qlen = (int)q;
        } else {
            return cli_usage();
        }
    }
    if (argc - i != (systemd ? 0 : 2))
        return cli_usage();

    signal(SIGPIPE, SIG_IGN);
    l.loop = ev_default_loop(0);
    if (systemd) {
        /* copies: anysock_listen_fds unsets them */
        const char *pe = getenv("LISTEN_PID"), *fe = getenv("LISTEN_FDS");
        char pid[32], nfds[32];

        snprintf(pid, sizeof pid, "%s", pe ? pe : "");
        snprintf(nfds, sizeof nfds, "%s", fe ? fe : "");
        n = anysock_listen_fds(1, fds, NULL, MAX_ADOPTED);
        if (n <= 0)
            return systemd_error(n, pe ? pid : NULL, fe ? nfds : NULL);
        if (n > MAX_ADOPTED) {
            fprintf(stderr, "socket activation: %d sockets, at most %d\n",
                    n, MAX_ADOPTED);
            return 1;
        }
    }
    rc = anysock_ctx_new(l.loop, NULL, &ctx);
    if (rc == 0 && systemd) {
        for (int k = 0; k < n && rc == 0; k++)
            rc = anysock_tcp_server_adopt(ctx, fds[k], &so, listener_accept,
                                          &l, &guard[k]);
    } else if (rc == 0) {
        /* "" means every address (dual-stack), as a NULL host does */
        host = argv[i][0] != '\0' ? argv[i] : NULL;
        rc = anysock_tcp_server_ex(ctx, host, argv[i + 1], &so,
                                   listener_accept, listener_prepare, &l,
                                   &guard[0]);
    }
    if (rc < 0) {
        fprintf(stderr, "%s\n", anysock_strerror(rc));
        for (int k = 0; k < MAX_ADOPTED; k++)
            anysock_guard_cancel(&guard[k]);
        anysock_ctx_free(ctx);
        return 1;
    }
    if (systemd) {
        for (int k = 0; k < n; k++) {
            print_listening(fds[k]);
            if (verbose)
                fprintf(stderr, "transport %s\n", transport_name(fds[k]));
        }
    } else {
        if (strcmp(l.host, "unix/") == 0)
            printf("listening unix/ %s\n", argv[i + 1]);
        else
            printf("listening %s %u\n", l.host, l.port);
        if (verbose)
            fprintf(stderr, "transport %s\n", l.transport);
    }
    fflush(stdout);
    ev_signal_init(&sint, stop_cb, SIGINT);
    ev_signal_init(&sterm, stop_cb, SIGTERM);
    ev_signal_start(l.loop, &sint);
    ev_signal_start(l.loop, &sterm);
    ev_run(l.loop, 0);
    ev_signal_stop(l.loop, &sint);
    ev_signal_stop(l.loop, &sterm);
    /* closes, removes a socket file we created (never an adopted one) */
    for (int k = 0; k < MAX_ADOPTED; k++)
        anysock_guard_cancel(&guard[k]);
    while (l.peers != NULL)
        peer_close(l.peers);
    anysock_ctx_free(ctx);
    return 0;
}
