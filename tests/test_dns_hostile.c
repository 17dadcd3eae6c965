/* DNS replies as hostile input: every reply below is a valid one to the
 * question, then broken on purpose by the fake responder's mangling mode
 * (tests/harness/fakedns.h): truncated at every offset, wrong id or
 * question, absurd counts, compression loops, rdlengths past the end,
 * odd rdata lengths, types and classes not asked for, CNAME loops, odd
 * SRV targets, port 0, thousands of records, and seeded byte flips; over
 * UDP and, after a TC reply, over TCP. For each one resolve_sockaddr must
 * call back exactly once and only after returning, with either targets
 * that are all well formed or a named error, and leave no fd (and, under
 * asan and valgrind, no allocation) behind once its ctx is freed. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness/fakedns.h"
#include "harness/rtest.h"

struct h {
    struct ev_loop *loop;
    fakedns *fake;
    uint16_t port;
    int fds;
    char hosts[64];
    double timeout;     /* per-try DNS timeout for every ctx */
    /* outcomes of one test, for its summary line */
    int runs, ok;
    int st[8];
    int stcount[8];
};

/* What one lookup saw, filled in by check_cb. */
struct res {
    int calls;
    bool returned, early;
    int status;
    size_t n;
    int bad;                 /* malformed targets */
    char why[160];
    bool anyaddr;            /* any address may come (rdata/flips) */
    bool anyport;            /* any port may come (flipped SRV) */
    bool port0;              /* SRV port 0 is what the server said */
    char first[64];          /* the first target, "inet 1.2.3.4 80" */
};

static const uint8_t A63[4] = {127, 0, 0, 63}, A60[4] = {127, 0, 0, 60};
static const uint8_t AAAA63[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 0x63};

static void bad(struct res *r, const char *what, size_t i)
{
    if (r->bad++ == 0)
        snprintf(r->why, sizeof r->why, "target %zu: %s", i, what);
}

/* Targets are borrowed: every check happens here. */
static void check_cb(void *data, int status, const anysock_target *t,
                     size_t n)
{
    struct res *r = data;

    if (!r->returned)
        r->early = true;
    r->calls++;
    r->status = status;
    r->n = n;
    if ((status == 0) != (n > 0) || (n > 0 && t == NULL))
        bad(r, "status and count disagree", 0);
    if (n > 0)
        target_str(&t[0], r->first, sizeof r->first);
    for (size_t i = 0; i < n; i++) {
        const anysock_target *x = &t[i];
        unsigned port;

        if (x->socktype != SOCK_STREAM || x->protocol != 6) {
            bad(r, "socktype/protocol", i);
            continue;
        }
        if (x->family == AF_INET) {
            const struct sockaddr_in *in = &x->addr.u.in;

            if (x->addr.len != sizeof *in || in->sin_family != AF_INET) {
                bad(r, "inet sockaddr", i);
                continue;
            }
            port = ntohs(in->sin_port);
            if (!r->anyaddr && memcmp(&in->sin_addr, A63, 4) != 0 &&
                memcmp(&in->sin_addr, A60, 4) != 0)
                bad(r, "inet address never sent", i);
        } else if (x->family == AF_INET6) {
            const struct sockaddr_in6 *in6 = &x->addr.u.in6;

            if (x->addr.len != sizeof *in6 || in6->sin6_family != AF_INET6 ||
                in6->sin6_scope_id != 0 || in6->sin6_flowinfo != 0) {
                bad(r, "inet6 sockaddr", i);
                continue;
            }
            port = ntohs(in6->sin6_port);
            if (!r->anyaddr && memcmp(&in6->sin6_addr, AAAA63, 16) != 0)
                bad(r, "inet6 address never sent", i);
        } else {
            bad(r, "family", i);
            continue;
        }
        if (!r->anyport && port != 80 && port != 8080 &&
            !(r->port0 && port == 0))
            bad(r, "port never sent", i);
    }
}

static int setup(void **state)
{
    static struct h h;
    int fd;

    memset(&h, 0, sizeof h);
    /* valgrind runs everything ~20x slower: ANYSOCK_TEST_SLOW widens the
     * timeouts so that replies are not simply timed out */
    h.timeout = getenv("ANYSOCK_TEST_SLOW") ? 0.5 : 0.05;
    h.loop = ev_loop_new(EVFLAG_AUTO);
    if (h.loop == NULL || fakedns_start(&h.fake, &h.port) != 0)
        return -1;
    snprintf(h.hosts, sizeof h.hosts, "/tmp/anysock-hosts-XXXXXX");
    if ((fd = mkstemp(h.hosts)) < 0)
        return -1;
    close(fd);
    h.fds = count_fds();
    *state = &h;
    return 0;
}

static int teardown(void **state)
{
    struct h *h = *state;
    int fds = count_fds();

    fakedns_stop(h->fake);
    ev_loop_destroy(h->loop);
    unlink(h->hosts);
    assert_int_equal(fds, h->fds);
    return 0;
}

static void tally(struct h *h, int status)
{
    h->runs++;
    if (status == 0) {
        h->ok++;
        return;
    }
    for (int i = 0; i < 8; i++) {
        if (h->stcount[i] == 0 || h->st[i] == status) {
            h->st[i] = status;
            h->stcount[i]++;
            return;
        }
    }
}

static void summary(struct h *h, const char *what)
{
    char buf[256];
    size_t o = 0;

    for (int i = 0; i < 8 && h->stcount[i]; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, " %s %d",
                              anysock_err_name(h->st[i]), h->stcount[i]);
    buf[o] = '\0';
    print_message("%s: %d lookups, %d with targets;%s\n", what, h->runs,
                  h->ok, o ? buf : " no errors");
    h->runs = h->ok = 0;
    memset(h->stcount, 0, sizeof h->stcount);
}

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        if (!(cond)) {                                                      \
            print_error(__VA_ARGS__);                                       \
            fail_msg("%s", #cond);                                          \
        }                                                                   \
    } while (0)

/* One lookup of node (service svc: "80" asks A and AAAA, "x=80" SRV
 * first) on a fresh ctx; every rule checked; returns the status. */
static int run(struct h *h, const char *node, const char *svc,
               struct res *r)
{
    anysock_config cfg;
    anysock_ctx *ctx = NULL;
    char servers[32];
    const char *msg;

    snprintf(servers, sizeof servers, "127.0.0.1:%u", h->port);
    anysock_config_init(&cfg);
    cfg.dns_servers = servers;
    cfg.hosts_file = h->hosts;
    cfg.dns_timeout = h->timeout;
    cfg.dns_tries = 1;
    assert_int_equal(anysock_ctx_new(h->loop, &cfg, &ctx), 0);
    r->calls = 0;
    r->returned = r->early = false;
    r->bad = 0;
    r->first[0] = '\0';
    assert_int_equal(anysock_resolve_sockaddr(ctx, node, svc, NULL, 0, 0,
                                              check_cb, r, NULL), 0);
    r->returned = true;
    CHECK(run_until(h->loop, &r->calls, 1, 30), "%s %s: no callback", node,
          svc);
    /* whatever c-ares still holds ends by itself; no second callback */
    CHECK(loop_drains(h->loop, 30), "%s %s: loop busy", node, svc);
    CHECK(r->calls == 1 && !r->early, "%s %s: %d calls, early %d", node,
          svc, r->calls, r->early);
    CHECK(r->bad == 0, "%s %s: %s", node, svc, r->why);
    msg = anysock_strerror(r->status);
    CHECK(r->status <= 0 && msg[0] != '\0' &&
              strcmp(msg, "unknown error") != 0,
          "%s %s: status %d (%s)", node, svc, r->status, msg);
    anysock_ctx_free(ctx);
    /* the responder's end of a TCP connection closes when its thread sees
     * the EOF: give it that moment */
    for (int i = 0; i < 200 && count_fds() != h->fds; i++)
        usleep(5000);
    CHECK(count_fds() == h->fds, "%s %s: %d fds, want %d", node, svc,
          count_fds(), h->fds);
    tally(h, r->status);
    return r->status;
}

/* m<kind>p<param>.example, or mt... for TC first then TCP */
static const char *name(char *buf, size_t len, bool tcp, int kind,
                        unsigned param)
{
    snprintf(buf, len, "m%s%dp%u.example", tcp ? "t" : "", kind, param);
    return buf;
}

/* Run kind/param as an A+AAAA lookup and as an SRV one. */
static void both(struct h *h, bool tcp, int kind, unsigned param,
                 struct res *r, int st[2])
{
    char n[64];

    name(n, sizeof n, tcp, kind, param);
    st[0] = run(h, n, "80", r);
    st[1] = run(h, n, "x=80", r);
}

/* ---- the control --------------------------------------------------------- */

static void test_valid_reply_gives_its_targets(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    char n[64];

    name(n, sizeof n, false, FAKEDNS_M_VALID, 0);
    assert_int_equal(run(h, n, "80", &r), 0);
    assert_int_equal(r.n, 2);
    assert_string_equal(r.first, "inet 127.0.0.63 80");
    /* SRV 0 0 8080 ok.example, then ok.example's A */
    assert_int_equal(run(h, n, "x=80", &r), 0);
    assert_int_equal(r.n, 1);
    assert_string_equal(r.first, "inet 127.0.0.60 8080");
    name(n, sizeof n, true, FAKEDNS_M_VALID, 0);
    assert_int_equal(run(h, n, "80", &r), 0);
    assert_string_equal(r.first, "inet 127.0.0.63 80");
    summary(h, "valid");
}

/* ---- truncation ---------------------------------------------------------- */

static void truncations(struct h *h, bool tcp, const char *svc)
{
    struct res r = {0};
    char n[64];
    unsigned full = 0, p, shortest = ~0u;
    bool srv = strcmp(svc, "80") != 0;

    for (p = 0; p == 0 || p < full; p++) {
        int st = run(h, name(n, sizeof n, tcp, FAKEDNS_M_TRUNC, p), svc, &r);

        /* the lengths of this name's replies, known after the first run */
        if (p == 0) {
            unsigned a = fakedns_full_len(h->fake, 1);
            unsigned aaaa = fakedns_full_len(h->fake, 28);

            full = srv ? fakedns_full_len(h->fake, 33) : a > aaaa ? a : aaaa;
            shortest = srv ? full : a < aaaa ? a : aaaa;
            assert_true(full > 12 && full < 200);
        }
        /* shorter than both replies: nothing can be whole */
        if (p < shortest && !srv)
            CHECK(st != 0, "%s %s: success from %u of %u bytes (%s)", n,
                  svc, p, shortest, r.first);
    }
    /* and the whole reply works again with this name length */
    assert_int_equal(run(h, name(n, sizeof n, tcp, FAKEDNS_M_TRUNC, full),
                         svc, &r), 0);
}

static void test_truncated_at_every_offset(void **state)
{
    struct h *h = *state;

    truncations(h, false, "80");
    truncations(h, false, "x=80");
    summary(h, "truncated (UDP)");
}

/* ---- header and question ------------------------------------------------- */

static void test_wrong_id_or_question_is_not_an_answer(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];

    /* another id: c-ares drops it and the lookup times out */
    both(h, false, FAKEDNS_M_BADID, 0, &r, st);
    assert_int_equal(st[0], ANYSOCK_EDNSTIMEOUT);
    assert_int_equal(st[1], ANYSOCK_EDNSTIMEOUT);
    both(h, false, FAKEDNS_M_NOQUESTION, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    for (unsigned p = 0; p < 3; p++) {
        both(h, false, FAKEDNS_M_WRONGQUESTION, p, &r, st);
        assert_true(st[0] < 0 && st[1] < 0);
    }
    summary(h, "wrong id / question");
}

static void test_huge_section_counts(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];

    for (int k = FAKEDNS_M_QDHUGE; k <= FAKEDNS_M_ARHUGE; k++) {
        both(h, false, k, 0, &r, st);
        /* 65535 questions or answers in a 50-byte message: malformed */
        if (k == FAKEDNS_M_QDHUGE || k == FAKEDNS_M_ANHUGE)
            assert_true(st[0] < 0 && st[1] < 0);
    }
    summary(h, "counts 65535");
}

/* ---- names --------------------------------------------------------------- */

static void test_compression_pointer_loops(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];

    both(h, false, FAKEDNS_M_PTR_SELF, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    both(h, false, FAKEDNS_M_PTR_PAIR, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    both(h, false, FAKEDNS_M_PTR_FWD, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    for (unsigned p = 0; p < 12; p++)
        both(h, false, FAKEDNS_M_PTR_HEADER, p, &r, st);
    summary(h, "compression pointers");
}

static void test_cname_loops(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];

    for (unsigned p = 0; p < 3; p++)
        both(h, false, FAKEDNS_M_CNAME, p, &r, st);
    summary(h, "CNAME loops and chains");
}

/* ---- records ------------------------------------------------------------- */

static void test_rdlength_past_end_and_odd_rdata(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];
    static const unsigned lens[] = {0, 3, 4, 5, 15, 16, 17, 40};

    both(h, false, FAKEDNS_M_RDLEN_PAST, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    r.anyaddr = true;   /* the rdata bytes are the address */
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        char n[64];

        name(n, sizeof n, false, FAKEDNS_M_RDLEN, lens[i]);
        st[0] = run(h, n, "80", &r);
        /* an A of 4 bytes or an AAAA of 16 is fine; nothing else */
        if (lens[i] == 4)
            assert_true(st[0] == 0 && r.n == 1 &&
                        strcmp(r.first, "inet 127.128.129.130 80") == 0);
        else if (lens[i] == 16)
            assert_true(st[0] == 0 && r.n == 1 &&
                        strncmp(r.first, "inet6 ", 6) == 0);
        else
            assert_true(st[0] < 0);
        (void)run(h, n, "x=80", &r);
    }
    summary(h, "rdlength");
}

static void test_types_and_classes_not_asked_for(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    int st[2];

    for (unsigned p = 0; p < 5; p++) {
        both(h, false, FAKEDNS_M_WRONGTYPE, p, &r, st);
        assert_true(st[0] < 0);
    }
    for (unsigned p = 0; p < 3; p++)
        both(h, false, FAKEDNS_M_WRONGCLASS, p, &r, st);
    summary(h, "type / class not asked for");
}

/* ---- SRV ----------------------------------------------------------------- */

static void test_srv_odd_targets(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    char n[64];

    for (unsigned p = 0; p < 14; p++) {
        int st = run(h, name(n, sizeof n, false, FAKEDNS_M_SRV_TARGET, p),
                     "x=80", &r);

        print_message("  SRV target %2u: %s %s\n", p,
                      st ? anysock_err_name(st) : "ok", r.first);
        /* "." says: no such service here */
        if (p == 0)
            assert_int_equal(st, -ENXIO);
        /* a 63-byte label and a 255-octet name are legal: their A
         * answers; 256 octets and more: a malformed reply */
        if (p == 2 || p == 4)
            assert_string_equal(r.first, "inet 127.0.0.60 8080");
        if (p == 1 || p == 3)
            assert_int_equal(st, ANYSOCK_EBADRESP);
    }
    summary(h, "SRV targets");
}

static void test_srv_port0_and_many_records(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    char n[64];

    r.port0 = true;
    assert_int_equal(run(h, name(n, sizeof n, false, FAKEDNS_M_SRV_PORT0, 0),
                         "x=80", &r), 0);
    print_message("SRV port 0: %s\n", r.first);
    r.port0 = false;
    /* 100 records in one UDP reply (3 kB): the first
     * ANYSOCK_RESOLVE_MAX_SRV in SRV order get their A lookups */
    assert_int_equal(run(h, name(n, sizeof n, false, FAKEDNS_M_SRV_MANY,
                                 100), "x=80", &r), 0);
    assert_int_equal(r.n, ANYSOCK_RESOLVE_MAX_SRV);
    assert_int_equal(run(h, name(n, sizeof n, false, FAKEDNS_M_SRV_MANY,
                                 ANYSOCK_RESOLVE_MAX_SRV - 1), "x=80", &r), 0);
    assert_int_equal(r.n, ANYSOCK_RESOLVE_MAX_SRV - 1);
    summary(h, "SRV port 0, many");
}

/* ---- random byte flips --------------------------------------------------- */

static void test_seeded_byte_flips(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    char n[64];
    unsigned count = getenv("ANYSOCK_TEST_SLOW") ? 60 : 300;

    r.anyaddr = r.anyport = true;
    for (unsigned p = 0; p < count; p++) {
        name(n, sizeof n, false, FAKEDNS_M_FLIP, p);
        (void)run(h, n, p % 3 == 2 ? "x=80" : "80", &r);
    }
    summary(h, "byte flips (UDP)");
}

/* ---- over TCP, after a UDP reply with TC set ----------------------------- */

static void test_mangled_over_tcp(void **state)
{
    struct h *h = *state;
    struct res r = {0};
    char n[64];
    int st[2];
    unsigned before = fakedns_tcp_queries(h->fake);

    for (unsigned p = 0; p < 40; p += 3)
        (void)run(h, name(n, sizeof n, true, FAKEDNS_M_TRUNC, p), "80", &r);
    both(h, true, FAKEDNS_M_PTR_SELF, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    both(h, true, FAKEDNS_M_PTR_PAIR, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    both(h, true, FAKEDNS_M_RDLEN_PAST, 0, &r, st);
    assert_true(st[0] < 0 && st[1] < 0);
    both(h, true, FAKEDNS_M_ANHUGE, 0, &r, st);
    (void)run(h, name(n, sizeof n, true, FAKEDNS_M_SRV_TARGET, 11), "x=80",
              &r);
    /* 2000 records (60 kB) need TCP; only the first
     * ANYSOCK_RESOLVE_MAX_SRV are asked for A and AAAA (the cap) */
    {
        double saved = h->timeout, t0 = nt_now();
        unsigned many = getenv("ANYSOCK_TEST_SLOW") ? 300 : 2000;
        unsigned q0 = fakedns_udp_queries(h->fake) +
                      fakedns_tcp_queries(h->fake), asked;

        h->timeout = 2;
        assert_int_equal(run(h, name(n, sizeof n, true, FAKEDNS_M_SRV_MANY,
                                     many), "x=80", &r), 0);
        h->timeout = saved;
        asked = fakedns_udp_queries(h->fake) + fakedns_tcp_queries(h->fake) -
                q0;
        print_message("%u SRV records over TCP: %zu targets, %u queries "
                      "in %.2f s\n", many, r.n, asked, nt_now() - t0);
        assert_int_equal(r.n, ANYSOCK_RESOLVE_MAX_SRV);
        /* SRV over UDP then TCP, A and AAAA for each kept target */
        assert_true(asked <= 2 + 2 * ANYSOCK_RESOLVE_MAX_SRV);
    }
    r.anyaddr = r.anyport = true;
    for (unsigned p = 1000; p < 1030; p++)
        (void)run(h, name(n, sizeof n, true, FAKEDNS_M_FLIP, p),
                  p % 2 ? "x=80" : "80", &r);
    assert_true(fakedns_tcp_queries(h->fake) - before >= 40);
    summary(h, "over TCP");
}

#define T(f) cmocka_unit_test(f)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_valid_reply_gives_its_targets),
        T(test_truncated_at_every_offset),
        T(test_wrong_id_or_question_is_not_an_answer),
        T(test_huge_section_counts),
        T(test_compression_pointer_loops),
        T(test_cname_loops),
        T(test_rdlength_past_end_and_odd_rdata),
        T(test_types_and_classes_not_asked_for),
        T(test_srv_odd_targets),
        T(test_srv_port0_and_many_records),
        T(test_seeded_byte_flips),
        T(test_mangled_over_tcp),
    };
    double t0 = nt_now();
    int rc = cmocka_run_group_tests(tests, setup, teardown);

    print_message("total %.1f s\n", nt_now() - t0);
    return rc;
}
