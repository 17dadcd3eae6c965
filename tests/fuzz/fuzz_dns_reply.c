/* Arbitrary bytes as DNS replies to anysock_resolve_sockaddr, in-process:
 * c-ares's socket-function hooks (anysock__dns_set_socket_functions) give
 * it eventfds for sockets, so the ctx's libev watchers work unchanged, and
 * every query it sends is answered from the input at once. No server, no
 * threads, no network.
 *
 * Input: byte 0 picks the lookup (bits 0-2, see lookups[]) and flags:
 *   0x08  leave the reply's id alone (else it is the query's)
 *   0x10  splice: the reply is the chunk's 12-byte header, then the
 *         query's own question section, then the rest of the chunk
 *   0x20  cancel the guard once a reply has been read
 *   0x40  no guard (the operation frees itself)
 * The rest is chunks, consumed one per query in the order c-ares sends
 * them (UDP, and TCP after a reply with TC set): a 2-byte big-endian
 * header, bit 15 "one more datagram for this query follows", bits 0-14
 * the length (0x7fff: say nothing, the query times out), then the bytes.
 * A query with no chunk left gets ECONNREFUSED (UDP) or EOF (TCP).
 *
 * Checked with abort(): the callback runs exactly once (never after a
 * cancel), never before the call returned; status 0 with count >= 1 and
 * every target well formed: family as asked, AF_INET ones before AF_INET6
 * ones (ipv4,ipv6 preference), sockaddr length and family matching,
 * socktype and protocol as asked, port the service's or one of an SRV
 * reply's, address one that some reply carried (the hosts file is
 * /dev/null); or a negative status with a non-empty anysock_strerror.
 * Afterwards no operation is left on the ctx and every socket c-ares
 * opened was closed through the hooks (the only fds a lookup opens with
 * the hosts file /dev/null, which is never opened as it is no regular
 * file). The process's /proc/self/fd count is no use here: libFuzzer
 * itself opens pipes to llvm-symbolizer when it reports a new function. */
#include "fuzz.h"
#include "internal.h"

#include <ares.h>
#include <dlfcn.h>
#include <time.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <ev.h>
#include <stdbool.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);

#define NODE "a.fuzz.test"
#define SERVER "127.0.0.1"

enum {
    F_NOPATCH = 0x08,
    F_SPLICE = 0x10,
    F_CANCEL = 0x20,
    F_NOGUARD = 0x40,
};

static const struct lookup {
    const char *service, *proto;
    int family;
    uint16_t port;
    bool srv;
} lookups[8] = {
    {"80", "tcp", 0, 80, false},   {"80", "tcp", 4, 80, false},
    {"80", "tcp", 6, 80, false},   {"x=5222", "tcp", 0, 5222, true},
    {"x=5222", "tcp", 4, 5222, true}, {"x=5222", "tcp", 6, 5222, true},
    {"80", "udp", 0, 80, false},   {"x=5222", "udp", 0, 5222, true},
};

/* ---- the fake sockets ---------------------------------------------------- */

#define MAXFD 4096

struct buf {
    uint8_t *p;
    size_t n, cap;
};

struct dgram {
    uint8_t *p;
    size_t n;
    int err;            /* recvfrom fails with this instead */
};

struct fsock {
    bool open, tcp;
    struct sockaddr_storage peer;
    socklen_t peerlen;
    struct dgram *q;    /* UDP: datagrams to read, q[qhead..qn) */
    size_t qhead, qn, qcap;
    struct buf in;      /* TCP: the byte stream to read */
    size_t inpos;
    bool eof;
    struct buf out;     /* TCP: bytes written, not yet a whole query */
};

static struct fsock socks[MAXFD];

/* This input's state. */
static struct {
    const uint8_t *p;
    size_t n;
    unsigned flags;
    size_t opened, closed, replies_read, tcp_opened;
    unsigned long activity;   /* socket hook calls that did something */
    int maxfd;
    /* what the replies carried: any address a target may have, any SRV
     * port */
    struct buf addrs4, addrs6;
    uint16_t ports[256];
    size_t nports;
    bool ports_overflow;
} in;

static void buf_add(struct buf *b, const void *p, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap < b->n + n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        if (b->p == NULL)
            abort();
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

static void poke(int fd)
{
    uint64_t one = 1;

    CHECK(write(fd, &one, sizeof one) == sizeof one);
}

static void drain(int fd)
{
    uint64_t v;

    (void)!read(fd, &v, sizeof v);   /* EAGAIN when already 0 */
}

static ares_socket_t f_socket(int domain, int type, int protocol, void *ud)
{
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

    (void)domain;
    (void)protocol;
    (void)ud;
    if (fd < 0)
        return ARES_SOCKET_BAD;
    CHECK(fd < MAXFD && !socks[fd].open);
    memset(&socks[fd], 0, sizeof socks[fd]);
    socks[fd].open = true;
    socks[fd].tcp = (type & 0xf) == SOCK_STREAM;
    in.opened++;
    in.tcp_opened += socks[fd].tcp;
    in.activity++;
    if (fd > in.maxfd)
        in.maxfd = fd;
    return fd;
}

static int f_close(ares_socket_t fd, void *ud)
{
    struct fsock *s = &socks[fd];

    (void)ud;
    CHECK(fd >= 0 && fd < MAXFD && s->open);
    for (size_t i = s->qhead; i < s->qn; i++)
        free(s->q[i].p);
    free(s->q);
    free(s->in.p);
    free(s->out.p);
    memset(s, 0, sizeof *s);
    in.closed++;
    in.activity++;
    return close(fd);
}

static int f_connect(ares_socket_t fd, const struct sockaddr *sa,
                     ares_socklen_t len, void *ud)
{
    struct fsock *s = &socks[fd];

    (void)ud;
    CHECK(s->open && len <= sizeof s->peer);
    memcpy(&s->peer, sa, len);
    s->peerlen = len;
    in.activity++;
    return 0;
}

static void push_dgram(struct fsock *s, uint8_t *p, size_t n, int err)
{
    if (s->qn == s->qcap) {
        s->qcap = s->qcap ? s->qcap * 2 : 8;
        s->q = realloc(s->q, s->qcap * sizeof *s->q);
        if (s->q == NULL)
            abort();
    }
    s->q[s->qn++] = (struct dgram){p, n, err};
}

/* What the resolver may take from this reply, whatever query it answers. */
static void note_reply(const uint8_t *p, size_t n)
{
    struct hostent *he = NULL;
    struct ares_srv_reply *srv = NULL;

    if (ares_parse_a_reply(p, (int)n, &he, NULL, NULL) == ARES_SUCCESS &&
        he != NULL)
        for (char **a = he->h_addr_list; *a != NULL; a++)
            buf_add(&in.addrs4, *a, 4);
    if (he != NULL)
        ares_free_hostent(he);
    he = NULL;
    if (ares_parse_aaaa_reply(p, (int)n, &he, NULL, NULL) == ARES_SUCCESS &&
        he != NULL)
        for (char **a = he->h_addr_list; *a != NULL; a++)
            buf_add(&in.addrs6, *a, 16);
    if (he != NULL)
        ares_free_hostent(he);
    if (ares_parse_srv_reply(p, (int)n, &srv) == ARES_SUCCESS) {
        for (struct ares_srv_reply *r = srv; r != NULL; r = r->next) {
            if (in.nports < ANYSOCK__ARRAY_SIZE(in.ports))
                in.ports[in.nports++] = r->port;
            else
                in.ports_overflow = true;
        }
        ares_free_data(srv);
    }
}

/* The replies to one query q (without a TCP length prefix), from the
 * input, onto s. */
static void answer(struct fsock *s, int fd, const uint8_t *q, size_t qlen)
{
    for (;;) {
        unsigned h;
        size_t len, rlen;
        uint8_t *r;

        if (in.n < 2) {
            if (s->tcp)
                s->eof = true;
            else
                push_dgram(s, NULL, 0, ECONNREFUSED);
            poke(fd);
            return;
        }
        h = (unsigned)in.p[0] << 8 | in.p[1];
        in.p += 2;
        in.n -= 2;
        len = h & 0x7fff;
        if (len == 0x7fff) {    /* silence */
            if (h & 0x8000)
                continue;
            return;
        }
        if (len > in.n)
            len = in.n;
        r = malloc(len + qlen + 2);
        if (r == NULL)
            abort();
        if ((in.flags & F_SPLICE) && len >= 12 && qlen >= 12) {
            memcpy(r, in.p, 12);
            memcpy(r + 12, q + 12, qlen - 12);
            memcpy(r + qlen, in.p + 12, len - 12);
            rlen = len + qlen - 12;
        } else {
            memcpy(r, in.p, len);
            rlen = len;
        }
        in.p += len;
        in.n -= len;
        if (!(in.flags & F_NOPATCH) && rlen >= 2 && qlen >= 2)
            memcpy(r, q, 2);
        note_reply(r, rlen);
        if (s->tcp) {
            uint8_t l[2] = {(uint8_t)(rlen >> 8), (uint8_t)rlen};

            buf_add(&s->in, l, 2);
            buf_add(&s->in, r, rlen);
            free(r);
        } else {
            push_dgram(s, r, rlen, 0);
        }
        poke(fd);
        if (!(h & 0x8000))
            return;
    }
}

static ares_ssize_t f_sendv(ares_socket_t fd, const struct iovec *v, int n,
                            void *ud)
{
    struct fsock *s = &socks[fd];
    size_t total = 0;

    (void)ud;
    CHECK(fd >= 0 && fd < MAXFD && s->open);
    in.activity++;
    for (int i = 0; i < n; i++) {
        buf_add(&s->out, v[i].iov_base, v[i].iov_len);
        total += v[i].iov_len;
    }
    if (!s->tcp) {
        answer(s, fd, s->out.p, s->out.n);
        s->out.n = 0;
        return (ares_ssize_t)total;
    }
    /* TCP: whole length-prefixed queries, possibly several at once */
    for (;;) {
        size_t ql;

        if (s->out.n < 2)
            break;
        ql = (size_t)s->out.p[0] << 8 | s->out.p[1];
        if (s->out.n < 2 + ql)
            break;
        answer(s, fd, s->out.p + 2, ql);
        memmove(s->out.p, s->out.p + 2 + ql, s->out.n - 2 - ql);
        s->out.n -= 2 + ql;
    }
    return (ares_ssize_t)total;
}

static ares_ssize_t f_recvfrom(ares_socket_t fd, void *buf, size_t len,
                               int flags, struct sockaddr *from,
                               ares_socklen_t *fromlen, void *ud)
{
    struct fsock *s = &socks[fd];

    (void)flags;
    (void)ud;
    CHECK(fd >= 0 && fd < MAXFD && s->open);
    if (s->tcp) {
        size_t k = s->in.n - s->inpos;

        if (k == 0) {
            if (s->eof)
                return 0;
            drain(fd);
            errno = EAGAIN;
            return -1;
        }
        if (k > len)
            k = len;
        memcpy(buf, s->in.p + s->inpos, k);
        s->inpos += k;
        in.replies_read++;
        in.activity++;
        return (ares_ssize_t)k;
    }
    if (s->qhead == s->qn) {
        drain(fd);
        errno = EAGAIN;
        return -1;
    }
    {
        struct dgram d = s->q[s->qhead++];
        size_t k = d.n < len ? d.n : len;   /* a datagram is cut short */

        in.replies_read++;
        in.activity++;
        if (d.err) {
            errno = d.err;
            return -1;
        }
        memcpy(buf, d.p, k);
        free(d.p);
        if (from != NULL && fromlen != NULL) {
            socklen_t fl = s->peerlen < *fromlen ? s->peerlen : *fromlen;

            memcpy(from, &s->peer, fl);
            *fromlen = s->peerlen;
        }
        return (ares_ssize_t)k;
    }
}

static const struct ares_socket_functions funcs = {
    f_socket, f_close, f_connect, f_recvfrom, f_sendv,
};

/* ---- virtual time -------------------------------------------------------
 * Every reply is there before c-ares looks, so the only waiting is for
 * timeouts (a query not answered, or answered with something c-ares
 * ignores: very common among mutated inputs). Waiting for them for real
 * would make this target a thousand times slower, so CLOCK_MONOTONIC,
 * which both c-ares (ares__tvnow) and libev (mn_now) time out by, is the
 * real clock plus a skew that the driver below moves on whenever the
 * loop has nothing to do. This definition interposes on glibc's for the
 * shared c-ares and libev; libFuzzer's own clocks are not monotonic ones. */

#define TIMEOUT 1.0                 /* dns_timeout, virtual seconds */
#define STEP_NS 250000000           /* a quarter of it per idle round */
#define STUCK_NS 600000000000       /* 10 virtual minutes: a lost lookup */

static int64_t skew_ns;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    static int (*real)(clockid_t, struct timespec *);
    int r;

    if (real == NULL) {
        real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT,
                                                             "clock_gettime");
        if (real == NULL)
            abort();
    }
    r = real(id, ts);
    if (r == 0 && skew_ns != 0 &&
        (id == CLOCK_MONOTONIC || id == CLOCK_MONOTONIC_COARSE ||
         id == CLOCK_MONOTONIC_RAW || id == CLOCK_BOOTTIME)) {
        int64_t ns = ts->tv_nsec + skew_ns % 1000000000;

        ts->tv_sec += (time_t)(skew_ns / 1000000000 + ns / 1000000000);
        ts->tv_nsec = (long)(ns % 1000000000);
    }
    return r;
}

/* Data (or an error, or EOF) waiting on a fake socket. */
static bool readable(void)
{
    for (int fd = 0; fd <= in.maxfd; fd++) {
        const struct fsock *s = &socks[fd];

        if (s->open && (s->qhead < s->qn || s->inpos < s->in.n || s->eof))
            return true;
    }
    return false;
}

/* ---- the lookup ---------------------------------------------------------- */

static struct ev_loop *loop;
static anysock_ctx *ctx;

/* FUZZ_DNS_TRACE=1: print each outcome (for replaying seeds by hand) */
static bool trace;

static struct {
    const struct lookup *lk;
    bool returned, cancelled;
    int calls;
} st;

static bool has_addr(const struct buf *b, const void *a, size_t len)
{
    for (size_t i = 0; i + len <= b->n; i += len)
        if (memcmp(b->p + i, a, len) == 0)
            return true;
    return false;
}

static bool port_ok(uint16_t port)
{
    if (port == st.lk->port)
        return true;
    if (!st.lk->srv)
        return false;
    if (in.ports_overflow)
        return true;
    for (size_t i = 0; i < in.nports; i++)
        if (in.ports[i] == port)
            return true;
    return false;
}

static void resolve_cb(void *data, int status, const anysock_target *t,
                       size_t count)
{
    const struct lookup *lk = st.lk;
    bool seen6 = false;

    (void)data;
    st.calls++;
    if (trace) {
        fprintf(stderr, "lookup %d: status %d (%s), %zu targets, %zu "
                "sockets (%zu tcp)\n", (int)(lk - lookups), status,
                anysock_strerror(status), count, in.opened, in.tcp_opened);
        for (size_t i = 0; i < count; i++) {
            char txt[ANYSOCK_IPV6_STRLEN];
            anysock_addr a;
            uint16_t port = 0;

            if (anysock_unpack_sockaddr(&t[i].addr.u.sa, t[i].addr.len, &a,
                                        &port, NULL, NULL) == 0 &&
                anysock_format_address(&a, txt, sizeof txt) >= 0)
                fprintf(stderr, "  %s port %u\n", txt, port);
        }
    }
    CHECK(st.calls == 1);
    CHECK(st.returned);
    CHECK(!st.cancelled);
    if (status < 0) {
        const char *msg = anysock_strerror(status);

        CHECK(count == 0);
        CHECK(msg != NULL && *msg != '\0');
        return;
    }
    CHECK(status == 0);
    CHECK(count >= 1 && t != NULL);
    for (size_t i = 0; i < count; i++) {
        const anysock_target *x = &t[i];

        CHECK(x->socktype == (strcmp(lk->proto, "udp") == 0 ? SOCK_DGRAM
                                                             : SOCK_STREAM));
        CHECK(x->protocol == (strcmp(lk->proto, "udp") == 0 ? IPPROTO_UDP
                                                             : IPPROTO_TCP));
        if (x->family == AF_INET) {
            CHECK(lk->family != 6);
            CHECK(!seen6);
            CHECK(x->addr.len == sizeof(struct sockaddr_in));
            CHECK(x->addr.u.in.sin_family == AF_INET);
            CHECK(port_ok(ntohs(x->addr.u.in.sin_port)));
            CHECK(has_addr(&in.addrs4, &x->addr.u.in.sin_addr, 4));
        } else {
            CHECK(x->family == AF_INET6);
            CHECK(lk->family != 4);
            seen6 = true;
            CHECK(x->addr.len == sizeof(struct sockaddr_in6));
            CHECK(x->addr.u.in6.sin6_family == AF_INET6);
            CHECK(port_ok(ntohs(x->addr.u.in6.sin6_port)));
            CHECK(has_addr(&in.addrs6, &x->addr.u.in6.sin6_addr, 16));
        }
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    anysock_config cfg;

    (void)argc;
    (void)argv;
    trace = getenv("FUZZ_DNS_TRACE") != NULL;
    loop = ev_loop_new(EVFLAG_AUTO);
    CHECK(loop != NULL);
    anysock_config_init(&cfg);
    cfg.dns_servers = SERVER;
    cfg.hosts_file = "/dev/null";
    cfg.protocols = "ipv4,ipv6";
    /* one try: the lookup deadline is then twice the timeout */
    cfg.dns_timeout = TIMEOUT;
    cfg.dns_tries = 1;
    CHECK(anysock_ctx_new(loop, &cfg, &ctx) == 0);
    anysock__dns_set_socket_functions(ctx, &funcs, NULL);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    anysock_guard *guard = NULL;
    int64_t start;
    uint8_t *copy;
    int rc;

    if (size < 1)
        return 0;
    copy = (uint8_t *)fz_dup(data, size);
    memset(&in, 0, sizeof in);
    in.p = copy + 1;
    in.n = size - 1;
    in.flags = copy[0];
    memset(&st, 0, sizeof st);
    st.lk = &lookups[copy[0] & 7];

    /* the SRV weight choice is random: the same input must pick the same
     * order (and so send the same queries) every time */
    ctx->rng = 0x9e3779b97f4a7c15u;
    /* the loop's cached time is stale since the last input: without this
     * the lookup's deadline could already be past */
    ev_now_update(loop);
    rc = anysock_resolve_sockaddr(ctx, NODE, st.lk->service, st.lk->proto,
                                  st.lk->family, 0, resolve_cb, NULL,
                                  (in.flags & F_NOGUARD) ? NULL : &guard);
    CHECK(rc == 0);
    st.returned = true;
    CHECK(st.calls == 0);
    CHECK((guard == NULL) == ((in.flags & F_NOGUARD) != 0));

    /* until the callback (or the cancel) and c-ares has let go of every
     * socket: it closes them all once no query is left. Never blocks: a
     * round that found nothing to do moves the clock on instead. */
    start = skew_ns;
    while (!((st.calls > 0 || st.cancelled) && in.opened == in.closed)) {
        unsigned long before = in.activity;
        int calls = st.calls;

        if (skew_ns - start > STUCK_NS) {
            fprintf(stderr, "stuck: calls %d cancelled %d sockets %zu/%zu\n",
                    st.calls, st.cancelled, in.opened, in.closed);
            abort();
        }
        ev_run(loop, EVRUN_NOWAIT);
        if (in.activity == before && st.calls == calls && !readable())
            skew_ns += STEP_NS;
        if ((in.flags & F_CANCEL) && guard != NULL && st.calls == 0 &&
            in.replies_read > 0) {
            anysock_guard_cancel(&guard);
            CHECK(guard == NULL);
            st.cancelled = true;
        }
    }
    CHECK(st.calls == (st.cancelled ? 0 : 1));
    anysock_guard_cancel(&guard);   /* a finished guarded op: free it */
    CHECK(ctx->ops == NULL);
    CHECK(in.opened == in.closed);
    free(in.addrs4.p);
    free(in.addrs6.p);
    free(copy);
    return 0;
}
