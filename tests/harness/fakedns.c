/* The fault-injecting DNS responder of fakedns.h. Deliberately simple:
 * one thread, poll(), a handful of TCP connections, replies built by
 * hand so that broken ones are easy to make. */
#define _GNU_SOURCE /* accept4, pipe2, utimensat, setenv */
#include "fakedns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXCONN 8
#define MAXDELAY 64
#define SLOW_MS 150

struct delayed {
    bool used;
    double due;
    struct sockaddr_in to;
    unsigned char buf[512];
    size_t len;
};

struct conn {
    int fd;
    unsigned char buf[2048];
    size_t len;
};

#define LATE_MAX 8192

struct late {
    double due;
    struct sockaddr_in to;
    unsigned short len;
    unsigned char buf[512];
};

struct fakedns {
    pthread_t thread;
    atomic_int mode;
    atomic_uint delay_ms;
    struct late *late;     /* FAKEDNS_LATE: a FIFO (one fixed delay) */
    size_t lhead, ln;
    int udp, tcp, wake[2];
    struct conn conns[MAXCONN];
    struct delayed delayed[MAXDELAY];
    atomic_uint udpq, tcpq, replies;
    uint32_t rng;          /* FAKEDNS_LOSSY; the server thread's alone */
    atomic_uint full[3];   /* last unmangled length: A, AAAA, SRV */
    pthread_mutex_t lock;  /* guards lastq */
    char lastq[256];       /* the last question name, dotted */
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- mangling mode: hostile variations of one valid reply -------------- */

/* A growing reply; writes past cap are dropped (len still counts them, so
 * the caller can tell), which keeps every builder below branch-free. */
struct msg {
    unsigned char *b;
    size_t len, cap;
};

static void put(struct msg *m, const void *p, size_t n)
{
    if (n > 0 && m->len + n <= m->cap)
        memcpy(m->b + m->len, p, n);
    m->len += n;
}

static void put8(struct msg *m, unsigned v)
{
    unsigned char c = (unsigned char)v;

    put(m, &c, 1);
}

static void put16(struct msg *m, unsigned v)
{
    put8(m, v >> 8);
    put8(m, v);
}

static void set16(struct msg *m, size_t at, unsigned v)
{
    if (at + 2 <= m->cap) {
        m->b[at] = (unsigned char)(v >> 8);
        m->b[at + 1] = (unsigned char)v;
    }
}

static uint64_t xs(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* The first label not starting with '_' ("_x._tcp.m5p2.example" -> m5p2):
 * "m<kind>[p<param>]" or, TC first then the mangled reply over TCP,
 * "mt<kind>[p<param>]". Returns false for any other name. */
static bool mangle_mode(const unsigned char *q, size_t qlen, bool *viatcp,
                        unsigned *kind, unsigned *param)
{
    size_t p = 12;

    while (p < qlen && q[p] > 0 && q[p] < 64 && q[p + 1] == '_')
        p += (size_t)q[p] + 1;
    if (p >= qlen || q[p] == 0 || q[p] >= 64 || p + 1 + q[p] > qlen)
        return false;
    {
        const unsigned char *s = q + p + 1, *e = s + q[p];
        unsigned *dst = kind;

        if (*s++ != 'm')
            return false;
        *viatcp = s < e && *s == 't';
        if (*viatcp)
            s++;
        *kind = *param = 0;
        if (s == e || *s < '0' || *s > '9')
            return false;
        for (; s < e; s++) {
            if (*s == 'p' && dst == kind)
                dst = param;
            else if (*s >= '0' && *s <= '9')
                *dst = *dst * 10 + (unsigned)(*s - '0');
            else
                return false;
        }
    }
    return true;
}

/* Odd SRV targets, written where the target goes (at offset m->len). */
static void srv_target(struct msg *m, unsigned which)
{
    size_t at = m->len;
    char lab[70];

    switch (which) {
    case 0:   /* the root: "no service" */
        put8(m, 0);
        break;
    case 1:   /* 300 bytes of labels: past the 255-byte limit */
    case 2:   /* exactly 255 bytes on the wire: the largest legal name */
    case 3:   /* 256 bytes: one too many */
        memset(lab, 'a', sizeof lab);
        for (int i = 0; i < (which == 1 ? 5 : 4); i++) {
            unsigned n = which == 1 ? 59 : i < 3 ? 63 : which == 2 ? 61 : 62;

            put8(m, n);
            put(m, lab, n);
        }
        put8(m, 0);
        break;
    case 4:   /* a 63-byte label: legal */
    case 5:   /* a 64-byte length: that is a reserved label type */
        memset(lab, 'b', sizeof lab);
        put8(m, which == 4 ? 63 : 64);
        put(m, lab, which == 4 ? 63 : 64);
        put(m, "\7example", 9);
        break;
    case 6:
        put(m, "\3a.b\7example", 13);
        break;
    case 7:
        put(m, "\3a\0b\7example", 13);
        break;
    case 8:
        put(m, "\3a b\7example", 13);
        break;
    case 9:
        put(m, "\4\xff\xfe\xc3\xa9\7example", 14);
        break;
    case 10:  /* a pointer to itself */
        put16(m, 0xc000 | (unsigned)at);
        break;
    case 11:  /* a label, then a pointer back to that label: a.a.a.a... */
        put(m, "\1a", 2);
        put16(m, 0xc000 | (unsigned)at);
        break;
    case 12:  /* a pointer past the end */
        put16(m, 0xffff);
        break;
    case 13:  /* a pointer to the question name: legal compression */
        put16(m, 0xc00c);
        break;
    default:  /* "ok.example": answered 127.0.0.60 by the default mode */
        put(m, "\2ok\7example", 12);
        break;
    }
}

/* Owner name (nlen bytes, may be 0 when already written), type, class,
 * TTL 60 and the declared rdata length. */
static void rr_head(struct msg *m, const unsigned char *name, size_t nlen,
                    unsigned type, unsigned cls, unsigned rdlen)
{
    put(m, name, nlen);
    put16(m, type);
    put16(m, cls);
    put16(m, 0);
    put16(m, 60);
    put16(m, rdlen);
}

/* One answer record for qtype (1, 28 or 33) whose owner name is the
 * `nlen` bytes at `name`; `rdlen` (-1: the natural one) is what the
 * record declares. */
static void mangle_rr(struct msg *m, const unsigned char *name, size_t nlen,
                      unsigned type, unsigned cls, unsigned qtype,
                      unsigned kind, unsigned param, long rdlen)
{
    size_t lenat;

    put(m, name, nlen);
    put16(m, type);
    put16(m, cls);
    put16(m, 0);
    put16(m, 60);
    lenat = m->len;
    put16(m, 0);
    if (kind == FAKEDNS_M_RDLEN) {
        unsigned char fill[64];

        for (unsigned i = 0; i < sizeof fill; i++)
            fill[i] = (unsigned char)(0x7f + i);
        put(m, fill, param < sizeof fill ? param : sizeof fill);
    } else if (qtype == 1 && type != 28) {
        put(m, "\x7f\0\0\x3f", 4);                       /* 127.0.0.63 */
    } else if (qtype == 28 || type == 28) {
        put(m, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x63", 16);
    } else {
        put16(m, 0);                                     /* priority */
        put16(m, 0);                                     /* weight */
        put16(m, kind == FAKEDNS_M_SRV_PORT0 ? 0 : 8080);
        srv_target(m, kind == FAKEDNS_M_SRV_TARGET ? param : ~0u);
    }
    set16(m, lenat, rdlen >= 0 ? (unsigned)rdlen
                               : (unsigned)(m->len - lenat - 2));
}

static size_t mangle(fakedns *f, const unsigned char *q, size_t qend,
                     unsigned qtype, unsigned kind, unsigned param,
                     unsigned char *out, size_t outlen)
{
    struct msg m = {out, 0, outlen};
    const unsigned char *qname = q + 12;
    size_t qnlen = qend - 4 - 12, ans;
    unsigned an = 1, type = qtype, cls = 1;
    unsigned char ptr[2] = {0xc0, 0x0c};
    const unsigned char *own = ptr;
    size_t ownlen = 2;
    long rdlen = -1;

    /* SRV-only mutations leave A and AAAA answers valid, so a lookup gets
     * to the SRV targets (or the fallback) with the rest of its queries */
    if (qtype != 33 && (kind == FAKEDNS_M_SRV_TARGET ||
                        kind == FAKEDNS_M_SRV_PORT0 ||
                        kind == FAKEDNS_M_SRV_MANY))
        kind = FAKEDNS_M_VALID;
    put(&m, q, 2);
    put16(&m, 0x8180);
    put16(&m, kind == FAKEDNS_M_NOQUESTION ? 0 : 1);
    put16(&m, 1);
    put16(&m, 0);
    put16(&m, 0);
    if (kind == FAKEDNS_M_NOQUESTION) {
        own = qname;     /* no question to point at */
        ownlen = qnlen;
    } else {
        put(&m, qname, qnlen);
        if (kind == FAKEDNS_M_WRONGQUESTION && param == 0)
            out[12 + 1] = 'z';   /* same length, another name */
        put16(&m, kind == FAKEDNS_M_WRONGQUESTION && param == 1 ? 16
                                                                 : qtype);
        put16(&m, kind == FAKEDNS_M_WRONGQUESTION && param == 2 ? 3 : 1);
    }
    ans = m.len;
    switch (kind) {
    case FAKEDNS_M_PTR_SELF:
        ptr[0] = (unsigned char)(0xc0 | ans >> 8);
        ptr[1] = (unsigned char)ans;
        break;
    case FAKEDNS_M_PTR_PAIR:
    case FAKEDNS_M_PTR_FWD:
    case FAKEDNS_M_PTR_HEADER:
        ptr[1] = kind == FAKEDNS_M_PTR_HEADER ? (unsigned char)(param % 12)
                                               : 0xff;
        if (kind == FAKEDNS_M_PTR_FWD)
            ptr[0] = 0xff;
        break;
    case FAKEDNS_M_RDLEN_PAST:
        rdlen = 0xffff;
        break;
    case FAKEDNS_M_WRONGTYPE: {
        static const unsigned types[] = {0, 16, 0, 65535, 5};

        type = param == 0 ? (qtype == 1 ? 28 : 1) : types[param % 5];
        break;
    }
    case FAKEDNS_M_WRONGCLASS:
        cls = param % 3 == 0 ? 3 : param % 3 == 1 ? 255 : 0;
        break;
    default:
        break;
    }
    if (kind == FAKEDNS_M_CNAME) {
        /* 0: q -> loop.example -> q; 1: q -> q; 2: a chain of 40 names
         * ending in a valid answer */
        static const unsigned char loopname[] = "\4loop\7example";
        size_t prev = 0;

        if (param % 3 == 0) {
            rr_head(&m, own, ownlen, 5, 1, sizeof loopname);
            prev = m.len;
            put(&m, loopname, sizeof loopname);
            put16(&m, 0xc000 | (unsigned)prev);
            rr_head(&m, NULL, 0, 5, 1, 2);
            put16(&m, 0xc00c);
            an = 2;
        } else if (param % 3 == 1) {
            rr_head(&m, own, ownlen, 5, 1, 2);
            put16(&m, 0xc00c);
        } else {
            for (unsigned i = 0; i < 40; i++) {
                if (i == 0)
                    put(&m, own, ownlen);
                else
                    put16(&m, 0xc000 | (unsigned)prev);
                rr_head(&m, NULL, 0, 5, 1, 5);
                prev = m.len;
                put8(&m, 2);
                put8(&m, 'a' + i % 26);
                put8(&m, '0' + i / 26);
                put16(&m, 0xc00c);
            }
            ptr[0] = (unsigned char)(0xc0 | prev >> 8);
            ptr[1] = (unsigned char)prev;
            mangle_rr(&m, ptr, 2, type, cls, qtype, kind, param, -1);
            an = 41;
        }
    } else if (kind == FAKEDNS_M_SRV_MANY) {
        an = param > 65535 ? 65535 : param;
        for (unsigned i = 0; i < an; i++)
            mangle_rr(&m, own, ownlen, type, cls, qtype, kind, param, -1);
    } else if (qtype == 1 || qtype == 28 || qtype == 33) {
        mangle_rr(&m, own, ownlen, type, cls, qtype, kind, param, rdlen);
    } else {
        an = 0;
    }
    if (kind == FAKEDNS_M_PTR_PAIR) {
        /* the owner points here; this points back at the owner */
        set16(&m, ans, 0xc000 | (unsigned)m.len);
        put16(&m, 0xc000 | (unsigned)ans);
    }
    set16(&m, 6, an);
    if (kind >= FAKEDNS_M_QDHUGE && kind <= FAKEDNS_M_ARHUGE)
        set16(&m, 4 + 2 * (kind - FAKEDNS_M_QDHUGE), 65535);
    if (m.len > outlen)
        m.len = outlen;
    if (qtype == 1 || qtype == 28 || qtype == 33)
        f->full[qtype == 1 ? 0 : qtype == 28 ? 1 : 2] = (unsigned)m.len;
    switch (kind) {
    case FAKEDNS_M_TRUNC:
        return param < m.len ? param : m.len;
    case FAKEDNS_M_BADID:
        out[0] ^= 0x55;
        out[1] ^= 0xaa;
        break;
    case FAKEDNS_M_FLIP: {
        /* 1 to 4 bytes, never the id nor the question: those only make
         * the client drop the reply, as BADID and WRONGQUESTION show */
        uint64_t s = 0x9e3779b97f4a7c15ull ^ ((uint64_t)param << 32 | qtype);
        int k = 1 + (int)(xs(&s) % 4);

        for (int i = 0; i < k && m.len > qend; i++) {
            size_t at = (size_t)(xs(&s) % (m.len - qend + 10));

            at = at < 10 ? 2 + at : qend + at - 10;
            out[at] = (unsigned char)(i % 2 ? xs(&s) : out[at] ^ (1u << (xs(&s) % 8)));
        }
        break;
    }
    default:
        break;
    }
    return m.len;
}

/* Builds the reply for query q (qlen bytes) into out; returns its length,
 * 0 for no reply. *delay is set for "slow". */
static size_t answer(fakedns *f, const unsigned char *q, size_t qlen,
                     bool tcp, unsigned char *out, size_t outlen,
                     bool *delay)
{
    size_t p = 12, qend, n = 0;
    char label[64];
    unsigned qtype;
    int rcode = 0;
    bool tc = false, bad = false;
    uint8_t ip[4] = {127, 0, 0, 60};

    *delay = false;
    if (qlen < 17 || outlen < 512)
        return 0;
    /* the first label names the behaviour */
    if (q[p] > 0 && q[p] < 64 && p + 1 + q[p] <= qlen) {
        memcpy(label, q + p + 1, q[p]);
        label[q[p]] = '\0';
    } else {
        label[0] = '\0';
    }
    while (p < qlen && q[p] != 0) {
        if (q[p] >= 64)
            return 0;
        p += (size_t)q[p] + 1;
    }
    if (p + 5 > qlen)
        return 0;
    qend = p + 5;
    qtype = (unsigned)q[p + 1] << 8 | q[p + 2];
    pthread_mutex_lock(&f->lock);
    {
        size_t o = 0;

        /* labels were checked above: each < 64, all inside qlen */
        for (size_t l = 12; q[l] != 0 && o + q[l] + 2 < sizeof f->lastq;
             l += (size_t)q[l] + 1) {
            memcpy(f->lastq + o, q + l + 1, q[l]);
            o += q[l];
            f->lastq[o++] = '.';
        }
        f->lastq[o] = '\0';
    }
    pthread_mutex_unlock(&f->lock);
    {
        unsigned kind, param;
        bool viatcp;

        if (mangle_mode(q, qlen, &viatcp, &kind, &param)) {
            if (!viatcp || tcp)
                return mangle(f, q, qend, qtype, kind, param, out, outlen);
            tc = true;   /* over UDP: the empty TC reply below */
            label[0] = '\0';
        }
    }

    if (strcmp(label, "mute") == 0)
        return 0;
    if (strcmp(label, "servfail") == 0)
        rcode = 2;
    else if (strcmp(label, "nx") == 0)
        rcode = 3;
    else if (strcmp(label, "refused") == 0)
        rcode = 5;
    else if (strcmp(label, "tc") == 0 && !tcp)
        tc = true;
    else if (strcmp(label, "tc") == 0)
        ip[3] = 61;
    else if (strcmp(label, "bad") == 0)
        bad = true;
    else if (strcmp(label, "slow") == 0) {
        ip[3] = 62;
        *delay = true;
    }

    memcpy(out, q, qend);
    out[2] = (unsigned char)(0x81 | (tc ? 0x02 : 0));   /* QR, RD, TC */
    out[3] = (unsigned char)(0x80 | rcode);             /* RA, rcode */
    out[4] = 0;
    out[5] = 1;
    memset(out + 6, 0, 6);
    n = qend;
    if (rcode == 0 && !tc && (qtype == 1 || bad)) {
        static const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1,
                                           0, 0, 0, 60, 0, 4};

        out[7] = 1;   /* ancount */
        memcpy(out + n, rr, sizeof rr);
        n += sizeof rr;
        if (bad) {
            out[n] = 0x7f;
            return n + 1;   /* the rdata is cut short */
        }
        memcpy(out + n, ip, 4);
        n += 4;
    }
    return n;
}

/* The whole-server modes (fakedns_set_mode) for a UDP question q: true
 * when handled here. */
static bool whole_server(fakedns *f, const unsigned char *q, size_t n,
                         const struct sockaddr_in *from)
{
    int mode = f->mode;
    unsigned char r[512];
    bool delay;
    size_t rl;

    switch (mode) {
    case FAKEDNS_MUTE:
        return true;
    case FAKEDNS_LOSSY:
        f->rng ^= f->rng << 13;
        f->rng ^= f->rng >> 17;
        f->rng ^= f->rng << 5;
        return f->rng % 100 < f->delay_ms;   /* dropped, or answered */
    case FAKEDNS_SERVFAIL:
    case FAKEDNS_REFUSED:
        if (n < 12)
            return true;
        memcpy(r, q, n);
        r[2] = 0x81;
        r[3] = (unsigned char)(0x80 | (mode == FAKEDNS_SERVFAIL ? 2 : 5));
        memset(r + 6, 0, 6);
        f->replies++;
        (void)sendto(f->udp, r, n, 0, (const struct sockaddr *)from,
                     sizeof *from);
        return true;
    case FAKEDNS_LATE:
        rl = answer(f, q, n, false, r, sizeof r, &delay);
        if (rl > 0 && f->ln < LATE_MAX) {
            struct late *l = &f->late[(f->lhead + f->ln++) % LATE_MAX];

            l->due = now() + f->delay_ms / 1000.0;
            l->to = *from;
            l->len = (unsigned short)rl;
            memcpy(l->buf, r, rl);
        }
        return true;
    default:
        return false;
    }
}

static void late_send(fakedns *f, int *timeout)
{
    double t = now();

    while (f->ln > 0) {
        struct late *l = &f->late[f->lhead];

        if (l->due > t) {
            int ms = (int)((l->due - t) * 1000) + 1;

            if (*timeout < 0 || ms < *timeout)
                *timeout = ms;
            return;
        }
        f->replies++;
        (void)sendto(f->udp, l->buf, l->len, 0, (struct sockaddr *)&l->to,
                     sizeof l->to);
        f->lhead = (f->lhead + 1) % LATE_MAX;
        f->ln--;
    }
}

void fakedns_set_mode(fakedns *f, enum fakedns_mode mode, unsigned delay_ms)
{
    f->delay_ms = delay_ms;
    f->mode = (int)mode;
}

static void udp_read(fakedns *f)
{
    unsigned char q[512];
    static unsigned char r[65535];   /* only the responder thread */
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(f->udp, q, sizeof q, 0, (struct sockaddr *)&from,
                         &fl);
    bool delay;
    size_t rl;

    if (n <= 0)
        return;
    f->udpq++;
    if (whole_server(f, q, (size_t)n, &from))
        return;
    rl = answer(f, q, (size_t)n, false, r, sizeof r, &delay);
    if (rl == 0)
        return;
    if (delay) {
        for (int i = 0; i < MAXDELAY; i++) {
            struct delayed *d = &f->delayed[i];

            if (!d->used) {
                d->used = true;
                d->due = now() + SLOW_MS / 1000.0;
                d->to = from;
                memcpy(d->buf, r, rl);
                d->len = rl;
                break;
            }
        }
        return;
    }
    f->replies++;
    (void)sendto(f->udp, r, rl, 0, (struct sockaddr *)&from, fl);
}

static void conn_close(struct conn *c)
{
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void tcp_read(fakedns *f, struct conn *c)
{
    ssize_t n = read(c->fd, c->buf + c->len, sizeof c->buf - c->len);

    if (n <= 0) {
        conn_close(c);
        return;
    }
    c->len += (size_t)n;
    while (c->len >= 2) {
        size_t ql = (size_t)c->buf[0] << 8 | c->buf[1];
        static unsigned char r[2 + 65535];   /* the responder thread's */
        bool delay;
        size_t rl;

        if (c->len < ql + 2)
            break;
        f->tcpq++;
        rl = answer(f, c->buf + 2, ql, true, r + 2, sizeof r - 2, &delay);
        if (rl > 0) {
            r[0] = (unsigned char)(rl >> 8);
            r[1] = (unsigned char)rl;
            f->replies++;
            (void)!write(c->fd, r, rl + 2);
        }
        memmove(c->buf, c->buf + ql + 2, c->len - ql - 2);
        c->len -= ql + 2;
    }
}

static void *run(void *arg)
{
    fakedns *f = arg;

    for (;;) {
        struct pollfd p[3 + MAXCONN];
        int np = 3, timeout = -1;
        double t = now();

        for (int i = 0; i < MAXDELAY; i++) {
            struct delayed *d = &f->delayed[i];

            if (!d->used)
                continue;
            if (d->due <= t) {
                /* counted first: the client may act on it at once */
                f->replies++;
                (void)sendto(f->udp, d->buf, d->len, 0,
                             (struct sockaddr *)&d->to, sizeof d->to);
                d->used = false;
            } else {
                int ms = (int)((d->due - t) * 1000) + 1;

                if (timeout < 0 || ms < timeout)
                    timeout = ms;
            }
        }
        late_send(f, &timeout);
        p[0] = (struct pollfd){.fd = f->wake[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = f->udp, .events = POLLIN};
        p[2] = (struct pollfd){.fd = f->tcp, .events = POLLIN};
        for (int i = 0; i < MAXCONN; i++)
            if (f->conns[i].fd >= 0)
                p[np++] = (struct pollfd){.fd = f->conns[i].fd,
                                          .events = POLLIN};
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
            return NULL;
        if (p[0].revents)
            return NULL;
        if (p[1].revents)
            udp_read(f);
        if (p[2].revents) {
            int fd = accept4(f->tcp, NULL, NULL, SOCK_CLOEXEC);

            for (int i = 0; fd >= 0 && i < MAXCONN; i++) {
                if (f->conns[i].fd < 0) {
                    f->conns[i].fd = fd;
                    f->conns[i].len = 0;
                    fd = -1;
                }
            }
            if (fd >= 0)
                close(fd);
        }
        for (int k = 3; k < np; k++) {
            if (!p[k].revents)
                continue;
            for (int i = 0; i < MAXCONN; i++)
                if (f->conns[i].fd == p[k].fd)
                    tcp_read(f, &f->conns[i]);
        }
    }
}

int fakedns_start_server(fakedns **out, char *server, size_t len)
{
    uint16_t port;
    int rc = fakedns_start(out, &port);

    if (rc == 0)
        snprintf(server, len, "127.0.0.1:%u", port);
    return rc;
}

int fakedns_start(fakedns **out, uint16_t *port)
{
    fakedns *f = calloc(1, sizeof *f);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int rc = 0;

    if (f == NULL)
        return -ENOMEM;
    f->rng = 2463534242u;
    f->late = calloc(LATE_MAX, sizeof *f->late);
    if (f->late == NULL) {
        free(f);
        return -ENOMEM;
    }
    f->udp = f->tcp = f->wake[0] = f->wake[1] = -1;
    pthread_mutex_init(&f->lock, NULL);
    for (int i = 0; i < MAXCONN; i++)
        f->conns[i].fd = -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* TCP first on an ephemeral port, then UDP on the same number */
    for (int tries = 0; tries < 20; tries++) {
        f->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        f->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sa.sin_port = 0;
        if (f->tcp < 0 || f->udp < 0 ||
            bind(f->tcp, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(f->tcp, (struct sockaddr *)&sa, &sl) != 0 ||
            listen(f->tcp, 8) != 0) {
            rc = -errno;
            goto fail;
        }
        if (bind(f->udp, (struct sockaddr *)&sa, sizeof sa) == 0)
            break;
        close(f->tcp);
        close(f->udp);
        f->tcp = f->udp = -1;
    }
    if (f->udp < 0 || pipe2(f->wake, O_CLOEXEC) != 0) {
        rc = f->udp < 0 ? -EADDRINUSE : -errno;
        goto fail;
    }
    if ((rc = pthread_create(&f->thread, NULL, run, f)) != 0) {
        rc = -rc;
        goto fail;
    }
    *port = ntohs(sa.sin_port);
    *out = f;
    return 0;
fail:
    if (f->tcp >= 0)
        close(f->tcp);
    if (f->udp >= 0)
        close(f->udp);
    if (f->wake[0] >= 0) {
        close(f->wake[0]);
        close(f->wake[1]);
    }
    free(f->late);
    free(f);
    return rc ? rc : -EIO;
}

void fakedns_stop(fakedns *f)
{
    if (f == NULL)
        return;
    if (write(f->wake[1], "x", 1) < 0) {
        /* the thread cannot be told: nothing sane left to do */
        abort();
    }
    pthread_join(f->thread, NULL);
    for (int i = 0; i < MAXCONN; i++)
        if (f->conns[i].fd >= 0)
            close(f->conns[i].fd);
    close(f->udp);
    close(f->tcp);
    close(f->wake[0]);
    close(f->wake[1]);
    pthread_mutex_destroy(&f->lock);
    free(f->late);
    free(f);
}

unsigned fakedns_udp_queries(fakedns *f)
{
    return f->udpq;
}

unsigned fakedns_tcp_queries(fakedns *f)
{
    return f->tcpq;
}

unsigned fakedns_replies(fakedns *f)
{
    return f->replies;
}

unsigned fakedns_full_len(fakedns *f, unsigned qtype)
{
    return f->full[qtype == 1 ? 0 : qtype == 28 ? 1 : 2];
}

void fakedns_last_qname(fakedns *f, char *out, size_t outlen)
{
    pthread_mutex_lock(&f->lock);
    snprintf(out, outlen, "%s", f->lastq);
    pthread_mutex_unlock(&f->lock);
}
