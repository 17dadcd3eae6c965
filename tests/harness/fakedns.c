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

struct fakedns {
    pthread_t thread;
    int udp, tcp, wake[2];
    struct conn conns[MAXCONN];
    struct delayed delayed[MAXDELAY];
    atomic_uint udpq, tcpq, replies;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Builds the reply for query q (qlen bytes) into out; returns its length,
 * 0 for no reply. *delay is set for "slow". */
static size_t answer(const unsigned char *q, size_t qlen, bool tcp,
                     unsigned char *out, size_t outlen, bool *delay)
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

static void udp_read(fakedns *f)
{
    unsigned char q[512], r[512];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(f->udp, q, sizeof q, 0, (struct sockaddr *)&from,
                         &fl);
    bool delay;
    size_t rl;

    if (n <= 0)
        return;
    f->udpq++;
    rl = answer(q, (size_t)n, false, r, sizeof r, &delay);
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
        unsigned char r[514];
        bool delay;
        size_t rl;

        if (c->len < ql + 2)
            break;
        f->tcpq++;
        rl = answer(c->buf + 2, ql, true, r + 2, sizeof r - 2, &delay);
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

int fakedns_start(fakedns **out, uint16_t *port)
{
    fakedns *f = calloc(1, sizeof *f);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int rc = 0;

    if (f == NULL)
        return -ENOMEM;
    f->udp = f->tcp = f->wake[0] = f->wake[1] = -1;
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
