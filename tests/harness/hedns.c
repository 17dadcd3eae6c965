/* The Happy Eyeballs test responder (see hedns.h): one UDP socket, one
 * thread, a small table of replies waiting for their time. */
#define _GNU_SOURCE
#include "hedns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PENDING_MAX 256

typedef struct pending {
    double at;                   /* monotonic time to send; 0 free */
    struct sockaddr_in to;
    size_t len;
    unsigned char buf[512];
} pending;

struct hedns {
    int fd;
    int stop[2];                 /* pipe: a byte ends the thread */
    pthread_t thread;
    atomic_uint queries;
    pending q[PENDING_MAX];
};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The question's name as dotted text and where the question ends. */
static int read_qname(const unsigned char *p, size_t n, char *name,
                      size_t cap, size_t *end)
{
    size_t off = 12, o = 0;

    while (off < n && p[off] != 0) {
        size_t l = p[off];

        if (l > 63 || off + 1 + l > n || o + l + 2 > cap)
            return -1;
        if (o)
            name[o++] = '.';
        memcpy(name + o, p + off + 1, l);
        o += l;
        off += 1 + l;
    }
    if (off + 5 > n)
        return -1;
    name[o] = '\0';
    *end = off + 1;
    return 0;
}

/* "h-<A>-<AAAA>.<sel>..." -> the spec for qtype (1 or 28) and sel. */
static int parse_name(const char *name, int qtype, char *spec, size_t slen,
                      char *sel, size_t sellen)
{
    const char *d1, *d2, *dot;
    const char *b, *e;

    if (strncmp(name, "h-", 2) != 0)
        return -1;
    d1 = name + 2;
    d2 = strchr(d1, '-');
    dot = strchr(d1, '.');
    if (d2 == NULL || dot == NULL || d2 > dot)
        return -1;
    b = qtype == 1 ? d1 : d2 + 1;
    e = qtype == 1 ? d2 : dot;
    if ((size_t)(e - b) >= slen || e == b)
        return -1;
    memcpy(spec, b, (size_t)(e - b));
    spec[e - b] = '\0';
    b = dot + 1;
    e = strchr(b, '.');
    if (e == NULL)
        e = b + strlen(b);
    if ((size_t)(e - b) >= sellen)
        return -1;
    memcpy(sel, b, (size_t)(e - b));
    sel[e - b] = '\0';
    return 0;
}

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* Build the reply into pd; returns the delay in seconds, or < 0 for no
 * reply at all. */
static double build(const unsigned char *qb, size_t qn, pending *pd)
{
    char name[256], spec[16], sel[32];
    size_t qend, off;
    int qtype, rcode = 0, nans = 0;
    double delay = 0.;
    unsigned char *r = pd->buf;
    static const unsigned char v4[4] = { 127, 0, 0, 1 };
    static const unsigned char bh[4] = { 127, 0, 0, 2 };
    static const unsigned char v6[16] = { [15] = 1 };
    const unsigned char *addr = v4;

    if (qn < 17 || read_qname(qb, qn, name, sizeof name, &qend) < 0)
        return -1.;
    qtype = (qb[qend] << 8) | qb[qend + 1];
    if ((qtype != 1 && qtype != 28) ||
        parse_name(name, qtype, spec, sizeof spec, sel, sizeof sel) < 0) {
        rcode = 3;
    } else if (strcmp(spec, "x") == 0) {
        return -1.;
    } else if (strcmp(spec, "n") == 0) {
        nans = 0;
    } else if (strcmp(spec, "f") == 0) {
        rcode = 2;
    } else {
        char *end;
        long ms = strtol(spec, &end, 10);

        if (*end != '\0' || ms < 0)
            rcode = 3;
        else
            delay = (double)ms / 1000.;
        nans = 1;
        if (qtype == 1 && strcmp(sel, "bh") == 0)
            addr = bh;
        if (qtype == 1 && strcmp(sel, "bh3") == 0) {
            addr = bh;
            nans = 3;
        }
        if (qtype == 28)
            addr = v6;
        if (rcode)
            nans = 0;
    }
    off = qend + 4;
    if (off > sizeof pd->buf)
        return -1.;
    memcpy(r, qb, off);
    r[2] = (unsigned char)(0x80 | (qb[2] & 0x01));   /* QR, keep RD */
    r[3] = (unsigned char)(0x80 | rcode);            /* RA */
    put16(r + 4, 1);
    put16(r + 6, (unsigned)nans);
    put16(r + 8, 0);
    put16(r + 10, 0);
    for (int i = 0; i < nans; i++) {
        size_t alen = qtype == 1 ? 4 : 16;

        put16(r + off, 0xc00c);
        put16(r + off + 2, (unsigned)qtype);
        put16(r + off + 4, 1);
        memset(r + off + 6, 0, 4);                   /* TTL 0 */
        put16(r + off + 10, (unsigned)alen);
        memcpy(r + off + 12, addr, alen);
        off += 12 + alen;
    }
    pd->len = off;
    return delay;
}

static void *serve(void *arg)
{
    hedns *h = arg;

    for (;;) {
        struct pollfd pfd[2] = { { h->fd, POLLIN, 0 },
                                 { h->stop[0], POLLIN, 0 } };
        double now = mono(), next = 0.;
        int timeout = -1;

        for (int i = 0; i < PENDING_MAX; i++) {
            pending *pd = &h->q[i];

            if (pd->at == 0.)
                continue;
            if (pd->at <= now) {
                (void)sendto(h->fd, pd->buf, pd->len, 0,
                             (struct sockaddr *)&pd->to, sizeof pd->to);
                pd->at = 0.;
            } else if (next == 0. || pd->at < next) {
                next = pd->at;
            }
        }
        if (next > 0.)
            timeout = (int)((next - now) * 1000.) + 1;
        if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
            break;
        if (pfd[1].revents)
            break;
        if (pfd[0].revents & POLLIN) {
            unsigned char qb[512];
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(h->fd, qb, sizeof qb, 0,
                                 (struct sockaddr *)&from, &fl);
            pending tmp;
            double delay;

            if (n <= 0)
                continue;
            atomic_fetch_add(&h->queries, 1u);
            delay = build(qb, (size_t)n, &tmp);
            if (delay < 0.)
                continue;
            tmp.to = from;
            tmp.at = mono() + delay;
            if (delay == 0.) {
                (void)sendto(h->fd, tmp.buf, tmp.len, 0,
                             (struct sockaddr *)&from, sizeof from);
                continue;
            }
            for (int i = 0; i < PENDING_MAX; i++)
                if (h->q[i].at == 0.) {
                    h->q[i] = tmp;
                    break;
                }
        }
    }
    return NULL;
}

int hedns_start(hedns **out, char *server, size_t len)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t sl = sizeof sin;
    hedns *h = calloc(1, sizeof *h);
    int rc;

    if (h == NULL)
        return -ENOMEM;
    h->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (h->fd < 0 || pipe2(h->stop, O_CLOEXEC) < 0) {
        rc = -errno;
        goto fail;
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(h->fd, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(h->fd, (struct sockaddr *)&sin, &sl) < 0) {
        rc = -errno;
        goto fail;
    }
    snprintf(server, len, "127.0.0.1:%u", ntohs(sin.sin_port));
    rc = pthread_create(&h->thread, NULL, serve, h);
    if (rc != 0) {
        rc = -rc;
        goto fail;
    }
    *out = h;
    return 0;
fail:
    if (h->fd >= 0)
        close(h->fd);
    if (h->stop[0] > 0) {
        close(h->stop[0]);
        close(h->stop[1]);
    }
    free(h);
    return rc;
}

void hedns_stop(hedns *h)
{
    if (h == NULL)
        return;
    (void)!write(h->stop[1], "x", 1);
    pthread_join(h->thread, NULL);
    close(h->fd);
    close(h->stop[0]);
    close(h->stop[1]);
    free(h);
}

unsigned hedns_queries(hedns *h)
{
    return atomic_load(&h->queries);
}
