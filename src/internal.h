/* Shared between src/ files only; never installed. */
#ifndef ANYSOCK_INTERNAL_H
#define ANYSOCK_INTERNAL_H

#include "anysock.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define anysock__container_of(ptr, type, member)                            \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define ANYSOCK__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* All heap use goes through these, so there is one place to hook. */
void *anysock__malloc(size_t n);
void *anysock__calloc(size_t n, size_t size);
void anysock__free(void *p);

/* Every heap operation (resolve, connect, server, ...) starts with this
 * header. The public anysock_guard * is a pointer to it. The ctx keeps the
 * live ones in a list so anysock_ctx_free can cancel them all. */
typedef struct anysock__op anysock__op;
struct anysock__op {
    /* Stop watchers, close fds, unlink from ctx (anysock__op_unlink) and
     * free, or detach (e.g. a c-ares query still in flight) so that no user
     * callback runs. Must be safe to call from inside the op's callbacks. */
    void (*cancel)(anysock__op *op);
    anysock_ctx *ctx;
    anysock__op *prev, *next;
    uint8_t kind;              /* ANYSOCK__OP_*, for anysock_ctx_stats */
    bool finished;             /* final callback delivered, guard held */
    /* part of another op (tcp_connect's lookup): not a live operation of
     * its own in anysock_ctx_stats (its queries still count as DNS) */
    bool internal;
};

enum { ANYSOCK__OP_OTHER, ANYSOCK__OP_RESOLVE, ANYSOCK__OP_CONNECT,
       ANYSOCK__OP_SERVER, ANYSOCK__OP_BIND };

/* The op delivered its final callback but its guard is still held (it
 * waits for anysock_guard_cancel): counted in guards_finished. Every op
 * type calls this at that moment (guard.c implements it). */
void anysock__op_finished(anysock__op *op);

/* Link op into ctx's live list (op->ctx set). */
void anysock__op_link(anysock_ctx *ctx, anysock__op *op);
/* Unlink op from its ctx's list; no-op when not linked. */
void anysock__op_unlink(anysock__op *op);
/* Cancel every live op of ctx (used by anysock_ctx_free). */
void anysock__ctx_cancel_all(anysock_ctx *ctx);

/* The context. ctx.c creates and frees it; fields below the line are the
 * resolver's own (dns.c / resolver.c). */
struct anysock_ctx {
    struct ev_loop *loop;
    anysock__op *ops;          /* live operations */
    double connect_delay;      /* Happy Eyeballs delay, seconds */
    unsigned server_flags;     /* ANYSOCK_SERVER_* */
    /* Protocol preference, AnyEvent's %PROTOCOL: 0 = not allowed, higher
     * = preferred; e.g. "ipv4,ipv6" gives pref_ipv4 2, pref_ipv6 1. */
    int pref_ipv4, pref_ipv6;
    /* ---- resolver state ---- */
    struct anysock__resolver *res;  /* the DNS engine (dns.c) */
    char *hosts_path;               /* hosts file (resolver.c reads it) */
    struct anysock__hosts *hosts;   /* its parsed cache, NULL until needed */
    double dns_deadline;            /* seconds a whole lookup may take */
    uint64_t rng;                   /* SRV weight choice (xorshift) */
    /* ---- counters for anysock_ctx_stats ---- */
    size_t attempts_active;         /* connect attempts in flight */
    /* ---- long-running processes (issue 17) ---- */
    struct anysock__cache *cache;   /* TTL cache (cache.c); NULL: off */
    bool hosts_first;               /* hosts file before DNS */
};

/* ---- DNS queries: the engine (c-ares on libev, bounded in-flight set).
 * CONTRACT (resolver-engine issue #11):
 * - cb gets a c-ares status and the raw answer, exactly once unless the
 *   query was detached first, and NEVER from inside anysock__dns_query
 *   itself: synchronous failures are deferred to the loop (no recursion).
 * - The engine bounds each query's time with the servers: ctx->dns_deadline
 *   seconds counted from the query's first send (time waiting in our own
 *   queue does not count); past it cb gets ARES_ETIMEOUT.
 * - SERVFAIL/REFUSED from one server moves on to the next; cb sees them
 *   only when every server said so.
 * - anysock__dns_detach is O(1), frees the in-flight slot at once, and
 *   once nothing live is left the context holds no socket/watcher/timer.
 * The handle is invalid once cb returns. */
typedef struct anysock__dnsq anysock__dnsq;
typedef void (*anysock__dns_cb)(void *arg, int ares_status,
                                const unsigned char *abuf, int alen);
int anysock__dns_query(anysock_ctx *ctx, const char *name, int type,
                       anysock__dns_cb cb, void *arg, anysock__dnsq **out);
/* Never call cb for q; q's slot is released at once. */
void anysock__dns_detach(anysock__dnsq *q);
/* Queries waiting in our queue / with the servers (anysock_ctx_stats). */
void anysock__dns_stats(const anysock_ctx *ctx, size_t *queued,
                        size_t *inflight);

/* dns.c: the engine's life, for ctx.c. anysock__dns_new sets ctx->res
 * and ctx->dns_deadline from cfg; servers NULL: the system's. Returns 0,
 * -ENOMEM, -EINVAL (servers unusable) or ANYSOCK_EDNS. */
int anysock__dns_new(anysock_ctx *ctx, const anysock_config *cfg,
                     const char *servers);
void anysock__dns_free(anysock_ctx *ctx);

/* Tests only: the engine's inner state, and a fixed window (0: AIMD) and
 * jitter seed (0: keep). */
typedef struct anysock__dns_debug {
    size_t fresh, ready, waiting, inflight, done;   /* queries by state */
    size_t zombies, zombie_cap;  /* abandoned attempts c-ares still holds */
    size_t window, max_inflight; /* current AIMD window and its cap */
    size_t channels, sockets;    /* c-ares channels made, sockets open */
    uint64_t sockets_opened;     /* over the resolver's life */
    int active;                  /* engine's own timer/idle/prepare on */
    uint64_t sends, timeouts, deadlines, flushes, timer_arms, iterations;
    uint64_t slips;              /* rate-limit slips seen (short TC) */
    /* resolv.conf (issue 17): metadata checks, server sets made after
     * the first, older sets still finishing, servers in the current one */
    uint64_t conf_checks, conf_reloads;
    size_t retired, nservers;
} anysock__dns_debug;
void anysock__dns_debug_get(const anysock_ctx *ctx, anysock__dns_debug *d);
void anysock__dns_tune(anysock_ctx *ctx, unsigned fixed_window,
                       uint64_t seed);

/* resolv.conf changes (issue 17): called when a lookup starts; at most
 * once per second a stat() of the file, and on a change a new server set
 * (queries already submitted finish on the old one). No-op with explicit
 * servers. */
void anysock__dns_refresh(anysock_ctx *ctx);
/* The status a query gets when no server is configured (not a c-ares
 * one); anysock__dns_status maps it to ANYSOCK_ENOSERVERS. */
#define ANYSOCK__ARES_ENOSERVERS 1000

/* ---- resolver streaming (resolver.c), for tcp_connect's Happy Eyeballs.
 * Resolves as anysock_resolve_sockaddr(node, service, "tcp", family, 0)
 * but reports each family's addresses as they arrive:
 * - ANYSOCK__RS_ANSWER once per (group, family) asked: group is the SRV
 *   target's index in SRV order (0 without SRV); targets/count the
 *   addresses (count 0 with status < 0 when that family failed or had
 *   none, after the hosts-file fallback); targets borrowed for the call.
 *   ngroups is the number of groups known so far (final once SRV is in).
 * - ANYSOCK__RS_DONE last, once: status 0 when anything was found, else
 *   what anysock_resolve_sockaddr would report.
 * Literals, localhost, unix/ and hosts answers arrive the same way (never
 * from inside the call). Cancel with op->cancel(op) (safe from inside the
 * callback); the op frees itself after DONE returns. */
enum { ANYSOCK__RS_ANSWER = 1, ANYSOCK__RS_DONE };
typedef struct anysock__rs_event {
    int kind;                   /* ANYSOCK__RS_* */
    int status;
    int family;                 /* ANSWER: AF_INET, AF_INET6 (AF_UNIX) */
    size_t group, ngroups;
    const anysock_target *targets;
    size_t count;
} anysock__rs_event;
typedef void (*anysock__rs_cb)(void *data, const anysock__rs_event *ev);
int anysock__resolve_stream(anysock_ctx *ctx, const char *node,
                            const char *service, int family, int srv,
                            anysock__rs_cb cb, void *data, anysock__op **op);

/* ---- transport options (sockopt.c), for every connect attempt.
 * A socket for one attempt with opts applied before connect(): MPTCP
 * with fallback (*mptcp set to 1 when MPTCP is used), NODELAY, keepalive,
 * TCP_USER_TIMEOUT, bind_addr (IP_BIND_ADDRESS_NO_PORT when no port),
 * interface, FASTOPEN when `fastopen` is set. opts NULL: a plain socket.
 * Returns the fd (non-blocking, close-on-exec) or a negated errno. */
int anysock__connect_socket(const anysock_connect_opts *opts, int family,
                            int socktype, int protocol, int fastopen,
                            int *mptcp);
/* Copy a caller's options honouring its `size` (defaults for the rest).
 * Returns 0 or -EINVAL. */
int anysock__connect_opts_copy(anysock_connect_opts *dst,
                               const anysock_connect_opts *src);
/* sockopt.c: -EINVAL when a transport field of o is invalid (keepalive
 * values out of the kernel's range, an unparseable bind_addr, an empty or
 * too long interface name). tcp_connect_ex calls it once up front, so
 * only conditions of one attempt (wrong family, bind failure) fail there.
 * opts passed to anysock__connect_socket must be a full copy (all fields,
 * as anysock__connect_opts_copy makes). */
int anysock__connect_opts_check(const anysock_connect_opts *o);
/* A TCP stream socket; with want_mptcp IPPROTO_MPTCP first, plain TCP
 * when the kernel or sysctl refuses it (EPROTONOSUPPORT, EINVAL,
 * ENOPROTOOPT). *mptcp says which. Returns the fd or a negated errno. */
int anysock__tcp_socket(int family, int want_mptcp, int *mptcp);

/* loop.c: parse "ipv4,ipv6"-style preferences as anysock_config does
 * (v4/v6: 0 not allowed, higher preferred). Returns 0 or -EINVAL. */
int anysock__parse_protocols(const char *s, int *v4, int *v6);

/* Tests only (tests/fuzz/fuzz_dns_reply.c): route the channel's sockets
 * through c-ares's socket-function hooks, so a fuzzer can play the DNS
 * server in-process. Call before the first query; never used by the
 * library itself. */
struct ares_socket_functions;
void anysock__dns_set_socket_functions(anysock_ctx *ctx,
                                       const struct ares_socket_functions *f,
                                       void *data);

/* rules.c: one switch from c-ares status to ours. hosts.c: the hosts
 * cache, which anysock_ctx_free releases with anysock__hosts_free. */
int anysock__dns_status(int ares_status);
void anysock__hosts_free(struct anysock__hosts *h);

/* The answer resolve_sockaddr(node, service, "tcp", 0, 0) would give when
 * node is a numeric address and service a port number: one target, known
 * without a lookup. Returns 1 and fills *t, or 0 when the full resolver is
 * needed. Lets tcp_connect skip the resolver's op for literals. */
int anysock__resolve_literal(const anysock_ctx *ctx, const char *node,
                             const char *service, anysock_target *t);

/* ---- the hosts file (hosts.c) ----
 * The addresses of `name` (lowercase) for `family` in file order, at most
 * `max` of them, from ctx->hosts_path (re-read when it changed). */
size_t anysock__hosts_find(anysock_ctx *ctx, const char *name, int family,
                           uint8_t (*out)[16], size_t max);

/* ---- 7.17's rules (rules.c): what to ask, how to order it ---- */
/* A name a DNS query can carry as written (RFC 1035 lengths, no
 * backslash: c-ares would read it as an escape). */
bool anysock__dns_name_ok(const char *name);
bool anysock__all_digits(const char *s, size_t n);
bool anysock__digits_to_port(const char *s, size_t n, uint16_t *port);
/* 7.17's service: port, services name for proto, or name=port; *srvname
 * (in buf) is the SRV service name when SRV may be asked. Returns 0 or
 * ANYSOCK_ESERVICE. */
int anysock__parse_service(const char *service, const char *proto,
                           uint16_t *port, char *buf, size_t buflen,
                           const char **srvname);
/* IDNA (libidn2) for non-ASCII names, then lowercase; *out is malloc'd. */
int anysock__node_to_ascii(const char *node, char **out);
struct ares_srv_reply;
struct anysock__srv_target {
    const char *host;           /* borrowed from the reply list */
    uint16_t port;
};
/* SRV records in 7.17's order (priority, weighted draw), without "." and
 * unqueryable targets (*bad set for the latter), at most max. Returns the
 * count or -ENOMEM. O(n log n). */
int anysock__srv_order(anysock_ctx *ctx, struct ares_srv_reply *list,
                       struct anysock__srv_target *out, size_t max,
                       bool *bad);
/* The families in 7.17's answer order (preferred first). */
void anysock__family_order(const anysock_ctx *ctx, int fam[2]);
/* resolver.c: an A (type 1) or AAAA (28) reply as c-ares 1.18's
 * ares_parse_a/aaaa_reply reads it, in linear time: the first `max`
 * addresses into out (16 bytes each); returns an ARES_* status. Exposed
 * for the differential test against c-ares. */
int anysock__parse_addrs(const unsigned char *abuf, int alen, int type,
                         uint8_t (*out)[16], size_t max, size_t *nout);

/* fd helpers: every fd is born non-blocking and close-on-exec.
 * Return the fd or a negated errno. */
int anysock__socket(int domain, int type, int protocol);
int anysock__accept(int fd, struct sockaddr *sa, socklen_t *len);
/* close() that keeps errno intact and ignores EINTR. */
void anysock__close(int fd);

#endif
