/* AnyEvent::Socket 7.17's rules for resolve_sockaddr: what to ask (names
 * DNS can carry, the service, IDN) and how to order what comes back (SRV
 * priority and weight, protocol preference), plus the one switch from
 * c-ares statuses to ours. No I/O and no state besides ctx's rng. */
#include "internal.h"

#include <ares.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>

#ifdef ANYSOCK_HAVE_IDN2
#include <idn2.h>
#endif

/* DNS failures get DNS-named codes, so that a user does not go looking
 * at the target host (issue 15): only "no such name / no data" stays
 * -ENXIO, which 7.17's callers know as "nothing found". */
int anysock__dns_status(int s)
{
    switch (s) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
        return -ENXIO;
    case ARES_ETIMEOUT:
        return ANYSOCK_EDNSTIMEOUT;
    case ARES_ESERVFAIL:
        return ANYSOCK_ESERVFAIL;
    case ARES_EREFUSED:
        return ANYSOCK_EREFUSED;
    case ARES_EBADRESP:
        return ANYSOCK_EBADRESP;
    /* c-ares 1.18: every server's socket failed (ICMP port unreachable,
     * a TCP connection refused or reset after a truncated reply) */
    case ARES_ECONNREFUSED:
        return ANYSOCK_EDNSCONN;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ANYSOCK__ARES_ENOSERVERS:   /* the engine's own: no server */
        return ANYSOCK_ENOSERVERS;
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
        return -EINVAL;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;   /* never reaches a user: see the engine */
    default:                 /* EFORMERR, ENOTIMP, EOF, EFILE, ... */
        return ANYSOCK_EDNS;
    }
}

/* RFC 1035 limits, checked before anything is queried: at most 253
 * characters (255 octets on the wire) besides one trailing dot, labels of
 * 1 to 63. c-ares refuses such names too, but only from inside the query
 * call, as a bare EBADNAME after the lookup has started. A backslash is
 * refused: c-ares 1.18 reads it as an escape ("a\.b" is one label, \065
 * is "A"), so the name it would ask is not the one checked here, nor the
 * one 7.17 (which splits on every dot) would ask. */
bool anysock__dns_name_ok(const char *name)
{
    size_t n = strlen(name), label = 0;

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (name[i] == '\\')
            return false;
        if (name[i] != '.') {
            if (++label > 63)
                return false;
        } else if (label == 0) {
            return false;   /* an empty label */
        } else {
            label = 0;
        }
    }
    return true;
}

/* ---- services ------------------------------------------------------------ */

bool anysock__all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool anysock__digits_to_port(const char *s, size_t n, uint16_t *port)
{
    unsigned long v = 0;

    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v > 65535)
            return false;
    }
    *port = (uint16_t)v;
    return true;
}

static bool getserv(const char *name, const char *proto, uint16_t *port)
{
    struct servent se, *res = NULL;
    char buf[1024];

    if (getservbyname_r(name, proto, &se, buf, sizeof buf, &res) != 0 ||
        res == NULL)
        return false;
    *port = ntohs((uint16_t)res->s_port);
    return true;
}

/* 7.17: `^(\S+)=(\d+)$`, else all digits, else a services-database name.
 * *srvname is set (NUL-terminated, in buf) when SRV may be tried. */
int anysock__parse_service(const char *service, const char *proto,
                           uint16_t *port, char *buf, size_t buflen,
                           const char **srvname)
{
    size_t n = strlen(service);
    const char *eq = strrchr(service, '=');

    *srvname = NULL;
    if (eq != NULL && eq > service &&
        anysock__all_digits(eq + 1, strlen(eq + 1))) {
        size_t nl = (size_t)(eq - service);

        for (size_t i = 0; i < nl; i++)
            if (strchr(" \t\n\r\f\v", service[i]) != NULL)
                goto plain;
        if (!anysock__digits_to_port(eq + 1, strlen(eq + 1), port) ||
            nl >= buflen)
            return ANYSOCK_ESERVICE;
        memcpy(buf, service, nl);
        buf[nl] = '\0';
        /* 7.17 asks SRV for any name here: name=port exists for services
         * the local database does not know. */
        *srvname = buf;
        return 0;
    }
plain:
    if (anysock__all_digits(service, n))
        return anysock__digits_to_port(service, n, port) ? 0
                                                         : ANYSOCK_ESERVICE;
    if (n == 0 || n >= buflen || !getserv(service, proto, port))
        return ANYSOCK_ESERVICE;
    memcpy(buf, service, n + 1);
    *srvname = buf;
    return 0;
}

int anysock__resolve_literal(const anysock_ctx *ctx, const char *node,
                             const char *service, anysock_target *t)
{
    size_t sl = strlen(service);
    anysock_addr a;
    uint16_t port;

    if (!anysock__all_digits(service, sl) ||
        !anysock__digits_to_port(service, sl, &port) ||
        anysock_parse_address(node, strlen(node), &a) != 0)
        return 0;
    /* a family the preference excludes takes the full path (no target) */
    if (!((a.family == AF_INET && ctx->pref_ipv4) ||
          (a.family == AF_INET6 && ctx->pref_ipv6)))
        return 0;
    t->family = a.family;
    t->socktype = SOCK_STREAM;
    t->protocol = IPPROTO_TCP;
    return anysock_pack_sockaddr(&a, port, NULL, 0, &t->addr) == 0;
}

/* ---- names --------------------------------------------------------------- */

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* IDNA for non-ASCII names, then lowercase (7.17: y/A-Z/a-z/). */
int anysock__node_to_ascii(const char *node, char **out)
{
    char *a;
    size_t n;

    if (!is_ascii(node)) {
#ifdef ANYSOCK_HAVE_IDN2
        char *idn = NULL;

        if (idn2_to_ascii_8z(node, &idn, IDN2_NONTRANSITIONAL) !=
                IDN2_OK &&
            idn2_to_ascii_8z(node, &idn, IDN2_TRANSITIONAL) != IDN2_OK)
            return -EINVAL;
        n = strlen(idn);
        a = anysock__malloc(n + 1);
        if (a != NULL)
            memcpy(a, idn, n + 1);
        idn2_free(idn);
        if (a == NULL)
            return -ENOMEM;
#else
        return -EINVAL;   /* built without libidn2 */
#endif
    } else {
        n = strlen(node);
        a = anysock__malloc(n + 1);
        if (a == NULL)
            return -ENOMEM;
        memcpy(a, node, n + 1);
    }
    for (char *c = a; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    *out = a;
    return 0;
}

/* ---- SRV order ----------------------------------------------------------- */

static uint64_t rng_next(anysock_ctx *ctx)
{
    uint64_t x = ctx->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ctx->rng = x;
    return x;
}

struct sref {
    struct ares_srv_reply *r;
    size_t pos;          /* place in the reply: makes qsort stable */
};

static int sref_cmp(const void *a, const void *b)
{
    const struct sref *x = a, *y = b;

    if (x->r->priority != y->r->priority)
        return x->r->priority < y->r->priority ? -1 : 1;
    if (x->r->weight != y->r->weight)
        return x->r->weight < y->r->weight ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Fenwick tree over the weights still in the set (1-based, t[1..n]). */
static void fw_add(unsigned long *t, size_t n, size_t i, long d)
{
    for (i++; i <= n; i += i & (~i + 1))
        t[i] = (unsigned long)((long)t[i] + d);
}

/* Smallest 0-based i whose prefix sum (weights 0..i) is >= w, w >= 1. */
static size_t fw_find(const unsigned long *t, size_t n, unsigned long w)
{
    size_t pos = 0, step = 1;

    while (step * 2 <= n)
        step *= 2;
    for (; step > 0; step /= 2) {
        if (pos + step <= n && t[pos + step] < w) {
            pos += step;
            w -= t[pos];
        }
    }
    return pos;   /* 0-based index of the element reaching w */
}

/* A usable target: not "." (no service) and a name a query can carry
 * (anything longer or with an escape: the reply was malformed). */
static int target_ok(const char *host)
{
    size_t len = strlen(host);

    if (len == 0 || strcmp(host, ".") == 0)
        return 0;
    return anysock__dns_name_ok(host) ? 1 : -1;
}

/* 7.17's AnyEvent::DNS::srv: by priority, then within a priority pick
 * records by weight: w = int rand(sum + 1), the first remaining record
 * (weight ascending) whose weight brings w to <= 0 is next. "." targets
 * are dropped afterwards (7.17 greps them out), so they still take part
 * in the draw. Stops at `max` usable targets: with a Fenwick tree over
 * the weights each draw is O(log n), so a 64 KiB reply of thousands of
 * records costs O(n log n), not the O(n^2) of 7.17's splice. */
int anysock__srv_order(anysock_ctx *ctx, struct ares_srv_reply *list,
                       struct anysock__srv_target *out, size_t max,
                       bool *bad)
{
    size_t n = 0, i, k = 0;
    struct ares_srv_reply *r;
    struct sref *v;
    unsigned long *fw;
    unsigned char *gone;

    *bad = false;
    for (r = list; r != NULL; r = r->next)
        n++;
    if (n == 0)
        return 0;
    v = anysock__malloc(n * sizeof *v);
    fw = anysock__malloc((n + 1) * sizeof *fw);
    gone = anysock__malloc(n);
    if (v == NULL || fw == NULL || gone == NULL) {
        anysock__free(v);
        anysock__free(fw);
        anysock__free(gone);
        return -ENOMEM;
    }
    for (i = 0, r = list; r != NULL; r = r->next, i++) {
        v[i].r = r;
        v[i].pos = i;
    }
    qsort(v, n, sizeof *v, sref_cmp);
    for (i = 0; i < n && k < max;) {
        size_t j = i, m, len, first;
        unsigned long sum = 0;

        while (j < n && v[j].r->priority == v[i].r->priority)
            sum += v[j++].r->weight;
        len = j - i;
        memset(fw, 0, (len + 1) * sizeof *fw);
        memset(gone, 0, len);
        for (m = 0; m < len; m++)
            fw_add(fw, len, m, (long)v[i + m].r->weight);
        first = 0;
        for (size_t left = len; left > 0 && k < max; left--) {
            unsigned long w = (unsigned long)(rng_next(ctx) % (sum + 1));
            const struct ares_srv_reply *pick;
            int ok;

            while (gone[first])
                first++;
            /* w == 0: the first remaining record, whatever its weight;
             * else the first whose running sum reaches w */
            m = w == 0 ? first : fw_find(fw, len, w);
            if (m >= len)
                m = first;   /* unreachable: w <= sum */
            gone[m] = 1;
            fw_add(fw, len, m, -(long)v[i + m].r->weight);
            pick = v[i + m].r;
            sum -= pick->weight;
            ok = target_ok(pick->host);
            if (ok < 0)
                *bad = true;
            if (ok > 0) {
                out[k].host = pick->host;
                out[k].port = pick->port;
                k++;
            }
        }
        i = j;
    }
    anysock__free(v);
    anysock__free(fw);
    anysock__free(gone);
    return (int)k;
}

/* ---- answer order -------------------------------------------------------- */

/* 7.17 sorts every answer by protocol preference, then SRV index, with a
 * stable sort: that is every address of the preferred family, target by
 * target in SRV order, each answer as it came, then the other family.
 * Writes the order of the two families into fam[]. */
void anysock__family_order(const anysock_ctx *ctx, int fam[2])
{
    bool v6 = ctx->pref_ipv6 > ctx->pref_ipv4;

    fam[0] = v6 ? AF_INET6 : AF_INET;
    fam[1] = v6 ? AF_INET : AF_INET6;
}
