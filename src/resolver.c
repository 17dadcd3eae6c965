/* Answer collection and the public calls: resolve_sockaddr, inet_aton and
 * the streaming resolver under tcp_connect's Happy Eyeballs, all on one
 * lookup. A lookup asks SRV when 7.17 would, then A and AAAA for each
 * target ("group", in SRV order); each (group, family) slot ends with
 * DNS's addresses or, failing those, the hosts file's, and is handed on
 * as it ends. resolve_sockaddr and inet_aton wait for every slot and
 * order them as 7.17 does (rules.c). Every callback runs from the loop:
 * never inside the start call, never inside c-ares. */
#include "internal.h"
#include "cache.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MAX_GROUPS ANYSOCK_RESOLVE_MAX_SRV
#define MAX_ADDRS ANYSOCK_RESOLVE_MAX_ADDRS

enum { MODE_STREAM, MODE_RESOLVE, MODE_ATON };
enum { S_IDLE, S_PENDING, S_DONE };

typedef struct lk lk;
typedef struct slot slot;

/* One question: the SRV query, or one family of one group. */
struct slot {
    lk *o;
    anysock__dnsq *q;    /* while with the engine */
    slot *next_ready;    /* queued for hand-over */
    uint8_t state;       /* S_* */
    uint8_t fi;          /* 0 AF_INET, 1 AF_INET6 */
    uint16_t group;
    int status;          /* when done: 0 with n > 0, else why not */
    size_t n;
    uint8_t (*addr)[16];
};

struct group {
    char *name;          /* as queried, the hosts-file key; NULL: literal */
    uint16_t port;
    slot s[2];
};

struct lk {
    anysock__op op;      /* first: the guard points here */
    int mode;            /* MODE_* */
    anysock_resolve_cb rcb;
    anysock_inet_aton_cb acb;
    anysock__rs_cb scb;
    void *data;
    bool guarded;
    bool finished;       /* the final callback ran */
    bool dead;           /* cancelled or over: freed once busy is 0 */
    bool nosort;         /* inet_aton "localhost": 7.17's fixed order */
    bool have_unix, unix_sent;
    int busy;            /* inside a user callback */
    int family;          /* 0, 4, 6: which of A/AAAA resolve asks */
    int socktype, protocol;
    uint16_t port;
    char *node;          /* for the A/AAAA stage after SRV */
    char *srvq;          /* the SRV name asked (the cache's key) */
    slot srv;
    struct group *g;     /* &g0 for one group: no allocation */
    struct group g0;
    size_t ng;
    int pending;         /* questions with the engine */
    size_t total;        /* addresses found so far */
    int err;             /* the first failure other than "no data" */
    int fstatus[2];      /* per family: the first failure, 0 if none */
    slot *rfirst, *rlast;
    anysock_target unix_target;
    ev_timer defer;
};

static void set_err(lk *o, int err)
{
    if (o->err == 0 && err != 0 && err != -ENXIO)
        o->err = err;
}

static int fam_of(int fi)
{
    return fi == 0 ? AF_INET : AF_INET6;
}

/* ---- A / AAAA replies ---------------------------------------------------- */

static int expand(const unsigned char *p, const unsigned char *abuf,
                  int alen, char **s, long *len)
{
    int st = ares_expand_name(p, abuf, alen, s, len);

    return st == ARES_EBADNAME ? ARES_EBADRESP : st;
}

/* What ares_expand_name accepts (its name_length(), structure only: with
 * is_hostname 0 no character is refused) and the encoded length it gives,
 * without making the string: the question name needs only that, unless
 * an owner name must be compared with it. */
static int name_walk(const unsigned char *enc, const unsigned char *abuf,
                     int alen, long *enclen)
{
    const unsigned char *p = enc, *end = abuf + alen;
    long first = -1;
    int indir = 0;

    if (p >= end)
        return ARES_EBADRESP;
    while (*p != 0) {
        if ((*p & 0xc0) == 0xc0) {
            size_t off;

            if (p + 1 >= end)
                return ARES_EBADRESP;
            off = (size_t)(p[0] & 0x3f) << 8 | p[1];
            if (off >= (size_t)alen)
                return ARES_EBADRESP;
            if (first < 0)
                first = (long)(p + 2 - enc);
            p = abuf + off;
            if (++indir > alen || indir > 50)
                return ARES_EBADRESP;
        } else if ((*p & 0xc0) == 0) {
            if (p + *p + 1 >= end)
                return ARES_EBADRESP;
            p += *p + 1;
        } else {
            return ARES_EBADRESP;   /* label types 01 and 10 */
        }
    }
    *enclen = first >= 0 ? first : (long)(p + 1 - enc);
    return ARES_SUCCESS;
}

/* c-ares reads a CNAME target as a host name: only [A-Za-z0-9_/-] in
 * labels. The name was already walked (bounds, loops) by expand(). */
static bool wire_hostname_ok(const unsigned char *p,
                             const unsigned char *abuf, int alen)
{
    for (int hops = 0; *p != 0 && hops <= 50;) {
        if ((*p & 0xc0) == 0xc0) {
            size_t off = (size_t)(p[0] & 0x3f) << 8 | p[1];

            if (off >= (size_t)alen)
                return false;
            p = abuf + off;
            hops++;
            continue;
        }
        for (unsigned i = 1; i <= *p; i++) {
            unsigned char c = p[i];

            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '/'))
                return false;
        }
        p += *p + 1;
    }
    return true;
}

/* Compression pointers followed in a name expand() already accepted. */
static int name_indirs(const unsigned char *p, const unsigned char *abuf)
{
    int k = 0;

    while (*p != 0 && k <= 50) {
        if ((*p & 0xc0) == 0xc0) {
            p = abuf + ((size_t)(p[0] & 0x3f) << 8 | p[1]);
            k++;
        } else {
            p += *p + 1;
        }
    }
    return k;
}

/* What c-ares 1.18's ares_parse_a_reply / ares_parse_aaaa_reply give (the
 * addresses of the asked type owned by the question name or the CNAME
 * chain; the same statuses), in one linear pass: c-ares appends every
 * address by walking its list, O(n^2) for a 64 KiB reply (34 ms for
 * 4,094 A records). Keeps the first `max`; the rest is still checked. */
int anysock__parse_addrs(const unsigned char *abuf, int alen, int type,
                         uint8_t (*out)[16], size_t max, size_t *nout)
{
    const unsigned char *p, *end = abuf + alen;
    char *qname = NULL, *rr = NULL, *cname = NULL;
    const char *host;
    size_t host_off;     /* where host is written in the reply */
    int host_indirs;     /* pointers in it (c-ares allows 50 in all) */
    unsigned an;
    long len;
    int st;
    size_t n = 0;
    bool cn = false;

    *nout = 0;
    if (alen < NS_HFIXEDSZ)
        return ARES_EBADRESP;
    if ((abuf[4] << 8 | abuf[5]) != 1)
        return ARES_EBADRESP;
    an = (unsigned)(abuf[6] << 8 | abuf[7]);
    p = abuf + NS_HFIXEDSZ;
    if ((st = name_walk(p, abuf, alen, &len)) != ARES_SUCCESS)
        return st;
    if (p + len + NS_QFIXEDSZ > end)
        return ARES_EBADRESP;
    host = NULL;   /* the question name, made only if an owner needs it */
    host_off = NS_HFIXEDSZ;
    host_indirs = name_indirs(abuf + host_off, abuf);
    p += len + NS_QFIXEDSZ;
    for (unsigned i = 0; i < an; i++) {
        unsigned rtype, rclass, rlen;
        bool same;

        /* the usual owner, a pointer to the name being looked for, is
         * that name: no need to expand it (c-ares would, and compare) */
        if (p + 2 <= end && (p[0] & 0xc0) == 0xc0 &&
            (size_t)((p[0] & 0x3f) << 8 | p[1]) == host_off &&
            host_indirs < 50) {
            same = true;
            len = 2;
        } else {
            if ((st = expand(p, abuf, alen, &rr, &len)) != ARES_SUCCESS) {
                rr = NULL;
                goto out;
            }
            if (host == NULL) {
                long ql;

                if ((st = expand(abuf + NS_HFIXEDSZ, abuf, alen, &qname,
                                 &ql)) != ARES_SUCCESS) {
                    qname = NULL;
                    goto out;
                }
                host = qname;
            }
            same = strcasecmp(rr, host) == 0;
            ares_free_string(rr);
            rr = NULL;
        }
        p += len;
        if (p + NS_RRFIXEDSZ > end) {
            st = ARES_EBADRESP;
            goto out;
        }
        rtype = (unsigned)(p[0] << 8 | p[1]);
        rclass = (unsigned)(p[2] << 8 | p[3]);
        rlen = (unsigned)(p[8] << 8 | p[9]);
        p += NS_RRFIXEDSZ;
        if (p + rlen > end) {
            st = ARES_EBADRESP;
            goto out;
        }
        if (rclass == ns_c_in && (int)rtype == type &&
            rlen == (type == ns_t_a ? 4u : 16u) && same && n < max) {
            memset(out[n], 0, 16);
            memcpy(out[n++], p, rlen);
        }
        if (rclass == ns_c_in && rtype == ns_t_cname) {
            char *d;

            cn = true;
            if ((st = expand(p, abuf, alen, &d, &len)) != ARES_SUCCESS)
                goto out;
            if (!wire_hostname_ok(p, abuf, alen)) {
                ares_free_string(d);
                st = ARES_EBADRESP;
                goto out;
            }
            if (cname != NULL)
                ares_free_string(cname);
            cname = d;
            host = cname;
            host_off = (size_t)(p - abuf);
            host_indirs = name_indirs(p, abuf);
        }
        p += rlen;
    }
    /* an answer of only a CNAME is a success with no address in c-ares */
    st = n > 0 || cn ? ARES_SUCCESS : ARES_ENODATA;
    *nout = n;
out:
    if (rr != NULL)
        ares_free_string(rr);
    if (cname != NULL)
        ares_free_string(cname);
    if (qname != NULL)
        ares_free_string(qname);
    return st;
}

/* ---- the lookup ---------------------------------------------------------- */

static void slot_detach(slot *s)
{
    if (s->q != NULL) {
        anysock__dns_detach(s->q);
        s->q = NULL;
    }
}

static void free_groups(lk *o)
{
    slot_detach(&o->srv);
    for (size_t i = 0; i < o->ng; i++) {
        for (int f = 0; f < 2; f++) {
            slot_detach(&o->g[i].s[f]);
            anysock__free(o->g[i].s[f].addr);
        }
        if (o->g[i].name != o->node)
            anysock__free(o->g[i].name);
    }
    if (o->g != &o->g0)
        anysock__free(o->g);
    o->g = NULL;
    o->ng = 0;
    o->rfirst = o->rlast = NULL;
}

static void lk_free(lk *o)
{
    free_groups(o);
    anysock__free(o->srvq);
    anysock__free(o->node);
    anysock__free(o);
}

static void lk_stop(lk *o)
{
    if (o->op.ctx != NULL)
        ev_timer_stop(o->op.ctx->loop, &o->defer);
}

static void lk_cancel(anysock__op *op)
{
    lk *o = (lk *)(void *)op;

    if (o->dead && o->busy > 0)
        return;   /* cancelled again from inside the same callback */
    lk_stop(o);
    free_groups(o);
    anysock__op_unlink(op);
    o->dead = true;
    if (o->busy == 0)
        lk_free(o);
}

/* Hand-overs run from this timer: after the start call returned, and
 * outside c-ares (a callback may free the ctx and with it the channel). */
static void kick(lk *o)
{
    if (!ev_is_active(&o->defer)) {
        ev_timer_set(&o->defer, 0., 0.);
        ev_timer_start(o->op.ctx->loop, &o->defer);
    }
}

/* A slot has its answer: DNS's addresses, or (resolve, stream) the hosts
 * file's when DNS gave that family none (7.17's _load_hosts_unless). */
static void slot_end(lk *o, slot *s, int status, uint8_t (*a)[16],
                     size_t n, bool hosts)
{
    uint8_t hv[MAX_ADDRS][16];
    struct group *g = &o->g[s->group];

    s->q = NULL;
    s->state = S_DONE;
    set_err(o, status);
    if (n == 0 && hosts && o->mode != MODE_ATON && g->name != NULL) {
        n = anysock__hosts_find(o->op.ctx, g->name, fam_of(s->fi), hv,
                                MAX_ADDRS);
        a = hv;
    }
    if (n > 0) {
        s->addr = anysock__malloc(n * sizeof *s->addr);
        if (s->addr == NULL) {
            set_err(o, -ENOMEM);
            status = -ENOMEM;
            n = 0;
        } else {
            memcpy(s->addr, a, n * sizeof *s->addr);
        }
    }
    s->n = n;
    s->status = n > 0 ? 0 : status < 0 ? status : -ENXIO;
    if (n == 0 && s->status != -ENXIO && o->fstatus[s->fi] == 0)
        o->fstatus[s->fi] = s->status;
    o->total += n;
    s->next_ready = NULL;
    if (o->rlast != NULL)
        o->rlast->next_ready = s;
    else
        o->rfirst = s;
    o->rlast = s;
}

static bool wants(const lk *o, int fi)
{
    if (o->mode == MODE_ATON)
        return fi == 0 ? o->op.ctx->pref_ipv4 != 0
                       : o->op.ctx->pref_ipv6 != 0;
    return fi == 0 ? o->family != 6 : o->family != 4;
}

static void dns_cb(void *arg, int status, const unsigned char *abuf,
                   int alen);
static void flush(lk *o);
static void answer(slot *s, int status, const unsigned char *abuf,
                   int alen);

/* No timer of our own: the engine bounds each query's time with the
 * servers (ctx->dns_deadline from its first send) and reports
 * ARES_ETIMEOUT past it, so a lookup with SRV takes at most two of
 * those (SRV, then A and AAAA together). */
static int submit(lk *o, slot *s, const char *name, int type)
{
    int rc;

    s->o = o;
    s->state = S_PENDING;
    o->pending++;
    if (o->op.ctx->cache != NULL) {
        const unsigned char *abuf;
        int st, alen;

        /* A hit is taken in now, as a reply would be: only the
         * hand-over timer calls the user, so never inside the start
         * call. Bounded: an SRV hit asks its targets' A/AAAA, no more.
         * abuf stays valid: those gets touch only their own keys. */
        if (anysock__cache_get(o->op.ctx->cache, name, type, &st, &abuf,
                               &alen)) {
            answer(s, st, abuf, alen);
            kick(o);
            return 0;
        }
    }
    rc = anysock__dns_query(o->op.ctx, name, type, dns_cb, s, &s->q);
    if (rc < 0) {
        s->q = NULL;
        s->state = S_IDLE;
        o->pending--;
    }
    return rc;
}

/* A and AAAA for one group (7.17's $resolve closure). */
static void ask_group(lk *o, size_t gi)
{
    struct group *g = &o->g[gi];

    for (int fi = 0; fi < 2; fi++) {
        slot *s = &g->s[fi];
        int rc;

        if (!wants(o, fi))
            continue;
        rc = submit(o, s, g->name, fi == 0 ? ns_t_a : ns_t_aaaa);
        if (rc < 0)
            slot_end(o, s, rc, NULL, 0, false);
    }
}

static int make_groups(lk *o, size_t n)
{
    if (n <= 1) {
        memset(&o->g0, 0, sizeof o->g0);
        o->g = &o->g0;
    } else if ((o->g = anysock__calloc(n, sizeof *o->g)) == NULL) {
        return -ENOMEM;
    }
    o->ng = n;
    for (size_t i = 0; i < n; i++)
        for (int fi = 0; fi < 2; fi++) {
            o->g[i].s[fi].o = o;
            o->g[i].s[fi].fi = (uint8_t)fi;
            o->g[i].s[fi].group = (uint16_t)i;
        }
    return 0;
}

/* One group for the node itself (its name is o->node). */
static int node_group(lk *o)
{
    if (make_groups(o, 1) < 0)
        return -ENOMEM;
    o->g[0].name = o->node;
    o->g[0].port = o->port;
    return 0;
}

static void srv_done(lk *o, int status, const unsigned char *abuf,
                     int alen)
{
    struct ares_srv_reply *list = NULL;
    struct anysock__srv_target t[MAX_GROUPS];
    int rc = status, k;
    bool bad;

    o->srv.state = S_DONE;
    if (status == ARES_SUCCESS)
        rc = ares_parse_srv_reply(abuf, alen, &list);
    if (rc == ARES_ETIMEOUT) {
        /* The servers are mute: asking them for A/AAAA (7.17 does) would
         * only double the wait; answer as those would have failed, from
         * the hosts file. */
        if (node_group(o) < 0) {
            set_err(o, -ENOMEM);
            return;
        }
        for (int fi = 0; fi < 2; fi++)
            if (wants(o, fi))
                slot_end(o, &o->g[0].s[fi], ANYSOCK_EDNSTIMEOUT, NULL, 0,
                         true);
        return;
    }
    if (rc != ARES_SUCCESS || list == NULL) {
        /* no SRV records (or an SRV failure): plain A/AAAA on the node */
        if (node_group(o) < 0)
            set_err(o, -ENOMEM);
        else
            ask_group(o, 0);
        goto out;
    }
    k = anysock__srv_order(o->op.ctx, list, t, MAX_GROUPS, &bad);
    if (bad)
        set_err(o, ANYSOCK_EBADRESP);
    if (k < 0 || make_groups(o, (size_t)k) < 0) {
        set_err(o, -ENOMEM);
        goto out;
    }
    for (int i = 0; i < k; i++) {
        size_t len = strlen(t[i].host);
        char *name = anysock__malloc(len + 2);

        if (name == NULL) {
            set_err(o, -ENOMEM);
            o->ng = (size_t)i;   /* the rest is never asked */
            break;
        }
        /* 7.17 queries "target." and so never finds it in the hosts
         * file under its plain name; keep that */
        memcpy(name, t[i].host, len + 1);
        if (name[len - 1] != '.') {
            name[len] = '.';
            name[len + 1] = '\0';
        }
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        o->g[i].name = name;
        o->g[i].port = t[i].port;
    }
    for (size_t i = 0; i < o->ng; i++)
        ask_group(o, i);
out:
    if (list != NULL)
        ares_free_data(list);
}

static void addr_done(lk *o, slot *s, int status, const unsigned char *abuf,
                      int alen)
{
    uint8_t a[MAX_ADDRS][16];
    size_t n = 0;
    int rc = status;

    if (status == ARES_SUCCESS)
        rc = anysock__parse_addrs(abuf, alen,
                                  s->fi == 0 ? ns_t_a : ns_t_aaaa, a,
                                  MAX_ADDRS, &n);
    slot_end(o, s, rc == ARES_SUCCESS ? 0 : anysock__dns_status(rc), a, n,
             true);
}

static void answer(slot *s, int status, const unsigned char *abuf,
                   int alen)
{
    lk *o = s->o;

    s->q = NULL;
    o->pending--;
    if (s == &o->srv)
        srv_done(o, status, abuf, alen);
    else
        addr_done(o, s, status, abuf, alen);
}

static void dns_cb(void *arg, int status, const unsigned char *abuf,
                   int alen)
{
    slot *s = arg;
    lk *o = s->o;

    if (o->op.ctx->cache != NULL) {
        const char *name = s == &o->srv ? o->srvq : o->g[s->group].name;
        int type = s == &o->srv ? ns_t_srv : s->fi == 0 ? ns_t_a
                                                         : ns_t_aaaa;

        if (name != NULL)
            anysock__cache_put(o->op.ctx->cache, name, type, status, abuf,
                               alen);
    }
    answer(s, status, abuf, alen);
    /* The engine calls back from the loop (its prepare or timer), never
     * inside the start call or c-ares, and copes with a context freed
     * meanwhile: hand over now rather than one loop iteration later
     * through the defer timer, which cost a poll per answer. */
    ev_timer_stop(o->op.ctx->loop, &o->defer);
    flush(o);
}

/* ---- hand-over ----------------------------------------------------------- */

static void fill_target(const lk *o, anysock_target *t, int family,
                        const uint8_t *bytes, uint16_t port)
{
    anysock_addr a;

    memset(&a, 0, sizeof a);
    a.family = family;
    memcpy(a.bytes, bytes, 16);
    memset(t, 0, sizeof *t);
    t->family = family;
    t->socktype = o->socktype;
    t->protocol = o->protocol;
    anysock_pack_sockaddr(&a, port, NULL, 0, &t->addr);
}

static void emit_answer(lk *o, const slot *s)
{
    anysock_target t[MAX_ADDRS];
    anysock__rs_event ev;
    const struct group *g = &o->g[s->group];

    for (size_t i = 0; i < s->n; i++)
        fill_target(o, &t[i], fam_of(s->fi), s->addr[i], g->port);
    memset(&ev, 0, sizeof ev);
    ev.kind = ANYSOCK__RS_ANSWER;
    ev.status = s->status;
    ev.family = fam_of(s->fi);
    ev.group = s->group;
    ev.ngroups = o->ng;
    ev.targets = s->n ? t : NULL;
    ev.count = s->n;
    o->scb(o->data, &ev);
}

static int final_status(const lk *o)
{
    if (o->total > 0 || (o->have_unix))
        return 0;
    return o->err != 0 ? o->err : -ENXIO;
}

/* Every address in 7.17's order: family by preference, then group (SRV
 * index), each answer as it came. O(n). */
static void *collect(lk *o, size_t *count)
{
    int fam[2];
    size_t k = 0, n = o->have_unix ? 1 : o->total;
    bool aton = o->mode == MODE_ATON;
    char *arr;

    *count = 0;
    if (n == 0)
        return NULL;
    arr = anysock__calloc(n, aton ? sizeof(anysock_addr)
                                  : sizeof(anysock_target));
    if (arr == NULL) {
        set_err(o, -ENOMEM);
        o->total = 0;
        o->have_unix = false;
        return NULL;
    }
    if (o->have_unix) {
        *(anysock_target *)(void *)arr = o->unix_target;
        *count = 1;
        return arr;
    }
    anysock__family_order(o->op.ctx, fam);
    if (o->nosort) {
        fam[0] = AF_INET;
        fam[1] = AF_INET6;
    }
    for (int f = 0; f < 2; f++) {
        int fi = fam[f] == AF_INET ? 0 : 1;

        for (size_t gi = 0; gi < o->ng; gi++) {
            const slot *s = &o->g[gi].s[fi];

            for (size_t i = 0; i < s->n; i++, k++) {
                if (aton) {
                    anysock_addr *a = (anysock_addr *)(void *)arr + k;

                    a->family = fam[f];
                    memcpy(a->bytes, s->addr[i], 16);
                } else {
                    fill_target(o, (anysock_target *)(void *)arr + k,
                                fam[f], s->addr[i], o->g[gi].port);
                }
            }
        }
    }
    *count = k;
    return arr;
}

static void finish(lk *o)
{
    size_t n;
    void *arr;
    int status;

    o->finished = true;
    lk_stop(o);
    if (o->mode == MODE_STREAM) {
        anysock__rs_event ev;

        memset(&ev, 0, sizeof ev);
        ev.kind = ANYSOCK__RS_DONE;
        ev.status = final_status(o);
        ev.ngroups = o->ng;
        /* the op frees itself after DONE: off the ctx's list first, so a
         * ctx_free inside the callback cannot free it under us */
        anysock__op_unlink(&o->op);
        o->scb(o->data, &ev);
        o->dead = true;
        return;
    }
    arr = collect(o, &n);
    status = n > 0 ? 0 : final_status(o);
    free_groups(o);
    /* without a guard nobody else may free it: not even ctx_free from
     * inside the callback, so take it off the ctx's list first */
    if (!o->guarded)
        anysock__op_unlink(&o->op);
    if (o->mode == MODE_RESOLVE)
        o->rcb(o->data, status, arr, n);
    else
        o->acb(o->data, status, arr, n);
    anysock__free(arr);
    if (!o->guarded)
        o->dead = true;
    else if (!o->dead)
        anysock__op_finished(&o->op);
}

static void flush(lk *o)
{
    o->busy++;
    if (o->mode == MODE_STREAM && o->have_unix && !o->unix_sent) {
        anysock__rs_event ev;

        o->unix_sent = true;
        memset(&ev, 0, sizeof ev);
        ev.kind = ANYSOCK__RS_ANSWER;
        ev.family = AF_UNIX;
        ev.ngroups = 1;
        ev.targets = &o->unix_target;
        ev.count = 1;
        o->scb(o->data, &ev);
    }
    while (!o->dead && o->rfirst != NULL) {
        slot *s = o->rfirst;

        o->rfirst = s->next_ready;
        if (o->rfirst == NULL)
            o->rlast = NULL;
        if (o->mode == MODE_STREAM)
            emit_answer(o, s);
    }
    if (!o->dead && o->pending == 0 && !o->finished)
        finish(o);
    o->busy--;
    if (o->dead && o->busy == 0)
        lk_free(o);
}

static void defer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    flush(anysock__container_of(w, lk, defer));
}

/* ---- start calls --------------------------------------------------------- */

static lk *lk_new(anysock_ctx *ctx, int mode, void *data, bool guarded)
{
    lk *o = anysock__calloc(1, sizeof *o);

    if (o == NULL)
        return NULL;
    o->mode = mode;
    o->data = data;
    o->guarded = guarded;
    o->op.cancel = lk_cancel;
    o->op.kind = ANYSOCK__OP_RESOLVE;
    o->srv.o = o;
    ev_init(&o->defer, defer_cb);
    anysock__op_link(ctx, &o->op);
    return o;
}

static int start_fail(lk *o, int rc)
{
    lk_cancel(&o->op);
    return rc;
}

/* A literal group: addresses known without a question, handed over from
 * the loop like any answer. */
static int add_known(lk *o, int family, const uint8_t *bytes)
{
    int fi = family == AF_INET ? 0 : 1;
    uint8_t a[1][16];

    if (o->mode != MODE_ATON && ((fi == 0 && o->family == 6) ||
                                 (fi == 1 && o->family == 4)))
        return 0;
    if (o->ng == 0) {
        if (make_groups(o, 1) < 0)
            return -ENOMEM;
        o->g[0].port = o->port;
    }
    memset(a, 0, sizeof a);
    memcpy(a[0], bytes, family == AF_INET ? 4 : 16);
    slot_end(o, &o->g[0].s[fi], 0, a, 1, false);
    return o->g[0].s[fi].n == 1 ? 0 : -ENOMEM;
}

static int started(lk *o, anysock__op **opp, anysock_guard **guard)
{
    /* known answers (literals, unix/, a failed submit) go out from the
     * loop; the rest come with the engine's callbacks */
    if (o->rfirst != NULL || o->pending == 0 || o->have_unix)
        kick(o);
    if (opp != NULL)
        *opp = &o->op;
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&o->op;
    return 0;
}

/* Hosts first (anysock_config.hosts_first, glibc's "files dns"): a name
 * the hosts file lists is answered from it alone, no DNS, no SRV.
 * Returns 1 when answered, 0 when DNS must ask, or -ENOMEM. */
static int hosts_first(lk *o, const char *name)
{
    uint8_t a[2][MAX_ADDRS][16];
    size_t n[2] = {0, 0};
    char low[256];
    size_t len = strlen(name);

    if (!o->op.ctx->hosts_first || len >= sizeof low)
        return 0;
    for (size_t i = 0; i <= len; i++)
        low[i] = name[i] >= 'A' && name[i] <= 'Z'
                 ? (char)(name[i] - 'A' + 'a') : name[i];
    for (int fi = 0; fi < 2; fi++)
        if (wants(o, fi))
            n[fi] = anysock__hosts_find(o->op.ctx, low, fam_of(fi), a[fi],
                                        MAX_ADDRS);
    if (n[0] + n[1] == 0)
        return 0;
    if (o->ng == 0 && node_group(o) < 0)
        return -ENOMEM;
    for (int fi = 0; fi < 2; fi++)
        if (wants(o, fi))
            slot_end(o, &o->g[0].s[fi], 0, a[fi], n[fi], false);
    return 1;
}

static int start_lookup(anysock_ctx *ctx, int mode, const char *node,
                        const char *service, const char *proto, int family,
                        int socktype, bool srv, lk **out)
{
    char svcbuf[256];
    const char *srvname = NULL;
    anysock_addr a;
    uint16_t port = 0;
    int protonum, rc;
    lk *o;

    if (strcmp(node, "unix/") == 0) {
        anysock_addr u = {.family = AF_UNIX};
        anysock_target t;

        memset(&t, 0, sizeof t);
        t.family = AF_UNIX;
        t.socktype = socktype ? socktype : SOCK_STREAM;
        t.protocol = 0;
        /* family filter or a relative path: no target (7.17); '@' is a
         * Linux abstract name (beyond 7.17) */
        if (family == 0 && (service[0] == '/' || service[0] == '@')) {
            rc = anysock_pack_sockaddr(&u, 0, service, strlen(service),
                                       &t.addr);
            if (rc < 0)
                return rc;
        }
        if ((o = lk_new(ctx, mode, NULL, true)) == NULL)
            return -ENOMEM;
        o->have_unix = family == 0 && (service[0] == '/' || service[0] == '@');
        o->unix_target = t;
        *out = o;
        return 0;
    }

    if (proto == NULL || *proto == '\0')
        proto = "tcp";
    protonum = anysock_getprotobyname(proto, strlen(proto));
    if (protonum < 0)
        return ANYSOCK_EPROTOCOL;
    rc = anysock__parse_service(service, proto, &port, svcbuf, sizeof svcbuf,
                                &srvname);
    if (rc < 0)
        return rc;
    if ((o = lk_new(ctx, mode, NULL, true)) == NULL)
        return -ENOMEM;
    *out = o;
    o->port = port;
    o->protocol = protonum;
    o->socktype = socktype ? socktype
                  : strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    o->family = family;
    /* 7.17 calls back (twice, a bug) when the family is not allowed: no
     * targets, once */
    if ((family == 4 && !ctx->pref_ipv4) || (family == 6 && !ctx->pref_ipv6))
        return 0;
    if (family == 0 && !ctx->pref_ipv6)
        o->family = 4;
    if (family == 0 && !ctx->pref_ipv4)
        o->family = 6;

    if (anysock_parse_address(node, strlen(node), &a) == 0 &&
        a.family != AF_UNIX)
        return add_known(o, a.family, a.bytes);
    if ((rc = anysock__node_to_ascii(node, &o->node)) < 0)
        return rc;
    if (strcmp(o->node, "localhost") == 0) {
        static const uint8_t l4[4] = {127, 0, 0, 1};
        static const uint8_t l6[16] = {[15] = 1};

        rc = add_known(o, AF_INET, l4);
        return rc < 0 ? rc : add_known(o, AF_INET6, l6);
    }
    /* IDNA may have produced something numeric-looking; 7.17 checks the
     * converted name too */
    if (anysock_parse_address(o->node, strlen(o->node), &a) == 0 &&
        a.family != AF_UNIX)
        return add_known(o, a.family, a.bytes);
    if (!anysock__dns_name_ok(o->node))
        return -EINVAL;
    if ((rc = hosts_first(o, o->node)) != 0)
        return rc < 0 ? rc : 0;
    anysock__dns_refresh(ctx);   /* resolv.conf changed? (issue 17) */
    if (srv && srvname != NULL) {
        size_t need = strlen(srvname) + strlen(proto) + strlen(o->node) + 5;
        char *q = anysock__malloc(need);

        if (q == NULL)
            return -ENOMEM;
        snprintf(q, need, "_%s._%s.%s", srvname, proto, o->node);
        /* an SRV name no query can carry (too long, an escape): there are
         * no such records to find; the node itself still has its own */
        if (anysock__dns_name_ok(q)) {
            o->srvq = q;
            return submit(o, &o->srv, q, ns_t_srv);
        }
        anysock__free(q);
    }
    if (node_group(o) < 0)
        return -ENOMEM;
    for (int fi = 0; fi < 2; fi++) {
        if (!wants(o, fi))
            continue;
        rc = submit(o, &o->g[0].s[fi], o->g[0].name,
                    fi == 0 ? ns_t_a : ns_t_aaaa);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int anysock__resolve_stream(anysock_ctx *ctx, const char *node,
                            const char *service, int family, int srv,
                            anysock__rs_cb cb, void *data, anysock__op **op)
{
    lk *o = NULL;
    int rc;

    if (ctx == NULL || node == NULL || *node == '\0' || service == NULL ||
        cb == NULL || op == NULL ||
        (family != 0 && family != 4 && family != 6))
        return -EINVAL;
    rc = start_lookup(ctx, MODE_STREAM, node, service, "tcp", family, 0,
                      srv != 0, &o);
    if (rc < 0)
        return o != NULL ? start_fail(o, rc) : rc;
    o->scb = cb;
    o->data = data;
    o->socktype = SOCK_STREAM;
    o->op.internal = true;   /* its caller's op is the live one */
    return started(o, op, NULL);
}

int anysock_resolve_sockaddr(anysock_ctx *ctx, const char *node,
                             const char *service, const char *proto,
                             int family, int socktype, anysock_resolve_cb cb,
                             void *data, anysock_guard **guard)
{
    lk *o = NULL;
    int rc;

    if (ctx == NULL || node == NULL || *node == '\0' || service == NULL ||
        cb == NULL || (family != 0 && family != 4 && family != 6) ||
        (socktype != 0 && socktype != SOCK_STREAM &&
         socktype != SOCK_DGRAM && socktype != SOCK_SEQPACKET))
        return -EINVAL;
    rc = start_lookup(ctx, MODE_RESOLVE, node, service, proto, family,
                      socktype, true, &o);
    if (rc < 0)
        return o != NULL ? start_fail(o, rc) : rc;
    o->rcb = cb;
    o->data = data;
    o->guarded = guard != NULL;
    return started(o, NULL, guard);
}

int anysock_inet_aton(anysock_ctx *ctx, const char *name,
                      anysock_inet_aton_cb cb, void *data,
                      anysock_guard **guard)
{
    uint8_t b[16];
    lk *o;
    int rc = 0;

    if (ctx == NULL || name == NULL || *name == '\0' || cb == NULL)
        return -EINVAL;
    if ((o = lk_new(ctx, MODE_ATON, data, guard != NULL)) == NULL)
        return -ENOMEM;
    o->acb = cb;
    if (anysock_parse_ipv4(name, strlen(name), b) == 0) {
        rc = add_known(o, AF_INET, b);
    } else if (anysock_parse_ipv6(name, strlen(name), b) == 0) {
        rc = add_known(o, AF_INET6, b);
    } else if (strcmp(name, "localhost") == 0) {
        static const uint8_t l4[4] = {127, 0, 0, 1};
        static const uint8_t l6[16] = {[15] = 1};

        /* 7.17 gives both in this order, whatever the preference */
        rc = add_known(o, AF_INET, l4);
        if (rc == 0)
            rc = add_known(o, AF_INET6, l6);
        o->nosort = true;
    } else if (!anysock__dns_name_ok(name)) {
        rc = -EINVAL;
    } else {
        size_t n = strlen(name);

        if ((o->node = anysock__malloc(n + 1)) == NULL ||
            node_group(o) < 0) {
            rc = -ENOMEM;
        } else {
            memcpy(o->node, name, n + 1);
            rc = hosts_first(o, name);
            if (rc == 0)
                anysock__dns_refresh(ctx);
            for (int fi = 0; fi < 2 && rc == 0; fi++)
                if (wants(o, fi))
                    rc = submit(o, &o->g[0].s[fi], o->g[0].name,
                                fi == 0 ? ns_t_a : ns_t_aaaa);
        }
    }
    if (rc < 0)
        return start_fail(o, rc);
    return started(o, NULL, guard);
}

int anysock_resolve_family_status(const anysock_guard *guard, int family)
{
    const lk *o = (const lk *)(const void *)guard;

    if (o == NULL || o->op.cancel != lk_cancel ||
        (family != AF_INET && family != AF_INET6))
        return -EINVAL;
    return o->fstatus[family == AF_INET ? 0 : 1];
}
