/* See ttldns.h. Single-threaded: served from the test's loop. */
#include "ttldns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXQ 128
#define MAXHOLD 64

struct held {
    unsigned char buf[512];
    size_t len;
    struct sockaddr_in from;
};

struct qcount {
    char name[256];
    int type;
    unsigned n;
};

struct ttldns {
    struct ev_loop *loop;
    ev_io io;
    int fd;
    bool mute;
    uint8_t answer[4];
    unsigned total;
    struct qcount q[MAXQ];
    size_t nq;
    struct held hold[MAXHOLD];
    size_t nhold;
};

static void put16(unsigned char *p, unsigned v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

static void put32(unsigned char *p, uint32_t v)
{
    put16(p, v >> 16);
    put16(p + 2, v & 0xffff);
}

/* Dotted name of the question at buf+12, lowercase, no final dot. */
static size_t read_qname(const unsigned char *buf, size_t len, char *out)
{
    size_t p = 12, o = 0;

    while (p < len && buf[p] != 0) {
        unsigned l = buf[p++];

        if (l > 63 || p + l > len || o + l + 2 > 255)
            return 0;
        if (o)
            out[o++] = '.';
        for (unsigned i = 0; i < l; i++) {
            char c = (char)buf[p++];

            out[o++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
        }
    }
    out[o] = '\0';
    return p < len ? p + 1 : 0;   /* past the root label */
}

/* Append a wire name for dotted `s`. */
static size_t put_name(unsigned char *p, const char *s)
{
    size_t o = 0;

    while (*s) {
        size_t l = strcspn(s, ".");

        p[o++] = (unsigned char)l;
        memcpy(p + o, s, l);
        o += l;
        s += l;
        if (*s == '.')
            s++;
    }
    p[o++] = 0;
    return o;
}

/* An RR owned by the question name (pointer 0xc00c). */
static size_t put_rr(unsigned char *p, unsigned type, uint32_t ttl,
                     const unsigned char *rdata, size_t rlen)
{
    put16(p, 0xc00c);
    put16(p + 2, type);
    put16(p + 4, 1);
    put32(p + 6, ttl);
    put16(p + 10, (unsigned)rlen);
    memcpy(p + 12, rdata, rlen);
    return 12 + rlen;
}

static size_t put_soa(unsigned char *p, uint32_t ttl, uint32_t min)
{
    unsigned char rd[64];
    size_t n = put_name(rd, "ns.test");

    n += put_name(rd + n, "h.test");
    put32(rd + n, 1);
    put32(rd + n + 4, 3600);
    put32(rd + n + 8, 600);
    put32(rd + n + 12, 86400);
    put32(rd + n + 16, min);
    return put_rr(p, 6, ttl, rd, n + 20);
}

static void count(ttldns *d, const char *name, int type)
{
    d->total++;
    for (size_t i = 0; i < d->nq; i++)
        if (d->q[i].type == type && strcmp(d->q[i].name, name) == 0) {
            d->q[i].n++;
            return;
        }
    if (d->nq < MAXQ) {
        snprintf(d->q[d->nq].name, sizeof d->q[d->nq].name, "%s", name);
        d->q[d->nq].type = type;
        d->q[d->nq++].n = 1;
    }
}

/* The reply to the question (q, qend bytes with the header) into out;
 * 0: none. */
static size_t reply(ttldns *d, const unsigned char *q, size_t qend,
                    const char *name, int type, unsigned char *out)
{
    unsigned long t = 0, m = 0;
    unsigned an = 0, ns = 0, rcode = 0;
    size_t o = qend;
    char label[64];
    const char *rest = name + strcspn(name, ".");

    snprintf(label, sizeof label, "%.*s", (int)strcspn(name, "."), name);
    memcpy(out, q, qend);
    out[2] = 0x81;                      /* QR, RD */
    out[3] = 0x80;                      /* RA */
    if (type == 33 && strncmp(name, "_x._tcp.s", 9) == 0) {
        unsigned char rd[300];
        const char *r = name + 9;       /* "<T>.<rest>" */
        char target[300];

        t = strtoul(r, NULL, 10);
        snprintf(target, sizeof target, "a%lu%s", t,
                 r + strspn(r, "0123456789"));
        put16(rd, 0);
        put16(rd + 2, 0);
        put16(rd + 4, 8080);
        o += put_rr(out + o, 33, (uint32_t)t, rd,
                    6 + put_name(rd + 6, target));
        an = 1;
    } else if (label[0] == 'a' && label[1] >= '0' && label[1] <= '9') {
        t = strtoul(label + 1, NULL, 10);
        if (type == 1) {
            o += put_rr(out + o, 1, (uint32_t)t, d->answer, 4);
            an = 1;
        } else {
            o += put_soa(out + o, (uint32_t)t, (uint32_t)t);
            ns = 1;
        }
    } else if (label[0] == 'c' && label[1] >= '0' && label[1] <= '9') {
        unsigned char rd[300];
        char target[300];
        size_t tl;

        t = strtoul(label + 1, NULL, 10);
        snprintf(target, sizeof target, "a%lu%s", t, rest);
        tl = put_name(rd, target);
        o += put_rr(out + o, 5, (uint32_t)t, rd, tl);
        an = 1;
        if (type == 1) {
            /* owned by the CNAME target, written out in full */
            memcpy(out + o, rd, tl);
            put16(out + o + tl, 1);
            put16(out + o + tl + 2, 1);
            put32(out + o + tl + 4, 600);
            put16(out + o + tl + 8, 4);
            memcpy(out + o + tl + 10, d->answer, 4);
            o += tl + 14;
            an = 2;
        }
    } else if (strcmp(label, "nxnosoa") == 0) {
        rcode = 3;
    } else if ((strncmp(label, "nx", 2) == 0 ||
                strncmp(label, "nd", 2) == 0) &&
               sscanf(label + 2, "%lum%lu", &t, &m) == 2) {
        rcode = label[1] == 'x' ? 3 : 0;
        o += put_soa(out + o, (uint32_t)t, (uint32_t)m);
        ns = 1;
    } else {
        rcode = 3;
    }
    out[3] |= (unsigned char)rcode;
    put16(out + 6, an);
    put16(out + 8, ns);
    put16(out + 10, 0);
    return o;
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    ttldns *d = w->data;
    unsigned char buf[512], out[1024];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    char name[256];
    ssize_t n;
    size_t qend, len;
    int type;

    (void)loop;
    (void)revents;
    while ((n = recvfrom(d->fd, buf, sizeof buf, 0, (struct sockaddr *)&from,
                         &fl)) > 12) {
        fl = sizeof from;
        if ((qend = read_qname(buf, (size_t)n, name)) == 0 ||
            qend + 4 > (size_t)n)
            continue;
        type = buf[qend] << 8 | buf[qend + 1];
        qend += 4;
        count(d, name, type);
        if (d->mute || strncmp(name, "mute", 4) == 0)
            continue;
        if (strncmp(name, "hold", 4) == 0) {
            struct held *h;

            if (d->nhold == MAXHOLD)
                continue;
            h = &d->hold[d->nhold++];
            /* answered as "a600" would be, for this question */
            memcpy(h->buf, buf, qend);
            h->buf[2] = 0x81;
            h->buf[3] = 0x80;
            len = qend;
            if (type == 1) {
                len += put_rr(h->buf + len, 1, 600, d->answer, 4);
                put16(h->buf + 6, 1);
            } else {
                len += put_soa(h->buf + len, 600, 600);
                put16(h->buf + 8, 1);
            }
            h->len = len;
            h->from = from;
            continue;
        }
        len = reply(d, buf, qend, name, type, out);
        if (len > 0)
            (void)sendto(d->fd, out, len, 0, (struct sockaddr *)&from,
                         sizeof from);
    }
}

int ttldns_start(struct ev_loop *loop, const char *addr, uint16_t port,
                 const char *answer, ttldns **out, uint16_t *bound)
{
    ttldns *d = calloc(1, sizeof *d);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;

    if (d == NULL)
        return -ENOMEM;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1 ||
        inet_pton(AF_INET, answer, d->answer) != 1) {
        free(d);
        return -EINVAL;
    }
    d->fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0 || bind(d->fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(d->fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;

        if (d->fd >= 0)
            close(d->fd);
        free(d);
        return -e;
    }
    d->loop = loop;
    ev_io_init(&d->io, io_cb, d->fd, EV_READ);
    d->io.data = d;
    ev_io_start(loop, &d->io);
    ev_unref(loop);   /* the responder alone must not keep the loop up */
    *bound = ntohs(sa.sin_port);
    *out = d;
    return 0;
}

void ttldns_stop(ttldns *d)
{
    if (d == NULL)
        return;
    ev_ref(d->loop);
    ev_io_stop(d->loop, &d->io);
    close(d->fd);
    free(d);
}

void ttldns_mute(ttldns *d, int on)
{
    d->mute = on != 0;
}

int ttldns_release(ttldns *d)
{
    int n = (int)d->nhold;

    for (size_t i = 0; i < d->nhold; i++)
        (void)sendto(d->fd, d->hold[i].buf, d->hold[i].len, 0,
                     (struct sockaddr *)&d->hold[i].from,
                     sizeof d->hold[i].from);
    d->nhold = 0;
    return n;
}

unsigned ttldns_total(const ttldns *d)
{
    return d->total;
}

unsigned ttldns_count(const ttldns *d, const char *name, int type)
{
    for (size_t i = 0; i < d->nq; i++)
        if (d->q[i].type == type && strcmp(d->q[i].name, name) == 0)
            return d->q[i].n;
    return 0;
}
