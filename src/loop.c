/* The context: configuration and environment, and the c-ares channel
 * driven by libev (one ev_io per c-ares socket via ARES_OPT_SOCK_STATE_CB,
 * one ev_timer following ares_timeout; nothing runs while idle), with a
 * bounded set of queries in flight and a FIFO for the rest. */
#include "internal.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT 2.0
#define DEFAULT_TRIES 3
#define DEFAULT_INFLIGHT 64
#define MAX_TRIES 10

typedef struct sockw sockw;
struct sockw {
    ev_io io;                  /* first: the watcher callback casts back */
    struct anysock__resolver *res;
    sockw *next;
};

struct anysock__dnsq {
    anysock__dnsq *next;       /* FIFO link while queued */
    struct anysock__resolver *res;
    anysock__dns_cb cb;        /* NULL once detached */
    void *arg;
    bool sent;
    int type;
    char name[];
};

struct anysock__resolver {
    struct ev_loop *loop;
    ares_channel ch;
    ev_timer timer;
    sockw *socks;
    anysock__dnsq *qhead, *qtail;   /* not yet sent */
    int inflight, max_inflight;
    bool destroying;
};

/* ---- c-ares library init: once per process, thread-safely ------------- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;

static void ares_init_once(void)
{
    ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* ---- libev glue ---------------------------------------------------------- */

static void update_timer(struct anysock__resolver *r)
{
    struct timeval tv;

    ev_timer_stop(r->loop, &r->timer);
    if (r->inflight == 0 || ares_timeout(r->ch, NULL, &tv) == NULL)
        return;
    ev_timer_set(&r->timer, (double)tv.tv_sec + tv.tv_usec / 1e6, 0.);
    ev_timer_start(r->loop, &r->timer);
}

static void io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct anysock__resolver *r = ((sockw *)(void *)w)->res;
    int fd = w->fd;

    (void)loop;
    /* may close the socket and free w through sock_state_cb */
    ares_process_fd(r->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    update_timer(r);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct anysock__resolver *r =
        anysock__container_of(w, struct anysock__resolver, timer);

    (void)loop;
    (void)revents;
    ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    update_timer(r);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable,
                          int writable)
{
    struct anysock__resolver *r = data;
    sockw **pp, *s;
    int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

    for (pp = &r->socks; (s = *pp) != NULL; pp = &s->next)
        if (s->io.fd == fd)
            break;
    if (events == 0) {
        if (s != NULL) {
            ev_io_stop(r->loop, &s->io);
            *pp = s->next;
            anysock__free(s);
        }
        return;
    }
    if (s == NULL) {
        s = anysock__calloc(1, sizeof *s);
        if (s == NULL)
            return;   /* the query then times out rather than crash */
        s->res = r;
        s->next = r->socks;
        r->socks = s;
        ev_io_init(&s->io, io_cb, fd, events);
    } else {
        ev_io_stop(r->loop, &s->io);
        ev_io_set(&s->io, fd, events);
    }
    ev_io_start(r->loop, &s->io);
}

/* ---- queries ------------------------------------------------------------- */

static void send_query(anysock__dnsq *q);

static void pump(struct anysock__resolver *r)
{
    while (!r->destroying && r->qhead != NULL &&
           r->inflight < r->max_inflight) {
        anysock__dnsq *q = r->qhead;

        r->qhead = q->next;
        if (r->qhead == NULL)
            r->qtail = NULL;
        q->next = NULL;
        send_query(q);
    }
}

static void query_cb(void *arg, int status, int timeouts,
                     unsigned char *abuf, int alen)
{
    anysock__dnsq *q = arg;
    struct anysock__resolver *r = q->res;

    (void)timeouts;
    r->inflight--;
    if (q->cb != NULL && status != ARES_EDESTRUCTION &&
        status != ARES_ECANCELLED)
        q->cb(q->arg, status, abuf, alen);
    anysock__free(q);
    pump(r);
}

static void send_query(anysock__dnsq *q)
{
    struct anysock__resolver *r = q->res;

    q->sent = true;
    r->inflight++;
    /* ares_query, not ares_search: names are absolute, see README */
    ares_query(r->ch, q->name, ns_c_in, q->type, query_cb, q);
    if (!r->destroying)
        update_timer(r);
}

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
    q->res = r;
    q->cb = cb;
    q->arg = arg;
    q->type = type;
    *out = q;
    if (r->inflight < r->max_inflight && r->qhead == NULL) {
        send_query(q);   /* may call cb (and free q) right here */
    } else {
        if (r->qtail != NULL)
            r->qtail->next = q;
        else
            r->qhead = q;
        r->qtail = q;
    }
    return 0;
}

void anysock__dns_detach(anysock__dnsq *q)
{
    struct anysock__resolver *r = q->res;
    anysock__dnsq **pp;

    if (q->sent) {
        q->cb = NULL;   /* c-ares cannot cancel one query: query_cb frees */
        return;
    }
    for (pp = &r->qhead; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == q) {
            *pp = q->next;
            if (r->qtail == q) {
                r->qtail = NULL;
                for (anysock__dnsq *t = r->qhead; t != NULL; t = t->next)
                    r->qtail = t;
            }
            break;
        }
    }
    anysock__free(q);
}

void anysock__dns_set_socket_functions(anysock_ctx *ctx,
                                       const struct ares_socket_functions *f,
                                       void *data)
{
    ares_set_socket_functions(ctx->res->ch, f, data);
}

/* ---- configuration ------------------------------------------------------ */

void anysock_config_init(anysock_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_delay = 0.25;
}

/* "ipv4,ipv6" as 7.17's `reverse split /\s*,\s*\/`: the last name gets 1,
 * the first the highest preference; each name at most once. */
static int parse_protocols(const char *s, int *v4, int *v6)
{
    const char *names[2] = { NULL, NULL };
    size_t lens[2];
    int n = 0;
    const char *p = s;

    for (;;) {
        const char *b, *e;

        while (isspace((unsigned char)*p))
            p++;
        b = p;
        while (*p != '\0' && *p != ',')
            p++;
        e = p;
        while (e > b && isspace((unsigned char)e[-1]))
            e--;
        if (n == 2 || e - b != 4 ||
            (memcmp(b, "ipv4", 4) != 0 && memcmp(b, "ipv6", 4) != 0))
            return -EINVAL;
        if (n == 1 && memcmp(names[0], b, 4) == 0)
            return -EINVAL;
        names[n] = b;
        lens[n++] = 4;
        if (*p == '\0')
            break;
        p++;
    }
    *v4 = *v6 = 0;
    for (int i = 0; i < n; i++) {
        int pref = n - i;

        if (names[i][3] == '4')
            *v4 = pref;
        else
            *v6 = pref;
    }
    (void)lens;
    return 0;
}

static bool parse_port(const char *b, const char *e)
{
    long v = 0;

    if (b == e || e - b > 5)
        return false;
    for (; b < e; b++) {
        if (*b < '0' || *b > '9')
            return false;
        v = v * 10 + (*b - '0');
    }
    return v >= 1 && v <= 65535;
}

/* Strict check before c-ares sees the list: its own parser is lenient. */
static bool valid_servers(const char *s)
{
    const char *p = s;

    if (*p == '\0')
        return false;
    for (;;) {
        const char *b = p, *e, *ae, *port = NULL;
        char buf[INET6_ADDRSTRLEN + 1];
        unsigned char tmp[16];
        int af = AF_INET;

        while (*p != '\0' && *p != ',')
            p++;
        e = p;
        if (b < e && *b == '[') {
            const char *rb = memchr(b, ']', (size_t)(e - b));

            if (rb == NULL)
                return false;
            af = AF_INET6;
            ae = rb;
            b++;
            if (rb + 1 < e) {
                if (rb[1] != ':')
                    return false;
                port = rb + 2;
            }
        } else {
            const char *c = memchr(b, ':', (size_t)(e - b));

            ae = e;
            if (c != NULL && memchr(c + 1, ':', (size_t)(e - c - 1))) {
                af = AF_INET6;   /* bare IPv6, no port */
            } else if (c != NULL) {
                ae = c;
                port = c + 1;
            }
        }
        if (ae - b <= 0 || (size_t)(ae - b) >= sizeof buf)
            return false;
        memcpy(buf, b, (size_t)(ae - b));
        buf[ae - b] = '\0';
        if (inet_pton(af, buf, tmp) != 1)
            return false;
        if (port != NULL && !parse_port(port, e))
            return false;
        if (*p == '\0')
            return true;
        p++;
    }
}

static const char *env_or(const char *cfgval, const char *var, bool *fromenv)
{
    const char *v;

    *fromenv = false;
    if (cfgval != NULL)
        return cfgval;
    v = getenv(var);
    /* empty means unset, as AnyEvent's `length $ENV{...}` tests */
    if (v == NULL || *v == '\0')
        return NULL;
    *fromenv = true;
    return v;
}

static int resolver_new(anysock_ctx *ctx, const anysock_config *cfg,
                        const char *servers)
{
    struct anysock__resolver *r;
    struct ares_options o;
    int mask, rc;
    double timeout = cfg->dns_timeout > 0 ? cfg->dns_timeout
                                          : DEFAULT_TIMEOUT;
    int tries = cfg->dns_tries > 0 ? cfg->dns_tries : DEFAULT_TRIES;

    pthread_once(&ares_once, ares_init_once);
    if (ares_init_status != ARES_SUCCESS)
        return -ENOMEM;
    r = anysock__calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->loop = ctx->loop;
    r->max_inflight = cfg->dns_max_inflight > 0 ? cfg->dns_max_inflight
                                                : DEFAULT_INFLIGHT;
    ev_init(&r->timer, timer_cb);

    memset(&o, 0, sizeof o);
    /* c-ares doubles the timeout each round: timeout * (2^tries - 1) per
     * server; our own per-lookup deadline (resolver.c) bounds the total. */
    o.timeout = (int)(timeout * 1000 + 0.999);   /* no libm needed */
    if (o.timeout < 1)
        o.timeout = 1;   /* 0 ms would time every try out at once */
    o.tries = tries;
    o.ndots = 1;
    /* NOCHECKRESP: c-ares 1.18 would otherwise turn SERVFAIL and REFUSED
     * into a retry and finally a bare ECONNREFUSED; a server that answers
     * is believed (mute ones still fail over to the next). */
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;
    o.sock_state_cb = sock_state_cb;
    o.sock_state_cb_data = r;
    mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS |
           ARES_OPT_FLAGS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_NOROTATE;
    rc = ares_init_options(&r->ch, &o, mask);
    if (rc != ARES_SUCCESS) {
        anysock__free(r);
        return rc == ARES_ENOMEM ? -ENOMEM : ANYSOCK_EDNS;
    }
    if (servers != NULL &&
        ares_set_servers_ports_csv(r->ch, servers) != ARES_SUCCESS) {
        ares_destroy(r->ch);
        anysock__free(r);
        return -EINVAL;
    }
    ctx->res = r;
    /* the lookup deadline: one server's full retry schedule plus one
     * first-try timeout, so a mute first server still leaves the second
     * its turn; 2 s, 3 tries: 16 s */
    ctx->dns_deadline = timeout * ((1 << tries) - 1) +
                        timeout;
    return 0;
}

static void resolver_free(struct anysock__resolver *r)
{
    r->destroying = true;
    /* every op was cancelled first, so the queue holds only orphans */
    while (r->qhead != NULL) {
        anysock__dnsq *q = r->qhead;

        r->qhead = q->next;
        anysock__free(q);
    }
    r->qtail = NULL;
    ares_destroy(r->ch);   /* ends in-flight queries: query_cb frees them */
    while (r->socks != NULL) {
        sockw *s = r->socks;

        r->socks = s->next;
        ev_io_stop(r->loop, &s->io);
        anysock__free(s);
    }
    ev_timer_stop(r->loop, &r->timer);
    anysock__free(r);
}

int anysock_ctx_new(struct ev_loop *loop, const anysock_config *cfg,
                    anysock_ctx **out)
{
    anysock_config defaults;
    anysock_ctx *ctx;
    const char *protos, *servers, *hosts;
    bool penv, senv, henv;
    int v4 = 2, v6 = 1, rc;
    size_t hlen;

    if (loop == NULL || out == NULL)
        return -EINVAL;
    if (cfg == NULL) {
        anysock_config_init(&defaults);
        cfg = &defaults;
    }
    /* NaN fails every comparison: each bound is written so that NaN is
     * rejected. More than MAX_TRIES tries cannot matter (the lookup
     * deadline stops at 2^10 first-try timeouts) and would overflow
     * c-ares's int milliseconds when it doubles an hour-long timeout. */
    if (!(cfg->dns_timeout >= 0 && cfg->dns_timeout <= 3600) ||
        !(cfg->connect_delay >= 0 && cfg->connect_delay <= 3600) ||
        cfg->dns_tries < 0 || cfg->dns_tries > MAX_TRIES ||
        cfg->dns_max_inflight < 0)
        return ANYSOCK_ECONFIG;

    protos = env_or(cfg->protocols, "ANYSOCK_PROTOCOLS", &penv);
    if (protos != NULL && parse_protocols(protos, &v4, &v6) != 0)
        return penv ? ANYSOCK_EENVPROTO : ANYSOCK_ECONFIG;
    servers = env_or(cfg->dns_servers, "ANYSOCK_DNS_SERVERS", &senv);
    if (servers != NULL && !valid_servers(servers))
        return senv ? ANYSOCK_EENVDNS : ANYSOCK_ECONFIG;
    hosts = env_or(cfg->hosts_file, "ANYSOCK_HOSTS", &henv);
    if (hosts == NULL) {
        hosts = "/etc/hosts";
    } else {
        struct stat st;

        /* a missing file is an empty one, as for AnyEvent; a directory
         * or an impossible path is a mistake worth reporting */
        if (*hosts == '\0' || strlen(hosts) >= PATH_MAX ||
            (stat(hosts, &st) == 0 && S_ISDIR(st.st_mode)))
            return henv ? ANYSOCK_EENVHOSTS : ANYSOCK_ECONFIG;
    }

    ctx = anysock__calloc(1, sizeof *ctx);
    if (ctx == NULL)
        return -ENOMEM;
    ctx->loop = loop;
    ctx->connect_delay = cfg->connect_delay;
    ctx->server_flags = cfg->server_flags;
    ctx->pref_ipv4 = v4;
    ctx->pref_ipv6 = v6;
    {
        struct timespec ts;

        /* per-ctx, so no shared state; quality need only spread weights */
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ctx->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^
                   ((uint64_t)(uintptr_t)ctx << 7) ^ (uint64_t)getpid();
        ctx->rng |= 1u;   /* xorshift must not start at 0 */
    }
    hlen = strlen(hosts) + 1;
    ctx->hosts_path = anysock__malloc(hlen);
    if (ctx->hosts_path == NULL) {
        anysock__free(ctx);
        return -ENOMEM;
    }
    memcpy(ctx->hosts_path, hosts, hlen);
    rc = resolver_new(ctx, cfg, servers);
    if (rc < 0) {
        anysock__free(ctx->hosts_path);
        anysock__free(ctx);
        if (rc == -EINVAL)
            rc = senv ? ANYSOCK_EENVDNS : ANYSOCK_ECONFIG;
        return rc;
    }
    *out = ctx;
    return 0;
}

void anysock_ctx_free(anysock_ctx *ctx)
{
    if (ctx == NULL)
        return;
    anysock__ctx_cancel_all(ctx);
    resolver_free(ctx->res);
    anysock__hosts_free(ctx->hosts);
    anysock__free(ctx->hosts_path);
    anysock__free(ctx);
}

struct ev_loop *anysock_ctx_loop(const anysock_ctx *ctx)
{
    return ctx->loop;
}

/* TEMPORARY (consumers branch): the minimum for anysock_ctx_stats_get to
 * link. The engine branch implements this contract; keep its version. */
void anysock__dns_stats(const anysock_ctx *ctx, size_t *queued,
                        size_t *inflight)
{
    const struct anysock__resolver *r = ctx->res;
    size_t n = 0;

    for (const anysock__dnsq *q = r->qhead; q != NULL; q = q->next)
        if (q->cb != NULL)
            n++;
    *queued = n;
    *inflight = (size_t)r->inflight;
}

/* For tcp_connect_ex's per-call `protocols` option: the same syntax and
 * result as anysock_config.protocols. */
int anysock__parse_protocols(const char *s, int *v4, int *v6)
{
    return parse_protocols(s, v4, v6);
}
