/* The TTL cache (issue 17): per context, off by default (7.17 asks every
 * time). Raw replies keyed by (name, type), kept for their TTL capped by
 * a maximum; NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308
 * §5), capped lower. A hash table with chaining for the lookups and one
 * LRU list for the bound: every operation O(1) (the table doubles as it
 * fills, amortised). Expired entries are dropped when asked for, and
 * otherwise age out through the LRU end. */
#include "internal.h"
#include "cache.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <string.h>
#include <time.h>

typedef struct ent ent;
struct ent {
    ent *hnext;                 /* bucket chain */
    ent *lprev, *lnext;         /* LRU: head most recent */
    uint64_t hash;
    double expires;             /* monotonic seconds */
    int type, status, alen;
    unsigned char *abuf;        /* inside this block */
    char name[];
};

struct bucket {
    ent *head;
};

struct anysock__cache {
    struct bucket *b;
    size_t nb, n, max;
    ent *head, *tail;
    double max_ttl, max_neg;
    uint64_t hits, misses, evictions;
};

static double mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* FNV-1a over the lowercased name and the type */
static uint64_t hash_key(const char *name, int type)
{
    uint64_t h = 0xcbf29ce484222325u;

    for (const char *p = name; *p; p++)
        h = (h ^ (unsigned char)lower(*p)) * 0x100000001b3u;
    h = (h ^ (unsigned)type) * 0x100000001b3u;
    return h;
}

static bool same_name(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower(*a) != lower(*b))
            return false;
    return *a == *b;
}

int anysock__cache_new(size_t max, double max_ttl, double max_neg,
                       anysock__cache **out)
{
    anysock__cache *c = anysock__calloc(1, sizeof *c);

    if (c == NULL)
        return -ENOMEM;
    c->nb = 16;
    c->b = anysock__calloc(c->nb, sizeof *c->b);
    if (c->b == NULL) {
        anysock__free(c);
        return -ENOMEM;
    }
    c->max = max;
    c->max_ttl = max_ttl;
    c->max_neg = max_neg < max_ttl ? max_neg : max_ttl;
    *out = c;
    return 0;
}

static void lru_unlink(anysock__cache *c, ent *e)
{
    if (e->lprev)
        e->lprev->lnext = e->lnext;
    else
        c->head = e->lnext;
    if (e->lnext)
        e->lnext->lprev = e->lprev;
    else
        c->tail = e->lprev;
}

static void lru_front(anysock__cache *c, ent *e)
{
    e->lprev = NULL;
    e->lnext = c->head;
    if (c->head)
        c->head->lprev = e;
    else
        c->tail = e;
    c->head = e;
}

static ent **find(anysock__cache *c, const char *name, int type, uint64_t h)
{
    ent **pp = &c->b[h & (c->nb - 1)].head;

    for (; *pp != NULL; pp = &(*pp)->hnext)
        if ((*pp)->hash == h && (*pp)->type == type &&
            same_name((*pp)->name, name))
            break;
    return pp;
}

static void drop(anysock__cache *c, ent *e)
{
    ent **pp = find(c, e->name, e->type, e->hash);

    *pp = e->hnext;
    lru_unlink(c, e);
    c->n--;
    anysock__free(e);
}

void anysock__cache_clear(anysock__cache *c)
{
    while (c->head != NULL)
        drop(c, c->head);
}

void anysock__cache_free(anysock__cache *c)
{
    if (c == NULL)
        return;
    anysock__cache_clear(c);
    anysock__free(c->b);
    anysock__free(c);
}

int anysock__cache_get(anysock__cache *c, const char *name, int type,
                       int *status, const unsigned char **abuf, int *alen)
{
    uint64_t h = hash_key(name, type);
    ent *e = *find(c, name, type, h);

    if (e != NULL && e->expires <= mono()) {
        drop(c, e);
        e = NULL;
    }
    if (e == NULL) {
        c->misses++;
        return 0;
    }
    c->hits++;
    lru_unlink(c, e);
    lru_front(c, e);
    *status = e->status;
    *abuf = e->abuf;
    *alen = e->alen;
    return 1;
}

/* ---- TTLs from the reply ------------------------------------------------- */

/* Past a (possibly compressed) name; NULL when it runs off the end. */
static const unsigned char *skip_name(const unsigned char *p,
                                      const unsigned char *end)
{
    while (p < end) {
        if ((*p & 0xc0) == 0xc0)
            return p + 2 <= end ? p + 2 : NULL;
        if (*p & 0xc0)
            return NULL;
        if (*p == 0)
            return p + 1;
        p += *p + 1;
    }
    return NULL;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
           (uint32_t)p[2] << 8 | p[3];
}

/* RFC 2181 §8: a TTL with the top bit set counts as 0 */
static double ttl_val(uint32_t t)
{
    return t & 0x80000000u ? 0 : (double)t;
}

double anysock__cache_ttl(const anysock__cache *c, int type, int status,
                          const unsigned char *abuf, int alen)
{
    const unsigned char *p, *end;
    unsigned qd, an, ns;
    double min_an = -1, neg = -1;
    bool have = false;

    if (abuf == NULL || alen < NS_HFIXEDSZ ||
        (status != ARES_SUCCESS && status != ARES_ENODATA &&
         status != ARES_ENOTFOUND))
        return -1;
    end = abuf + alen;
    qd = (unsigned)(abuf[4] << 8 | abuf[5]);
    an = (unsigned)(abuf[6] << 8 | abuf[7]);
    ns = (unsigned)(abuf[8] << 8 | abuf[9]);
    p = abuf + NS_HFIXEDSZ;
    for (unsigned i = 0; i < qd; i++) {
        if ((p = skip_name(p, end)) == NULL || p + NS_QFIXEDSZ > end)
            return -1;
        p += NS_QFIXEDSZ;
    }
    for (unsigned i = 0; i < an + ns; i++) {
        unsigned rtype, rlen;
        double t;

        if ((p = skip_name(p, end)) == NULL || p + NS_RRFIXEDSZ > end)
            return -1;
        rtype = (unsigned)(p[0] << 8 | p[1]);
        t = ttl_val(get32(p + 4));
        rlen = (unsigned)(p[8] << 8 | p[9]);
        p += NS_RRFIXEDSZ;
        if (p + rlen > end)
            return -1;
        if (i < an) {
            /* the whole chain (CNAMEs too) bounds the answer */
            if (min_an < 0 || t < min_an)
                min_an = t;
            if ((int)rtype == type)
                have = true;
        } else if (rtype == ns_t_soa && rlen >= 22 && neg < 0) {
            /* RFC 2308 §5: the lesser of the SOA's TTL and MINIMUM */
            double m = ttl_val(get32(p + rlen - 4));

            neg = t < m ? t : m;
        }
        p += rlen;
    }
    if (status == ARES_SUCCESS && have) {
        if (min_an <= 0)
            return -1;
        return min_an < c->max_ttl ? min_an : c->max_ttl;
    }
    /* NXDOMAIN, NODATA, or a CNAME chain without the type: negative */
    if (neg < 0)
        return -1;       /* RFC 2308 §5: no SOA, not cached */
    if (min_an >= 0 && min_an < neg)
        neg = min_an;
    if (neg <= 0)
        return -1;
    return neg < c->max_neg ? neg : c->max_neg;
}

static void grow(anysock__cache *c)
{
    size_t nnb = c->nb * 2;
    struct bucket *nb = anysock__calloc(nnb, sizeof *nb);

    if (nb == NULL)
        return;          /* longer chains, still correct */
    for (size_t i = 0; i < c->nb; i++) {
        ent *e = c->b[i].head, *next;

        for (; e != NULL; e = next) {
            next = e->hnext;
            e->hnext = nb[e->hash & (nnb - 1)].head;
            nb[e->hash & (nnb - 1)].head = e;
        }
    }
    anysock__free(c->b);
    c->b = nb;
    c->nb = nnb;
}

void anysock__cache_put(anysock__cache *c, const char *name, int type,
                        int status, const unsigned char *abuf, int alen)
{
    double ttl = anysock__cache_ttl(c, type, status, abuf, alen);
    uint64_t h = hash_key(name, type);
    size_t nlen = strlen(name);
    double now;
    ent *e, *old;

    if (ttl <= 0)
        return;
    if ((old = *find(c, name, type, h)) != NULL)
        drop(c, old);
    e = anysock__malloc(sizeof *e + nlen + 1 + (size_t)alen);
    if (e == NULL)
        return;
    memcpy(e->name, name, nlen + 1);
    e->abuf = (unsigned char *)e->name + nlen + 1;
    memcpy(e->abuf, abuf, (size_t)alen);
    e->alen = alen;
    e->type = type;
    e->status = status;
    e->hash = h;
    now = mono();
    e->expires = now + ttl;
    while (c->n >= c->max && c->tail != NULL) {
        if (c->tail->expires > now)
            c->evictions++;   /* a live entry pushed out by the bound */
        drop(c, c->tail);
    }
    if (c->n >= c->nb && c->nb < ((size_t)1 << 24))
        grow(c);
    e->hnext = c->b[h & (c->nb - 1)].head;
    c->b[h & (c->nb - 1)].head = e;
    lru_front(c, e);
    c->n++;
}

void anysock__cache_stats(const anysock__cache *c, uint64_t *hits,
                          uint64_t *misses, uint64_t *evictions)
{
    *hits = c->hits;
    *misses = c->misses;
    *evictions = c->evictions;
}

size_t anysock__cache_size(const anysock__cache *c)
{
    return c->n;
}
