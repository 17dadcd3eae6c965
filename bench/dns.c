/* Resolver workloads: resolve-64-dual, resolve-1024 and the A-only
 * variants against a dnsmasq the bench starts on 127.0.0.1 (no cache),
 * every query a distinct name; he-blackhole (Happy Eyeballs) on the same
 * names; he-aaaa-unanswered against a responder of its own (below) that
 * answers A and never AAAA. Zones: bench.test has A 127.0.0.1 and AAAA
 * ::1 for every name (dual stack, what real names have); a4.test only A,
 * AAAA answered with NODATA (an IPv4-only name); r4.test only A, AAAA
 * answered REFUSED (the first round's zone: dnsmasq refuses the type it
 * has no address for, which c-ares 1.18 retries, see resolve-64-refused).
 * glibc cannot be told a DNS port, so when root the bench moves into its
 * own network and mount namespace, runs dnsmasq on port 53 there and
 * bind-mounts a resolv.conf naming it. */
#include "bench.h"

#include "anysock.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#define ROUND_TIMEOUT 60.0

typedef struct dns_env {
    unsigned port;           /* dnsmasq's */
    char servers[32];        /* "127.0.0.1:port" */
    pid_t dnsmasq;
    bool private_ns;         /* glibc and libuv reach dnsmasq on :53 */
    long next_name;          /* names are never reused */
    long count;              /* names per round */
    int inflight;
    long failures;           /* summed over rounds */
    struct ev_loop *loop;
    anysock_ctx *ctx;
    const char *zone;        /* names are n<N>.<zone> */
    double cpu_us;           /* the last round's client CPU per name */
    long raw_lost;           /* raw-udp: queries never answered */
} dns_env;

static void next_name(dns_env *e, char *buf, size_t n)
{
    snprintf(buf, n, "n%ld.%s", e->next_name++, e->zone);
}

/* ---- namespace and dnsmasq ----------------------------------------------- */

static bool lo_up(void)
{
    struct ifreq ifr;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool ok;

    if (fd < 0)
        return false;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    ok = ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
    ifr.ifr_flags |= IFF_UP;
    ok = ok && ioctl(fd, SIOCSIFFLAGS, &ifr) == 0;
    close(fd);
    return ok;
}

/* The resolv.conf of the private namespace (dnsmasq's). */
static const char ns_conf[] = "nameserver 127.0.0.1\noptions ndots:1\n";

/* Bind-mount a file holding conf over /etc/resolv.conf. The file is
 * unlinked at once (the mount keeps it alive), so nothing can be mounted
 * over this one: unmount it first. */
static bool mount_conf(const char *conf, char *why, size_t n)
{
    char path[] = "/tmp/anysock-bench-resolv-XXXXXX";
    size_t len = strlen(conf);
    int fd = mkstemp(path);
    bool ok = fd >= 0 && write(fd, conf, len) == (ssize_t)len &&
              mount(path, "/etc/resolv.conf", NULL, MS_BIND, NULL) == 0;

    if (!ok)
        snprintf(why, n, "resolv.conf bind mount: %s", strerror(errno));
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    return ok;
}

/* A fresh network namespace (only its own loopback) and a mount namespace
 * where /etc/resolv.conf names 127.0.0.1. Affects this process only. */
static bool enter_private_ns(char *why, size_t n)
{
    if (unshare(CLONE_NEWNET | CLONE_NEWNS) < 0) {
        snprintf(why, n, "unshare: %s (needs root)", strerror(errno));
        return false;
    }
    if (!lo_up() ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        snprintf(why, n, "namespace set-up: %s", strerror(errno));
        return false;
    }
    return mount_conf(ns_conf, why, n);
}

static unsigned free_udp_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* One A query for ready.bench.test; true once dnsmasq answers. */
static bool dnsmasq_answers(unsigned port)
{
    static const unsigned char q[] = {
        0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
        5, 'r', 'e', 'a', 'd', 'y', 5, 'b', 'e', 'n', 'c', 'h',
        4, 't', 'e', 's', 't', 0, 0, 1, 0, 1,
    };
    struct sockaddr_in sin = { .sin_family = AF_INET };
    unsigned char buf[512];
    struct pollfd p;
    bool ok = false;
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return false;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    p.fd = fd;
    p.events = POLLIN;
    if (sendto(fd, q, sizeof q, 0, (struct sockaddr *)&sin, sizeof sin) ==
            (ssize_t)sizeof q &&
        poll(&p, 1, 100) == 1)
        ok = recv(fd, buf, sizeof buf, 0) > 12 && buf[0] == 0x12;
    close(fd);
    return ok;
}

static bool start_dnsmasq(dns_env *e, int cpu)
{
    char port[32];

    e->port = e->private_ns ? 53 : free_udp_port();
    if (e->port == 0)
        return false;
    snprintf(port, sizeof port, "--port=%u", e->port);
    snprintf(e->servers, sizeof e->servers, "127.0.0.1:%u", e->port);
    fflush(stdout);
    e->dnsmasq = fork();
    if (e->dnsmasq < 0)
        return false;
    if (e->dnsmasq == 0) {
        int null = open("/dev/null", O_RDWR);

        prctl(PR_SET_PDEATHSIG, SIGTERM);   /* never outlive the bench */
        bench_pin(cpu);
        dup2(null, 1);
        dup2(null, 2);
        execlp("dnsmasq", "dnsmasq", "--keep-in-foreground",
               "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
               "--listen-address=127.0.0.1", "--bind-interfaces", port,
               "--address=/bench.test/127.0.0.1",
               "--address=/bench.test/::1",
               "--local=/a4.test/", "--address=/a4.test/127.0.0.1",
               "--address=/r4.test/127.0.0.1", "--cache-size=0",
               "--pid-file=", "--user=root", "--group=root",
               (char *)NULL);
        _exit(127);
    }
    /* bounded wait for readiness: each try polls 100 ms for the answer */
    for (int i = 0; i < 50; i++) {
        int status;

        if (waitpid(e->dnsmasq, &status, WNOHANG) == e->dnsmasq) {
            e->dnsmasq = 0;
            return false;
        }
        if (dnsmasq_answers(e->port))
            return true;
    }
    return false;
}

/* ---- ours ---------------------------------------------------------------- */

typedef struct ours_res {
    dns_env *e;
    long started, done, failed;
    int inflight;
} ours_res;

static void ours_start(ours_res *r);

static void ours_cb(void *data, int status, const anysock_target *t,
                    size_t count)
{
    ours_res *r = data;

    (void)t;
    if (status != 0 || count == 0)
        r->failed++;
    if (++r->done == r->e->count)
        ev_break(r->e->loop, EVBREAK_ONE);
    else if (r->started < r->e->count)
        ours_start(r);
}

static void ours_start(ours_res *r)
{
    char name[64];

    next_name(r->e, name, sizeof name);
    r->started++;
    if (anysock_resolve_sockaddr(r->e->ctx, name, "80", "tcp", 0, 0,
                                 ours_cb, r, NULL) < 0) {
        r->failed++;
        r->done++;
    }
}

static void ours_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ONE);
}

static double resolve_ours_n(dns_env *e, int inflight)
{
    ours_res r = { .e = e, .inflight = inflight };
    ev_timer timer;
    double t0 = bench_now(), t, c0 = bench_cpu();

    ev_timer_init(&timer, ours_timeout, ROUND_TIMEOUT, 0.);
    ev_timer_start(e->loop, &timer);
    for (int i = 0; i < inflight && r.started < e->count; i++)
        ours_start(&r);
    if (r.done < e->count)
        ev_run(e->loop, 0);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    ev_timer_stop(e->loop, &timer);
    e->failures += r.failed + (e->count - r.done);
    /* a round that lost or failed names does not count as a figure */
    return r.done == e->count && r.failed == 0 ? (double)e->count / t : -1;
}

static double resolve_ours(void *arg)
{
    dns_env *e = arg;

    return resolve_ours_n(e, e->inflight);
}

static double resolve_ours_64(void *arg)
{
    dns_env *e = arg;
    long failures = e->failures;
    double r = resolve_ours_n(e, 64);

    e->failures = failures; /* resolve-1024 reports its own losses */
    return r;
}

/* ---- raw c-ares on epoll ------------------------------------------------- */

typedef struct cares_run {
    dns_env *e;
    ares_channel ch;
    int ep;
    long started, done, failed;
} cares_run;

static void cares_sock_state(void *data, ares_socket_t fd, int readable,
                             int writable)
{
    cares_run *c = data;
    struct epoll_event ev = { .events = (readable ? EPOLLIN : 0u) |
                                        (writable ? EPOLLOUT : 0u) };

    ev.data.fd = fd;
    if (!readable && !writable)
        epoll_ctl(c->ep, EPOLL_CTL_DEL, fd, NULL);
    else if (epoll_ctl(c->ep, EPOLL_CTL_MOD, fd, &ev) < 0 && errno == ENOENT)
        epoll_ctl(c->ep, EPOLL_CTL_ADD, fd, &ev);
}

static void cares_start(cares_run *c);

static void cares_cb(void *arg, int status, int timeouts,
                     struct ares_addrinfo *res)
{
    cares_run *c = arg;

    (void)timeouts;
    if (status != ARES_SUCCESS || res == NULL || res->nodes == NULL)
        c->failed++;
    else  /* the port the service lookup was spared (see cares_start) */
        for (struct ares_addrinfo_node *n = res->nodes; n; n = n->ai_next)
            ((struct sockaddr_in *)(void *)n->ai_addr)->sin_port = htons(80);
    ares_freeaddrinfo(res);
    c->done++;
    if (c->started < c->e->count)
        cares_start(c);
}

static void cares_start(cares_run *c)
{
    struct ares_addrinfo_hints h = { .ai_flags = ARES_AI_NOSORT,
                                     .ai_family = AF_UNSPEC,
                                     .ai_socktype = SOCK_STREAM };
    char name[64];

    next_name(c->e, name, sizeof name);
    c->started++;
    /* service NULL: c-ares 1.18 would parse /etc/services for "80" on
     * every call (getservbyname), which is most of its CPU time; a user
     * who cares sets the port, as cares_cb does */
    ares_getaddrinfo(c->ch, name, NULL, &h, cares_cb, c);
}

static double resolve_cares(void *arg)
{
    dns_env *e = arg;
    cares_run c = { .e = e };
    struct ares_options opt;
    struct epoll_event evs[64];
    double t0, t, c0;
    bool ok;

    memset(&opt, 0, sizeof opt);
    opt.sock_state_cb = cares_sock_state;
    opt.sock_state_cb_data = &c;
    /* DNS only: the names are not in /etc/hosts, and reading it for every
     * query would only slow the peer down */
    opt.lookups = (char *)"b";
    c.ep = epoll_create1(EPOLL_CLOEXEC);
    if (ares_init_options(&c.ch, &opt,
                          ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS) !=
        ARES_SUCCESS) {
        close(c.ep);
        return -1;
    }
    if (ares_set_servers_ports_csv(c.ch, e->servers) != ARES_SUCCESS) {
        ares_destroy(c.ch);
        close(c.ep);
        return -1;
    }
    t0 = bench_now();
    c0 = bench_cpu();
    for (int i = 0; i < e->inflight && c.started < e->count; i++)
        cares_start(&c);
    while (c.done < e->count && bench_now() - t0 < ROUND_TIMEOUT) {
        struct timeval tv, *tvp = ares_timeout(c.ch, NULL, &tv);
        int ms = tvp ? (int)(tv.tv_sec * 1000 + tv.tv_usec / 1000) : 1000;
        int n = epoll_wait(c.ep, evs, 64, ms);

        if (n == 0)
            ares_process_fd(c.ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
        for (int i = 0; i < n; i++)
            ares_process_fd(c.ch,
                            evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)
                                ? evs[i].data.fd : ARES_SOCKET_BAD,
                            evs[i].events & EPOLLOUT ? evs[i].data.fd
                                                     : ARES_SOCKET_BAD);
    }
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    ok = c.done == e->count && c.failed == 0;
    ares_destroy(c.ch);
    close(c.ep);
    return ok ? (double)e->count / t : -1;
}

/* ---- getaddrinfo on 8 threads -------------------------------------------- */

typedef struct gai_run {
    dns_env *e;
    long base;               /* first name number of the round */
    long next;               /* atomic: next index to take */
    long failed;             /* atomic */
} gai_run;

static void *gai_thread(void *arg)
{
    gai_run *g = arg;
    struct addrinfo h = { .ai_family = AF_UNSPEC,
                          .ai_socktype = SOCK_STREAM }, *res;
    char name[64];
    long i;

    while ((i = __atomic_fetch_add(&g->next, 1, __ATOMIC_RELAXED)) <
           g->e->count) {
        snprintf(name, sizeof name, "n%ld.%s", g->base + i, g->e->zone);
        if (getaddrinfo(name, "80", &h, &res) != 0) {
            __atomic_add_fetch(&g->failed, 1, __ATOMIC_RELAXED);
            continue;
        }
        freeaddrinfo(res);
    }
    return NULL;
}

static double resolve_gai(void *arg)
{
    dns_env *e = arg;
    gai_run g = { .e = e, .base = e->next_name };
    long full = e->count;
    pthread_t th[8];
    int n = 0;
    double t0 = bench_now(), t, c0 = bench_cpu();

    /* a quarter of the names: an information row, and the slowest */
    e->count = full / 4 > 0 ? full / 4 : 1;
    e->next_name += e->count;
    for (; n < 8; n++)
        if (pthread_create(&th[n], NULL, gai_thread, &g) != 0)
            break;
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    n = n == 8 && g.failed == 0;
    t = (double)e->count / t;
    e->count = full;
    return n ? t : -1;
}

/* ---- libuv uv_getaddrinfo (its default thread pool) ---------------------- */

typedef struct uvg_run {
    dns_env *e;
    uv_loop_t loop;
    uv_getaddrinfo_t req[1024];
    long started, done, failed;
} uvg_run;

static void uvg_start(uvg_run *u, uv_getaddrinfo_t *req);

static void uvg_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    uvg_run *u = req->data;

    if (status != 0)
        u->failed++;
    uv_freeaddrinfo(res);
    u->done++;
    if (u->started < u->e->count)
        uvg_start(u, req);
}

static void uvg_start(uvg_run *u, uv_getaddrinfo_t *req)
{
    struct addrinfo h = { .ai_family = AF_UNSPEC,
                          .ai_socktype = SOCK_STREAM };
    char name[64];

    next_name(u->e, name, sizeof name);
    u->started++;
    req->data = u;
    if (uv_getaddrinfo(&u->loop, req, uvg_cb, name, "80", &h) != 0) {
        u->failed++;
        u->done++;
    }
}

static double resolve_libuv(void *arg)
{
    dns_env *e = arg;
    uvg_run *u = calloc(1, sizeof *u);
    double t0, t, c0, r;
    bool ok;
    long full = e->count;

    if (u == NULL || uv_loop_init(&u->loop) != 0) {
        free(u);
        return -1;
    }
    /* a quarter of the names: an information row, and the slowest */
    e->count = full / 4 > 0 ? full / 4 : 1;
    u->e = e;
    t0 = bench_now();
    c0 = bench_cpu();
    for (int i = 0; i < e->inflight && i < 1024 && u->started < e->count;
         i++)
        uvg_start(u, &u->req[i]);
    uv_run(&u->loop, UV_RUN_DEFAULT);
    t = bench_now() - t0;
    /* the pool's threads are in this process: their CPU counts */
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    ok = u->done == e->count && u->failed == 0;
    uv_loop_close(&u->loop);
    free(u);
    r = (double)e->count / t;
    e->count = full;
    return ok ? r : -1;
}

/* ---- raw-udp: the server's ceiling --------------------------------------- */

#define QMAX 64

/* One DNS query (RD set, class IN) for name and type into q; its length. */
static size_t build_query(unsigned char *q, uint16_t id, const char *name,
                          uint16_t type)
{
    size_t n = 12;

    memset(q, 0, 12);
    q[0] = (unsigned char)(id >> 8);
    q[1] = (unsigned char)id;
    q[2] = 0x01;    /* RD */
    q[5] = 1;       /* QDCOUNT */
    while (*name) {
        const char *dot = strchr(name, '.');
        size_t l = dot ? (size_t)(dot - name) : strlen(name);

        q[n++] = (unsigned char)l;
        memcpy(q + n, name, l);
        n += l;
        name += l + (dot != NULL);
    }
    q[n++] = 0;
    q[n++] = 0;
    q[n++] = (unsigned char)type;
    q[n++] = 0;
    q[n++] = 1;
    return n;
}

/* The cheapest client there is: every A and AAAA query prebuilt, one
 * connected UDP socket, 2 * inflight queries outstanding (as many as the
 * resolvers have for inflight names), a new one sent per reply, replies
 * only counted. Its names/s is what this dnsmasq on this machine gives. */
static double resolve_raw(void *arg)
{
    dns_env *e = arg;
    long nq = 2 * e->count, sent = 0, got = 0, lost = 0;
    unsigned char (*q)[QMAX] = malloc((size_t)nq * QMAX);
    size_t *ql = malloc((size_t)nq * sizeof *ql);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    struct timeval tv = { 0, 200000 };
    unsigned char buf[512];
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), rcv = 1 << 20;
    long window = 2L * e->inflight;
    double t0, t, c0;

    if (q == NULL || ql == NULL || fd < 0) {
        free(q);
        free(ql);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    for (long i = 0; i < e->count; i++) {
        char name[64];

        next_name(e, name, sizeof name);
        ql[2 * i] = build_query(q[2 * i], (uint16_t)(2 * i), name, 1);
        ql[2 * i + 1] = build_query(q[2 * i + 1], (uint16_t)(2 * i + 1),
                                    name, 28);
    }
    sin.sin_port = htons((uint16_t)e->port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
        free(q);
        free(ql);
        close(fd);
        return -1;
    }
    t0 = bench_now();
    c0 = bench_cpu();
    for (; sent < window && sent < nq; sent++)
        send(fd, q[sent], ql[sent], 0);
    while (got + lost < nq) {
        ssize_t n = recv(fd, buf, sizeof buf, 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            /* 200 ms of silence: what is outstanding is lost; refill */
            lost += sent - got - lost;
            for (long w = 0; w < window && sent < nq; w++, sent++)
                send(fd, q[sent], ql[sent], 0);
            continue;
        }
        if (n >= 12 && (buf[2] & 0x80))
            got++;
        if (sent < nq) {
            send(fd, q[sent], ql[sent], 0);
            sent++;
        }
    }
    t = bench_now() - t0;
    e->cpu_us = (bench_cpu() - c0) * 1e6 / (double)e->count;
    e->raw_lost += lost;
    free(q);
    free(ql);
    close(fd);
    return lost == 0 ? (double)got / 2 / t : -1;
}

/* ---- he-blackhole: Happy Eyeballs past a silent first address ------------ */

typedef struct he_env {
    dns_env *e;
    anysock_ctx *ctx;        /* connect_delay 0.25 (the default) */
    anysock_ctx *seq;        /* connect_delay 0: one at a time */
    /* non-NULL: he_run goes through anysock_tcp_connect_ex with these */
    const anysock_connect_opts *opts;
    char portstr[8];
    double t_done;
    int status;
    double ours_ms[65];      /* every round of ours, the warm-up first */
    int nours;
} he_env;

/* The sequential client's per-attempt timeout (what a prepare callback
 * returns): 1 s, a short one as such clients go. */
#define SEQ_ATTEMPT_TIMEOUT 1.0

static double he_seq_prepare(void *data, int fd)
{
    (void)data;
    (void)fd;
    return SEQ_ATTEMPT_TIMEOUT;
}

static void he_cb(void *data, int status, int fd, const char *host,
                  unsigned port)
{
    he_env *h = data;

    (void)host;
    (void)port;
    h->t_done = bench_now();
    h->status = status;
    if (status == 0)
        close(fd);
    ev_break(h->e->loop, EVBREAK_ONE);
}

/* Milliseconds from tcp_connect to the connected callback for a fresh
 * name of e->zone. he-blackhole: a dual-stack name, ::1 first (protocols
 * ipv6,ipv4), its port a listener whose full backlog drops every SYN,
 * then 127.0.0.1, which accepts. he-aaaa-unanswered: see below. */
static double he_run(he_env *h, anysock_ctx *ctx, anysock_prepare_cb prep)
{
    anysock_guard *g = NULL;
    ev_timer timer;
    char name[64];
    double t0;

    next_name(h->e, name, sizeof name);
    h->status = 1;
    ev_timer_init(&timer, ours_timeout, 10.0, 0.);
    ev_timer_start(h->e->loop, &timer);
    t0 = bench_now();
    if ((h->opts != NULL
             ? anysock_tcp_connect_ex(ctx, name, h->portstr, h->opts, he_cb,
                                      prep, h, &g)
             : anysock_tcp_connect(ctx, name, h->portstr, he_cb, prep, h,
                                   &g)) < 0) {
        ev_timer_stop(h->e->loop, &timer);
        return -1;
    }
    ev_run(h->e->loop, 0);
    ev_timer_stop(h->e->loop, &timer);
    anysock_guard_cancel(&g);
    return h->status == 0 ? (h->t_done - t0) * 1e3 : -1;
}

static double he_ours(void *arg)
{
    he_env *h = arg;
    double ms = he_run(h, h->ctx, NULL);

    if (h->nours < 65)
        h->ours_ms[h->nours++] = ms;
    return ms;
}

static int cmp_ms(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* The median of ours's rounds as the table computes it (the warm-up
 * round left out); *failed when a round failed. Sorts ours_ms. */
static double ours_median(he_env *h, bool *failed)
{
    double *v = h->ours_ms + 1;
    int n = h->nours - 1;

    *failed = false;
    for (int i = 0; i < n; i++)
        *failed |= v[i] < 0;
    qsort(v, (size_t)n, sizeof *v, cmp_ms);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double he_sequential(void *arg)
{
    he_env *h = arg;

    return he_run(h, h->seq, he_seq_prepare);
}

/* A listener on addr:port; backlog 0 plus one queued connection makes it
 * a black hole (the kernel drops SYNs while the accept queue is full). */
static int he_listen(int family, unsigned port, int backlog, int *fill)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int one = 1, fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);

    memset(&ss, 0, sizeof ss);
    if (family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        s6->sin6_addr = in6addr_loopback;
        len = sizeof *s6;
        if (fd >= 0)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *s4;
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 ||
        listen(fd, backlog) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (fill) {
        *fill = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (*fill < 0 || connect(*fill, (struct sockaddr *)&ss, len) < 0) {
            if (*fill >= 0)
                close(*fill);
            close(fd);
            return -1;
        }
    }
    return fd;
}

static void bench_he(const bench_opts *o, dns_env *e)
{
    he_env h = { .e = e };
    anysock_config cfg;
    int good = -1, hole = -1, fill = -1;
    unsigned port = 0;
    const char *skip = NULL;

    /* the same port free on 127.0.0.1 and ::1 */
    for (int i = 0; i < 20 && hole < 0; i++) {
        struct sockaddr_in sin;
        socklen_t len = sizeof sin;

        if (good >= 0)
            close(good);
        good = he_listen(AF_INET, 0, 128, NULL);
        if (good < 0 ||
            getsockname(good, (struct sockaddr *)&sin, &len) < 0)
            break;
        port = ntohs(sin.sin_port);
        hole = he_listen(AF_INET6, port, 0, &fill);
    }
    if (hole < 0)
        skip = "no ::1 listener (IPv6 loopback missing?)";
    snprintf(h.portstr, sizeof h.portstr, "%u", port);
    anysock_config_init(&cfg);
    cfg.dns_servers = e->servers;
    cfg.protocols = "ipv6,ipv4";
    if (anysock_ctx_new(e->loop, &cfg, &h.ctx) < 0)
        skip = "no ctx";
    cfg.connect_delay = 0;
    if (anysock_ctx_new(e->loop, &cfg, &h.seq) < 0)
        skip = "no ctx";
    e->zone = "bench.test";
    bench_side s[] = {
        { "ours", he_ours, &h, skip, NULL },
        { "sequential", he_sequential, &h, skip, NULL },
    };
    bench_compare(o, "he-blackhole", "ms", false, s, 2,
                  "tcp_connect to a dual-stack name, ::1 first and black-"
                  "holed (full backlog); ours: connect_delay 0.25 s; "
                  "sequential: connect_delay 0 with a 1 s attempt timeout");
    if (h.nours > 1) {
        bool failed;
        double med = ours_median(&h, &failed);

        printf("CHECK he-blackhole ours median=%.0f ms, target <= "
               "connect_delay + 20 ms = 270 ms: %s\n", med,
               !failed && med <= 270 ? "met" : "MISSED");
    }
    anysock_ctx_free(h.ctx);
    anysock_ctx_free(h.seq);
    if (fill >= 0)
        close(fill);
    if (hole >= 0)
        close(hole);
    if (good >= 0)
        close(good);
}

/* ---- he-aaaa-unanswered: A answered at once, AAAA never ------------------ */

/* The responder listens on port 53 (glibc cannot be given a port) of an
 * address dnsmasq leaves free (it binds 127.0.0.1 only), named by the
 * row's own resolv.conf. glibc waits timeout * attempts for the AAAA: its
 * default 5 s * 2 would make a round 10 s; 1 s * 1 keeps the row short. */
#define A6_ZONE "he6.test"
#define A6_ADDR "127.0.0.2"
#define A6_OPTIONS "timeout:1 attempts:1"

static const char a6_conf[] =
    "nameserver " A6_ADDR "\noptions ndots:1 " A6_OPTIONS "\n";

enum { A6_MALFORMED, A6_ANSWERED, A6_DROPPED, A6_REFUSED, A6_KINDS };

typedef struct a6_env {
    he_env h;                /* ours: he_run on h.ctx with h.opts */
    anysock_connect_opts opts;
    int listener;            /* 127.0.0.1, non-blocking, accepts */
    int udp;                 /* the responder's socket */
    int stop[2];             /* a byte on stop[1] ends the responder */
    int cpu;
    long kinds[A6_KINDS];    /* the responder's counts, read after join */
    double gai_ms[65];       /* every getaddrinfo round, the warm-up first */
    int ngai;
} a6_env;

/* The reply to the query q (n bytes) in r (rn bytes); its length, or 0 to
 * send nothing. An A query (class IN) for a name under A6_ZONE gets
 * 127.0.0.1, an AAAA query for one is dropped, any other well-formed
 * query gets REFUSED, a malformed one is dropped. *kind says which. */
static size_t a6_reply(const unsigned char *q, size_t n, unsigned char *r,
                       size_t rn, int *kind)
{
    static const char zone[] = "." A6_ZONE;
    static const unsigned char a_rr[] = {
        0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4, 127, 0, 0, 1,
    };
    char name[256];
    size_t off = 12, nl = 0, zl = sizeof zone - 1;
    unsigned qtype, qclass;
    bool ours;

    *kind = A6_MALFORMED;
    /* a query (QR 0, opcode QUERY) with exactly one question */
    if (n < 12 || (q[2] & 0xf8) != 0 || q[4] != 0 || q[5] != 1)
        return 0;
    for (;;) {
        unsigned l;

        if (off >= n)
            return 0;
        l = q[off++];
        if (l == 0)
            break;
        /* > 63: a compression pointer, which has no place here */
        if (l > 63 || l > n - off || nl + l + 1 >= sizeof name)
            return 0;
        if (nl > 0)
            name[nl++] = '.';
        for (unsigned i = 0; i < l; i++) {
            unsigned char c = q[off + i];

            name[nl++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        off += l;
    }
    name[nl] = '\0';
    if (n - off < 4 || off + 4 + sizeof a_rr > rn)
        return 0;
    qtype = (unsigned)q[off] << 8 | q[off + 1];
    qclass = (unsigned)q[off + 2] << 8 | q[off + 3];
    off += 4;
    ours = qclass == 1 && nl > zl && strcmp(name + nl - zl, zone) == 0;
    if (ours && qtype == 28) {
        *kind = A6_DROPPED;
        return 0;
    }
    /* the header and question echoed; no EDNS in the reply, which the
     * client must accept (RFC 6891 §7) */
    memcpy(r, q, off);
    r[2] = (unsigned char)(0x84 | (q[2] & 0x01));   /* QR AA, RD kept */
    memset(r + 6, 0, 6);
    if (ours && qtype == 1) {
        *kind = A6_ANSWERED;
        r[3] = 0x80;    /* RA, NOERROR */
        r[7] = 1;       /* ANCOUNT */
        memcpy(r + off, a_rr, sizeof a_rr);
        return off + sizeof a_rr;
    }
    *kind = A6_REFUSED;
    r[3] = 0x85;        /* RA, REFUSED */
    return off;
}

static void *a6_responder(void *arg)
{
    a6_env *a = arg;
    struct pollfd p[2] = {
        { .fd = a->udp, .events = POLLIN },
        { .fd = a->stop[0], .events = POLLIN },
    };
    unsigned char q[512], r[600];

    bench_pin(a->cpu);
    for (;;) {
        struct sockaddr_storage from;
        socklen_t fl = sizeof from;
        ssize_t n;
        size_t rl;
        int kind;

        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (p[1].revents)
            break;
        /* a longer datagram (EDNS options) is cut at 512: only the
         * question is read */
        n = recvfrom(a->udp, q, sizeof q, MSG_DONTWAIT,
                     (struct sockaddr *)&from, &fl);
        if (n < 0)
            continue;
        rl = a6_reply(q, (size_t)n, r, sizeof r, &kind);
        a->kinds[kind]++;
        if (rl > 0)
            sendto(a->udp, r, rl, 0, (struct sockaddr *)&from, fl);
    }
    return NULL;
}

/* Close what the listener has accepted, outside the timed part: the
 * backlog never fills, whatever the number of rounds. */
static void a6_drain(int listener)
{
    int fd;

    while ((fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) >= 0)
        close(fd);
}

static double a6_ours(void *arg)
{
    a6_env *a = arg;
    double ms = he_ours(&a->h);

    a6_drain(a->listener);
    return ms;
}

/* What a program without Happy Eyeballs does: getaddrinfo(AF_UNSPEC),
 * which returns only once both answers are in or its timeout expired,
 * then a blocking connect to the first address. */
static double a6_gai(void *arg)
{
    a6_env *a = arg;
    struct addrinfo hints = { .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM }, *res;
    char name[64];
    double t0, ms;
    int fd = -1;

    next_name(a->h.e, name, sizeof name);
    t0 = bench_now();
    if (getaddrinfo(name, a->h.portstr, &hints, &res) == 0) {
        fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC,
                    res->ai_protocol);
        if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
        freeaddrinfo(res);
    }
    ms = (bench_now() - t0) * 1e3;
    if (fd >= 0)
        close(fd);
    a6_drain(a->listener);
    if (a->ngai < 65)
        a->gai_ms[a->ngai++] = fd >= 0 ? ms : -1;
    return fd >= 0 ? ms : -1;
}

/* /etc/resolv.conf names the responder, for glibc and for ours, which
 * reads it when its context is made: the namespace's own is unmounted
 * (mount_conf) and mounted again by a6_unmount_conf. */
static bool a6_mount_conf(char *why, size_t n)
{
    if (umount2("/etc/resolv.conf", 0) < 0) {
        snprintf(why, n, "umount resolv.conf: %s", strerror(errno));
        return false;
    }
    if (mount_conf(a6_conf, why, n))
        return true;
    if (!mount_conf(ns_conf, why, n))
        perror("anysock-bench: resolv.conf");
    return false;
}

static void a6_unmount_conf(void)
{
    char why[160];

    if (umount2("/etc/resolv.conf", 0) < 0 ||
        !mount_conf(ns_conf, why, sizeof why))
        fprintf(stderr, "anysock-bench: restoring resolv.conf: %s\n",
                strerror(errno));
}

/* The responder's socket: A6_ADDR:53 in the private namespace, else a
 * free port on 127.0.0.1 (then only ours can run). 0 or -1. */
static int a6_bind(a6_env *a, bool private_ns, char *servers, size_t n)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof sin;

    a->udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sin.sin_port = htons(private_ns ? 53 : 0);
    inet_pton(AF_INET, private_ns ? A6_ADDR : "127.0.0.1", &sin.sin_addr);
    if (a->udp < 0 || bind(a->udp, (struct sockaddr *)&sin, sizeof sin) < 0 ||
        getsockname(a->udp, (struct sockaddr *)&sin, &len) < 0)
        return -1;
    snprintf(servers, n, "%s:%u", private_ns ? A6_ADDR : "127.0.0.1",
             ntohs(sin.sin_port));
    return 0;
}

static void bench_a6(const bench_opts *o, dns_env *e)
{
    a6_env a = { .h.e = e, .listener = -1, .udp = -1, .stop = { -1, -1 },
                 .cpu = o->cpu_server };
    bench_opts ro = *o;
    anysock_config cfg;
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    pthread_t th;
    char servers[32], why[160], note[320];
    const char *skip = NULL, *pskip = NULL, *env;
    bool mounted = false, running = false;

    /* a getaddrinfo round is a second: 5 with --quick (the row ~8 s) */
    if (o->quick)
        ro.rounds = 5;
    e->zone = A6_ZONE;
    a.listener = he_listen(AF_INET, 0, 128, NULL);
    if (a.listener < 0 ||
        getsockname(a.listener, (struct sockaddr *)&sin, &len) < 0 ||
        fcntl(a.listener, F_SETFL, O_NONBLOCK) < 0)
        skip = "no listener on 127.0.0.1";
    else
        snprintf(a.h.portstr, sizeof a.h.portstr, "%u",
                 ntohs(sin.sin_port));
    if (skip == NULL &&
        (a6_bind(&a, e->private_ns, servers, sizeof servers) < 0 ||
         pipe2(a.stop, O_CLOEXEC) < 0 ||
         pthread_create(&th, NULL, a6_responder, &a) != 0))
        skip = "no DNS responder (" A6_ADDR ":53 taken?)";
    running = skip == NULL;
    pskip = skip;
    if (skip == NULL && !e->private_ns)
        pskip = "no private namespace (needs root): glibc cannot be "
                "pointed at the responder";
    else if (skip == NULL)
        mounted = a6_mount_conf(why, sizeof why);
    if (skip == NULL && e->private_ns && !mounted)
        pskip = why;

    anysock_config_init(&cfg);
    cfg.protocols = "ipv6,ipv4";    /* RFC 8305's order: AAAA preferred */
    cfg.dns_cache = -1;
    if (mounted) {
        /* the same servers as glibc: from the same file */
        cfg.resolv_conf = "/etc/resolv.conf";
        env = getenv("ANYSOCK_DNS_SERVERS");
        if (env != NULL && *env != '\0')
            skip = "ANYSOCK_DNS_SERVERS is set: ours would not read "
                   "resolv.conf";
    } else {
        cfg.dns_servers = servers;
    }
    if (skip == NULL && anysock_ctx_new(e->loop, &cfg, &a.h.ctx) < 0)
        skip = "no ctx";
    anysock_connect_opts_init(&a.opts);   /* every default */
    a.h.opts = &a.opts;
    bench_side s[] = {
        { "ours", a6_ours, &a, skip, NULL },
        { "getaddrinfo-connect", a6_gai, &a, pskip, NULL },
    };
    snprintf(note, sizeof note,
             "tcp_connect to a fresh name whose server answers A at once "
             "and never AAAA; ours: tcp_connect_ex, default options (50 ms "
             "resolution delay), protocols ipv6,ipv4; peer: "
             "getaddrinfo(AF_UNSPEC) then connect, resolv.conf options "
             A6_OPTIONS " (glibc's default 5 s x 2); %d rounds", ro.rounds);
    bench_compare(&ro, "he-aaaa-unanswered", "ms", false, s, 2, note);
    /* everything pending on ours (the unanswered AAAA) goes first */
    anysock_ctx_free(a.h.ctx);
    if (running) {
        if (write(a.stop[1], "", 1) != 1)
            pthread_cancel(th);     /* poll is a cancellation point */
        pthread_join(th, NULL);
    }
    if (a.h.nours > 1) {
        bool failed;
        double med = ours_median(&a.h, &failed), gmed = NAN;
        int n = a.ngai - 1;

        if (n > 0) {
            double *v = a.gai_ms + 1;

            qsort(v, (size_t)n, sizeof *v, cmp_ms);
            gmed = v[0] < 0 ? NAN
                   : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        }
        printf("CHECK he-aaaa-unanswered ours median=%.0f ms, target <= "
               "resolution delay 50 ms + 20 ms = 70 ms: %s; getaddrinfo "
               "(resolv.conf options " A6_OPTIONS ", glibc's default "
               "timeout:5 attempts:2 waits ~10 s) median=%.0f ms, its "
               "first call in the thread %.0f ms; responder: %ld A "
               "answered, %ld AAAA dropped, %ld refused, %ld malformed\n",
               med, !failed && med <= 70 ? "met" : "MISSED", gmed,
               a.ngai > 0 ? a.gai_ms[0] : NAN, a.kinds[A6_ANSWERED],
               a.kinds[A6_DROPPED], a.kinds[A6_REFUSED],
               a.kinds[A6_MALFORMED]);
    }
    if (mounted)
        a6_unmount_conf();
    for (int i = 0; i < 2; i++)
        if (a.stop[i] >= 0)
            close(a.stop[i]);
    if (a.udp >= 0)
        close(a.udp);
    if (a.listener >= 0)
        close(a.listener);
}

/* ---- the workloads ------------------------------------------------------- */

void bench_dns(const bench_opts *o)
{
    long count = o->quick ? 10000 : 20000;
    dns_env e = { .count = count };
    anysock_config cfg;
    char why[160] = "";
    const char *nskip = NULL;

    if (!bench_want(o, "resolve-64-dual") &&
        !bench_want(o, "resolve-64-aonly") &&
        !bench_want(o, "resolve-64-refused") &&
        !bench_want(o, "resolve-1024") && !bench_want(o, "he-blackhole") &&
        !bench_want(o, "he-aaaa-unanswered"))
        return;
    e.private_ns = enter_private_ns(why, sizeof why);
    if (!e.private_ns)
        nskip = why;
    if (!start_dnsmasq(&e, o->cpu_server)) {
        printf("resolve-64-dual skipped: dnsmasq did not start "
               "(apt-get install dnsmasq-base)\n");
        if (e.dnsmasq > 0) {
            kill(e.dnsmasq, SIGTERM);
            waitpid(e.dnsmasq, NULL, 0);
        }
        return;
    }
    ares_library_init(ARES_LIB_INIT_ALL);
    anysock_config_init(&cfg);
    cfg.dns_servers = e.servers;
    e.loop = ev_loop_new(EVBACKEND_EPOLL);
    if (anysock_ctx_new(e.loop, &cfg, &e.ctx) < 0)
        e.ctx = NULL;

    if (bench_want(o, "resolve-64-dual")) {
        e.inflight = 64;
        e.zone = "bench.test";
        e.raw_lost = 0;
        bench_side s[] = {
            { "ours", resolve_ours, &e, e.ctx ? NULL : "no ctx", &e.cpu_us },
            { "c-ares", resolve_cares, &e, NULL, &e.cpu_us },
            { "raw-udp", resolve_raw, &e, NULL, &e.cpu_us },
            { "getaddrinfo-8threads", resolve_gai, &e, nskip, &e.cpu_us },
            { "libuv-uv_getaddrinfo", resolve_libuv, &e, nskip, &e.cpu_us },
        };
        bench_compare_cpu(o, "resolve-64-dual", "names/s", true, s, 5,
                          "every name A and AAAA (family 0 / AF_UNSPEC); "
                          "raw-udp: the server's ceiling (prebuilt queries, "
                          "one socket), ours/raw-udp is the share of it we "
                          "reach; getaddrinfo and libuv (information) "
                          "resolve a quarter of the names a round",
                          "resolve-cpu", "name",
                          "client process CPU per name (every thread; "
                          "dnsmasq not included); raw-udp's is the floor");
        printf("CHECK raw-udp lost=%ld (queries unanswered over all rounds)"
               "\n", e.raw_lost);
    }
    /* the variants are extra rows: half the names */
    if (bench_want(o, "resolve-64-aonly")) {
        e.inflight = 64;
        e.count = count / 2;
        e.zone = "a4.test";
        bench_side s[] = {
            { "ours", resolve_ours, &e, e.ctx ? NULL : "no ctx", &e.cpu_us },
            { "c-ares", resolve_cares, &e, NULL, &e.cpu_us },
        };
        bench_compare_cpu(o, "resolve-64-aonly", "names/s", true, s, 2,
                          "A-ONLY names, AAAA answered NODATA: an extra "
                          "row, not the target",
                          "resolve-cpu-aonly", "name", NULL);
    }
    if (bench_want(o, "resolve-64-refused")) {
        e.inflight = 64;
        e.count = count / 2;
        e.zone = "r4.test";
        bench_side s[] = {
            { "ours", resolve_ours, &e, e.ctx ? NULL : "no ctx", &e.cpu_us },
            { "c-ares", resolve_cares, &e, NULL, &e.cpu_us },
        };
        bench_compare_cpu(o, "resolve-64-refused", "names/s", true, s, 2,
                          "the first round's zone: A only, AAAA answered "
                          "REFUSED, which c-ares 1.18 retries 3 more times "
                          "(4 AAAA queries a name; ours sets NOCHECKRESP: 1)",
                          "resolve-cpu-refused", "name", NULL);
    }
    if (bench_want(o, "resolve-1024")) {
        e.inflight = 1024;
        e.count = count;
        e.zone = "bench.test";
        e.failures = 0;
        bench_side s[] = {
            { "ours", resolve_ours, &e, e.ctx ? NULL : "no ctx", NULL },
            { "ours-64", resolve_ours_64, &e, e.ctx ? NULL : "no ctx", NULL },
        };
        bench_compare(o, "resolve-1024", "names/s", true, s, 2,
                      "dual-stack names");
        /* its own line: the BENCH line's format is fixed */
        printf("CHECK resolve-1024 failures=%ld (names lost or failed over "
               "all rounds; must be 0)\n", e.failures);
    }
    if (bench_want(o, "he-blackhole"))
        bench_he(o, &e);
    if (bench_want(o, "he-aaaa-unanswered"))
        bench_a6(o, &e);
    anysock_ctx_free(e.ctx);
    ev_loop_destroy(e.loop);
    ares_library_cleanup();
    kill(e.dnsmasq, SIGTERM);
    waitpid(e.dnsmasq, NULL, 0);
}
