/* Happy Eyeballs v2 (RFC 8305) decisions, pure: time and events in,
 * actions out (see he.h). No sockets, no libev, no clock. */
#include "he.h"
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

/* Times closer than this are equal: a timer armed for T may fire at a
 * clock reading a rounding error short of T. */
#define EPS 1e-6

void anysock__he_init(anysock__he *h, double now, double delay,
                      double rdelay, double deadline, int pref,
                      bool other_asked, int fafc,
                      anysock__he_entry *storage, size_t ncap)
{
    memset(h, 0, sizeof *h);
    h->e = storage;
    h->cap = storage != NULL ? (uint16_t)ncap : 0;
    h->e_inline = storage != NULL;
    h->delay = delay > 0. ? delay : 0.;
    h->rdelay = rdelay > 0. ? rdelay : 0.;
    h->deadline = deadline > 0. ? now + deadline : 0.;
    h->pref = (uint8_t)pref;
    h->other_asked = other_asked;
    h->fafc = (uint8_t)(fafc < 1 ? 1 : fafc > 255 ? 255 : fafc);
    h->first_answer = -1.;
    h->ngroups = 1;
}

void anysock__he_free(anysock__he *h)
{
    if (!h->e_inline)
        anysock__free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

/* The table is full: the untried entry of the worst SRV group worse than
 * `group` (the latest of them), or -1. Keeping the best-ordered entries
 * whatever order answers arrive in: a late answer of SRV target 0 must not
 * lose its place to the hundreds of addresses of targets 1..n. */
static long victim(const anysock__he *h, uint16_t group)
{
    long v = -1;

    for (size_t i = 0; i < h->n; i++)
        if (h->e[i].state == ANYSOCK__HE_UNTRIED && h->e[i].order < 0 &&
            h->e[i].group > group &&
            (v < 0 || h->e[i].group >= h->e[v].group))
            v = (long)i;
    return v;
}

int anysock__he_add(anysock__he *h, int family, size_t group)
{
    anysock__he_entry *e;
    uint16_t g = group > UINT16_MAX ? UINT16_MAX : (uint16_t)group;

    if (h->n >= ANYSOCK__HE_MAX_ENTRIES) {
        long v = victim(h, g);

        if (v < 0)
            return -ENOSPC;
        h->displaced++;
        e = &h->e[v];
        memset(e, 0, sizeof *e);
        e->family = (uint8_t)family;
        e->group = g;
        e->state = ANYSOCK__HE_UNTRIED;
        e->order = -1;
        e->ran = -1.f;
        return (int)v;
    }
    if (h->n == h->cap) {
        size_t ncap = h->cap < 4 ? 4 : h->cap * 2;
        anysock__he_entry *nv;

        if (ncap > ANYSOCK__HE_MAX_ENTRIES)
            ncap = ANYSOCK__HE_MAX_ENTRIES;
        nv = anysock__malloc(ncap * sizeof *nv);
        if (nv == NULL)
            return -ENOMEM;
        if (h->n)
            memcpy(nv, h->e, h->n * sizeof *nv);
        if (!h->e_inline)
            anysock__free(h->e);
        h->e = nv;
        h->cap = (uint16_t)ncap;
        h->e_inline = false;
    }
    e = &h->e[h->n];
    memset(e, 0, sizeof *e);
    e->family = (uint8_t)family;
    e->group = g;
    e->state = ANYSOCK__HE_UNTRIED;
    e->order = -1;
    e->ran = -1.f;
    return (int)h->n++;
}

void anysock__he_answer(anysock__he *h, double now, int family,
                        size_t group, size_t ngroups, size_t count,
                        int status)
{
    (void)group;
    (void)status;
    /* §3: the Resolution Delay runs from the first answer, whatever it
     * says */
    if (h->first_answer < 0.)
        h->first_answer = now;
    if (ngroups > h->ngroups)
        h->ngroups = ngroups > UINT16_MAX ? UINT16_MAX : (uint16_t)ngroups;
    if (family == h->pref) {
        h->pref_answers++;
        if (count > 0)
            h->pref_positive++;
    }
}

void anysock__he_done(anysock__he *h, double now, int status)
{
    (void)now;
    h->done = true;
    h->res_status = status;
}

/* §3: may attempts start yet? Once yes, always yes. */
static bool may_go(anysock__he *h, double now, double *wake)
{
    bool other = false;

    if (h->go || h->done)
        return h->go = true;
    for (size_t i = 0; i < h->n; i++) {
        /* the preferred family (or a unix path) is here: start now */
        if (h->e[i].family == h->pref ||
            (h->e[i].family != AF_INET && h->e[i].family != AF_INET6))
            return h->go = true;
        other = true;
    }
    if (!other)
        return false;
    /* a negative or failed answer for the preferred family never delays
     * the other one */
    if (h->pref_answers >= h->ngroups && h->pref_positive == 0)
        return h->go = true;
    if (!h->other_asked || now + EPS >= h->first_answer + h->rdelay)
        return h->go = true;
    *wake = h->first_answer + h->rdelay;
    return false;
}

static uint8_t *family_count(anysock__he *h, int family)
{
    return family == AF_INET ? &h->started_v4
           : family == AF_INET6 ? &h->started_v6 : &h->started_other;
}

/* Untried and its family still under the cap. */
static bool can_try(const anysock__he *h, const anysock__he_entry *e)
{
    unsigned n = e->family == AF_INET ? h->started_v4
                 : e->family == AF_INET6 ? h->started_v6
                                         : h->started_other;

    return e->state == ANYSOCK__HE_UNTRIED && n < ANYSOCK__HE_MAX_ATTEMPTS;
}

static int rank(const anysock__he *h, const anysock__he_entry *e)
{
    return e->family == h->pref ||
                   (e->family != AF_INET && e->family != AF_INET6)
               ? 0
               : 1;
}

/* The next untried entry by the ordering rules, or -1.
 * delay 0 (7.17's sequential mode): 7.17's order, protocol preference
 * first, then SRV index, then arrival.
 * Otherwise RFC 8305 §4 within each SRV group (groups in SRV order):
 * fafc addresses of the preferred family, then the families alternate;
 * when one runs out the rest of the other follow. Late answers are merged
 * by recomputing this sequence over everything the group has. */
static long pick(const anysock__he *h)
{
    long best = -1;
    size_t g = SIZE_MAX;

    if (h->delay <= 0.) {
        for (size_t i = 0; i < h->n; i++) {
            const anysock__he_entry *e = &h->e[i], *b;

            if (!can_try(h, e))
                continue;
            if (best < 0) {
                best = (long)i;
                continue;
            }
            b = &h->e[best];
            if (rank(h, e) < rank(h, b) ||
                (rank(h, e) == rank(h, b) && e->group < b->group))
                best = (long)i;
        }
        return best;
    }
    for (size_t i = 0; i < h->n; i++)
        if (can_try(h, &h->e[i]) && h->e[i].group < g)
            g = h->e[i].group;
    if (g == SIZE_MAX)
        return -1;
    {
        /* walk the interleaved sequence of group g: cursors into the
         * preferred (p) and other (o) families, in arrival order */
        size_t p = 0, o = 0;
        int run = 0;
        bool want_pref = true;

        for (;;) {
            long ip = -1, io = -1, take;

            while (p < h->n && (h->e[p].group != g || rank(h, &h->e[p])))
                p++;
            while (o < h->n &&
                   (h->e[o].group != g || !rank(h, &h->e[o])))
                o++;
            if (p < h->n)
                ip = (long)p;
            if (o < h->n)
                io = (long)o;
            if (ip < 0 && io < 0)
                return -1;
            if (ip >= 0 && (want_pref || io < 0)) {
                take = ip;
                p++;
                if (++run >= h->fafc)
                    want_pref = false;
            } else {
                take = io;
                o++;
                if (run >= h->fafc)
                    want_pref = true;
            }
            if (can_try(h, &h->e[take]))
                return take;
        }
    }
}

static double earliest(double a, double b)
{
    if (a <= 0.)
        return b;
    if (b <= 0.)
        return a;
    return a < b ? a : b;
}

static void end_entry(anysock__he *h, anysock__he_entry *e, double now,
                      int status, int phase)
{
    if (e->state == ANYSOCK__HE_ACTIVE)
        h->nactive--;
    e->state = ANYSOCK__HE_FAILED;
    e->ran = (float)(now - e->started);
    e->status = status;
    e->phase = (uint8_t)phase;
}

void anysock__he_next(anysock__he *h, double now, anysock__he_action *a)
{
    double wake = 0.;
    long i;

    memset(a, 0, sizeof *a);
    a->kind = ANYSOCK__HE_WAIT;
    if (h->over)
        return;
    /* the overall deadline ends every attempt, then the call */
    if (h->deadline > 0. && now + EPS >= h->deadline) {
        for (size_t k = 0; k < h->n; k++) {
            if (h->e[k].state == ANYSOCK__HE_ACTIVE) {
                end_entry(h, &h->e[k], now, -ETIMEDOUT,
                          ANYSOCK_PHASE_DEADLINE);
                h->last_err = -ETIMEDOUT;
                a->kind = ANYSOCK__HE_EXPIRE;
                a->entry = k;
                a->status = -ETIMEDOUT;
                a->phase = ANYSOCK_PHASE_DEADLINE;
                return;
            }
        }
        h->over = true;
        a->kind = ANYSOCK__HE_FAIL;
        a->status = -ETIMEDOUT;
        return;
    }
    /* per-attempt timeouts (prepare_cb's value) */
    for (size_t k = 0; k < h->n; k++) {
        anysock__he_entry *e = &h->e[k];

        if (e->state == ANYSOCK__HE_ACTIVE && e->deadline > 0. &&
            now + EPS >= e->deadline) {
            anysock__he_failed(h, k, now, -ETIMEDOUT, ANYSOCK_PHASE_PREPARE);
            a->kind = ANYSOCK__HE_EXPIRE;
            a->entry = k;
            a->status = -ETIMEDOUT;
            a->phase = ANYSOCK_PHASE_PREPARE;
            return;
        }
    }
    if (may_go(h, now, &wake)) {
        i = pick(h);
        /* §5: one at a time until the stagger has passed; in sequential
         * mode only when nothing is running */
        if (i >= 0 && (h->nactive == 0 ||
                       (h->delay > 0. && now + EPS >= h->next_start))) {
            anysock__he_entry *e = &h->e[i];

            e->state = ANYSOCK__HE_ACTIVE;
            e->started = now;
            e->ran = -1.f;
            e->deadline = 0.;
            e->status = 0;
            e->phase = 0;
            e->order = (int16_t)h->nstarted++;
            (*family_count(h, e->family))++;
            h->nactive++;
            h->next_start = now + h->delay;
            a->kind = ANYSOCK__HE_START;
            a->entry = (size_t)i;
            return;
        }
        if (i < 0 && h->nactive == 0 && h->done) {
            h->over = true;
            a->kind = ANYSOCK__HE_FAIL;
            if (h->nstarted > 0 && h->last_err < 0)
                a->status = h->last_err;
            else if (h->res_status < 0)
                a->status = h->res_status;
            else
                a->status = -ENXIO;
            return;
        }
        if (i >= 0 && h->delay > 0.)
            wake = h->next_start;
    }
    for (size_t k = 0; k < h->n; k++)
        if (h->e[k].state == ANYSOCK__HE_ACTIVE)
            wake = earliest(wake, h->e[k].deadline);
    a->at = earliest(wake, h->deadline);
}

void anysock__he_started(anysock__he *h, size_t i, double now,
                         double timeout)
{
    if (i < h->n && h->e[i].state == ANYSOCK__HE_ACTIVE)
        h->e[i].deadline = timeout > 0. ? now + timeout : 0.;
}

void anysock__he_failed(anysock__he *h, size_t i, double now, int status,
                        int phase)
{
    if (i >= h->n || h->e[i].state != ANYSOCK__HE_ACTIVE)
        return;
    end_entry(h, &h->e[i], now, status, phase);
    h->last_err = status;
    /* RFC 8305 §5: a failed attempt starts the next one without waiting */
    h->next_start = now;
}

void anysock__he_won(anysock__he *h, size_t i, double now)
{
    if (i >= h->n || h->e[i].state != ANYSOCK__HE_ACTIVE)
        return;
    h->nactive--;
    h->e[i].state = ANYSOCK__HE_WON;
    h->e[i].ran = (float)(now - h->e[i].started);
    h->e[i].status = 0;
    h->e[i].phase = ANYSOCK_PHASE_WON;
    for (size_t k = 0; k < h->n; k++)
        if (h->e[k].state == ANYSOCK__HE_ACTIVE)
            end_entry(h, &h->e[k], now, -ECANCELED, ANYSOCK_PHASE_CANCEL);
    h->over = true;
}

void anysock__he_retry(anysock__he *h, double now)
{
    for (size_t k = 0; k < h->n; k++) {
        anysock__he_entry *e = &h->e[k];

        if (e->state == ANYSOCK__HE_WON) {
            /* rejected by the caller: done with, but not an error */
            e->state = ANYSOCK__HE_FAILED;
        } else if (e->state == ANYSOCK__HE_FAILED &&
                   e->phase == ANYSOCK_PHASE_CANCEL) {
            /* cut short by the win: never really tried */
            e->state = ANYSOCK__HE_UNTRIED;
            e->order = -1;
            e->phase = 0;
            e->status = 0;
            e->ran = -1.f;
        }
    }
    h->over = false;
    h->next_start = now;
}

void anysock__he_stop(anysock__he *h, double now, int status, int phase)
{
    for (size_t k = 0; k < h->n; k++)
        if (h->e[k].state == ANYSOCK__HE_ACTIVE)
            end_entry(h, &h->e[k], now, status, phase);
    h->over = true;
}
