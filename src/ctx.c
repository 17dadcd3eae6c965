/* The context: configuration and environment checks, the c-ares library
 * init, and the context's life. The DNS engine is dns.c. */
#include "internal.h"
#include "cache.h"

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

#define MAX_TRIES 10

/* ---- c-ares library init: once per process, thread-safely ------------- */

static pthread_once_t ares_once = PTHREAD_ONCE_INIT;
static int ares_init_status;

static void ares_init_once(void)
{
    ares_init_status = ares_library_init(ARES_LIB_INIT_ALL);
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

/* ANYSOCK_DNS_CACHE: decimal entries, 0 off; ANYSOCK_HOSTS_FIRST: 0 or
 * 1. Unset or empty: *out untouched. Returns 0 or -EINVAL. */
static int env_int(const char *var, long max, long *out)
{
    const char *v = getenv(var);
    long n = 0;

    if (v == NULL || *v == '\0')
        return 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || p - v > 9)
            return -EINVAL;
        n = n * 10 + (*p - '0');
    }
    if (n > max)
        return -EINVAL;
    *out = n;
    return 0;
}

/* The TTL cache and hosts-first options (issue 17). */
static int long_running(anysock_ctx *ctx, const anysock_config *cfg)
{
    long size = 0, first = 0;
    double max_ttl = cfg->dns_cache_max_ttl > 0 ? cfg->dns_cache_max_ttl
                                                 : 3600;
    double max_neg = cfg->dns_cache_max_negative_ttl > 0
                     ? cfg->dns_cache_max_negative_ttl : 300;

    if (cfg->dns_cache > 0)
        size = cfg->dns_cache;
    else if (cfg->dns_cache == 0 && env_int("ANYSOCK_DNS_CACHE", INT_MAX,
                                            &size) < 0)
        return ANYSOCK_EENVCACHE;
    if (cfg->hosts_first > 0)
        first = 1;
    else if (cfg->hosts_first == 0 &&
             env_int("ANYSOCK_HOSTS_FIRST", 1, &first) < 0)
        return ANYSOCK_EENVHFIRST;
    ctx->hosts_first = first != 0;
    if (size > 0)
        return anysock__cache_new((size_t)size, max_ttl, max_neg,
                                  &ctx->cache);
    return 0;
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
    /* issue 17's fields; 2^31 s: TTLs are 31-bit (RFC 2181 §8) */
    if (!(cfg->dns_cache_max_ttl >= 0 &&
          cfg->dns_cache_max_ttl <= 2147483648.0) ||
        !(cfg->dns_cache_max_negative_ttl >= 0 &&
          cfg->dns_cache_max_negative_ttl <= 2147483648.0) ||
        cfg->hosts_first < -1 || cfg->hosts_first > 1 ||
        (cfg->resolv_conf != NULL && (*cfg->resolv_conf == '\0' ||
                                      strlen(cfg->resolv_conf) >= PATH_MAX)))
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
    if ((rc = long_running(ctx, cfg)) < 0) {
        anysock__free(ctx->hosts_path);
        anysock__free(ctx);
        return rc;
    }
    pthread_once(&ares_once, ares_init_once);
    rc = ares_init_status == ARES_SUCCESS ? anysock__dns_new(ctx, cfg, servers)
                                          : -ENOMEM;
    if (rc < 0) {
        anysock__cache_free(ctx->cache);
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
    anysock__dns_free(ctx);
    anysock__hosts_free(ctx->hosts);
    anysock__cache_free(ctx->cache);
    anysock__free(ctx->hosts_path);
    anysock__free(ctx);
}

struct ev_loop *anysock_ctx_loop(const anysock_ctx *ctx)
{
    return ctx->loop;
}

/* For tcp_connect_ex's per-call `protocols` option: the same syntax and
 * result as anysock_config.protocols. */
int anysock__parse_protocols(const char *s, int *v4, int *v6)
{
    return parse_protocols(s, v4, v6);
}
