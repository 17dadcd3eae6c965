/* resolve_sockaddr and inet_aton as AnyEvent::Socket 7.17 does them:
 * unix/, numeric and localhost without DNS; SRV for name + service name;
 * A and AAAA together, the hosts file per family when DNS had nothing;
 * ordered by protocol preference, then SRV index. DNS goes through
 * loop.c's bounded query set; every result is delivered from the loop. */
#include "internal.h"

#include <ares.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <ev.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef ANYSOCK_HAVE_IDN2
#include <idn2.h>
#endif

#define HOSTS_MAX_BYTES ((off_t)64 * 1024 * 1024)

int anysock__dns_status(int s)
{
    switch (s) {
    case ARES_SUCCESS:
        return 0;
    case ARES_ENODATA:
    case ARES_ENOTFOUND:
        return -ENXIO;
    case ARES_ETIMEOUT:
        return -ETIMEDOUT;
    case ARES_ESERVFAIL:
        return ANYSOCK_ESERVFAIL;
    case ARES_EREFUSED:
        return ANYSOCK_EREFUSED;
    case ARES_EBADRESP:
        return ANYSOCK_EBADRESP;
    case ARES_ECONNREFUSED:
        return -ECONNREFUSED;
    case ARES_ENOMEM:
        return -ENOMEM;
    case ARES_EBADNAME:
    case ARES_EBADQUERY:
    case ARES_EBADFAMILY:
        return -EINVAL;
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
        return -ECANCELED;   /* never reaches a user: see loop.c */
    default:                 /* EFORMERR, ENOTIMP, ... */
        return ANYSOCK_EDNS;
    }
}

/* RFC 1035 limits, checked before anything is queried: at most 253
 * characters (255 octets on the wire) besides one trailing dot, labels of
 * 1 to 63. c-ares refuses such names too, but only from inside the query
 * call, as a bare EBADNAME after the lookup has started. */
static bool dns_name_ok(const char *name)
{
    size_t n = strlen(name), label = 0;

    if (n > 0 && name[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    for (size_t i = 0; i < n; i++) {
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

/* ---- hosts file: parsed like 7.17's _parse_hosts, cached by mtime ------- */

struct hent {
    const char *name;
    int family;
    uint8_t bytes[16];
};

struct anysock__hosts {
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    off_t size;
    char *text;          /* the file, lowercased, names NUL-split in place */
    struct hent *v;
    size_t n;
};

void anysock__hosts_free(struct anysock__hosts *h)
{
    if (h == NULL)
        return;
    anysock__free(h->text);
    anysock__free(h->v);
    anysock__free(h);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int hosts_parse(struct anysock__hosts *h)
{
    char *p = h->text;
    size_t cap = 0;

    h->n = 0;
    while (*p != '\0') {
        char *line = p, *end = strchr(p, '\n'), *hash, *addr;
        uint8_t b[16];
        int fam;

        if (end != NULL) {
            *end = '\0';
            p = end + 1;
        } else {
            p += strlen(p);
        }
        if ((hash = strchr(line, '#')) != NULL)
            *hash = '\0';
        for (char *c = line; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        while (is_blank(*line))
            line++;
        addr = line;
        while (*line != '\0' && !is_blank(*line))
            line++;
        if (*line == '\0')
            continue;        /* no aliases */
        *line++ = '\0';
        if (anysock_parse_ipv4(addr, strlen(addr), b) == 0)
            fam = AF_INET;
        else if (anysock_parse_ipv6(addr, strlen(addr), b) == 0)
            fam = AF_INET6;
        else
            continue;
        for (;;) {
            char *name;

            while (is_blank(*line))
                line++;
            if (*line == '\0')
                break;
            name = line;
            while (*line != '\0' && !is_blank(*line))
                line++;
            if (*line != '\0')
                *line++ = '\0';
            if (h->n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct hent *nv = anysock__malloc(ncap * sizeof *nv);

                if (nv == NULL)
                    return -ENOMEM;
                if (h->n)
                    memcpy(nv, h->v, h->n * sizeof *nv);
                anysock__free(h->v);
                h->v = nv;
                cap = ncap;
            }
            h->v[h->n].name = name;
            h->v[h->n].family = fam;
            memcpy(h->v[h->n].bytes, b, 16);
            h->n++;
        }
    }
    return 0;
}

/* The cache for ctx->hosts_path: one stat per call, a re-read only when
 * the file changed. A missing or unreadable file is an empty one. */
static struct anysock__hosts *hosts_get(anysock_ctx *ctx)
{
    struct anysock__hosts *h = ctx->hosts, *nh;
    struct stat st;
    ssize_t got = 0;
    int fd;

    if (stat(ctx->hosts_path, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > HOSTS_MAX_BYTES) {
        anysock__hosts_free(h);
        ctx->hosts = NULL;
        return NULL;
    }
    if (h != NULL && h->dev == st.st_dev && h->ino == st.st_ino &&
        h->size == st.st_size && h->mtime.tv_sec == st.st_mtim.tv_sec &&
        h->mtime.tv_nsec == st.st_mtim.tv_nsec)
        return h;
    anysock__hosts_free(h);
    ctx->hosts = NULL;
    nh = anysock__calloc(1, sizeof *nh);
    if (nh == NULL)
        return NULL;
    nh->text = anysock__malloc((size_t)st.st_size + 1);
    fd = open(ctx->hosts_path, O_RDONLY | O_CLOEXEC);
    if (nh->text == NULL || fd < 0)
        goto fail;
    while (got < st.st_size) {
        ssize_t r = read(fd, nh->text + got, (size_t)(st.st_size - got));

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    anysock__close(fd);
    fd = -1;
    nh->text[got] = '\0';
    /* a NUL byte must not end the text early: 0xff, which no looked-up
     * name holds (IDNA makes names ASCII), keeps later lines and, as in
     * 7.17, makes the word it is in match nothing */
    for (ssize_t i = 0; i < got; i++)
        if (nh->text[i] == '\0')
            nh->text[i] = (char)0xff;
    if (hosts_parse(nh) != 0)
        goto fail;
    nh->dev = st.st_dev;
    nh->ino = st.st_ino;
    nh->size = st.st_size;
    nh->mtime = st.st_mtim;
    ctx->hosts = nh;
    return nh;
fail:
    if (fd >= 0)
        anysock__close(fd);
    anysock__hosts_free(nh);
    return NULL;
}

/* ---- the operation ------------------------------------------------------- */

enum { KIND_RESOLVE, KIND_ATON };

struct ent {
    int family;
    int idx2;           /* SRV index * 2; +1 for hosts-file AAAA (7.17) */
    uint16_t port;
    uint8_t bytes[16];
};

typedef struct rop rop;
typedef struct sub sub;

struct sub {
    sub *next;
    rop *op;
    anysock__dnsq *q;
    int type;           /* ns_t_a, ns_t_aaaa, ns_t_srv */
    int idx;
    uint16_t port;
    char name[];        /* as queried; the hosts-file key */
};

struct rop {
    anysock__op op;     /* first: the guard points here */
    int kind;
    anysock_resolve_cb rcb;
    anysock_inet_aton_cb acb;
    void *data;
    bool guarded;
    bool done;
    bool nosort;        /* inet_aton "localhost": 7.17's fixed order */
    int family, socktype, protocol;
    uint16_t port;
    sub *subs;
    int pending;
    int err;
    struct ent *ents;
    size_t nents, cap;
    anysock_target unix_target;
    bool have_unix;
    ev_timer defer;
    ev_timer deadline;
    char *node;         /* for the A/AAAA fallback after SRV */
};

static int add_ent(rop *o, int family, int idx2, uint16_t port,
                   const uint8_t *bytes)
{
    struct ent *e;

    if (o->nents == o->cap) {
        size_t ncap = o->cap ? o->cap * 2 : 4;
        struct ent *nv = anysock__malloc(ncap * sizeof *nv);

        if (nv == NULL)
            return -ENOMEM;
        if (o->nents)
            memcpy(nv, o->ents, o->nents * sizeof *nv);
        anysock__free(o->ents);
        o->ents = nv;
        o->cap = ncap;
    }
    e = &o->ents[o->nents++];
    memset(e, 0, sizeof *e);
    e->family = family;
    e->idx2 = idx2;
    e->port = port;
    memcpy(e->bytes, bytes, family == AF_INET ? 4 : 16);
    return 0;
}

static void set_err(rop *o, int err)
{
    if (o->err == 0 && err != 0 && err != -ENXIO)
        o->err = err;
}

static int pref(const anysock_ctx *ctx, int family)
{
    return family == AF_INET ? ctx->pref_ipv4 : ctx->pref_ipv6;
}

/* Stable: 7.17 sorts with Perl's merge sort by preference, then index. */
static void sort_ents(const anysock_ctx *ctx, struct ent *v, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        struct ent t = v[i];
        size_t j = i;

        while (j > 0) {
            const struct ent *a = &v[j - 1];
            int pa = pref(ctx, a->family), pt = pref(ctx, t.family);

            if (pa > pt || (pa == pt && a->idx2 <= t.idx2))
                break;
            v[j] = v[j - 1];
            j--;
        }
        v[j] = t;
    }
}

static void free_subs(rop *o)
{
    while (o->subs != NULL) {
        sub *s = o->subs;

        o->subs = s->next;
        if (s->q != NULL)
            anysock__dns_detach(s->q);
        anysock__free(s);
    }
}

static void rop_free(rop *o)
{
    free_subs(o);
    anysock__free(o->ents);
    anysock__free(o->node);
    anysock__free(o);
}

static void rop_stop(rop *o, struct ev_loop *loop)
{
    ev_timer_stop(loop, &o->defer);
    ev_timer_stop(loop, &o->deadline);
}

static void rop_cancel(anysock__op *op)
{
    rop *o = (rop *)(void *)op;

    if (op->ctx != NULL)
        rop_stop(o, op->ctx->loop);
    anysock__op_unlink(op);
    rop_free(o);
}

static void deliver(rop *o)
{
    anysock_ctx *ctx = o->op.ctx;
    size_t n = o->nents, i;
    int status;
    bool guarded = o->guarded;
    void *arr = NULL;

    rop_stop(o, ctx->loop);
    free_subs(o);
    o->done = true;
    if (guarded)
        anysock__op_finished(&o->op);   /* anysock_ctx_stats */
    if (!o->nosort)
        sort_ents(ctx, o->ents, n);
    if (o->have_unix)
        n = 1;
    if (n > 0) {
        arr = anysock__calloc(n, o->kind == KIND_RESOLVE ?
                              sizeof(anysock_target) : sizeof(anysock_addr));
        if (arr == NULL) {
            n = 0;
            set_err(o, -ENOMEM);
        }
    }
    for (i = 0; i < n; i++) {
        anysock_addr a;

        if (o->have_unix) {
            ((anysock_target *)arr)[0] = o->unix_target;
            break;
        }
        memset(&a, 0, sizeof a);
        a.family = o->ents[i].family;
        memcpy(a.bytes, o->ents[i].bytes, 16);
        if (o->kind == KIND_ATON) {
            ((anysock_addr *)arr)[i] = a;
        } else {
            anysock_target *t = &((anysock_target *)arr)[i];

            t->family = a.family;
            t->socktype = o->socktype;
            t->protocol = o->protocol;
            anysock_pack_sockaddr(&a, o->ents[i].port, NULL, 0, &t->addr);
        }
    }
    status = n > 0 ? 0 : o->err != 0 ? o->err : -ENXIO;
    /* without a guard nobody else may free it: not even ctx_free from
     * inside the callback, so take it off the ctx's list first */
    if (!guarded)
        anysock__op_unlink(&o->op);
    if (o->kind == KIND_RESOLVE)
        o->rcb(o->data, status, arr, n);
    else
        o->acb(o->data, status, arr, n);
    anysock__free(arr);
    if (!guarded)
        rop_free(o);
    /* else: o may be gone already (cancelled in the callback) */
}

static void defer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    deliver(anysock__container_of(w, rop, defer));
}

static void hosts_fallback(rop *o, sub *s, int family);
static void hosts_for_node(rop *o);

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    rop *o = anysock__container_of(w, rop, deadline);

    (void)loop;
    (void)revents;
    set_err(o, -ETIMEDOUT);
    /* lookups still waiting count as failed: the hosts file may answer */
    for (sub *s = o->subs; o->kind == KIND_RESOLVE && s != NULL;
         s = s->next) {
        if (s->type == ns_t_srv)
            hosts_for_node(o);
        else
            hosts_fallback(o, s, s->type == ns_t_a ? AF_INET : AF_INET6);
    }
    deliver(o);
}

/* Results are always handed over from the loop, never from inside the
 * start call or from inside c-ares. */
static void finish_later(rop *o)
{
    struct ev_loop *loop = o->op.ctx->loop;

    ev_timer_stop(loop, &o->deadline);
    ev_timer_set(&o->defer, 0., 0.);
    ev_timer_start(loop, &o->defer);
}

static void dns_cb(void *arg, int status, const unsigned char *abuf,
                   int alen);

static int submit(rop *o, const char *name, int type, int idx,
                  uint16_t port)
{
    size_t n = strlen(name);
    sub *s = anysock__malloc(sizeof *s + n + 1);
    int rc;

    if (s == NULL)
        return -ENOMEM;
    memset(s, 0, sizeof *s);
    memcpy(s->name, name, n + 1);
    s->op = o;
    s->type = type;
    s->idx = idx;
    s->port = port;
    s->next = o->subs;
    o->subs = s;
    o->pending++;
    if (!ev_is_active(&o->deadline)) {
        ev_timer_set(&o->deadline, o->op.ctx->dns_deadline, 0.);
        ev_timer_start(o->op.ctx->loop, &o->deadline);
    }
    /* A trailing dot (SRV targets, 7.17 appends one) is for the hosts key
     * only; c-ares queries are absolute anyway. */
    rc = anysock__dns_query(o->op.ctx, name, type, dns_cb, s, &s->q);
    if (rc < 0) {
        sub **pp;

        for (pp = &o->subs; *pp != s; pp = &(*pp)->next)
            ;
        *pp = s->next;
        anysock__free(s);
        o->pending--;
    }
    return rc;
}

/* A and AAAA for one target (as 7.17's $resolve closure). */
static int submit_addr(rop *o, const char *name, int idx, uint16_t port)
{
    int rc = 0;

    if (o->family != 6 && (o->kind == KIND_ATON ? o->op.ctx->pref_ipv4 : 1))
        rc = submit(o, name, ns_t_a, idx, port);
    if (rc == 0 && o->family != 4 &&
        (o->kind == KIND_ATON ? o->op.ctx->pref_ipv6 : 1))
        rc = submit(o, name, ns_t_aaaa, idx, port);
    return rc;
}

static uint64_t rng_next(anysock_ctx *ctx)
{
    uint64_t x = ctx->rng;

    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ctx->rng = x;
    return x;
}

static int srv_cmp(const void *a, const void *b)
{
    const struct ares_srv_reply *x = *(const struct ares_srv_reply *const *)a;
    const struct ares_srv_reply *y = *(const struct ares_srv_reply *const *)b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    if (x->weight != y->weight)
        return x->weight < y->weight ? -1 : 1;
    return 0;
}

/* 7.17's AnyEvent::DNS::srv: by priority, then within a priority pick
 * records by weight: w = int rand(sum + 1), the first record whose weight
 * brings w to <= 0 (records sorted by weight ascending) is next. */
static int srv_order(anysock_ctx *ctx, struct ares_srv_reply *list,
                     struct ares_srv_reply ***out, size_t *outn)
{
    size_t n = 0, i, k;
    struct ares_srv_reply *r, **v, **res;

    for (r = list; r != NULL; r = r->next)
        n++;
    v = anysock__malloc((n ? n : 1) * sizeof(struct ares_srv_reply *));
    res = anysock__malloc((n ? n : 1) * sizeof(struct ares_srv_reply *));
    if (v == NULL || res == NULL) {
        anysock__free(v);
        anysock__free(res);
        return -ENOMEM;
    }
    for (i = 0, r = list; r != NULL; r = r->next)
        v[i++] = r;
    /* insertion sort: stable, like Perl's */
    for (i = 1; i < n; i++) {
        struct ares_srv_reply *t = v[i];

        for (k = i; k > 0 && srv_cmp(&v[k - 1], &t) > 0; k--)
            v[k] = v[k - 1];
        v[k] = t;
    }
    k = 0;
    for (i = 0; i < n;) {
        size_t j = i, left;
        unsigned long sum = 0;

        while (j < n && v[j]->priority == v[i]->priority)
            sum += v[j++]->weight;
        for (left = j - i; left > 0; left--) {
            long w = (long)(rng_next(ctx) % (sum + 1));
            size_t m;

            for (m = i; m < i + left; m++) {
                if ((w -= v[m]->weight) <= 0)
                    break;
            }
            if (m == i + left)
                m = i + left - 1;   /* unreachable: w <= sum */
            res[k++] = v[m];
            sum -= v[m]->weight;
            memmove(&v[m], &v[m + 1], (i + left - m - 1) *
                    sizeof(struct ares_srv_reply *));
        }
        i = j;
    }
    anysock__free(v);
    *out = res;
    *outn = k;
    return 0;
}

static void srv_done(rop *o, sub *s, int status, const unsigned char *abuf,
                     int alen)
{
    struct ares_srv_reply *list = NULL, **ord = NULL;
    size_t n = 0, i;
    int rc = status, idx = 0;

    if (status == ARES_SUCCESS)
        rc = ares_parse_srv_reply(abuf, alen, &list);
    if (rc == ARES_ETIMEOUT) {
        /* The servers are mute: asking them for A/AAAA (7.17 does) would
         * only double the wait; answer as those would have failed, from
         * the hosts file. */
        set_err(o, -ETIMEDOUT);
        hosts_for_node(o);
        return;
    }
    if (rc != ARES_SUCCESS || list == NULL) {
        /* no SRV records (or an SRV failure): plain A/AAAA on the node */
        if (submit_addr(o, o->node, 0, o->port) < 0)
            set_err(o, -ENOMEM);
        goto out;
    }
    if (srv_order(o->op.ctx, list, &ord, &n) < 0) {
        set_err(o, -ENOMEM);
        goto out;
    }
    for (i = 0; i < n; i++) {
        char name[NS_MAXDNAME + 2];
        size_t len = strlen(ord[i]->host);

        /* target "." ("" from c-ares) means "no service here" */
        if (len == 0 || strcmp(ord[i]->host, ".") == 0)
            continue;
        /* a target no query can carry (dns_name_ok also keeps it well
         * inside name): the reply was malformed */
        if (!dns_name_ok(ord[i]->host)) {
            set_err(o, ANYSOCK_EBADRESP);
            continue;
        }
        /* 7.17 queries "target." and so never finds it in the hosts
         * file under its plain name; keep that */
        snprintf(name, sizeof name, "%s%s", ord[i]->host,
                 ord[i]->host[len - 1] == '.' ? "" : ".");
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        if (submit_addr(o, name, idx++, ord[i]->port) < 0) {
            set_err(o, -ENOMEM);
            break;
        }
    }
out:
    (void)s;
    anysock__free(ord);
    if (list != NULL)
        ares_free_data(list);
}

static void hosts_fallback(rop *o, sub *s, int family)
{
    struct anysock__hosts *h = hosts_get(o->op.ctx);

    if (h == NULL)
        return;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].family == family && strcmp(h->v[i].name, s->name) == 0 &&
            add_ent(o, family, s->idx * 2 + (family == AF_INET6),
                    s->port, h->v[i].bytes) < 0)
            set_err(o, -ENOMEM);
}

/* The hosts file for the node itself, both families as allowed: for when
 * the SRV stage never got an answer. */
static void hosts_for_node(rop *o)
{
    size_t n = strlen(o->node);
    sub *fake = anysock__malloc(sizeof *fake + n + 1);

    if (fake == NULL) {
        set_err(o, -ENOMEM);
        return;
    }
    memset(fake, 0, sizeof *fake);
    memcpy(fake->name, o->node, n + 1);
    fake->port = o->port;
    if (o->family != 6)
        hosts_fallback(o, fake, AF_INET);
    if (o->family != 4)
        hosts_fallback(o, fake, AF_INET6);
    anysock__free(fake);
}

static void addr_done(rop *o, sub *s, int status, const unsigned char *abuf,
                      int alen)
{
    struct hostent *he = NULL;
    int family = s->type == ns_t_a ? AF_INET : AF_INET6;
    int rc = status, got = 0;

    if (status == ARES_SUCCESS)
        rc = family == AF_INET ? ares_parse_a_reply(abuf, alen, &he, NULL,
                                                    NULL)
                               : ares_parse_aaaa_reply(abuf, alen, &he,
                                                       NULL, NULL);
    if (rc == ARES_SUCCESS && he != NULL) {
        for (char **a = he->h_addr_list; *a != NULL; a++) {
            if (add_ent(o, family, s->idx * 2, s->port,
                        (const uint8_t *)*a) < 0)
                set_err(o, -ENOMEM);
            got++;
        }
    } else {
        set_err(o, anysock__dns_status(rc));
    }
    if (he != NULL)
        ares_free_hostent(he);
    /* DNS takes precedence; the hosts file answers for a family only when
     * DNS gave it nothing (7.17's _load_hosts_unless) */
    if (got == 0 && o->kind == KIND_RESOLVE)
        hosts_fallback(o, s, family);
}

static void dns_cb(void *arg, int status, const unsigned char *abuf,
                   int alen)
{
    sub *s = arg, **pp;
    rop *o = s->op;

    for (pp = &o->subs; *pp != s; pp = &(*pp)->next)
        ;
    *pp = s->next;
    s->q = NULL;
    if (s->type == ns_t_srv)
        srv_done(o, s, status, abuf, alen);
    else
        addr_done(o, s, status, abuf, alen);
    anysock__free(s);
    if (--o->pending == 0)
        finish_later(o);
}

/* ---- start calls --------------------------------------------------------- */

static rop *rop_new(anysock_ctx *ctx, int kind, void *data,
                    anysock_guard **guard)
{
    rop *o = anysock__calloc(1, sizeof *o);

    if (o == NULL)
        return NULL;
    o->kind = kind;
    o->data = data;
    o->guarded = guard != NULL;
    o->op.cancel = rop_cancel;
    ev_init(&o->defer, defer_cb);
    ev_init(&o->deadline, deadline_cb);
    anysock__op_link(ctx, &o->op);
    return o;
}

static int start_fail(rop *o, int rc)
{
    rop_cancel(&o->op);
    return rc;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool digits_to_port(const char *s, size_t n, uint16_t *port)
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

int anysock__resolve_literal(const anysock_ctx *ctx, const char *node,
                             const char *service, anysock_target *t)
{
    size_t sl = strlen(service);
    anysock_addr a;
    uint16_t port;

    if (!all_digits(service, sl) || !digits_to_port(service, sl, &port) ||
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
static int parse_service(const char *service, const char *proto,
                         uint16_t *port, char *buf, size_t buflen,
                         const char **srvname)
{
    size_t n = strlen(service);
    const char *eq = strrchr(service, '=');

    *srvname = NULL;
    if (eq != NULL && eq > service && all_digits(eq + 1, strlen(eq + 1))) {
        size_t nl = (size_t)(eq - service);

        for (size_t i = 0; i < nl; i++)
            if (strchr(" \t\n\r\f\v", service[i]) != NULL)
                goto plain;
        if (!digits_to_port(eq + 1, strlen(eq + 1), port) || nl >= buflen)
            return ANYSOCK_ESERVICE;
        memcpy(buf, service, nl);
        buf[nl] = '\0';
        /* 7.17 asks SRV for any name here: name=port exists for services
         * the local database does not know. */
        *srvname = buf;
        return 0;
    }
plain:
    if (all_digits(service, n))
        return digits_to_port(service, n, port) ? 0 : ANYSOCK_ESERVICE;
    if (n == 0 || n >= buflen || !getserv(service, proto, port))
        return ANYSOCK_ESERVICE;
    memcpy(buf, service, n + 1);
    *srvname = buf;
    return 0;
}

static bool is_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return false;
    return true;
}

/* IDNA for non-ASCII names, then lowercase (7.17: y/A-Z/a-z/). */
static int node_to_ascii(const char *node, char **out)
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

static int add_numeric(rop *o, const anysock_addr *a, int idx)
{
    if (a->family == AF_INET && o->family != 6)
        return add_ent(o, AF_INET, idx * 2, o->port, a->bytes);
    if (a->family == AF_INET6 && o->family != 4)
        return add_ent(o, AF_INET6, idx * 2, o->port, a->bytes);
    return 0;
}

int anysock_resolve_sockaddr(anysock_ctx *ctx, const char *node,
                             const char *service, const char *proto,
                             int family, int socktype, anysock_resolve_cb cb,
                             void *data, anysock_guard **guard)
{
    char svcbuf[256];
    const char *srvname;
    anysock_addr a;
    uint16_t port = 0;
    int protonum, rc;
    rop *o;

    if (ctx == NULL || node == NULL || *node == '\0' || service == NULL ||
        cb == NULL || (family != 0 && family != 4 && family != 6) ||
        (socktype != 0 && socktype != SOCK_STREAM &&
         socktype != SOCK_DGRAM && socktype != SOCK_SEQPACKET))
        return -EINVAL;

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
        if ((o = rop_new(ctx, KIND_RESOLVE, data, guard)) == NULL)
            return -ENOMEM;
        o->rcb = cb;
        o->have_unix = family == 0 && (service[0] == '/' || service[0] == '@');
        o->unix_target = t;
        goto immediate;
    }

    if (proto == NULL || *proto == '\0')
        proto = "tcp";
    protonum = anysock_getprotobyname(proto, strlen(proto));
    if (protonum < 0)
        return ANYSOCK_EPROTOCOL;
    rc = parse_service(service, proto, &port, svcbuf, sizeof svcbuf,
                       &srvname);
    if (rc < 0)
        return rc;

    if ((o = rop_new(ctx, KIND_RESOLVE, data, guard)) == NULL)
        return -ENOMEM;
    o->rcb = cb;
    o->port = port;
    o->protocol = protonum;
    o->socktype = socktype ? socktype
                  : strcmp(proto, "udp") == 0 ? SOCK_DGRAM : SOCK_STREAM;
    o->family = family;
    /* 7.17 calls back (twice, a bug) when the family is not allowed: no
     * targets, once */
    if ((family == 4 && !ctx->pref_ipv4) || (family == 6 && !ctx->pref_ipv6))
        goto immediate;
    if (family == 0 && !ctx->pref_ipv6)
        o->family = 4;
    if (family == 0 && !ctx->pref_ipv4)
        o->family = 6;

    if (anysock_parse_address(node, strlen(node), &a) == 0 &&
        a.family != AF_UNIX) {
        if (add_numeric(o, &a, 0) < 0)
            return start_fail(o, -ENOMEM);
        goto immediate;
    }
    if ((rc = node_to_ascii(node, &o->node)) < 0)
        return start_fail(o, rc);
    if (strcmp(o->node, "localhost") == 0) {
        anysock_addr l4 = {.family = AF_INET, .bytes = {127, 0, 0, 1}};
        anysock_addr l6 = {.family = AF_INET6};

        l6.bytes[15] = 1;
        if (add_numeric(o, &l4, 0) < 0 || add_numeric(o, &l6, 1) < 0)
            return start_fail(o, -ENOMEM);
        goto immediate;
    }
    /* IDNA may have produced something numeric-looking; 7.17 checks the
     * converted name too */
    if (anysock_parse_address(o->node, strlen(o->node), &a) == 0 &&
        a.family != AF_UNIX) {
        if (add_numeric(o, &a, 0) < 0)
            return start_fail(o, -ENOMEM);
        goto immediate;
    }
    if (!dns_name_ok(o->node))
        return start_fail(o, -EINVAL);
    o->pending++;   /* hold completion until every query is submitted */
    if (srvname != NULL) {
        size_t need = strlen(srvname) + strlen(proto) + strlen(o->node) + 5;
        char *q = anysock__malloc(need);

        if (q == NULL)
            return start_fail(o, -ENOMEM);
        snprintf(q, need, "_%s._%s.%s", srvname, proto, o->node);
        rc = submit(o, q, ns_t_srv, 0, port);
        anysock__free(q);
    } else {
        rc = submit_addr(o, o->node, 0, port);
    }
    if (rc < 0)
        return start_fail(o, rc);
    if (--o->pending == 0)
        finish_later(o);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&o->op;
    return 0;

immediate:
    finish_later(o);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&o->op;
    return 0;
}

int anysock_inet_aton(anysock_ctx *ctx, const char *name,
                      anysock_inet_aton_cb cb, void *data,
                      anysock_guard **guard)
{
    uint8_t b[16];
    rop *o;
    int rc;

    if (ctx == NULL || name == NULL || *name == '\0' || cb == NULL)
        return -EINVAL;
    if ((o = rop_new(ctx, KIND_ATON, data, guard)) == NULL)
        return -ENOMEM;
    o->acb = cb;
    o->family = 0;
    if (anysock_parse_ipv4(name, strlen(name), b) == 0) {
        rc = add_ent(o, AF_INET, 0, 0, b);
    } else if (anysock_parse_ipv6(name, strlen(name), b) == 0) {
        rc = add_ent(o, AF_INET6, 0, 0, b);
    } else if (strcmp(name, "localhost") == 0) {
        static const uint8_t l4[4] = {127, 0, 0, 1};
        static const uint8_t l6[16] = {[15] = 1};

        /* 7.17 gives both in this order, whatever the preference */
        rc = add_ent(o, AF_INET, 0, 0, l4);
        if (rc == 0)
            rc = add_ent(o, AF_INET6, 2, 0, l6);
        o->nosort = true;
    } else if (!dns_name_ok(name)) {
        rc = -EINVAL;
    } else {
        o->pending++;
        rc = submit_addr(o, name, 0, 0);
        if (rc == 0 && --o->pending == 0)
            finish_later(o);
        if (rc < 0)
            return start_fail(o, rc);
        if (guard != NULL)
            *guard = (anysock_guard *)(void *)&o->op;
        return 0;
    }
    if (rc < 0)
        return start_fail(o, rc);
    finish_later(o);
    if (guard != NULL)
        *guard = (anysock_guard *)(void *)&o->op;
    return 0;
}
