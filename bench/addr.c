/* Address-layer workloads: ns/op over fixed corpora, against glibc's
 * inet_pton/inet_ntop and libevent's evutil_parse_sockaddr_port. */
#include "bench.h"

#include "anysock.h"

#include <arpa/inet.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORPUS 1024
#define MAXLEN 64

typedef struct corpus {
    int n;
    char s[CORPUS][MAXLEN];
    size_t len[CORPUS];
    uint8_t bytes[CORPUS][16]; /* valid IPv6 addresses, for format */
    int nbytes;
    long passes;               /* passes over the corpus per round */
} corpus;

/* The corpora are fixed: a tiny xorshift with a fixed seed. */
static uint32_t rnd(uint32_t *st)
{
    uint32_t x = *st;

    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *st = x;
}

static void add(corpus *c, const char *s)
{
    if (c->n >= CORPUS)
        return;
    snprintf(c->s[c->n], MAXLEN, "%s", s);
    c->len[c->n] = strlen(c->s[c->n]);
    c->n++;
}

/* Break a valid string the ways users do: a bad digit, an extra part, a
 * truncation, an out-of-range part. */
static void mutate(char *buf, size_t cap, uint32_t *st)
{
    size_t n = strlen(buf);

    switch (rnd(st) % 4) {
    case 0:
        buf[rnd(st) % n] = "xg:. "[rnd(st) % 5];
        break;
    case 1:
        if (n + 3 < cap)
            memcpy(buf + n, ".99", 4);
        break;
    case 2:
        buf[n / 2] = '\0';
        break;
    default:
        if (n + 2 < cap) {
            memmove(buf + 1, buf, n + 1);
            buf[0] = '9';
        }
        break;
    }
}

static void build_ipv4(corpus *c)
{
    uint32_t st = 0x1234567;
    char buf[MAXLEN];

    while (c->n < CORPUS) {
        uint32_t r = rnd(&st);
        int kind = (int)(rnd(&st) % 8);

        if (kind == 0)       /* small octets, as in 10.0.0.1 */
            snprintf(buf, sizeof buf, "%u.%u.%u.%u", r & 15, (r >> 4) & 3,
                     (r >> 6) & 7, (r >> 9) & 255);
        else
            snprintf(buf, sizeof buf, "%u.%u.%u.%u", r & 255,
                     (r >> 8) & 255, (r >> 16) & 255, r >> 24);
        if (kind >= 6)       /* a quarter invalid */
            mutate(buf, sizeof buf, &st);
        add(c, buf);
    }
}

static void build_ipv6(corpus *c)
{
    uint32_t st = 0x7654321;
    char buf[MAXLEN];
    uint8_t a[16];

    while (c->n < CORPUS) {
        int kind = (int)(rnd(&st) % 8);

        for (int i = 0; i < 16; i += 4) {
            uint32_t r = rnd(&st);
            memcpy(a + i, &r, 4);
        }
        switch (kind) {
        case 0: /* full, no compression possible */
        case 1:
            snprintf(buf, sizeof buf, "%x:%x:%x:%x:%x:%x:%x:%x",
                     a[0] << 8 | a[1], a[2] << 8 | a[3], a[4] << 8 | a[5],
                     a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11],
                     a[12] << 8 | a[13], a[14] << 8 | a[15]);
            break;
        case 2: /* compressed: documentation prefix, zero middle */
        case 3:
            memset(a + 4, 0, 8 + (kind == 3 ? 2 : 0));
            a[0] = 0x20;
            a[1] = 0x01;
            a[2] = 0x0d;
            a[3] = 0xb8;
            inet_ntop(AF_INET6, a, buf, sizeof buf);
            break;
        case 4: /* mapped */
            snprintf(buf, sizeof buf, "::ffff:%u.%u.%u.%u", a[12], a[13],
                     a[14], a[15]);
            break;
        case 5: /* other v4 tails: NAT64, compatible */
            snprintf(buf, sizeof buf, "%s%u.%u.%u.%u",
                     a[0] & 1 ? "64:ff9b::" : "::", a[12], a[13], a[14],
                     a[15]);
            break;
        default: /* invalid */
            snprintf(buf, sizeof buf, "%x:%x::%x:%x", a[0] << 8 | a[1],
                     a[2], a[4] << 8 | a[5], a[6]);
            if (kind == 6)
                mutate(buf, sizeof buf, &st);
            else
                memcpy(buf + strlen(buf) - 1, ":::", 4);
            break;
        }
        add(c, buf);
    }
    for (int i = 0; i < c->n; i++)
        if (inet_pton(AF_INET6, c->s[i], c->bytes[c->nbytes]) == 1)
            c->nbytes++;
}

static void build_hostport(corpus *c)
{
    static const char *const fixed[] = {
        "192.168.1.1:80", "10.0.0.7:8080", "127.0.0.1:65535",
        "[2001:db8::1]:443", "[::1]:22", "[fe80::1:2:3:4]:5353",
        "[::ffff:192.0.2.1]:80", "2001:db8::1", "::1",
        "2001:db8:85a3:0:0:8a2e:370:7334", "fe80::dead:beef",
        "example.com:80", "localhost:53",
        "[::1", "192.168.1.1:", ":80", "[::1]x80", "1.2.3.4:99999",
        "[2001:db8::1]", "host:port:extra",
    };
    uint32_t st = 0x2468ace;
    char buf[MAXLEN];

    for (int i = 0; c->n < CORPUS; i++) {
        uint32_t r = rnd(&st);

        if (i % 2 == 0) {
            add(c, fixed[(i / 2) % (sizeof fixed / sizeof fixed[0])]);
            continue;
        }
        if (r & 1)
            snprintf(buf, sizeof buf, "%u.%u.%u.%u:%u", r >> 24,
                     (r >> 16) & 255, (r >> 8) & 255, r & 255,
                     rnd(&st) & 0xffff);
        else
            snprintf(buf, sizeof buf, "[2001:db8:%x::%x]:%u", r >> 16,
                     r & 0xffff, rnd(&st) & 0xffff);
        add(c, buf);
    }
}

/* Defeats dead-code elimination without a store per operation. */
static volatile unsigned sink;

static double time_loop(corpus *c, unsigned (*one)(corpus *, int))
{
    double t0 = bench_now();
    unsigned acc = 0;
    long ops = 0;

    for (long p = 0; p < c->passes; p++) {
        for (int i = 0; i < c->n; i++)
            acc += one(c, i);
        ops += c->n;
    }
    sink = acc;
    return (bench_now() - t0) * 1e9 / (double)ops;
}

static unsigned ours_ipv4(corpus *c, int i)
{
    uint8_t out[4] = { 0 };

    return (unsigned)anysock_parse_ipv4(c->s[i], c->len[i], out) + out[3];
}

static unsigned glibc_ipv4(corpus *c, int i)
{
    uint8_t out[4] = { 0 };

    return (unsigned)inet_pton(AF_INET, c->s[i], out) + out[3];
}

static unsigned ours_ipv6(corpus *c, int i)
{
    uint8_t out[16] = { 0 };

    return (unsigned)anysock_parse_ipv6(c->s[i], c->len[i], out) + out[15];
}

static unsigned glibc_ipv6(corpus *c, int i)
{
    uint8_t out[16] = { 0 };

    return (unsigned)inet_pton(AF_INET6, c->s[i], out) + out[15];
}

static unsigned ours_fmt6(corpus *c, int i)
{
    char out[ANYSOCK_IPV6_STRLEN];
    int n = anysock_format_ipv6(c->bytes[i % c->nbytes], out, sizeof out);

    return (unsigned)n + (unsigned char)out[1];
}

static unsigned glibc_fmt6(corpus *c, int i)
{
    char out[INET6_ADDRSTRLEN];

    inet_ntop(AF_INET6, c->bytes[i % c->nbytes], out, sizeof out);
    return (unsigned char)out[1];
}

static unsigned ours_hp(corpus *c, int i)
{
    anysock_hostport hp = { 0 };

    return (unsigned)anysock_parse_hostport(c->s[i], c->len[i], NULL, 0, &hp)
           + (unsigned)hp.portlen;
}

static unsigned libevent_hp(corpus *c, int i)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;

    ss.ss_family = 0;
    return (unsigned)evutil_parse_sockaddr_port(c->s[i],
                                                (struct sockaddr *)&ss,
                                                &len) + ss.ss_family;
}

#define ROUND_FN(name, fn)                                                  \
    static double name(void *arg)                                           \
    {                                                                       \
        return time_loop(arg, fn);                                          \
    }
ROUND_FN(r_ours_ipv4, ours_ipv4)
ROUND_FN(r_glibc_ipv4, glibc_ipv4)
ROUND_FN(r_ours_ipv6, ours_ipv6)
ROUND_FN(r_glibc_ipv6, glibc_ipv6)
ROUND_FN(r_ours_fmt6, ours_fmt6)
ROUND_FN(r_glibc_fmt6, glibc_fmt6)
ROUND_FN(r_ours_hp, ours_hp)
ROUND_FN(r_libevent_hp, libevent_hp)

/* Rounds for the nanosecond workloads: many short ones. A round of a few
 * milliseconds, alternating with the peer's, sees the same interference
 * as the peer's (a busy SMT sibling, a host tick), where a few long rounds
 * let one burst of it land on one side only and swing the ratio by 30%. */
#define ADDR_ROUNDS 63

void bench_addr(const bench_opts *in)
{
    corpus *c = calloc(1, sizeof *c);
    bench_opts opts = *in, *o = &opts;
    /* the same operations in all as o->rounds rounds of 2M (quick) or 10M
     * (full) would be, spread over ADDR_ROUNDS rounds */
    long passes = (in->quick ? 2000L : 10000L) * in->rounds / ADDR_ROUNDS;

    if (passes < 1)
        passes = 1;
    if (opts.rounds < ADDR_ROUNDS)
        opts.rounds = ADDR_ROUNDS;
    if (bench_want(o, "parse-ipv4") || bench_want(o, "parse-ipv6") ||
        bench_want(o, "format-ipv6") || bench_want(o, "parse-hostport"))
        printf("(address rows: %d short rounds A B A B of %ld corpus passes "
               "each)\n", opts.rounds, passes);

    if (c == NULL)
        return;
    if (bench_want(o, "parse-ipv4")) {
        memset(c, 0, sizeof *c);
        build_ipv4(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_ipv4, c, NULL },
            { "glibc-inet_pton", r_glibc_ipv4, c, NULL },
        };
        bench_compare(o, "parse-ipv4", "ns/op", false, s, 2, NULL);
    }
    memset(c, 0, sizeof *c);
    build_ipv6(c);
    c->passes = passes;
    if (bench_want(o, "parse-ipv6")) {
        bench_side s[] = {
            { "ours", r_ours_ipv6, c, NULL },
            { "glibc-inet_pton", r_glibc_ipv6, c, NULL },
        };
        bench_compare(o, "parse-ipv6", "ns/op", false, s, 2, NULL);
    }
    if (bench_want(o, "format-ipv6")) {
        c->passes = passes / 2;
        bench_side s[] = {
            { "ours", r_ours_fmt6, c, NULL },
            { "glibc-inet_ntop", r_glibc_fmt6, c, NULL },
        };
        bench_compare(o, "format-ipv6", "ns/op", false, s, 2, NULL);
    }
    if (bench_want(o, "parse-hostport")) {
        memset(c, 0, sizeof *c);
        build_hostport(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_hp, c, NULL },
            { "libevent-evutil_parse_sockaddr_port", r_libevent_hp, c,
              NULL },
        };
        bench_compare(o, "parse-hostport", "ns/op", false, s, 2,
                      "ours splits (spans); libevent also parses the "
                      "address into a sockaddr");
    }
    free(c);
}
