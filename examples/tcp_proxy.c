/* tcp_proxy: a TCP relay to copy from.
 *
 *   tcp_proxy [--deadline SECONDS] LISTEN_HOST LISTEN_PORT TARGET TARGET_PORT
 *
 * Listens (tcp_server; LISTEN_PORT 0 picks one) and prints
 * "listening HOST PORT". For each client it connects to TARGET
 * (tcp_connect: names, SRV, Happy Eyeballs) within an overall deadline
 * (default 10 s), then relays bytes both ways until both directions have
 * ended. What to copy:
 *
 * - Back-pressure: each direction reads only while it has nothing unsent.
 *   A write that takes less than was read stops that direction's reader
 *   until the writable watcher has delivered the rest, so a slow reader
 *   holds at most one read's worth of bytes here, never an ever-growing
 *   queue.
 * - Memory: one read buffer (64 KiB) for the whole proxy; a connection
 *   keeps only the bytes a write could not deliver, in a block of exactly
 *   that size. An idle connection costs one small struct.
 * - Half-close: EOF from one side becomes shutdown(SHUT_WR) on the other
 *   once its unsent bytes are out; the other direction goes on. The
 *   connection ends when both directions have ended, or at the first
 *   error (a reset, a write to a closed peer).
 * - Cancellation: a client that closes while the target is still being
 *   resolved or connected ends its pending tcp_connect at once (guard
 *   cancelled: no callback, no fd left behind), as does the deadline. An
 *   EOF that comes after the client sent bytes is a half-close instead:
 *   the bytes are still delivered.
 * - Guards: every guard is cancelled exactly once (the connect guard in
 *   its own callback once it has answered); SIGINT/SIGTERM stop cleanly
 *   and print the context's statistics, where guards_finished must be 0.
 *
 * The deadline is an ev_timer around anysock_tcp_connect. */
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

#define BUFSZ 65536

typedef struct session session;

typedef struct proxy {
    struct ev_loop *loop;
    anysock_ctx *ctx;
    const char *target, *target_port;
    double deadline;
    session *sessions;        /* open ones, ended at exit */
    unsigned long served;     /* sessions started */
    char host[ANYSOCK_ADDRESS_STRLEN];   /* the bound address */
    unsigned port;
    char buf[BUFSZ];          /* the one read buffer, shared by all */
} proxy;

/* One direction: read from `from`, write to `to`. */
typedef struct half {
    ev_io r;                  /* `from` readable */
    ev_io w;                  /* `to` writable, while bytes are unsent */
    char *pend;               /* unsent bytes (exactly that many) */
    size_t len, off;          /* pend's size, and how much went out */
    bool eof;                 /* `from` said EOF */
    bool ended;               /* EOF passed on: shutdown(to, SHUT_WR) */
} half;

struct session {
    proxy *p;
    session *prev, *next;
    int cfd, ufd;             /* client, upstream (-1 until connected) */
    anysock_guard *connect;   /* the pending tcp_connect */
    ev_timer deadline;
    half up;                  /* client -> upstream */
    half down;                /* upstream -> client */
};

static void session_end(session *s)
{
    struct ev_loop *loop = s->p->loop;

    /* no callback of the connect runs after this, and its fds are closed */
    anysock_guard_cancel(&s->connect);
    ev_timer_stop(loop, &s->deadline);
    ev_io_stop(loop, &s->up.r);
    ev_io_stop(loop, &s->up.w);
    ev_io_stop(loop, &s->down.r);
    ev_io_stop(loop, &s->down.w);
    close(s->cfd);
    if (s->ufd >= 0)
        close(s->ufd);
    free(s->up.pend);
    free(s->down.pend);
    if (s->prev)
        s->prev->next = s->next;
    else
        s->p->sessions = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

static int half_to(const session *s, const half *h)
{
    return h == &s->up ? s->ufd : s->cfd;
}

/* EOF from one side, and nothing left to send: pass it on. Returns false
 * when that ended the session (both directions done). */
static bool half_pass_eof(session *s, half *h)
{
    if (!h->eof || h->ended || h->pend != NULL)
        return true;
    (void)shutdown(half_to(s, h), SHUT_WR);
    h->ended = true;
    if (s->up.ended && s->down.ended) {
        session_end(s);
        return false;
    }
    return true;
}

/* Send b[0..n) on fd as far as it goes: bytes sent, or -1 on an error
 * that ends the connection (EPIPE, ECONNRESET, ...). */
static ssize_t send_some(int fd, const char *b, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(fd, b + off, n - off, MSG_NOSIGNAL);

        if (w > 0)
            off += (size_t)w;
        else if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
        else if (errno != EINTR)
            return -1;
    }
    return (ssize_t)off;
}

/* Keep b[0..n), the part a write could not deliver, and stop reading
 * this direction until it is out. Returns false if the session ended. */
static bool half_keep(session *s, half *h, const char *b, size_t n)
{
    h->pend = malloc(n);
    if (h->pend == NULL) {
        session_end(s);
        return false;
    }
    memcpy(h->pend, b, n);
    h->len = n;
    h->off = 0;
    ev_io_stop(s->p->loop, &h->r);
    if (s->ufd >= 0)   /* before the connect, the connect starts it */
        ev_io_start(s->p->loop, &h->w);
    return true;
}

static void half_read(session *s, half *h)
{
    char *buf = s->p->buf;
    ssize_t n = recv(h->r.fd, buf, BUFSZ, 0), sent = 0;

    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n < 0) {
        session_end(s);   /* reset: no half-close to pass on */
        return;
    }
    if (n == 0) {
        ev_io_stop(s->p->loop, &h->r);
        h->eof = true;
        /* the client left before the target answered, having sent
         * nothing: cancel the connect (session_end does) */
        if (s->ufd < 0 && h == &s->up && h->pend == NULL)
            session_end(s);
        else if (s->ufd >= 0)
            (void)half_pass_eof(s, h);
        return;
    }
    if (s->ufd >= 0) {
        sent = send_some(half_to(s, h), buf, (size_t)n);
        if (sent < 0) {
            session_end(s);
            return;
        }
    }
    if (sent < n)
        (void)half_keep(s, h, buf + sent, (size_t)(n - sent));
}

static void half_write(session *s, half *h)
{
    ssize_t sent = send_some(half_to(s, h), h->pend + h->off,
                             h->len - h->off);

    if (sent < 0) {
        session_end(s);
        return;
    }
    h->off += (size_t)sent;
    if (h->off < h->len)
        return;
    free(h->pend);
    h->pend = NULL;
    h->len = h->off = 0;
    ev_io_stop(s->p->loop, &h->w);
    if (!h->eof)
        ev_io_start(s->p->loop, &h->r);
    else
        (void)half_pass_eof(s, h);
}

static void up_r_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;

    (void)loop;
    (void)revents;
    half_read(s, &s->up);
}

static void down_r_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;

    (void)loop;
    (void)revents;
    half_read(s, &s->down);
}

static void up_w_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;

    (void)loop;
    (void)revents;
    half_write(s, &s->up);
}

static void down_w_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    session *s = w->data;

    (void)loop;
    (void)revents;
    half_write(s, &s->down);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    session *s = w->data;

    (void)loop;
    (void)revents;
    fprintf(stderr, "tcp_proxy: %s %s: no connection within %g s\n",
            s->p->target, s->p->target_port, s->p->deadline);
    session_end(s);
}

static void on_connect(void *data, int status, int fd, const char *host,
                       unsigned port)
{
    session *s = data;
    struct ev_loop *loop = s->p->loop;

    (void)host;
    (void)port;
    /* answered: the guard has nothing left to stop, release it now */
    anysock_guard_cancel(&s->connect);
    if (status < 0) {
        fprintf(stderr, "tcp_proxy: %s %s: %s\n", s->p->target,
                s->p->target_port, anysock_strerror(status));
        session_end(s);
        return;
    }
    ev_timer_stop(loop, &s->deadline);
    s->ufd = fd;
    ev_io_init(&s->up.w, up_w_cb, fd, EV_WRITE);
    ev_io_init(&s->down.r, down_r_cb, fd, EV_READ);
    ev_io_init(&s->down.w, down_w_cb, s->cfd, EV_WRITE);
    s->up.w.data = s->down.r.data = s->down.w.data = s;
    ev_io_start(loop, &s->down.r);
    if (s->up.pend != NULL)
        ev_io_start(loop, &s->up.w);   /* bytes that came first */
    else if (!s->up.eof)
        ev_io_start(loop, &s->up.r);
}

static void on_accept(void *data, int status, int fd, const char *host,
                      unsigned port)
{
    proxy *p = data;
    session *s;
    int rc;

    (void)host;
    (void)port;
    if (status < 0)
        return;   /* e.g. out of fds: the server pauses and goes on */
    s = calloc(1, sizeof *s);
    if (s == NULL) {
        close(fd);
        return;
    }
    s->p = p;
    s->cfd = fd;
    s->ufd = -1;
    /* Watch the client from the start: bytes it sends first are kept,
     * and leaving early cancels the connect. */
    ev_io_init(&s->up.r, up_r_cb, fd, EV_READ);
    ev_timer_init(&s->deadline, on_deadline, p->deadline, 0.);
    s->up.r.data = s->deadline.data = s;
    rc = anysock_tcp_connect(p->ctx, p->target, p->target_port, on_connect,
                             NULL, s, &s->connect);
    if (rc < 0) {
        fprintf(stderr, "tcp_proxy: %s\n", anysock_strerror(rc));
        close(fd);
        free(s);
        return;
    }
    s->next = p->sessions;
    if (p->sessions)
        p->sessions->prev = s;
    p->sessions = s;
    p->served++;
    ev_io_start(p->loop, &s->up.r);
    ev_timer_start(p->loop, &s->deadline);
}

static int on_listen(void *data, int fd, const char *host, unsigned port)
{
    proxy *p = data;

    (void)fd;
    /* printed once everything is set up: a client may connect at once */
    snprintf(p->host, sizeof p->host, "%s", host);
    p->port = port;
    return 0;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static int usage(void)
{
    fprintf(stderr, "usage: tcp_proxy [--deadline SECONDS] LISTEN_HOST "
                    "LISTEN_PORT TARGET TARGET_PORT\n");
    return 2;
}

int main(int argc, char **argv)
{
    proxy *p = calloc(1, sizeof *p);
    anysock_guard *server = NULL;
    anysock_ctx_stats st;
    ev_signal sint, sterm;
    int i = 1, rc;
    char *end;

    if (p == NULL)
        return 1;
    p->deadline = 10.;
    if (argc > 2 && strcmp(argv[1], "--deadline") == 0) {
        p->deadline = strtod(argv[2], &end);
        if (*end != '\0' || !(p->deadline > 0.)) {
            free(p);
            return usage();
        }
        i = 3;
    }
    if (argc - i != 4) {
        free(p);
        return usage();
    }
    p->target = argv[i + 2];
    p->target_port = argv[i + 3];
    signal(SIGPIPE, SIG_IGN);   /* and MSG_NOSIGNAL on every send */
    p->loop = ev_default_loop(0);
    rc = anysock_ctx_new(p->loop, NULL, &p->ctx);
    if (rc == 0)
        rc = anysock_tcp_server(p->ctx, argv[i], argv[i + 1], on_accept,
                                on_listen, p, &server);
    if (rc < 0) {
        fprintf(stderr, "tcp_proxy: %s\n", anysock_strerror(rc));
        anysock_ctx_free(p->ctx);
        free(p);
        return 1;
    }
    ev_signal_init(&sint, on_signal, SIGINT);
    ev_signal_init(&sterm, on_signal, SIGTERM);
    ev_signal_start(p->loop, &sint);
    ev_signal_start(p->loop, &sterm);
    printf("listening %s %u\n", p->host, p->port);
    fflush(stdout);
    ev_run(p->loop, 0);

    ev_signal_stop(p->loop, &sint);
    ev_signal_stop(p->loop, &sterm);
    anysock_guard_cancel(&server);
    while (p->sessions != NULL)
        session_end(p->sessions);
    st.size = sizeof st;
    if (anysock_ctx_stats_get(p->ctx, &st) == 0)
        fprintf(stderr, "tcp_proxy: served %lu; ops_live %zu "
                "guards_finished %zu\n", p->served, st.ops_live,
                st.guards_finished);
    anysock_ctx_free(p->ctx);
    free(p);
    return 0;
}
