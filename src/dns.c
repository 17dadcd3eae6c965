/* The DNS query engine: c-ares 1.18 on libev, owning every query from
 * submission to its end.
 *
 * c-ares 1.18 cannot cancel one query, and its retry schedule keeps a
 * query (its slot, its socket, the channel timer) for up to
 * timeout * (2^tries - 1) per server. So c-ares only ever gets single
 * attempts: one channel per (server, round) with tries = 1 and the round's
 * timeout (timeout << round, as c-ares doubles it), created when first
 * needed. The schedule across servers and rounds is ours:
 *  - a query is queued (fresh), sent (one attempt outstanding), waiting
 *    for a jittered retry, or done (its answer waits to be delivered);
 *  - an attempt that times out, or whose server says SERVFAIL, REFUSED or
 *    NOTIMP, or whose server's port is closed (ICMP), moves the query on
 *    to the next server / round, as c-ares itself would, except that an
 *    rcode is not final until every server gave one;
 *  - the lookup deadline counts from the first send (queue time excluded);
 *  - the number of queries sent at once follows an AIMD window (slow start
 *    to dns_max_inflight, halved once per window of losses: a query
 *    answered by a server that had let one of its attempts time out, while
 *    a quarter of recent attempts time out (a few random drops are no
 *    congestion), or a rate limiter's TC slip; a dead server is none),
 *    retries first, so rate-limited servers are not flooded.
 * A query given up on (detached, past its deadline, timed out by our
 * clock) leaves its c-ares attempt behind as a "zombie": it holds no slot
 * and delivers nothing. c-ares ends a timed-out zombie at the same moment
 * we do; a detached one would linger, so a channel whose live attempts are
 * all gone is flushed with ares_cancel (and its socket closed), and a
 * channel with more than max(16, dns_max_inflight) zombies is flushed too,
 * its live attempts re-sent, each keeping its attempt's timeout. Channels
 * stay open while busy (STAYOPEN) and close once an iteration ends with
 * them idle; replies and queries go through the kernel in batches
 * (recvmmsg, sendmmsg: rxbatch, txbatch).
 *
 * Callbacks never run inside c-ares or inside anysock__dns_query: results
 * go to a done list delivered from the loop. All work per loop iteration
 * (sends, deliveries, expiries) has a budget; the rest continues in the
 * next iteration (an ev_idle keeps the loop from blocking meanwhile). The
 * single ev_timer is re-armed once per iteration, from an ev_prepare.
 * Timer queues: the deadline FIFO (one fixed length, so first-send order
 * is deadline order), one list of sent attempts per channel in timeout
 * order (a FIFO, the timeout being fixed per channel, but for a re-sent
 * attempt keeping an earlier one) and a binary heap for jittered retries. */
#include "internal.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "cache.h"

#define DEFAULT_TIMEOUT 2.0
#define DEFAULT_TRIES 3
#define DEFAULT_INFLIGHT 64
#define MAX_SERVERS 32       /* servers beyond the 32nd are not used */
#define CWND_INIT 16
#define CWND_MIN 2
/* A reply after a drop cuts the window only while at least LOSS_CUT of
 * the recent attempts (about the last LOSS_SPAN windows' worth) timed
 * out: a rate limiter drops most of what exceeds its rate; a lossy path
 * or a server that ignores some names drops a few per cent, and halving
 * for each of those (growth being one per timeout) kept the window at
 * its floor: 1,000 names took 117 s behind 9% of drops. Counted over
 * several windows, because the timeouts of one window come in a burst. */
#define LOSS_SPAN 4
#define LOSS_CUT 0.25
#define ZOMBIE_MIN 16
#define BUDGET 256           /* sends / deliveries / expiries per iteration */
#define DUE_SLACK 0.001      /* s: our attempt timeout after c-ares's */

typedef struct chan chan;
typedef struct sockw sockw;
typedef struct att att;

/* Replies taken from a UDP socket with one recvmmsg and handed to c-ares
 * one recvfrom at a time. c-ares 1.18 reads a readable socket until
 * EAGAIN: n replies cost n + 1 recvfrom. Batched, a wake-up costs one
 * system call, and the final EAGAIN is known without asking the kernel
 * when the batch came back short. Slots are c-ares's own read buffer
 * size (MAXENDSSZ + 1), so no reply is cut where c-ares would not cut it. */
#define RX_SLOTS 8
#define RX_SLOT_LEN 4097

typedef struct rxbatch {
    int fd;                         /* whose replies these are; -1: none */
    unsigned n, next;               /* received, handed out */
    bool drained;                   /* the socket was empty at the last
                                     * recvmmsg of this wake-up */
    struct mmsghdr mh[RX_SLOTS];
    struct iovec iov[RX_SLOTS];
    struct sockaddr_storage from[RX_SLOTS];
    unsigned char buf[RX_SLOTS][RX_SLOT_LEN];
} rxbatch;

/* Queries c-ares sends while pump() runs, sent with sendmmsg when it
 * ends: the A and AAAA of a name, and the names started by one wake-up's
 * answers, cost one system call. A query is at most 12 + 255 + 4 bytes
 * (+ 11 with EDNS); a longer one is sent at once. */
#define TX_SLOTS 16
#define TX_SLOT_LEN 512

typedef struct txbatch {
    unsigned n;
    bool on;                        /* inside pump() */
    int fd[TX_SLOTS];
    chan *c[TX_SLOTS];
    struct mmsghdr mh[TX_SLOTS];
    struct iovec iov[TX_SLOTS];
    unsigned char buf[TX_SLOTS][TX_SLOT_LEN];
} txbatch;

struct sockw {
    ev_io io;
    chan *c;
    sockw *next;
};

/* One c-ares query: the callback argument. q is NULL once abandoned. */
struct att {
    anysock__dnsq *q;
    chan *c;
};

enum { Q_FRESH, Q_READY, Q_SENT, Q_WAIT, Q_DONE, Q_CB };

typedef struct qlist {
    anysock__dnsq *head, *tail;
    size_t n;
} qlist;

struct anysock__dnsq {
    anysock__dnsq *prev, *next;     /* fresh, ready, done or c->sent */
    anysock__dnsq *dprev, *dnext;   /* deadline FIFO, once first sent */
    struct anysock__resolver *r;
    anysock__dns_cb cb;
    void *arg;
    att *att;                       /* Q_SENT: the attempt */
    chan *c;                        /* Q_SENT: its channel */
    double due;                     /* Q_SENT: timeout; Q_WAIT: retry */
    double deadline;                /* 0 until first sent */
    size_t hidx;                    /* Q_WAIT: heap index */
    uint64_t seq;                   /* send sequence number (AIMD) */
    uint64_t lost;                  /* seq of an attempt that timed out */
    double keep_due;                /* Q_READY after a flush: the flushed
                                     * attempt's timeout, kept; else 0 */
    uint32_t skip;                  /* servers done with, one bit each */
    uint32_t lostmask;              /* servers an attempt timed out on */
    unsigned try;                   /* attempt index, as c-ares's */
    int state, type, status;        /* status: last error, or result */
    unsigned char *abuf;
    int alen;
    char name[];
};

struct chan {
    struct anysock__resolver *r;
    ares_channel ch;                /* NULL until first used */
    int server, round;
    double tmo;                     /* seconds */
    sockw *socks;
    qlist sent;                     /* live attempts, oldest first */
    unsigned zombies;
    int udp_fd;
    bool refused;                   /* its socket saw ECONNREFUSED */
    bool tx_refused;                /* ... on a batched send */
    bool flush;
};

struct anysock__resolver {
    struct ev_loop *loop;
    ev_prepare prep;
    ev_idle idle;
    ev_timer timer;
    double timer_at;                /* when armed; 0: not */
    int tmo_ms, tries, nservers;
    double deadline;
    struct ares_addr_port_node srv[MAX_SERVERS];
    chan *chans;                    /* nservers * tries */
    qlist fresh, ready, done;
    anysock__dnsq *dhead, *dtail;
    anysock__dnsq **heap;
    size_t hn, hcap;
    size_t nlive;                   /* fresh + ready + sent + waiting */
    unsigned inflight, max_inflight, fixed, zombie_cap;
    double cwnd, ssthresh, grown, slipped;
    double drops, answers;          /* recent attempts: timed out, not */
    uint64_t seq, recover, rng;
    int in_ares;
    bool want_flush, destroying;
    bool idle_check;                /* a channel may have gone idle */
    bool *alive;                    /* cleared when freed in a callback */
    rxbatch *rx;                    /* made at the first UDP read */
    txbatch *tx;                    /* made at the first pump */
    const struct ares_socket_functions *tf;   /* tests */
    void *tdata;
    anysock__dns_debug dbg;
    /* ---- resolv.conf changes (issue 17): a changed file gets a new
     * resolver (server set); the old one finishes what it holds and is
     * freed once empty. conf_* move on to the new one. ---- */
    anysock_ctx *ctx;
    char *conf_path;                /* NULL: explicit servers, never read */
    double conf_checked;            /* mono() of the last look */
    struct stat conf_st;            /* what was read (conf_exists) */
    bool conf_exists, retired;
    struct anysock__resolver *older;          /* current: retired ones */
    struct anysock__resolver *oprev, *onext;  /* retired: list links */
};

static void retire_free(struct anysock__resolver *r);

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- lists --------------------------------------------------------------- */

static void l_push(qlist *l, anysock__dnsq *q)
{
    q->next = NULL;
    q->prev = l->tail;
    if (l->tail)
        l->tail->next = q;
    else
        l->head = q;
    l->tail = q;
    l->n++;
}

static void l_push_front(qlist *l, anysock__dnsq *q)
{
    q->prev = NULL;
    q->next = l->head;
    if (l->head)
        l->head->prev = q;
    else
        l->tail = q;
    l->head = q;
    l->n++;
}

static void l_remove(qlist *l, anysock__dnsq *q)
{
    if (q->prev)
        q->prev->next = q->next;
    else
        l->head = q->next;
    if (q->next)
        q->next->prev = q->prev;
    else
        l->tail = q->prev;
    q->prev = q->next = NULL;
    l->n--;
}

static anysock__dnsq *l_pop(qlist *l)
{
    anysock__dnsq *q = l->head;

    if (q != NULL)
        l_remove(l, q);
    return q;
}

static void d_push(struct anysock__resolver *r, anysock__dnsq *q)
{
    q->dnext = NULL;
    q->dprev = r->dtail;
    if (r->dtail)
        r->dtail->dnext = q;
    else
        r->dhead = q;
    r->dtail = q;
}

static void d_remove(struct anysock__resolver *r, anysock__dnsq *q)
{
    if (q->deadline == 0)
        return;
    if (q->dprev)
        q->dprev->dnext = q->dnext;
    else
        r->dhead = q->dnext;
    if (q->dnext)
        q->dnext->dprev = q->dprev;
    else
        r->dtail = q->dprev;
    q->dprev = q->dnext = NULL;
    q->deadline = 0;
}

/* ---- the retry heap (by due) --------------------------------------------- */

static void h_set(struct anysock__resolver *r, size_t i, anysock__dnsq *q)
{
    r->heap[i] = q;
    q->hidx = i;
}

static void h_up(struct anysock__resolver *r, size_t i)
{
    anysock__dnsq *q = r->heap[i];

    while (i > 0 && r->heap[(i - 1) / 2]->due > q->due) {
        h_set(r, i, r->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    h_set(r, i, q);
}

static void h_down(struct anysock__resolver *r, size_t i)
{
    anysock__dnsq *q = r->heap[i];

    for (;;) {
        size_t c = 2 * i + 1;

        if (c >= r->hn)
            break;
        if (c + 1 < r->hn && r->heap[c + 1]->due < r->heap[c]->due)
            c++;
        if (r->heap[c]->due >= q->due)
            break;
        h_set(r, i, r->heap[c]);
        i = c;
    }
    h_set(r, i, q);
}

static bool h_push(struct anysock__resolver *r, anysock__dnsq *q)
{
    if (r->hn == r->hcap) {
        size_t ncap = r->hcap ? r->hcap * 2 : 64;
        anysock__dnsq **nh = anysock__malloc(ncap * sizeof(anysock__dnsq *));

        if (nh == NULL)
            return false;
        if (r->hn)
            memcpy(nh, r->heap, r->hn * sizeof(anysock__dnsq *));
        anysock__free(r->heap);
        r->heap = nh;
        r->hcap = ncap;
    }
    h_set(r, r->hn++, q);
    h_up(r, r->hn - 1);
    return true;
}

static void h_remove(struct anysock__resolver *r, anysock__dnsq *q)
{
    size_t i = q->hidx;
    anysock__dnsq *last = r->heap[--r->hn];

    if (i == r->hn)
        return;
    h_set(r, i, last);
    h_up(r, i);
    h_down(r, last->hidx);
}

/* ---- libev glue ---------------------------------------------------------- */

static void run_flushes(struct anysock__resolver *r);

static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void sock_state_cb(void *data, ares_socket_t fd, int readable,
                          int writable)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;
    sockw **pp, *s;
    int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

    for (pp = &c->socks; (s = *pp) != NULL; pp = &s->next)
        if (s->io.fd == fd)
            break;
    if (events == 0) {
        if (s != NULL) {
            ev_io_stop(r->loop, &s->io);
            *pp = s->next;
            anysock__free(s);
            r->dbg.sockets--;
        }
        return;
    }
    if (s == NULL) {
        s = anysock__calloc(1, sizeof *s);
        if (s == NULL)
            return;   /* the attempt then times out rather than crash */
        s->c = c;
        s->next = c->socks;
        c->socks = s;
        ev_io_init(&s->io, io_cb, fd, events);
        r->dbg.sockets++;
    } else {
        ev_io_stop(r->loop, &s->io);
        ev_io_set(&s->io, fd, events);
    }
    ev_io_start(r->loop, &s->io);
}

/* Socket hooks on every channel: atomic NONBLOCK|CLOEXEC, MSG_NOSIGNAL,
 * and two things c-ares 1.18 cannot tell apart otherwise: ECONNREFUSED
 * (the port is closed: every attempt on that server moves on at once)
 * and a full UDP send buffer, which c-ares 1.18 takes for a dead server
 * (here the datagram counts as lost: the attempt times out and retries).
 * Tests may route them on to their own hooks (r->tf). */
static ares_socket_t w_socket(int domain, int type, int protocol, void *data)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;
    ares_socket_t fd;

    if (r->tf != NULL) {
        fd = r->tf->asocket(domain, type, protocol, r->tdata);
    } else {
        int rc = anysock__socket(domain, type, protocol);

        if (rc < 0) {
            errno = -rc;
            return ARES_SOCKET_BAD;
        }
        fd = rc;
        if (type == SOCK_STREAM) {
            int one = 1;

            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
    }
    if (fd != ARES_SOCKET_BAD)
        r->dbg.sockets_opened++;
    if (fd != ARES_SOCKET_BAD && type == SOCK_DGRAM)
        c->udp_fd = fd;
    return fd;
}

static int w_close(ares_socket_t fd, void *data)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;

    if (fd == c->udp_fd)
        c->udp_fd = -1;
    /* replies still batched for it die with the socket, as the kernel's */
    if (r->rx != NULL && r->rx->fd == fd)
        r->rx->fd = -1;
    if (r->tf != NULL)
        return r->tf->aclose(fd, r->tdata);
    anysock__close(fd);
    return 0;
}

static int w_connect(ares_socket_t fd, const struct sockaddr *sa,
                     ares_socklen_t len, void *data)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;

    if (r->tf != NULL)
        return r->tf->aconnect(fd, sa, len, r->tdata);
    return connect(fd, sa, len);
}

static void shrink(struct anysock__resolver *r, uint64_t seq);
static double mono(void);

static rxbatch *rx_get(struct anysock__resolver *r)
{
    rxbatch *b = r->rx;

    if (b == NULL) {
        b = anysock__malloc(sizeof *b);
        if (b == NULL)
            return NULL;
        b->fd = -1;
        b->n = b->next = 0;
        b->drained = false;
        r->rx = b;
    }
    return b;
}

/* One reply for c-ares, from the batch or a new one. A batch still
 * holding another socket's replies is left alone (that socket's next
 * wake-up hands them over): this read goes straight to the kernel. */
static ares_ssize_t rx_take(struct anysock__resolver *r, int fd, void *buf,
                            size_t len, int flags, struct sockaddr *from,
                            ares_socklen_t *fromlen)
{
    rxbatch *b = rx_get(r);
    struct mmsghdr *m;
    size_t got;

    if (b == NULL || flags != 0 || (b->fd != fd && b->next < b->n))
        return recvfrom(fd, buf, len, flags, from, fromlen);
    if (b->fd != fd) {
        b->fd = fd;
        b->n = b->next = 0;
        b->drained = false;
    }
    if (b->next == b->n) {
        int k;

        if (b->drained) {
            errno = EAGAIN;
            return -1;
        }
        for (unsigned i = 0; i < RX_SLOTS; i++) {
            b->iov[i].iov_base = b->buf[i];
            b->iov[i].iov_len = RX_SLOT_LEN;
            memset(&b->mh[i].msg_hdr, 0, sizeof b->mh[i].msg_hdr);
            b->mh[i].msg_hdr.msg_iov = &b->iov[i];
            b->mh[i].msg_hdr.msg_iovlen = 1;
            b->mh[i].msg_hdr.msg_name = &b->from[i];
            b->mh[i].msg_hdr.msg_namelen = sizeof b->from[i];
        }
        k = recvmmsg(fd, b->mh, RX_SLOTS, MSG_DONTWAIT, NULL);
        if (k <= 0) {
            b->n = b->next = 0;
            return k;   /* errno as recvfrom's: EAGAIN, ECONNREFUSED */
        }
        b->n = (unsigned)k;
        b->next = 0;
        b->drained = b->n < RX_SLOTS;
    }
    m = &b->mh[b->next++];
    got = m->msg_len < len ? m->msg_len : len;
    memcpy(buf, b->buf[m - b->mh], got);
    if (from != NULL && fromlen != NULL) {
        socklen_t fl = m->msg_hdr.msg_namelen;

        memcpy(from, &b->from[m - b->mh],
               fl < *fromlen ? fl : *fromlen);
        *fromlen = fl;
    }
    return (ares_ssize_t)got;
}

/* A new wake-up: the kernel may hold replies again. */
static void rx_rearm(struct anysock__resolver *r, int fd)
{
    if (r->rx != NULL && r->rx->fd == fd)
        r->rx->drained = false;
}

static bool rx_pending(const struct anysock__resolver *r, int fd)
{
    return r->rx != NULL && r->rx->fd == fd && r->rx->next < r->rx->n;
}

static ares_ssize_t w_recvfrom(ares_socket_t fd, void *buf, size_t len,
                               int flags, struct sockaddr *from,
                               ares_socklen_t *fromlen, void *data)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;
    ares_ssize_t n;

    if (r->tf != NULL)
        n = r->tf->arecvfrom(fd, buf, len, flags, from, fromlen, r->tdata);
    else if (fd == c->udp_fd)
        n = rx_take(r, fd, buf, len, flags, from, fromlen);
    else
        n = recvfrom(fd, buf, len, flags, from, fromlen);
    if (n < 0 && errno == ECONNREFUSED)
        c->refused = true;
    /* a short UDP reply with TC set is a rate limiter's "slip" (BIND, NSD
     * and Knot send those in place of answers they drop): slow down now
     * rather than after the timeouts of the ones dropped; at most once
     * per 100 ms, loopback round trips being far shorter */
    if (n >= 4 && n < 256 && fd == c->udp_fd &&
        (((const unsigned char *)buf)[2] & 0x02) && !r->fixed) {
        double now = mono();

        if (now - r->slipped >= 0.1) {
            r->slipped = now;
            r->dbg.slips++;
            shrink(r, UINT64_MAX);
        }
    }
    return n;
}

static void tx_send(txbatch *b);

/* Queue one UDP query for tx_flush; false: send it now. */
static bool tx_add(struct anysock__resolver *r, chan *c, int fd,
                   const struct iovec *v)
{
    txbatch *b = r->tx;

    if (b == NULL || !b->on || v->iov_len > TX_SLOT_LEN)
        return false;
    if (b->n == TX_SLOTS)
        tx_send(b);
    b->fd[b->n] = fd;
    b->c[b->n] = c;
    memcpy(b->buf[b->n], v->iov_base, v->iov_len);
    b->iov[b->n].iov_base = b->buf[b->n];
    b->iov[b->n].iov_len = v->iov_len;
    memset(&b->mh[b->n], 0, sizeof b->mh[b->n]);
    b->mh[b->n].msg_hdr.msg_iov = &b->iov[b->n];
    b->mh[b->n].msg_hdr.msg_iovlen = 1;
    b->n++;
    return true;
}

static ares_ssize_t w_sendv(ares_socket_t fd, const struct iovec *v, int n,
                            void *data)
{
    chan *c = data;
    struct anysock__resolver *r = c->r;
    ares_ssize_t rc;

    if (r->tf == NULL && n == 1 && fd == c->udp_fd && tx_add(r, c, fd, v))
        return (ares_ssize_t)v[0].iov_len;
    if (r->tf != NULL) {
        rc = r->tf->asendv(fd, v, n, r->tdata);
    } else if (n == 1) {
        /* every UDP query is one buffer: send() skips sendmsg's copy-in
         * of the header and iovec, measurably cheaper per query */
        rc = send(fd, v[0].iov_base, v[0].iov_len, MSG_NOSIGNAL);
    } else {
        struct msghdr m;

        memset(&m, 0, sizeof m);
        /* sendmsg does not write the iovecs; msghdr just lacks const */
        m.msg_iov = (struct iovec *)(uintptr_t)v; // NOLINT(performance-no-int-to-ptr)
        m.msg_iovlen = (size_t)n;
        rc = sendmsg(fd, &m, MSG_NOSIGNAL);
    }
    if (rc < 0 && errno == ECONNREFUSED) {
        c->refused = true;
    } else if (rc < 0 && fd == c->udp_fd &&
               (errno == EAGAIN || errno == EWOULDBLOCK ||
                errno == ENOBUFS)) {
        size_t total = 0;

        for (int i = 0; i < n; i++)
            total += v[i].iov_len;
        rc = (ares_ssize_t)total;
    }
    return rc;
}

static const struct ares_socket_functions wrap_funcs = {
    w_socket, w_close, w_connect, w_recvfrom, w_sendv,
};

/* ---- channels ------------------------------------------------------------ */

static chan *chan_get(struct anysock__resolver *r, int server, int round)
{
    chan *c = &r->chans[server * r->tries + round];
    struct ares_options o;
    struct ares_addr_port_node node;
    char lookups[] = "b";
    int mask;

    if (c->ch != NULL)
        return c;
    memset(&o, 0, sizeof o);
    o.timeout = r->tmo_ms << round;   /* <= 3600000 << 9: fits an int */
    o.tries = 1;
    o.ndots = 1;
    /* NOCHECKRESP: SERVFAIL, REFUSED and NOTIMP come to us, and we move
     * on to the next server (c-ares would turn them into ECONNREFUSED) */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
    /* STAYOPEN: c-ares would close the socket whenever the channel's last
     * query ends, which under load is every time a window's replies come
     * in one wake-up; the next send then pays for a new socket. We close
     * it ourselves once a loop iteration ends with the channel idle
     * (chan_close), so no socket outlives its lookups either way. */
    o.flags |= ARES_FLAG_STAYOPEN;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = c;
    /* everything set: c-ares reads no resolv.conf for this channel */
    o.lookups = lookups;
    mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
           ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE |
           ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS |
           ARES_OPT_SORTLIST;
    if (ares_init_options(&c->ch, &o, mask) != ARES_SUCCESS) {
        c->ch = NULL;
        return NULL;
    }
    node = r->srv[server];
    node.next = NULL;
    if (ares_set_servers_ports(c->ch, &node) != ARES_SUCCESS) {
        ares_destroy(c->ch);
        c->ch = NULL;
        return NULL;
    }
    ares_set_socket_functions(c->ch, &wrap_funcs, c);
    r->dbg.channels++;
    return c;
}

/* Close c's sockets. Only with no query in c-ares (no live attempt, no
 * zombie): resetting the server list then closes them, and is cheaper
 * than a new channel. */
static void chan_close(struct anysock__resolver *r, chan *c)
{
    struct ares_addr_port_node node;

    if (c->ch == NULL || c->socks == NULL || c->sent.n > 0 ||
        c->zombies > 0)
        return;
    node = r->srv[c->server];
    node.next = NULL;
    r->in_ares++;
    (void)ares_set_servers_ports(c->ch, &node);
    r->in_ares--;
    c->refused = false;
}

/* ---- query lifecycle ----------------------------------------------------- */

static unsigned window(const struct anysock__resolver *r)
{
    unsigned w = r->fixed ? r->fixed : (unsigned)r->cwnd;

    return w < 1 ? 1 : w;
}

/* Slow start until the first loss; after it, one more at most once per
 * first-try timeout: losses are only seen that late (a loopback round
 * trip is microseconds, so "one per round trip" would be no limit). */
static void grow(struct anysock__resolver *r)
{
    if (r->cwnd >= r->max_inflight)
        return;
    if (r->cwnd < r->ssthresh) {
        r->cwnd += 1;
    } else {
        double now = mono();

        if (now - r->grown < r->tmo_ms / 1000.0)
            return;
        r->grown = now;
        r->cwnd += 1;
    }
    if (r->cwnd > r->max_inflight)
        r->cwnd = r->max_inflight;
}

static void shrink(struct anysock__resolver *r, uint64_t seq)
{
    if (seq <= r->recover)
        return;   /* one cut per window of losses, as TCP NewReno */
    r->ssthresh = r->cwnd / 2 < CWND_MIN ? CWND_MIN : r->cwnd / 2;
    r->cwnd = r->ssthresh;
    r->recover = r->seq;
    r->grown = mono();
}

static uint64_t rng_next(struct anysock__resolver *r)
{
    uint64_t x = r->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    r->rng = x;
    return x;
}

static void want_idle(struct anysock__resolver *r)
{
    if (!ev_is_active(&r->idle))
        ev_idle_start(r->loop, &r->idle);
}

static void want_prepare(struct anysock__resolver *r)
{
    if (!ev_is_active(&r->prep)) {
        ev_prepare_start(r->loop, &r->prep);
        ev_unref(r->loop);   /* it alone must not keep the loop running */
    }
}

static void request_flush(chan *c)
{
    c->flush = true;
    c->r->want_flush = true;
}

/* The next (server, round) for q at or after q->try, or false. */
static bool next_try(struct anysock__resolver *r, anysock__dnsq *q)
{
    while (q->try < (unsigned)(r->nservers * r->tries)) {
        if (!(q->skip & (1u << (q->try % (unsigned)r->nservers))))
            return true;
        q->try++;
    }
    return false;
}

/* q is in no list but the deadline FIFO: it is over. */
static void complete(struct anysock__resolver *r, anysock__dnsq *q,
                     int status, const unsigned char *abuf, int alen)
{
    d_remove(r, q);
    q->state = Q_DONE;
    q->status = status;
    if (abuf != NULL && alen > 0) {
        q->abuf = anysock__malloc((size_t)alen);
        if (q->abuf != NULL) {
            memcpy(q->abuf, abuf, (size_t)alen);
            q->alen = alen;
        } else {
            q->status = ARES_ENOMEM;
        }
    }
    r->nlive--;
    l_push(&r->done, q);
    want_idle(r);
}

/* q's attempt ended without an answer: on to its next one now. */
static void retry_now(struct anysock__resolver *r, anysock__dnsq *q)
{
    if (!next_try(r, q)) {
        complete(r, q, q->status, NULL, 0);
        return;
    }
    q->state = Q_READY;
    l_push(&r->ready, q);
    want_idle(r);
}

/* ... after a jitter of up to a quarter of the first timeout, so that a
 * round of timeouts is not resent in one burst. */
static void retry_later(struct anysock__resolver *r, anysock__dnsq *q)
{
    double j = r->tmo_ms / 4000.0 *
               ((double)(rng_next(r) >> 11) / 9007199254740992.0);

    if (!next_try(r, q)) {
        complete(r, q, q->status, NULL, 0);
        return;
    }
    q->state = Q_WAIT;
    q->due = mono() + j;
    if (!h_push(r, q))
        retry_now(r, q);
}

/* Give up q's attempt: c-ares keeps it as a zombie. */
static void disown(struct anysock__resolver *r, anysock__dnsq *q)
{
    chan *c = q->c;

    if (c == NULL || q->att == NULL)
        return;   /* not sent: nothing to give up (never happens) */
    q->att->q = NULL;
    q->att = NULL;
    q->c = NULL;
    l_remove(&c->sent, q);
    c->zombies++;
    r->inflight--;
    if (c->sent.n == 0 || c->zombies > r->zombie_cap)
        request_flush(c);
}

/* One attempt's outcome into the recent counts, which are halved once
 * they pass LOSS_SPAN windows of the largest size. */
static void outcome(struct anysock__resolver *r, bool timed_out)
{
    if (timed_out)
        r->drops += 1;
    else
        r->answers += 1;
    if (r->drops + r->answers > 2.0 * LOSS_SPAN * r->max_inflight) {
        r->drops /= 2;
        r->answers /= 2;
    }
}

/* The attempt timed out (by c-ares's clock or ours). Not yet a sign of
 * congestion: a name nobody answers times out every time, and must not
 * shrink the window for the others. A query answered after a timeout by
 * the same server is one: see reply(). */
static void attempt_timeout(struct anysock__resolver *r, anysock__dnsq *q,
                            uint64_t seq)
{
    r->dbg.timeouts++;
    outcome(r, true);
    if (q->lost == 0)
        q->lost = seq;
    q->lostmask |= 1u << (q->try % (unsigned)r->nservers);
    q->status = ARES_ETIMEOUT;
    q->try++;
    retry_later(r, q);
}

/* The server's port is closed: every attempt on it moves on. */
static void server_refused(struct anysock__resolver *r, int server)
{
    for (int k = 0; k < r->tries; k++) {
        chan *c = &r->chans[server * r->tries + k];
        anysock__dnsq *q;

        while ((q = c->sent.head) != NULL) {
            disown(r, q);
            q->status = ARES_ECONNREFUSED;
            q->skip |= 1u << server;
            q->try++;
            retry_now(r, q);
        }
    }
}

/* A server replied to q: the window grows, unless q had timed out on
 * that same server before and so was dropped once (a rate limit, a full
 * queue): then it halves. A timeout on another server is no such sign:
 * a dead first server in front of a good one would keep the window at
 * its floor while the good one answers everything. */
static void reply(struct anysock__resolver *r, anysock__dnsq *q, int server)
{
    bool dropped = (q->lostmask & (1u << server)) != 0;

    if (r->fixed)
        return;
    outcome(r, false);
    if (!dropped)
        grow(r);
    else if (r->drops >= LOSS_CUT * (r->drops + r->answers))
        shrink(r, q->lost);
}

static void att_cb(void *arg, int status, int timeouts, unsigned char *abuf,
                   int alen)
{
    att *a = arg;
    chan *c = a->c;
    struct anysock__resolver *r = c->r;
    anysock__dnsq *q = a->q;
    bool refused = c->refused;

    (void)timeouts;
    anysock__free(a);
    c->refused = false;
    if (q == NULL) {
        c->zombies--;
        return;
    }
    /* q's current attempt */
    q->att = NULL;
    q->c = NULL;
    l_remove(&c->sent, q);
    r->inflight--;
    if (c->sent.n == 0 && c->zombies > 0)
        request_flush(c);
    if (c->sent.n == 0)
        r->idle_check = true;
    if (r->destroying)
        return;
    switch (status) {
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        q->state = Q_READY;   /* not ours (we disown first): resend */
        q->keep_due = q->due;    /* with the same timeout */
        l_push_front(&r->ready, q);
        want_idle(r);
        return;
    case ARES_ETIMEOUT:
        attempt_timeout(r, q, q->seq);
        return;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP:
        /* as glibc: this server's word is not final while another may
         * answer */
        reply(r, q, c->server);
        q->status = status;
        q->skip |= 1u << c->server;
        q->try++;
        retry_now(r, q);
        return;
    case ARES_ECONNREFUSED:
        q->status = status;
        q->skip |= 1u << c->server;
        q->try++;
        if (refused)
            server_refused(r, c->server);
        retry_now(r, q);
        return;
    case ARES_SUCCESS:
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
    case ARES_EFORMERR:
    case ARES_EBADRESP:
        reply(r, q, c->server);
        break;
    default:
        break;
    }
    complete(r, q, status, abuf, alen);
}

/* q, the tail of c->sent, times out before the ones ahead of it (it kept
 * a flushed attempt's timeout): move it back to its place by timeout, so
 * that c->sent stays ordered by due. At most a window's length. */
static void sent_place(chan *c, anysock__dnsq *q)
{
    anysock__dnsq *p = q->prev;

    if (p == NULL || p->due <= q->due)
        return;
    l_remove(&c->sent, q);
    while (p != NULL && p->due > q->due)
        p = p->prev;
    if (p == NULL) {
        l_push_front(&c->sent, q);
        return;
    }
    q->prev = p;
    q->next = p->next;   /* not NULL: a later one is after p */
    p->next->prev = q;
    p->next = q;
    c->sent.n++;
}

static void send_one(struct anysock__resolver *r, anysock__dnsq *q)
{
    chan *c;
    att *a;
    double now, keep = q->keep_due;

    q->keep_due = 0;
    if (!next_try(r, q)) {
        complete(r, q, q->status, NULL, 0);
        return;
    }
    if (keep != 0 && keep <= mono()) {
        /* a flushed attempt whose time ran out while queued */
        attempt_timeout(r, q, q->seq);
        return;
    }
    c = chan_get(r, (int)(q->try % (unsigned)r->nservers),
                 (int)(q->try / (unsigned)r->nservers));
    a = c != NULL ? anysock__malloc(sizeof *a) : NULL;
    if (a == NULL) {
        complete(r, q, ARES_ENOMEM, NULL, 0);
        return;
    }
    a->q = q;
    a->c = c;
    q->att = a;
    q->c = c;
    q->state = Q_SENT;
    q->seq = ++r->seq;
    now = mono();
    /* c-ares starts its clock inside ares_query, a little later: our
     * timeout must not come first (c-ares ends its own, see timer_cb),
     * and one clock read per query is enough */
    q->due = now + c->tmo + DUE_SLACK;
    l_push(&c->sent, q);
    r->inflight++;
    r->dbg.sends++;
    if (q->deadline == 0) {
        q->deadline = now + r->deadline;
        d_push(r, q);
    }
    r->in_ares++;
    /* ares_query, not ares_search: names are absolute, see README */
    ares_query(c->ch, q->name, ns_c_in, q->type, att_cb, a);
    r->in_ares--;
    /* still out (not ended inside ares_query): it stays the tail of
     * c->sent, so the FIFO holds */
    if (q->att == a) {
        if (keep != 0 && keep < q->due) {
            q->due = keep;
            sent_place(c, q);
        }
    }
}

/* Send what tx_add queued, one sendmmsg per run of one socket. c-ares
 * took each query as sent; a datagram the kernel refuses is lost like
 * one dropped on the way (its attempt times out and is retried), except
 * ECONNREFUSED (the server's port is closed): every attempt on that
 * server moves on now, as when c-ares sees it. */
static void tx_send(txbatch *b)
{
    unsigned i = 0;

    while (i < b->n) {
        unsigned j = i + 1;
        int k;

        while (j < b->n && b->fd[j] == b->fd[i])
            j++;
        k = sendmmsg(b->fd[i], &b->mh[i], j - i, MSG_NOSIGNAL);
        if (k > 0) {
            i += (unsigned)k;
            continue;
        }
        if (k < 0 && errno == ECONNREFUSED)
            b->c[i]->tx_refused = true;
        i++;   /* this one is lost; try the rest */
    }
    b->n = 0;
}

/* After pump: server_refused changes the lists pump works on. */
static void tx_refused(struct anysock__resolver *r)
{
    for (int i = 0; i < r->nservers * r->tries; i++) {
        chan *c = &r->chans[i];

        if (c->tx_refused) {
            c->tx_refused = false;
            server_refused(r, c->server);
        }
    }
}

static void pump(struct anysock__resolver *r)
{
    txbatch *b = r->tx;

    if (b == NULL && r->tf == NULL && (r->ready.n > 0 || r->fresh.n > 0)) {
        b = anysock__malloc(sizeof *b);
        if (b != NULL) {
            b->n = 0;
            b->on = false;
            r->tx = b;
        }
    }
    if (b != NULL)
        b->on = true;
    for (int n = 0; n < BUDGET && r->inflight < window(r); n++) {
        anysock__dnsq *q = l_pop(&r->ready);

        if (q == NULL)
            q = l_pop(&r->fresh);
        if (q == NULL)
            break;
        send_one(r, q);
    }
    if (b != NULL) {
        b->on = false;
        if (b->n > 0) {
            tx_send(b);
            tx_refused(r);
        }
    }
}

static void flush(struct anysock__resolver *r, chan *c)
{
    anysock__dnsq *q;

    c->flush = false;
    /* live attempts go back to the front of the queue, each keeping its
     * attempt's timeout: restarting it at every flush, a steady churn of
     * cancelled lookups would keep a live one on a mute server for good */
    while ((q = c->sent.tail) != NULL) {
        double due = q->due;

        disown(r, q);
        q->state = Q_READY;
        q->keep_due = due;
        l_push_front(&r->ready, q);
        want_idle(r);
    }
    c->flush = false;
    if (c->ch == NULL)
        return;
    r->dbg.flushes++;
    r->in_ares++;
    ares_cancel(c->ch);   /* every zombie */
    r->in_ares--;
    chan_close(r, c);
    c->refused = false;
}

/* After the iteration's sends: a channel left with nothing in c-ares
 * has its sockets closed. */
static void close_idle(struct anysock__resolver *r)
{
    if (!r->idle_check || r->in_ares)
        return;
    r->idle_check = false;
    for (int i = 0; i < r->nservers * r->tries; i++)
        chan_close(r, &r->chans[i]);
}

static void run_flushes(struct anysock__resolver *r)
{
    if (!r->want_flush || r->in_ares)
        return;
    r->want_flush = false;
    for (int i = 0; i < r->nservers * r->tries; i++)
        if (r->chans[i].flush)
            flush(r, &r->chans[i]);
}

/* Nothing live: no socket, watcher or timer is left. */
static void release(struct anysock__resolver *r)
{
    for (int i = 0; i < r->nservers * r->tries; i++) {
        chan *c = &r->chans[i];

        if (c->zombies > 0 || c->flush)
            flush(r, c);
        chan_close(r, c);
    }
    r->want_flush = false;
    r->idle_check = false;
    /* the next burst starts afresh (slow start from the initial window) */
    if (!r->fixed) {
        r->cwnd = r->max_inflight < CWND_INIT ? r->max_inflight : CWND_INIT;
        r->ssthresh = r->max_inflight;
        r->drops = r->answers = 0;
    }
    ev_timer_stop(r->loop, &r->timer);
    r->timer_at = 0;
    ev_idle_stop(r->loop, &r->idle);
    if (ev_is_active(&r->prep)) {
        ev_ref(r->loop);
        ev_prepare_stop(r->loop, &r->prep);
    }
    /* an old server set is done once empty; every caller returns at
     * once after release */
    if (r->retired)
        retire_free(r);
}

/* Once per loop iteration (and when the last query goes): stop
 * everything, or re-arm the one timer for the earliest due. */
static void settle(struct anysock__resolver *r)
{
    double next = 0;
    bool work;

    if (r->in_ares)
        return;
    if (r->nlive == 0 && r->done.n == 0) {
        release(r);
        return;
    }
    run_flushes(r);
    for (int i = 0; i < r->nservers * r->tries; i++) {
        anysock__dnsq *q = r->chans[i].sent.head;

        if (q != NULL && (next == 0 || q->due < next))
            next = q->due;
    }
    if (r->dhead != NULL && (next == 0 || r->dhead->deadline < next))
        next = r->dhead->deadline;
    if (r->hn > 0 && (next == 0 || r->heap[0]->due < next))
        next = r->heap[0]->due;
    if (next != r->timer_at) {
        ev_timer_stop(r->loop, &r->timer);
        r->timer_at = next;
        if (next != 0) {
            double now;

            /* libev counts from its cached time: bring it up to date so
             * the timer does not fire before c-ares's own deadline */
            ev_now_update(r->loop);
            now = mono();
            ev_timer_set(&r->timer, next > now ? next - now : 0., 0.);
            ev_timer_start(r->loop, &r->timer);
            r->dbg.timer_arms++;
        }
    }
    work = r->done.n > 0 || r->want_flush ||
           ((r->ready.n > 0 || r->fresh.n > 0) && r->inflight < window(r));
    if (work)
        want_idle(r);
    else
        ev_idle_stop(r->loop, &r->idle);
}

/* Hand results over; false when a callback freed the context. */
static bool drain(struct anysock__resolver *r)
{
    bool alive = true, *outer = r->alive;

    /* a stack flag the free path clears; restored below before return,
     * and r is gone when it is not */
    // cppcheck-suppress autoVariables
    r->alive = &alive;
    for (int n = 0; n < BUDGET && r->done.head != NULL; n++) {
        anysock__dnsq *q = l_pop(&r->done);

        q->state = Q_CB;
        q->cb(q->arg, q->status, q->abuf, q->alen);
        anysock__free(q->abuf);
        anysock__free(q);
        if (!alive) {
            if (outer != NULL)
                *outer = false;
            return false;
        }
    }
    r->alive = outer;
    if (r->done.n > 0)
        want_idle(r);
    return true;
}

static void prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct anysock__resolver *r =
        anysock__container_of(w, struct anysock__resolver, prep);

    (void)loop;
    (void)revents;
    r->dbg.iterations++;
    run_flushes(r);
    if (!drain(r))
        return;
    pump(r);
    run_flushes(r);
    close_idle(r);
    settle(r);
}

static void idle_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    /* only keeps the loop from blocking: prepare_cb does the work */
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    chan *c = ((sockw *)(void *)w)->c;
    struct anysock__resolver *r = c->r;
    int fd = w->fd;

    (void)loop;
    r->in_ares++;
    if (revents & EV_READ)
        rx_rearm(r, fd);
    /* may close the socket and free w through sock_state_cb */
    ares_process_fd(c->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    r->in_ares--;
    /* c-ares stopped reading before the batch ran out (it leaves a
     * socket early only when it closes it, which empties the batch):
     * the kernel will not wake us for replies we hold, so come back */
    if (rx_pending(r, fd))
        for (sockw *s = c->socks; s != NULL; s = s->next)
            if (s->io.fd == fd)
                ev_feed_event(r->loop, &s->io, EV_READ);
    run_flushes(r);
    if (!drain(r))
        return;
    if (r->nlive == 0 && r->done.n == 0)
        release(r);
}

static void expire(struct anysock__resolver *r, anysock__dnsq *q)
{
    switch (q->state) {
    case Q_SENT:
        disown(r, q);
        break;
    case Q_WAIT:
        h_remove(r, q);
        break;
    case Q_READY:
        l_remove(&r->ready, q);
        break;
    default:
        break;
    }
    r->dbg.deadlines++;
    complete(r, q, ARES_ETIMEOUT, NULL, 0);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct anysock__resolver *r =
        anysock__container_of(w, struct anysock__resolver, timer);
    double now = mono();
    int n = 0;

    (void)loop;
    (void)revents;
    r->timer_at = 0;
    /* c-ares ends its own timed-out attempts first (att_cb) */
    for (int i = 0; i < r->nservers * r->tries; i++) {
        chan *c = &r->chans[i];

        if (c->sent.head != NULL && c->sent.head->due <= now) {
            r->in_ares++;
            ares_process_fd(c->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
            r->in_ares--;
        }
    }
    /* what it has not ended yet is over by our clock */
    for (int i = 0; i < r->nservers * r->tries; i++) {
        chan *c = &r->chans[i];
        anysock__dnsq *q;

        while (n < BUDGET && (q = c->sent.head) != NULL && q->due <= now) {
            disown(r, q);
            attempt_timeout(r, q, q->seq);
            n++;
        }
    }
    while (n < BUDGET && r->dhead != NULL && r->dhead->deadline <= now) {
        expire(r, r->dhead);
        n++;
    }
    while (n < BUDGET && r->hn > 0 && r->heap[0]->due <= now) {
        anysock__dnsq *q = r->heap[0];

        h_remove(r, q);
        q->state = Q_READY;
        l_push(&r->ready, q);
        n++;
    }
    if (n == BUDGET)
        want_idle(r);   /* more next iteration; settle re-arms at 0 */
    run_flushes(r);
    if (!drain(r))
        return;
    want_idle(r);       /* settle (prepare) re-arms the timer */
}

/* ---- interface ------------------------------------------------------------ */

int anysock__dns_query(anysock_ctx *ctx, const char *name, int type,
                       anysock__dns_cb cb, void *arg, anysock__dnsq **out)
{
    struct anysock__resolver *r = ctx->res;
    size_t n = strlen(name);
    anysock__dnsq *q = anysock__malloc(sizeof *q + n + 1);

    if (q == NULL)
        return -ENOMEM;
    memset(q, 0, sizeof *q);
    memcpy(q->name, name, n + 1);
    q->r = r;
    q->cb = cb;
    q->arg = arg;
    q->type = type;
    q->state = Q_FRESH;
    /* no server: send_one ends it with this status, from the loop */
    q->status = r->nservers > 0 ? ARES_ETIMEOUT : ANYSOCK__ARES_ENOSERVERS;
    l_push(&r->fresh, q);
    r->nlive++;
    *out = q;
    /* sent from the next prepare, never from here */
    want_prepare(r);
    want_idle(r);
    return 0;
}

void anysock__dns_detach(anysock__dnsq *q)
{
    struct anysock__resolver *r = q->r;

    switch (q->state) {
    case Q_CB:
        return;   /* inside its own callback: freed after it */
    case Q_DONE:
        l_remove(&r->done, q);
        anysock__free(q->abuf);
        break;
    case Q_FRESH:
        l_remove(&r->fresh, q);
        r->nlive--;
        break;
    case Q_READY:
        l_remove(&r->ready, q);
        d_remove(r, q);
        r->nlive--;
        break;
    case Q_WAIT:
        h_remove(r, q);
        d_remove(r, q);
        r->nlive--;
        break;
    case Q_SENT:
        disown(r, q);
        d_remove(r, q);
        r->nlive--;
        break;
    default:
        break;
    }
    anysock__free(q);
    if (r->in_ares || r->destroying)
        return;
    if (r->nlive == 0 && r->done.n == 0)
        release(r);    /* sockets, watchers and timer go now */
    else
        run_flushes(r);
}

void anysock__dns_stats(const anysock_ctx *ctx, size_t *queued,
                        size_t *inflight)
{
    const struct anysock__resolver *r = ctx->res;

    *queued = r->fresh.n + r->ready.n + r->hn;
    *inflight = r->inflight;
    for (r = r->older; r != NULL; r = r->onext) {
        *queued += r->fresh.n + r->ready.n + r->hn;
        *inflight += r->inflight;
    }
}

void anysock__dns_debug_get(const anysock_ctx *ctx, anysock__dns_debug *d)
{
    const struct anysock__resolver *r = ctx->res;
    unsigned z = 0;

    *d = r->dbg;
    for (int i = 0; i < r->nservers * r->tries; i++)
        z += r->chans[i].zombies;
    d->fresh = r->fresh.n;
    d->ready = r->ready.n;
    d->waiting = r->hn;
    d->inflight = r->inflight;
    d->done = r->done.n;
    d->zombies = z;
    d->zombie_cap = r->zombie_cap;
    d->window = window(r);
    d->max_inflight = r->max_inflight;
    d->active = ev_is_active(&r->timer) + ev_is_active(&r->idle) +
                ev_is_active(&r->prep);
    d->nservers = (size_t)r->nservers;
    d->retired = 0;
    for (const struct anysock__resolver *o = r->older; o; o = o->onext)
        d->retired++;
}

void anysock__dns_tune(anysock_ctx *ctx, unsigned fixed_window, uint64_t seed)
{
    struct anysock__resolver *r = ctx->res;

    r->fixed = fixed_window;
    if (seed != 0)
        r->rng = seed;
}

void anysock__dns_set_socket_functions(anysock_ctx *ctx,
                                       const struct ares_socket_functions *f,
                                       void *data)
{
    ctx->res->tf = f;
    ctx->res->tdata = data;
}

/* ---- resolv.conf --------------------------------------------------------- */

/* The servers a resolv.conf names, as c-ares 1.18 reads them: the
 * addresses on "nameserver" lines (several per line too), port 53.
 * Opened non-blocking and read only when it is a regular file, so a FIFO
 * or a device under the path cannot hang a lookup. A missing file names
 * none. *st gets what was read (before reading, so that any later change
 * is seen), *exists whether there was a file. */
static int conf_read(const char *path, struct ares_addr_port_node *srv,
                     struct stat *st, bool *exists)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC), n = 0;
    char line[512];
    FILE *f;

    *exists = false;
    if (fd < 0) {
        /* unreadable: remember it as it is, so it is not read again
         * until it changes */
        *exists = stat(path, st) == 0;
        return 0;
    }
    if (fstat(fd, st) != 0) {
        anysock__close(fd);
        return 0;
    }
    *exists = true;
    if (!S_ISREG(st->st_mode) || (f = fdopen(fd, "r")) == NULL) {
        anysock__close(fd);
        return 0;
    }
    while (n < MAX_SERVERS && fgets(line, sizeof line, f) != NULL) {
        char *p = line + strspn(line, " \t"), *tok, *save = NULL;

        if (strncmp(p, "nameserver", 10) != 0 ||
            (p[10] != ' ' && p[10] != '\t'))
            continue;
        p[strcspn(p, "#;\n")] = '\0';
        for (tok = strtok_r(p + 10, " \t,", &save);
             tok != NULL && n < MAX_SERVERS;
             tok = strtok_r(NULL, " \t,", &save)) {
            struct ares_addr_port_node *s = &srv[n];

            memset(s, 0, sizeof *s);
            if (inet_pton(AF_INET, tok, &s->addr.addr4) == 1)
                s->family = AF_INET;
            else if (inet_pton(AF_INET6, tok, &s->addr.addr6) == 1)
                s->family = AF_INET6;
            else
                continue;
            n++;
        }
    }
    fclose(f);
    return n;
}

static bool conf_same(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
           a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
           a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* ---- life ---------------------------------------------------------------- */

/* A resolver for `servers` (the ANYSOCK_DNS_SERVERS syntax) or, when
 * NULL, for the servers `conf` names (none is allowed: every query then
 * ends with ANYSOCK__ARES_ENOSERVERS). */
static int make(anysock_ctx *ctx, int tmo_ms, int tries, unsigned maxinf,
                const char *servers, const char *conf,
                struct anysock__resolver **out)
{
    struct anysock__resolver *r;
    int n = 0;
    double eff;

    r = anysock__calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    if (servers != NULL) {
        struct ares_options o;
        struct ares_addr_port_node *list = NULL, *p;
        ares_channel tmpl;
        int rc;

        memset(&o, 0, sizeof o);
        o.flags = ARES_FLAG_NOSEARCH;
        rc = ares_init_options(&tmpl, &o, ARES_OPT_FLAGS);
        if (rc != ARES_SUCCESS) {
            anysock__free(r);
            return rc == ARES_ENOMEM ? -ENOMEM : ANYSOCK_EDNS;
        }
        if (ares_set_servers_ports_csv(tmpl, servers) != ARES_SUCCESS) {
            ares_destroy(tmpl);
            anysock__free(r);
            return -EINVAL;
        }
        rc = ares_get_servers_ports(tmpl, &list);
        ares_destroy(tmpl);
        if (rc != ARES_SUCCESS) {
            anysock__free(r);
            return -ENOMEM;
        }
        for (p = list; p != NULL && n < MAX_SERVERS; p = p->next)
            r->srv[n++] = *p;
        ares_free_data(list);
        if (n == 0) {   /* c-ares always has one; be safe */
            anysock__free(r);
            return ANYSOCK_EDNS;
        }
    } else {
        n = conf_read(conf, r->srv, &r->conf_st, &r->conf_exists);
    }
    if (n > 0) {
        r->chans = anysock__calloc((size_t)n * (size_t)tries,
                                   sizeof *r->chans);
        if (r->chans == NULL) {
            anysock__free(r);
            return -ENOMEM;
        }
    }
    r->ctx = ctx;
    r->nservers = n;
    r->tries = tries;
    r->tmo_ms = tmo_ms;
    for (int s = 0; s < n; s++) {
        for (int k = 0; k < tries; k++) {
            chan *c = &r->chans[s * tries + k];

            c->r = r;
            c->server = s;
            c->round = k;
            c->udp_fd = -1;
            c->tmo = (double)(tmo_ms << k) / 1000.0;
        }
    }
    r->loop = ctx->loop;
    eff = tmo_ms / 1000.0;
    /* the lookup deadline, from the first send: one server's full retry
     * schedule plus one first-try timeout, so a mute first server still
     * leaves the second its turn; 2 s, 3 tries: 16 s */
    r->deadline = eff * ((1 << tries) - 1) + eff;
    r->max_inflight = maxinf;
    r->cwnd = r->max_inflight < CWND_INIT ? r->max_inflight : CWND_INIT;
    r->ssthresh = r->max_inflight;
    r->zombie_cap = r->max_inflight > ZOMBIE_MIN ? r->max_inflight
                                                 : ZOMBIE_MIN;
    r->rng = ctx->rng ^ 0x9e3779b97f4a7c15u;
    if (r->rng == 0)
        r->rng = 1;
    ev_prepare_init(&r->prep, prepare_cb);
    ev_idle_init(&r->idle, idle_cb);
    ev_init(&r->timer, timer_cb);
    r->dbg.nservers = (size_t)n;
    *out = r;
    return 0;
}

int anysock__dns_new(anysock_ctx *ctx, const anysock_config *cfg,
                     const char *servers)
{
    struct anysock__resolver *r;
    double timeout = cfg->dns_timeout > 0 ? cfg->dns_timeout
                                          : DEFAULT_TIMEOUT;
    int tries = cfg->dns_tries > 0 ? cfg->dns_tries : DEFAULT_TRIES;
    const char *conf = cfg->resolv_conf != NULL ? cfg->resolv_conf
                                                : "/etc/resolv.conf";
    /* c-ares counts whole milliseconds and at least one: round up and
     * clamp here, so that the deadline uses the same figure */
    int tmo_ms = (int)(timeout * 1000 + 0.999), rc;
    char *path = NULL;

    if (tmo_ms < 1)
        tmo_ms = 1;
    if (servers == NULL) {
        size_t len = strlen(conf) + 1;

        if (*conf == '\0' || (path = anysock__malloc(len)) == NULL)
            return *conf == '\0' ? -EINVAL : -ENOMEM;
        memcpy(path, conf, len);
    }
    rc = make(ctx, tmo_ms, tries,
              cfg->dns_max_inflight > 0 ? (unsigned)cfg->dns_max_inflight
                                        : DEFAULT_INFLIGHT,
              servers, path, &r);
    if (rc < 0) {
        anysock__free(path);
        return rc;
    }
    r->conf_path = path;
    r->conf_checked = mono();
    ctx->dns_deadline = r->deadline;
    ctx->res = r;
    return 0;
}

static void free_list(qlist *l)
{
    anysock__dnsq *q;

    while ((q = l_pop(l)) != NULL) {
        anysock__free(q->abuf);
        anysock__free(q);
    }
}

static void resolver_free(struct anysock__resolver *r)
{
    r->destroying = true;
    if (r->alive != NULL)
        *r->alive = false;
    /* every op was cancelled first, so only orphans are left */
    free_list(&r->fresh);
    free_list(&r->ready);
    free_list(&r->done);
    while (r->hn > 0) {
        anysock__dnsq *q = r->heap[0];

        h_remove(r, q);
        anysock__free(q);
    }
    for (int i = 0; i < r->nservers * r->tries; i++) {
        chan *c = &r->chans[i];
        anysock__dnsq *q;

        while ((q = c->sent.head) != NULL) {
            disown(r, q);
            anysock__free(q);
        }
        if (c->ch != NULL) {
            r->in_ares++;
            ares_destroy(c->ch);   /* zombies end: att_cb frees them */
            r->in_ares--;
        }
        while (c->socks != NULL) {
            sockw *s = c->socks;

            c->socks = s->next;
            ev_io_stop(r->loop, &s->io);
            anysock__free(s);
        }
    }
    ev_timer_stop(r->loop, &r->timer);
    ev_idle_stop(r->loop, &r->idle);
    if (ev_is_active(&r->prep)) {
        ev_ref(r->loop);
        ev_prepare_stop(r->loop, &r->prep);
    }
    anysock__free(r->conf_path);
    anysock__free(r->rx);
    anysock__free(r->tx);
    anysock__free(r->heap);
    anysock__free(r->chans);
    anysock__free(r);
}

/* A retired resolver whose last query ended: off the current one's list,
 * then gone. */
static void retire_free(struct anysock__resolver *r)
{
    if (r->oprev != NULL)
        r->oprev->onext = r->onext;
    else
        r->ctx->res->older = r->onext;
    if (r->onext != NULL)
        r->onext->oprev = r->oprev;
    resolver_free(r);
}

void anysock__dns_refresh(anysock_ctx *ctx)
{
    struct anysock__resolver *r = ctx->res, *nr;
    struct stat st;
    bool exists;
    double now;

    if (r->conf_path == NULL)
        return;                  /* explicit servers: never replaced */
    now = mono();
    if (now - r->conf_checked < 1.0)
        return;                  /* at most one look per second */
    r->conf_checked = now;
    r->dbg.conf_checks++;
    exists = stat(r->conf_path, &st) == 0;
    if (exists == r->conf_exists && (!exists || conf_same(&st, &r->conf_st)))
        return;
    /* With c-ares >= 1.22 ares_reinit() re-reads the system configuration
     * in place, but it moves queries in flight to the new servers and our
     * channels carry one explicit server each: a new set does what is
     * wanted here on every version. On failure (memory) the old set stays
     * and the next look tries again. */
    if (make(ctx, r->tmo_ms, r->tries, r->max_inflight, NULL, r->conf_path,
             &nr) < 0)
        return;
    nr->conf_path = r->conf_path;
    r->conf_path = NULL;
    nr->conf_checked = now;
    nr->dbg.conf_checks = r->dbg.conf_checks;
    nr->dbg.conf_reloads = r->dbg.conf_reloads + 1;
    nr->tf = r->tf;
    nr->tdata = r->tdata;
    nr->fixed = r->fixed;
    nr->older = r->older;
    r->older = NULL;
    ctx->res = nr;
    if (r->nlive == 0 && r->done.n == 0 && r->in_ares == 0 &&
        r->alive == NULL) {
        resolver_free(r);        /* idle: nothing to finish */
    } else {
        r->retired = true;
        r->oprev = NULL;
        r->onext = nr->older;
        if (nr->older != NULL)
            nr->older->oprev = r;
        nr->older = r;
    }
    if (ctx->cache != NULL)
        anysock__cache_clear(ctx->cache);   /* answers of other servers */
}

void anysock__dns_free(anysock_ctx *ctx)
{
    struct anysock__resolver *r = ctx->res;

    if (r == NULL)
        return;
    while (r->older != NULL) {
        struct anysock__resolver *o = r->older;

        r->older = o->onext;
        resolver_free(o);
    }
    resolver_free(r);
    ctx->res = NULL;
}
