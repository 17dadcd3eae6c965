/* Address-layer workloads: ns/op over fixed corpora, against glibc's
 * inet_pton/inet_ntop and libevent's evutil_parse_sockaddr_port. */
#include "bench.h"

#include "anysock.h"

#include <arpa/inet.h>
#include <event2/util.h>
#include <stdbool.h>
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

/* ---- the mixed corpora (issue 14) ---------------------------------------
 * What real configuration files, logs and user input hold: varied
 * addresses in every common written form, about one in eight invalid. The
 * fixed corpora above stay for continuity with the first round's rows. */

/* A realistic IPv6 address: the kinds that show up in practice. */
static void pick_ipv6(uint8_t a[16], uint32_t *st)
{
    uint32_t kind = rnd(st) % 10;

    for (int i = 0; i < 16; i += 4) {
        uint32_t r = rnd(st);
        memcpy(a + i, &r, 4);
    }
    switch (kind) {
    case 0: /* documentation prefix, small interface id: 2001:db8::12 */
        memcpy(a, "\x20\x01\x0d\xb8", 4);
        memset(a + 4, 0, 10);
        a[14] &= 0x0f;
        break;
    case 1: /* link-local with a random (SLAAC/privacy) interface id */
        memcpy(a, "\xfe\x80\0\0\0\0\0\0", 8);
        break;
    case 2: /* global unicast /48 with a subnet and a small host part */
        a[0] = 0x2a;
        a[6] = 0;
        memset(a + 8, 0, 6);
        break;
    case 3: /* loopback, unspecified, all-nodes multicast */
        memset(a, 0, 16);
        if (a[15] = (uint8_t)(rnd(st) % 3), a[15] == 2)
            memcpy(a, "\xff\x02", 2), a[15] = 1;
        break;
    case 4: /* IPv4-mapped */
        memset(a, 0, 10);
        a[10] = a[11] = 0xff;
        break;
    case 5: /* NAT64 well-known prefix */
        memcpy(a, "\x00\x64\xff\x9b", 4);
        memset(a + 4, 0, 8);
        break;
    case 6: /* unique local, zero run in the middle */
        a[0] = 0xfd;
        memset(a + 6, 0, 4 + (rnd(st) & 2));
        break;
    default: /* fully random: nothing to compress */
        break;
    }
}

/* Print the 8 groups: pad = "%04x" style, upper case, and optionally
 * compress the longest zero run (RFC 5952 placement, but on any run). */
static void write_ipv6(char *buf, size_t cap, const uint8_t a[16], bool pad,
                       bool upper, bool compress, bool v4tail)
{
    unsigned g[8];
    int ng = v4tail ? 6 : 8, best = -1, bestlen = 0;
    size_t n = 0;

    for (int i = 0; i < 8; i++)
        g[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0; compress && i < ng;) {
        int j = i;
        while (j < ng && g[j] == 0)
            j++;
        if (j - i > bestlen && j - i >= 2) {
            best = i;
            bestlen = j - i;
        }
        i = j == i ? i + 1 : j;
    }
    for (int i = 0; i < ng; i++) {
        if (i == best) {
            n += (size_t)snprintf(buf + n, cap - n, i == 0 ? "::" : ":");
            i += bestlen - 1;
            continue;
        }
        n += (size_t)snprintf(buf + n, cap - n,
                              pad ? (upper ? "%04X" : "%04x")
                                  : (upper ? "%X" : "%x"), g[i]);
        if (i + 1 < ng || v4tail)
            n += (size_t)snprintf(buf + n, cap - n, ":");
    }
    if (v4tail)
        snprintf(buf + n, cap - n, "%u.%u.%u.%u", a[12], a[13], a[14],
                 a[15]);
}

static void build_ipv6_mixed(corpus *c)
{
    uint32_t st = 0x5eed6;
    char buf[MAXLEN];
    uint8_t a[16];

    while (c->n < CORPUS) {
        uint32_t form = rnd(&st) % 8;

        pick_ipv6(a, &st);
        switch (form) {
        case 0: /* canonical, as inet_ntop/format_ipv6 print it */
        case 1:
            write_ipv6(buf, sizeof buf, a, false, false, true,
                       memcmp(a, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0);
            break;
        case 2: /* full: every group, no compression */
            write_ipv6(buf, sizeof buf, a, false, false, false, false);
            break;
        case 3: /* zero-padded, as in many configuration files */
            write_ipv6(buf, sizeof buf, a, true, false, rnd(&st) & 1,
                       false);
            break;
        case 4: /* upper case */
            write_ipv6(buf, sizeof buf, a, rnd(&st) % 4 == 0, true,
                       rnd(&st) % 4 != 0, false);
            break;
        case 5: /* IPv4 tail */
            write_ipv6(buf, sizeof buf, a, false, false, true, true);
            break;
        case 6: /* canonical */
            write_ipv6(buf, sizeof buf, a, false, rnd(&st) % 8 == 0, true,
                       false);
            break;
        default: /* invalid: a typo in one of the forms above */
            write_ipv6(buf, sizeof buf, a, rnd(&st) & 1, false,
                       rnd(&st) & 1, false);
            mutate(buf, sizeof buf, &st);
            break;
        }
        add(c, buf);
        memcpy(c->bytes[c->nbytes++], a, 16);
    }
}

static void build_ipv4_mixed(corpus *c)
{
    uint32_t st = 0x4a11;
    char buf[MAXLEN];

    while (c->n < CORPUS) {
        uint32_t r = rnd(&st), form = rnd(&st) % 16;
        unsigned o0 = r >> 24, o1 = (r >> 16) & 255, o2 = (r >> 8) & 255,
                 o3 = r & 255;

        if (rnd(&st) & 1) { /* private and loopback ranges */
            static const unsigned first[] = { 10, 127, 172, 192 };
            o0 = first[r % 4];
            o1 = o0 == 192 ? 168 : o0 == 172 ? 16 + (o1 & 15) : o1 & 7;
            o2 &= 31;
        }
        if (form < 9)       /* dotted decimal: what most input is */
            snprintf(buf, sizeof buf, "%u.%u.%u.%u", o0, o1, o2, o3);
        else if (form == 9) /* zero-padded: octal in 7.17 and inet_aton */
            snprintf(buf, sizeof buf, "%03o.%03o.%03o.%03o", o0, o1, o2,
                     o3);
        else if (form == 10) /* hex parts */
            snprintf(buf, sizeof buf, "0x%x.0x%x.0x%x.0x%x", o0, o1, o2,
                     o3);
        else if (form == 11) /* one 32-bit number, decimal or hex */
            snprintf(buf, sizeof buf, r & 1 ? "%u" : "0x%08x", r);
        else if (form == 12) /* short forms: 127.1, 10.1.2 */
            snprintf(buf, sizeof buf, r & 1 ? "%u.%u" : "%u.%u.%u", o0,
                     r & 1 ? o3 : o1, o3);
        else if (form == 13) /* mixed radix */
            snprintf(buf, sizeof buf, "0%o.%u.0x%x.%u", o0, o1, o2, o3);
        else {              /* invalid */
            snprintf(buf, sizeof buf, "%u.%u.%u.%u", o0, o1, o2, o3);
            mutate(buf, sizeof buf, &st);
        }
        add(c, buf);
    }
}

static void build_hostport_mixed(corpus *c)
{
    static const char *const names[] = {
        "localhost", "example.com", "www.example.org", "db-1.internal",
        "mail.example.net", "api.service.consul",
    };
    static const char *const services[] = { "http", "https", "smtp",
                                            "domain" };
    uint32_t st = 0x40a7;
    char buf[MAXLEN], host[MAXLEN], port[16];
    uint8_t a[16];

    while (c->n < CORPUS) {
        uint32_t r = rnd(&st), form = rnd(&st) % 10;

        if (r % 5 == 0)
            snprintf(port, sizeof port, "%s", services[r % 4]);
        else
            snprintf(port, sizeof port, "%u", r % 3 ? 1 + (r >> 8) % 65535
                                                    : (r & 1 ? 80 : 443));
        switch (form) {
        case 0: /* a.b.c.d:port */
        case 1:
            snprintf(buf, sizeof buf, "%u.%u.%u.%u:%s", r >> 24,
                     (r >> 16) & 255, (r >> 8) & 255, r & 255, port);
            break;
        case 2: /* [v6]:port */
        case 3:
            pick_ipv6(a, &st);
            write_ipv6(host, sizeof host, a, false, false, true,
                       a[10] == 0xff && a[11] == 0xff);
            snprintf(buf, sizeof buf, "[%.46s]:%.8s", host, port);
            break;
        case 4: /* bare v6, uncompressed or padded sometimes */
            pick_ipv6(a, &st);
            write_ipv6(buf, sizeof buf, a, r % 4 == 0, false, r % 3 != 0,
                       false);
            break;
        case 5: /* name:port */
        case 6:
            snprintf(buf, sizeof buf, "%s:%s", names[r % 6], port);
            break;
        case 7: /* a bare name, a bare IPv4, a bracketed v6 */
            if (r % 3 == 0)
                snprintf(buf, sizeof buf, "%s", names[(r >> 4) % 6]);
            else if (r % 3 == 1)
                snprintf(buf, sizeof buf, "%u.%u.%u.%u", r >> 24,
                         (r >> 16) & 255, (r >> 8) & 255, r & 255);
            else
                snprintf(buf, sizeof buf, "[2001:db8::%x]", r & 0xffff);
            break;
        case 8: /* "host port", as 7.17 also accepts */
            snprintf(buf, sizeof buf, "%s %s", names[r % 6], port);
            break;
        default: /* invalid: a typo, an unclosed bracket, a stray colon */
            snprintf(buf, sizeof buf, r & 1 ? "[2001:db8::%x:%s"
                                            : "%x::%s::1", r & 0xffff,
                     port);
            break;
        }
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

/* The four mixed rows: the same sides as the fixed rows, new corpora. */
static void bench_addr_mixed(const bench_opts *o, corpus *c, long passes)
{
    if (bench_want(o, "parse-ipv4-mixed")) {
        memset(c, 0, sizeof *c);
        build_ipv4_mixed(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_ipv4, c, NULL, NULL },
            { "glibc-inet_pton", r_glibc_ipv4, c, NULL, NULL },
        };
        bench_compare(o, "parse-ipv4-mixed", "ns/op", false, s, 2,
                      "dotted decimal 9/16, octal, hex, one number, short "
                      "and mixed-radix forms (inet_pton rejects those), "
                      "1/8 typos");
    }
    memset(c, 0, sizeof *c);
    build_ipv6_mixed(c);
    c->passes = passes;
    if (bench_want(o, "parse-ipv6-mixed")) {
        bench_side s[] = {
            { "ours", r_ours_ipv6, c, NULL, NULL },
            { "glibc-inet_pton", r_glibc_ipv6, c, NULL, NULL },
        };
        bench_compare(o, "parse-ipv6-mixed", "ns/op", false, s, 2,
                      "canonical, full, zero-padded, upper-case and "
                      "IPv4-tail forms of varied addresses, 1/8 typos");
    }
    if (bench_want(o, "format-ipv6-mixed")) {
        c->passes = passes / 2;
        bench_side s[] = {
            { "ours", r_ours_fmt6, c, NULL, NULL },
            { "glibc-inet_ntop", r_glibc_fmt6, c, NULL, NULL },
        };
        bench_compare(o, "format-ipv6-mixed", "ns/op", false, s, 2,
                      "link-local, documentation, /48, loopback, mapped, "
                      "NAT64, ULA and random addresses");
    }
    if (bench_want(o, "parse-hostport-mixed")) {
        memset(c, 0, sizeof *c);
        build_hostport_mixed(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_hp, c, NULL, NULL },
            { "libevent-evutil_parse_sockaddr_port", r_libevent_hp, c,
              NULL, NULL },
        };
        bench_compare(o, "parse-hostport-mixed", "ns/op", false, s, 2,
                      "v4:port, [v6]:port, bare v6, name:port, bare names, "
                      "\"host port\", 1/10 malformed");
    }
}

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
    if (o->only == NULL || strncmp(o->only, "parse-", 6) == 0 ||
        strncmp(o->only, "format-", 7) == 0)
        printf("(address rows: %d short rounds A B A B of %ld corpus passes "
               "each)\n", opts.rounds, passes);

    if (c == NULL)
        return;
    if (bench_want(o, "parse-ipv4")) {
        memset(c, 0, sizeof *c);
        build_ipv4(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_ipv4, c, NULL, NULL },
            { "glibc-inet_pton", r_glibc_ipv4, c, NULL, NULL },
        };
        bench_compare(o, "parse-ipv4", "ns/op", false, s, 2, NULL);
    }
    memset(c, 0, sizeof *c);
    build_ipv6(c);
    c->passes = passes;
    if (bench_want(o, "parse-ipv6")) {
        bench_side s[] = {
            { "ours", r_ours_ipv6, c, NULL, NULL },
            { "glibc-inet_pton", r_glibc_ipv6, c, NULL, NULL },
        };
        bench_compare(o, "parse-ipv6", "ns/op", false, s, 2, NULL);
    }
    if (bench_want(o, "format-ipv6")) {
        c->passes = passes / 2;
        bench_side s[] = {
            { "ours", r_ours_fmt6, c, NULL, NULL },
            { "glibc-inet_ntop", r_glibc_fmt6, c, NULL, NULL },
        };
        bench_compare(o, "format-ipv6", "ns/op", false, s, 2, NULL);
    }
    if (bench_want(o, "parse-hostport")) {
        memset(c, 0, sizeof *c);
        build_hostport(c);
        c->passes = passes;
        bench_side s[] = {
            { "ours", r_ours_hp, c, NULL, NULL },
            { "libevent-evutil_parse_sockaddr_port", r_libevent_hp, c,
              NULL, NULL },
        };
        bench_compare(o, "parse-hostport", "ns/op", false, s, 2,
                      "ours splits (spans); libevent also parses the "
                      "address into a sockaddr");
    }
    bench_addr_mixed(o, c, passes);
    free(c);
}
