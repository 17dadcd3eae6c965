/* The responder of fakezone.h: one thread, poll(), replies built by hand.
 * TCP replies are written with a blocking send from this thread: the
 * client reads them from its loop meanwhile. */
#define _GNU_SOURCE
#include "fakezone.h"

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
#include <unistd.h>

#define MAXCONN 32

struct zconn {
    int fd;
    unsigned char buf[4096];
    size_t len;
};

struct fakezone {
    pthread_t thread;
    int udp, tcp, wake[2];
    struct zconn conns[MAXCONN];
    atomic_uint queries, resets, underscored;
    pthread_mutex_t lock;
    char lastq[256];
    unsigned char out[65537];   /* 2-byte length + the largest reply */
};

struct msg {
    unsigned char *b;
    size_t len, cap;
};

static bool put(struct msg *m, const void *p, size_t n)
{
    if (m->len + n > m->cap)
        return false;
    memcpy(m->b + m->len, p, n);
    m->len += n;
    return true;
}

static bool put16(struct msg *m, unsigned v)
{
    unsigned char c[2] = {(unsigned char)(v >> 8), (unsigned char)v};

    return put(m, c, 2);
}

/* The question's name, dotted, and where its labels start; false when
 * the query is not one plain question. */
static bool question(const unsigned char *q, size_t qlen, char *name,
                     size_t *qend, unsigned *qtype)
{
    size_t p = 12, o = 0;

    if (qlen < 17 || (q[4] << 8 | q[5]) != 1)
        return false;
    while (p < qlen && q[p] != 0) {
        unsigned n = q[p];

        if (n > 63 || p + 1 + n >= qlen || o + n + 2 > 255)
            return false;
        memcpy(name + o, q + p + 1, n);
        o += n;
        name[o++] = '.';
        p += 1 + n;
    }
    name[o] = '\0';
    if (p + 5 > qlen)
        return false;
    *qtype = (unsigned)(q[p + 1] << 8 | q[p + 2]);
    *qend = p + 5;
    return true;
}

/* The first label that does not start with '_'. */
static const char *first_label(const char *name, size_t *len)
{
    while (name[0] == '_' && strchr(name, '.') != NULL)
        name = strchr(name, '.') + 1;
    *len = strcspn(name, ".");
    return name;
}

enum { R_NONE, R_REPLY, R_RESET };

/* Build the reply to q into m (after room for a TCP length). */
static int reply(const unsigned char *q, size_t qlen, bool tcp,
                 struct msg *m, char *qname)
{
    size_t qend, ll;
    unsigned qtype, an = 0, rcode = 0;
    const char *l;
    bool tc = false;

    if (!question(q, qlen, qname, &qend, &qtype))
        return R_NONE;
    l = first_label(qname, &ll);
    if (ll == 6 && memcmp(l, "a6mute", 6) == 0 && qtype == 28)
        return R_NONE;
    if (ll == 5 && memcmp(l, "reset", 5) == 0 && tcp)
        return R_RESET;
    put(m, q, 2);
    put16(m, 0x8180);   /* flags, fixed below */
    put16(m, 1);
    put16(m, 0);
    put16(m, 0);
    put16(m, 0);
    put(m, q + 12, qend - 12);
    if (ll == 2 && (memcmp(l, "hz", 2) == 0 || memcmp(l, "hu", 2) == 0) &&
        qtype == 33) {
        if (!tcp) {
            tc = true;
        } else {
            /* target "t<N>" + a pointer to the name after the first
             * label that does not start with '_' ("hz.<zone>") */
            size_t hz = 12;

            while (q[hz + 1] == '_')
                hz += q[hz] + 1u;
            hz += q[hz] + 1u;   /* past "hz": the zone */
            for (unsigned n = 0;; n++) {
                char t[8];
                int tl = snprintf(t, sizeof t, "%c%u", l[1] == 'z' ? 't'
                                                                    : 'u',
                                  n);
                unsigned char lab = (unsigned char)tl;
                size_t at = m->len;

                if (!(put16(m, 0xc00c) && put16(m, 33) && put16(m, 1) &&
                      put16(m, 0) && put16(m, 60) &&
                      put16(m, 6 + 1 + (unsigned)tl + 2) &&
                      put16(m, n % 3) && put16(m, n % 7) &&
                      put16(m, 1000 + n % 60000) && put(m, &lab, 1) &&
                      put(m, t, (size_t)tl) &&
                      put16(m, 0xc000 | (unsigned)hz))) {
                    m->len = at;
                    break;
                }
                an++;
            }
        }
    } else if ((l[0] == 't' || l[0] == 'u') && ll > 1 &&
               (qtype == 1 || qtype == 28)) {
        if (!tcp) {
            tc = true;
        } else {
            unsigned rl = qtype == 1 ? 4 : 16;

            for (unsigned n = 0;; n++) {
                unsigned char a[16] = {0};
                size_t at = m->len;

                a[0] = qtype == 1 ? 127 : 0x20;
                a[1] = qtype == 1 ? 1 : 0x01;
                a[rl - 2] = (unsigned char)(n >> 8);
                a[rl - 1] = (unsigned char)n;
                /* u<N>: every owner written out in full, no pointer */
                bool own = l[0] == 'u' ? put(m, q + 12, qend - 16)
                                       : put16(m, 0xc00c);

                if (!(own && put16(m, qtype) && put16(m, 1) &&
                      put16(m, 0) && put16(m, 60) && put16(m, rl) &&
                      put(m, a, rl))) {
                    m->len = at;
                    break;
                }
                an++;
            }
        }
    } else if (ll >= 6 && memcmp(l, "a6", 2) == 0) {
        if (qtype == 28 && ll == 10 && memcmp(l, "a6servfail", 10) == 0) {
            rcode = 2;
        } else if (qtype == 1) {
            static const unsigned char a80[4] = {127, 0, 0, 80};

            put16(m, 0xc00c);
            put16(m, 1);
            put16(m, 1);
            put16(m, 0);
            put16(m, 60);
            put16(m, 4);
            put(m, a80, 4);
            an = 1;
        }
    } else if (ll == 5 && memcmp(l, "reset", 5) == 0) {
        tc = true;   /* so that the client comes over TCP */
    } else {
        rcode = 3;
    }
    m->b[2] = (unsigned char)(tc ? 0x83 : 0x81);
    m->b[3] = (unsigned char)(0x80 | rcode);
    m->b[6] = (unsigned char)(an >> 8);
    m->b[7] = (unsigned char)an;
    return R_REPLY;
}

static void note(fakezone *z, const char *qname)
{
    atomic_fetch_add(&z->queries, 1);
    if (qname[0] == '_')
        atomic_fetch_add(&z->underscored, 1);
    pthread_mutex_lock(&z->lock);
    snprintf(z->lastq, sizeof z->lastq, "%s", qname);
    pthread_mutex_unlock(&z->lock);
}

static void conn_close(struct zconn *c, bool reset)
{
    if (reset) {
        struct linger lg = {1, 0};

        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->fd);
    c->fd = -1;
    c->len = 0;
}

static void serve_tcp(fakezone *z, struct zconn *c)
{
    ssize_t r = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);

    if (r <= 0) {
        conn_close(c, false);
        return;
    }
    c->len += (size_t)r;
    while (c->len >= 2) {
        size_t ql = (size_t)(c->buf[0] << 8 | c->buf[1]);
        struct msg m = {z->out + 2, 0, 65535};
        char qname[256] = "";
        int what;

        if (c->len < 2 + ql)
            break;
        what = reply(c->buf + 2, ql, true, &m, qname);
        note(z, qname);
        memmove(c->buf, c->buf + 2 + ql, c->len - 2 - ql);
        c->len -= 2 + ql;
        if (what == R_RESET) {
            atomic_fetch_add(&z->resets, 1);
            conn_close(c, true);
            return;
        }
        if (what == R_REPLY) {
            size_t off = 0;

            z->out[0] = (unsigned char)(m.len >> 8);
            z->out[1] = (unsigned char)m.len;
            while (off < m.len + 2) {
                ssize_t w = send(c->fd, z->out + off, m.len + 2 - off,
                                 MSG_NOSIGNAL);

                if (w < 0 && errno == EINTR)
                    continue;
                if (w <= 0) {
                    conn_close(c, false);
                    return;
                }
                off += (size_t)w;
            }
        }
    }
}

static void *run(void *arg)
{
    fakezone *z = arg;

    for (;;) {
        struct pollfd p[3 + MAXCONN];
        int n = 3;

        p[0] = (struct pollfd){.fd = z->wake[0], .events = POLLIN};
        p[1] = (struct pollfd){.fd = z->udp, .events = POLLIN};
        p[2] = (struct pollfd){.fd = z->tcp, .events = POLLIN};
        for (int i = 0; i < MAXCONN; i++)
            p[n++] = (struct pollfd){.fd = z->conns[i].fd, .events = POLLIN};
        if (poll(p, (nfds_t)n, -1) < 0)
            continue;
        if (p[0].revents)
            return NULL;
        if (p[1].revents & POLLIN) {
            unsigned char q[512];
            struct sockaddr_in from;
            socklen_t fl = sizeof from;
            ssize_t r = recvfrom(z->udp, q, sizeof q, 0,
                                 (struct sockaddr *)&from, &fl);

            if (r > 0) {
                struct msg m = {z->out, 0, 512};
                char qname[256] = "";

                int what = reply(q, (size_t)r, false, &m, qname);

                note(z, qname);   /* before the client can see a reply */
                if (what == R_REPLY)
                    sendto(z->udp, m.b, m.len, 0, (struct sockaddr *)&from,
                           fl);
            }
        }
        if (p[2].revents & POLLIN) {
            int fd = accept4(z->tcp, NULL, NULL, SOCK_CLOEXEC);

            for (int i = 0; fd >= 0 && i < MAXCONN; i++)
                if (z->conns[i].fd < 0) {
                    z->conns[i].fd = fd;
                    fd = -1;
                }
            if (fd >= 0)
                close(fd);
        }
        for (int i = 0; i < MAXCONN; i++)
            if (z->conns[i].fd >= 0 && (p[3 + i].revents & (POLLIN | POLLHUP |
                                                            POLLERR)))
                serve_tcp(z, &z->conns[i]);
    }
}

/* UDP on an ephemeral port, then TCP on the same number: that port can
 * be taken for TCP by someone else, so try again with another. */
static int bind_pair(fakezone *z, struct sockaddr_in *sa)
{
    for (int tries = 0; tries < 50; tries++) {
        socklen_t sl = sizeof *sa;
        int one = 1;

        sa->sin_port = 0;
        z->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        z->tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (z->udp < 0 || z->tcp < 0)
            return -errno;
        setsockopt(z->tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(z->udp, (struct sockaddr *)sa, sizeof *sa) == 0 &&
            getsockname(z->udp, (struct sockaddr *)sa, &sl) == 0 &&
            bind(z->tcp, (struct sockaddr *)sa, sizeof *sa) == 0 &&
            listen(z->tcp, 64) == 0)
            return 0;
        close(z->udp);
        close(z->tcp);
    }
    return -EADDRINUSE;
}

int fakezone_start(fakezone **out, char *server, size_t len)
{
    fakezone *z = calloc(1, sizeof *z);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    int rc;

    if (z == NULL)
        return -ENOMEM;
    for (int i = 0; i < MAXCONN; i++)
        z->conns[i].fd = -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if ((rc = bind_pair(z, &sa)) < 0) {
        free(z);
        return rc;
    }
    if (pipe2(z->wake, O_CLOEXEC) != 0) {
        rc = -errno;
        goto fail;
    }
    pthread_mutex_init(&z->lock, NULL);
    if ((rc = -pthread_create(&z->thread, NULL, run, z)) != 0) {
        pthread_mutex_destroy(&z->lock);
        close(z->wake[0]);
        close(z->wake[1]);
        goto fail;
    }
    snprintf(server, len, "127.0.0.1:%u", ntohs(sa.sin_port));
    *out = z;
    return 0;
fail:
    close(z->udp);
    close(z->tcp);
    free(z);
    return rc;
}

void fakezone_stop(fakezone *z)
{
    if (z == NULL)
        return;
    (void)!write(z->wake[1], "x", 1);
    pthread_join(z->thread, NULL);
    for (int i = 0; i < MAXCONN; i++)
        if (z->conns[i].fd >= 0)
            close(z->conns[i].fd);
    close(z->udp);
    close(z->tcp);
    close(z->wake[0]);
    close(z->wake[1]);
    pthread_mutex_destroy(&z->lock);
    free(z);
}

unsigned fakezone_queries(fakezone *z)
{
    return atomic_load(&z->queries);
}

unsigned fakezone_underscored(fakezone *z)
{
    return atomic_load(&z->underscored);
}

unsigned fakezone_resets(fakezone *z)
{
    return atomic_load(&z->resets);
}

void fakezone_last_qname(fakezone *z, char *out, size_t outlen)
{
    pthread_mutex_lock(&z->lock);
    snprintf(out, outlen, "%s", z->lastq);
    pthread_mutex_unlock(&z->lock);
}
