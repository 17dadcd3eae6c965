/* Happy Eyeballs v2 (RFC 8305 §3-§5) as a pure state machine: no sockets,
 * no libev, no clock. The caller (connect.c) feeds it the current time
 * and events (an answer arrived, an attempt failed or won) and asks it
 * what to do next (start entry N, expire entry N, fail the call, or wait
 * until time T). tests/test_he_core.c drives it with virtual time. */
#ifndef ANYSOCK_HE_H
#define ANYSOCK_HE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* At most this many attempts per family and call (counted in the
 * interleaved order, so a name with 100 A records still tries its AAAA
 * second; per family, so A records that all fail before a late AAAA
 * answer cannot use up the AAAA's turn), and this many addresses kept
 * per answer and in all. No real host needs more. */
#define ANYSOCK__HE_MAX_ATTEMPTS 64
#define ANYSOCK__HE_MAX_PER_ANSWER 64
#define ANYSOCK__HE_MAX_ENTRIES 256

enum { ANYSOCK__HE_UNTRIED, ANYSOCK__HE_ACTIVE, ANYSOCK__HE_FAILED,
       ANYSOCK__HE_WON };

/* One address, in arrival order; an attempt once started. Small: a
 * literal host's connect keeps one inline (connect-memory bench). */
typedef struct anysock__he_entry {
    double started;      /* time the attempt started */
    double deadline;     /* per-attempt timeout as a time; 0 none */
    float ran;           /* seconds it ran, once ended; < 0 before */
    int status;          /* 0 or the error that ended it */
    uint16_t group;      /* SRV index (0 without SRV) */
    uint8_t family;      /* AF_INET, AF_INET6, AF_UNIX */
    uint8_t state;       /* ANYSOCK__HE_* */
    uint8_t phase;       /* ANYSOCK_PHASE_* once ended */
    int16_t order;       /* start order, -1 while untried */
} anysock__he_entry;

typedef struct anysock__he {
    anysock__he_entry *e;
    /* configuration */
    double delay;        /* attempt delay (stagger); 0: one at a time */
    double rdelay;       /* resolution delay */
    double deadline;     /* overall deadline as a time; 0 none */
    /* state */
    double first_answer; /* time of the first answer; < 0 none yet */
    double next_start;   /* an attempt may start beside others from here */
    int last_err;
    int res_status;      /* resolution's final status */
    uint16_t n, cap;
    uint16_t ngroups;    /* answers expected per family */
    uint16_t pref_answers, pref_positive;
    uint16_t nstarted, nactive;
    uint16_t displaced;  /* entries replaced by better-ordered ones */
    uint8_t started_v4, started_v6, started_other;  /* per-family cap */
    uint8_t pref;        /* preferred family */
    uint8_t fafc;        /* first address family count, >= 1 */
    bool e_inline;       /* e is the caller's storage: never freed */
    bool other_asked;    /* the other family is asked too */
    bool go;             /* §3 satisfied: attempts may start */
    bool done;           /* resolution complete */
    bool over;           /* the call ended (won or failed) */
} anysock__he;

/* Actions (anysock__he_action.kind). */
enum {
    ANYSOCK__HE_WAIT = 1, /* nothing now; call again at `at` (0: only on
                           * the next event) */
    ANYSOCK__HE_START,    /* start entry `entry`, then he_started */
    ANYSOCK__HE_EXPIRE,   /* entry's timer ran out (already marked failed
                           * with `status` and `phase`): close its socket */
    ANYSOCK__HE_FAIL      /* the call failed with `status` */
};

typedef struct anysock__he_action {
    int kind;
    size_t entry;
    double at;
    int status;
    int phase;
} anysock__he_action;

/* now: the call's start time. deadline: seconds for the whole call, 0
 * none. storage/ncap: optional inline entries (NULL, 0 for none). */
void anysock__he_init(anysock__he *h, double now, double delay,
                      double rdelay, double deadline, int pref,
                      bool other_asked, int fafc,
                      anysock__he_entry *storage, size_t ncap);
void anysock__he_free(anysock__he *h);

/* Add one address of an answer. Returns its index, or -ENOMEM. When the
 * table is full (ANYSOCK__HE_MAX_ENTRIES) the address takes the place of
 * an untried one of a worse (higher) SRV group, the worst first: the
 * returned index is then an old one (h->n is unchanged, h->displaced
 * counts it); with no such entry it is dropped: -ENOSPC. */
int anysock__he_add(anysock__he *h, int family, size_t group);
/* An answer (with `count` addresses, already added; status < 0 when the
 * family failed or had none) for `group` of `ngroups`. */
void anysock__he_answer(anysock__he *h, double now, int family,
                        size_t group, size_t ngroups, size_t count,
                        int status);
/* Resolution is over: nothing more will be added. */
void anysock__he_done(anysock__he *h, double now, int status);

/* What to do now. Call until it returns WAIT or FAIL. */
void anysock__he_next(anysock__he *h, double now, anysock__he_action *a);

/* After START: the attempt's timeout in seconds (0 none). */
void anysock__he_started(anysock__he *h, size_t i, double now,
                         double timeout);
/* The attempt ended with an error (RFC 8305 §5: the next one may start
 * at once). */
void anysock__he_failed(anysock__he *h, size_t i, double now, int status,
                        int phase);
/* The attempt connected: the call is over; every other running attempt
 * is marked cancelled (the caller closes their sockets). */
void anysock__he_won(anysock__he *h, size_t i, double now);
/* The caller rejected the connection (tcp_connect_retry): attempts cut
 * short by the win are untried again, and the race goes on. */
void anysock__he_retry(anysock__he *h, double now);
/* End the call from outside (cancel): running attempts are marked with
 * `phase` and `status`. */
void anysock__he_stop(anysock__he *h, double now, int status, int phase);

#endif
