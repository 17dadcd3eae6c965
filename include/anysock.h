/* libanysock — AnyEvent::Socket's networking utilities for C.
 *
 * Three layers, each calling only the one below:
 *   address    parse/format/pack; pure functions, no heap, thread-safe
 *   resolver   resolve_sockaddr/inet_aton: c-ares on a libev loop
 *   connect    tcp_connect/tcp_server/tcp_bind: non-blocking, cancellable
 *
 * Conventions used throughout:
 * - int results: >= 0 success (0, a length or a count), < 0 a negated errno
 *   or an ANYSOCK_E* code; anysock_strerror() names any of them.
 * - Text input is (pointer, length) in the address layer: no NUL needed.
 * - Outputs are written only on success.
 * - Callbacks take `data` first and a status second; they never run before
 *   the call that set them up returns, and never after their guard was
 *   cancelled.
 *
 * MIT licensed; see LICENSE. */
#ifndef ANYSOCK_H
#define ANYSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- export macro and version ------------------------------------------ */

#if defined(ANYSOCK_STATIC)
#define ANYSOCK_EXTERN
#elif defined(__GNUC__) || defined(__clang__)
#define ANYSOCK_EXTERN __attribute__((visibility("default")))
#else
#define ANYSOCK_EXTERN
#endif

#define ANYSOCK_VERSION_MAJOR 0
#define ANYSOCK_VERSION_MINOR 1
#define ANYSOCK_VERSION_PATCH 0
#define ANYSOCK_VERSION_HEX                                                 \
    ((ANYSOCK_VERSION_MAJOR << 16) | (ANYSOCK_VERSION_MINOR << 8) |         \
     ANYSOCK_VERSION_PATCH)

/* "0.1.0" for the library actually linked. */
ANYSOCK_EXTERN const char *anysock_version(void);

/* ---- errors -------------------------------------------------------------- */

/* Outcomes no errno describes; a block far below any errno value.
 * Plain errno values are used where they mean the same thing: -EINVAL bad
 * input, -ENOSPC buffer too small, -ENXIO no such name / no data,
 * -ETIMEDOUT DNS servers (or a connect) did not answer, -ECONNREFUSED ... */
#define ANYSOCK_ERRNO_MAP(XX)                                               \
    XX(ESERVICE,    -3000, "unknown service")                              \
    XX(EPROTOCOL,   -3001, "unknown protocol")                             \
    XX(ESERVFAIL,   -3002, "DNS server failure")                           \
    XX(EREFUSED,    -3003, "DNS query refused")                            \
    XX(EBADRESP,    -3004, "malformed DNS reply")                          \
    XX(EDNS,        -3005, "DNS lookup failed")                            \
    XX(EENVDNS,     -3006, "malformed ANYSOCK_DNS_SERVERS")                \
    XX(EENVHOSTS,   -3007, "malformed ANYSOCK_HOSTS")                      \
    XX(EENVPROTO,   -3008, "malformed ANYSOCK_PROTOCOLS")                  \
    XX(ECONFIG,     -3009, "invalid configuration")                        \
    XX(ENOTSOCK,    -3010, "path exists and is not a socket")              \
    XX(EDNSTIMEOUT, -3011, "DNS servers did not answer")                   \
    XX(EDNSCONN,    -3012, "connection to DNS server failed")              \
    XX(ENOSERVERS,  -3013, "no DNS servers configured")                 \
    XX(EENVCACHE,   -3014, "malformed ANYSOCK_DNS_CACHE")                  \
    XX(EENVHFIRST,  -3015, "malformed ANYSOCK_HOSTS_FIRST")

enum anysock_error {
#define ANYSOCK_XX_(name, code, msg) ANYSOCK_##name = (code),
    ANYSOCK_ERRNO_MAP(ANYSOCK_XX_)
#undef ANYSOCK_XX_
    ANYSOCK_ERRNO_MAP_END_ = -2999
};

/* A static, thread-safe message for any status: 0, a negated errno, an
 * ANYSOCK_E* code, or an unknown value ("unknown error"). Never NULL. */
ANYSOCK_EXTERN const char *anysock_strerror(int status);

/* The symbolic name ("ECONNREFUSED", "ANYSOCK_ESERVFAIL"), or "UNKNOWN". */
ANYSOCK_EXTERN const char *anysock_err_name(int status);

/* ---- address layer ------------------------------------------------------- */

/* Sizes of output buffers, including the terminating NUL. */
#define ANYSOCK_IPV4_STRLEN 16     /* "255.255.255.255" */
#define ANYSOCK_IPV6_STRLEN 46     /* as INET6_ADDRSTRLEN; AnyEvent needs 40 */
#define ANYSOCK_ADDRESS_STRLEN 46  /* any format_address result */
#define ANYSOCK_PORT_STRLEN 6      /* "65535" */

/* A host address in network form: AnyEvent's "$ipn".
 * family 0 means empty; AF_INET uses bytes[0..3], AF_INET6 bytes[0..15],
 * AF_UNIX is the "unix/" token (no bytes). A plain value: no init/free. */
typedef struct anysock_addr {
    int family;
    uint8_t bytes[16];
} anysock_addr;

/* Any socket address the library produces, with its length. */
typedef struct anysock_sockaddr {
    socklen_t len;
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
        struct sockaddr_un un;
    } u;
} anysock_sockaddr;

/* Dotted quad in every POSIX form: 1 to 4 parts, each decimal, octal
 * (leading 0) or hex (0x); leading parts < 256, the last part fills the
 * remaining bytes. Writes 4 network-order octets.
 * Returns 0, or -EINVAL when `s` does not parse (out untouched). */
ANYSOCK_EXTERN int anysock_parse_ipv4(const char *s, size_t len,
                                      uint8_t out[4]);

/* RFC 2373 text, "::" anywhere, an IPv4 tail in any parse_ipv4 form; a plain
 * IPv4 address gives ::ffff:a.b.c.d. Scope ids do not parse.
 * Writes 16 octets. Returns 0 or -EINVAL. */
ANYSOCK_EXTERN int anysock_parse_ipv6(const char *s, size_t len,
                                      uint8_t out[16]);

/* "unix/" gives the unix-domain token (family AF_UNIX).
 * Returns 0 or -EINVAL. */
ANYSOCK_EXTERN int anysock_parse_unix(const char *s, size_t len,
                                      anysock_addr *out);

/* parse_ipv6, then parse_unix; a plain or ::ffff:-mapped IPv4 address comes
 * back as AF_INET. Returns 0 or -EINVAL. anysock_aton is the same function
 * (AnyEvent::Socket::aton). */
ANYSOCK_EXTERN int anysock_parse_address(const char *s, size_t len,
                                         anysock_addr *out);
ANYSOCK_EXTERN int anysock_aton(const char *s, size_t len, anysock_addr *out);

/* Text of an address, NUL-terminated, exactly as AnyEvent writes it.
 * Return the length written (without NUL) or -ENOSPC (out untouched).
 * format_ipv6 writes ::a.b.c.d, ::ffff:a.b.c.d and ::ffff:0:a.b.c.d for the
 * compatible, mapped and translated prefixes and otherwise compresses the
 * longest, leftmost run of two or more zero groups. */
ANYSOCK_EXTERN int anysock_format_ipv4(const uint8_t a[4], char *out,
                                       size_t outlen);
ANYSOCK_EXTERN int anysock_format_ipv6(const uint8_t a[16], char *out,
                                       size_t outlen);

/* AF_INET as format_ipv4, AF_INET6 as format_ipv6 except that a mapped
 * address prints as IPv4, AF_UNIX as "unix/". -EAFNOSUPPORT for anything
 * else. anysock_ntoa is the same function (AnyEvent::Socket::ntoa). */
ANYSOCK_EXTERN int anysock_format_address(const anysock_addr *a, char *out,
                                          size_t outlen);
ANYSOCK_EXTERN int anysock_ntoa(const anysock_addr *a, char *out,
                                size_t outlen);

/* AF_INET, AF_INET6, AF_UNIX, or 0 for an empty address. */
ANYSOCK_EXTERN int anysock_address_family(const anysock_addr *a);

/* The result of parse_hostport: spans, not copies. host and port point into
 * the input, into the default service, or (for "/path") at a static "unix/".
 * They are not NUL-terminated and live as long as what they point into. */
typedef struct anysock_hostport {
    const char *host;
    size_t hostlen;
    const char *port;
    size_t portlen;
} anysock_hostport;

/* Split "host:port", "[v4or6]:port", "[v4or6] port", "v4or6 port",
 * "ipv6#port", a bare IPv6 address, "unix/:path" or "/path" as AnyEvent's
 * parse_hostport does. `defport` (may be NULL; used when defportlen > 0) is
 * the service when the string has none.
 * Returns 0, or -EINVAL when AnyEvent returns the empty list. */
ANYSOCK_EXTERN int anysock_parse_hostport(const char *s, size_t len,
                                          const char *defport,
                                          size_t defportlen,
                                          anysock_hostport *out);

/* "host:port", with the host in brackets when it contains a ':'; the port
 * part is left out when portlen is 0 (port may then be NULL). Needs at most
 * hostlen + portlen + 4 bytes. (NULL, 0) is an empty host, as for every
 * (pointer, length) input of this layer. Returns the length, or -ENOSPC
 * when out is too small or the result would exceed INT_MAX (no size
 * computation wraps, whatever the lengths). */
ANYSOCK_EXTERN int anysock_format_hostport(const char *host, size_t hostlen,
                                           const char *port, size_t portlen,
                                           char *out, size_t outlen);

/* A sockaddr for host and port; for the AF_UNIX token `path` (pathlen bytes,
 * no NUL needed) is the socket path and port is ignored. IPv6 gets flowinfo
 * and scope id 0. Returns 0, -ENAMETOOLONG when the path does not fit
 * sun_path with its NUL (107 bytes on Linux; never truncated), -EINVAL for
 * a path containing a NUL, -EAFNOSUPPORT for an empty address.
 * A path starting with '@' (or with a NUL) is a Linux abstract name: the
 * bytes after it, any bytes, 1 to 107; the sockaddr length is exactly
 * offsetof(sun_path) + pathlen, no NUL padding. A file whose name starts
 * with '@' is written "./@name". */
ANYSOCK_EXTERN int anysock_pack_sockaddr(const anysock_addr *host,
                                         uint16_t port, const char *path,
                                         size_t pathlen,
                                         anysock_sockaddr *out);

/* The reverse. For AF_UNIX, *path points into sa's sun_path and *pathlen is
 * its length up to the first NUL; port is 0. path and pathlen may be NULL.
 * An abstract name comes back as every byte `len` covers, starting with
 * its leading NUL (which stands where "@name" has its '@'; print it as
 * '@' + path[1..]); pack_sockaddr takes that form back. An unnamed socket
 * gives pathlen 0. A relative file path that starts with '@' comes back
 * as it is; to pack it again as a file, prefix "./".
 * Returns 0, -EAFNOSUPPORT for another family, -EINVAL if len is short. */
ANYSOCK_EXTERN int anysock_unpack_sockaddr(const struct sockaddr *sa,
                                           socklen_t len, anysock_addr *host,
                                           uint16_t *port, const char **path,
                                           size_t *pathlen);

/* Protocol number for a name, case-insensitive; tcp, udp and icmp are
 * known without /etc/protocols. Returns >= 0 or -EPROTONOSUPPORT. */
ANYSOCK_EXTERN int anysock_getprotobyname(const char *name, size_t len);

/* ---- context --------------------------------------------------------------- */

/* Only a forward declaration: include <ev.h> yourself (the CMake target
 * anysock::anysock and anysock.pc carry libev's include path and -lev).
 * The address layer needs no libev at all, and a program that configures
 * or embeds libev (EV_* macros before <ev.h>) must include it its own way,
 * which an #include <ev.h> here would pre-empt. */
struct ev_loop;

/* One context per libev loop: owns the c-ares channel and every pending
 * operation started on it. Use it only from the loop's thread. */
typedef struct anysock_ctx anysock_ctx;

/* A cancel handle for one operation; see anysock_guard_cancel. */
typedef struct anysock_guard anysock_guard;

/* Server socket options (anysock_config.server_flags). */
#define ANYSOCK_SERVER_REUSEPORT 0x1u /* SO_REUSEPORT before bind */

typedef struct anysock_config {
    /* "a.b.c.d[:port],[v6]:port,..."; NULL: $ANYSOCK_DNS_SERVERS, else the
     * system resolver configuration. */
    const char *dns_servers;
    /* NULL: $ANYSOCK_HOSTS, else /etc/hosts. */
    const char *hosts_file;
    /* Allowed families in preference order: "ipv4,ipv6", "ipv6,ipv4",
     * "ipv4", "ipv6". NULL: $ANYSOCK_PROTOCOLS, else "ipv4,ipv6". */
    const char *protocols;
    double dns_timeout;      /* seconds for the first try; 0: 2; <= 3600 */
    /* 0: 3. The timeout doubles per round of servers, as c-ares does;
     * every query also has a deadline of timeout * 2^tries (16 s by
     * default) from its first send however many servers are mute, after
     * which the hosts file still answers. At most 10. */
    int dns_tries;
    /* DNS queries with the servers at once, at most; 0: 64. The number
     * sent adapts below it (starts at 16, halves on timeouts). */
    int dns_max_inflight;
    /* Happy Eyeballs connection-attempt delay in seconds; 0 tries targets
     * strictly one at a time, as AnyEvent does. anysock_config_init sets
     * the RFC 8305 default, 0.25. At most 3600. */
    double connect_delay;
    unsigned server_flags;   /* ANYSOCK_SERVER_* */
    /* ---- long-running processes (fields appended; zero keeps 7.17's
     * behaviour) ---- */
    /* The resolver configuration read for the servers when neither
     * dns_servers nor $ANYSOCK_DNS_SERVERS names any; NULL:
     * /etc/resolv.conf. Its metadata (mtime, ctime, size, inode) is
     * checked when a lookup starts, at most once per second and never
     * while idle; on a change a new set of channels is made with the new
     * servers, lookups already started finish on the old set, which is
     * freed once empty, and the TTL cache is emptied. A file that names
     * no "nameserver" (empty or missing) means no servers: lookups then
     * fail at once with ANYSOCK_ENOSERVERS (after the hosts file), where
     * glibc would ask 127.0.0.1 and 7.17 public servers. Explicit servers
     * are never replaced. */
    const char *resolv_conf;
    /* TTL cache of DNS answers, in entries: > 0 on with that bound (LRU
     * eviction); 0: $ANYSOCK_DNS_CACHE (unset, empty or 0: off, as
     * 7.17, which asks every time); < 0: off whatever the environment
     * says. Answers served from it may be up to their TTL old. */
    int dns_cache;
    /* Longest time a positive answer is kept, seconds; 0: 3600. A TTL
     * of 0 is never cached. <= 2^31. */
    double dns_cache_max_ttl;
    /* Longest time NXDOMAIN / NODATA is kept (RFC 2308: the lesser of
     * the SOA's TTL and MINIMUM; without an SOA never), seconds; 0: 300;
     * never more than dns_cache_max_ttl. */
    double dns_cache_max_negative_ttl;
    /* 1: the hosts file first (glibc's "files dns"): a name it lists is
     * answered from it at once, without DNS; 0: $ANYSOCK_HOSTS_FIRST ("1"
     * on, "0" off, unset: off); -1: off whatever the environment says.
     * Off is 7.17's order: DNS first, the hosts file per family after. */
    int hosts_first;
} anysock_config;

/* Fill `cfg` with the defaults (connect_delay 0.25, the rest 0/NULL). */
ANYSOCK_EXTERN void anysock_config_init(anysock_config *cfg);

/* Create a context on `loop`; cfg NULL means anysock_config_init's
 * defaults. Environment variables are read here: a malformed one is
 * ANYSOCK_EENVDNS / EENVHOSTS / EENVPROTO / EENVCACHE / EENVHFIRST; a
 * value out of range (negative,
 * NaN, infinite, above its bound) ANYSOCK_ECONFIG. Returns 0 and sets
 * *out, or an error and leaves *out untouched. */
ANYSOCK_EXTERN int anysock_ctx_new(struct ev_loop *loop,
                                   const anysock_config *cfg,
                                   anysock_ctx **out);

/* Cancel everything pending on ctx (no callback runs after this), close
 * the c-ares channel and free. Guards still held by the caller become
 * invalid: do not cancel them afterwards. NULL is a no-op. */
ANYSOCK_EXTERN void anysock_ctx_free(anysock_ctx *ctx);

ANYSOCK_EXTERN struct ev_loop *anysock_ctx_loop(const anysock_ctx *ctx);

/* ---- resolver -------------------------------------------------------------- */

/* One address to try: arguments for socket() and connect()/bind(). */
typedef struct anysock_target {
    int family;   /* AF_INET, AF_INET6, AF_UNIX */
    int socktype; /* SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET */
    int protocol; /* 6 tcp, 17 udp, 132 sctp, 0 for AF_UNIX */
    anysock_sockaddr addr;
} anysock_target;

/* status 0 with count >= 1; otherwise count 0 and status -ENXIO (no such
 * name, no data, no usable target), ANYSOCK_EDNSTIMEOUT (no server
 * answered in time), ANYSOCK_EDNSCONN (every server's socket failed: port
 * closed, TCP connection refused or reset), ANYSOCK_ESERVFAIL,
 * ANYSOCK_EREFUSED, ANYSOCK_EBADRESP (malformed reply), ANYSOCK_ENOSERVERS
 * (the configuration names no DNS server: at once, no query),
 * ANYSOCK_EDNS (another DNS failure) or -ENOMEM: a DNS failure never
 * reads like a connection failure. `targets` is borrowed until the callback returns. */
typedef void (*anysock_resolve_cb)(void *data, int status,
                                   const anysock_target *targets,
                                   size_t count);

/* AnyEvent::Socket::resolve_sockaddr. node: a host name, IDN, numeric
 * address, "localhost" or "unix/"; service: a port number, a service name
 * (SRV is tried when node is a name too), "name=port", or for "unix/" an
 * absolute path. proto: "tcp" (NULL), "udp" or "sctp". family: 0 any, 4 or
 * 6. socktype: 0 means SOCK_DGRAM for udp, else SOCK_STREAM.
 * Returns 0 and calls `cb` exactly once later (unless cancelled), or returns
 * an error (ANYSOCK_ESERVICE, ANYSOCK_EPROTOCOL, -EINVAL, -ENAMETOOLONG for
 * a unix path longer than sun_path, -ENOMEM) and never calls it. A name
 * DNS cannot carry (over 253 characters, a label over 63 or empty) is
 * -EINVAL here, before any query; so is a name with a backslash (c-ares
 * would read it as an escape and ask another name). Each DNS question
 * has the deadline of anysock_config.dns_tries from its first send, so a
 * lookup that asks SRV first (then A and AAAA) takes at most two. See
 * ANYSOCK_RESOLVE_MAX_SRV for what a lookup keeps. guard may be NULL: the
 * operation then frees itself. With anysock_config.hosts_first a name the
 * hosts file lists is answered from it without DNS (inet_aton too); with
 * dns_cache answers may come from the TTL cache, up to their TTL old (the
 * callback still runs from the loop). A lookup start is also when a
 * changed resolv.conf is noticed (anysock_config.resolv_conf). */
ANYSOCK_EXTERN int anysock_resolve_sockaddr(anysock_ctx *ctx,
                                            const char *node,
                                            const char *service,
                                            const char *proto, int family,
                                            int socktype,
                                            anysock_resolve_cb cb, void *data,
                                            anysock_guard **guard);

/* status 0 with count >= 1 addresses (AF_INET / AF_INET6), in protocol
 * preference order; else count 0 and a status as for resolve. */
typedef void (*anysock_inet_aton_cb)(void *data, int status,
                                     const anysock_addr *addrs, size_t count);

/* AnyEvent::Socket::inet_aton: a numeric name gives itself, "localhost"
 * 127.0.0.1 and ::1, anything else A and AAAA records. */
ANYSOCK_EXTERN int anysock_inet_aton(anysock_ctx *ctx, const char *name,
                                     anysock_inet_aton_cb cb, void *data,
                                     anysock_guard **guard);

/* Caps on what one lookup keeps, so that a hostile zone cannot make it do
 * more than a caller can use (anysock_tcp_connect tries at most
 * ANYSOCK_CONNECT_MAX_ATTEMPTS targets per family; 7.17 keeps
 * everything): the first ANYSOCK_RESOLVE_MAX_SRV SRV
 * targets in SRV order, and the first ANYSOCK_RESOLVE_MAX_ADDRS addresses
 * of each family for each target (from DNS or the hosts file). */
#define ANYSOCK_RESOLVE_MAX_SRV 64
#define ANYSOCK_RESOLVE_MAX_ADDRS 64

/* Whether one family of a resolve_sockaddr or inet_aton lookup failed,
 * which its callback cannot show when the other family answered (or the
 * name looks like one with a single family). Valid from inside the
 * callback and until the guard is cancelled; the lookup needs a guard.
 * Returns 0 when every question for `family` (AF_INET or AF_INET6) so far
 * ended with addresses (DNS or the hosts file), a definite "none", or was
 * not asked; else the first failure among them (ANYSOCK_EDNSTIMEOUT,
 * ANYSOCK_ESERVFAIL, ANYSOCK_EREFUSED, ANYSOCK_EDNSCONN, ANYSOCK_EBADRESP,
 * -ENOMEM, ...); -EINVAL for another guard or family. */
ANYSOCK_EXTERN int anysock_resolve_family_status(const anysock_guard *guard,
                                                 int family);

/* ---- connections ------------------------------------------------------------- */

/* status 0: `fd` is connected, non-blocking, close-on-exec and now the
 * caller's; host/port name the peer (host borrowed for the call).
 * status < 0: every target failed; fd is -1, host NULL; the status is the
 * last attempt's error; when nothing could be tried, the resolution's
 * status: -ENXIO (no such name / no data), ANYSOCK_EDNSTIMEOUT (no DNS
 * server answered), ANYSOCK_ESERVFAIL, ANYSOCK_EREFUSED, ANYSOCK_EDNSCONN
 * (the DNS server's port closed, its TCP connection failed), ...; with an
 * overall deadline that expired, -ETIMEDOUT. */
typedef void (*anysock_connect_cb)(void *data, int status, int fd,
                                   const char *host, unsigned port);

/* Called with each attempt's fresh socket before connect(); may bind or set
 * options. Returns that attempt's timeout in seconds, 0 for none. */
typedef double (*anysock_prepare_cb)(void *data, int fd);

/* AnyEvent::Socket::tcp_connect with Happy Eyeballs v2 (RFC 8305 §3-§5):
 * A and AAAA are asked together and connecting starts as soon as the
 * preferred family has answered (or the Resolution Delay after the other
 * family's answer); families interleave, later answers join the race, and
 * the next attempt starts whenever the running ones have not connected
 * within the context's connect_delay (0: one at a time, in 7.17's order).
 * The first connection wins; every other attempt and lookup is stopped.
 * README "The connection model" has the timeouts' exact start and end.
 * Returns 0 and calls connect_cb later (unless cancelled), or an error
 * (ANYSOCK_ESERVICE, -EINVAL, -ENOMEM) and never calls it.
 * After a success the guard stays usable for anysock_tcp_connect_retry
 * until cancelled. guard may be NULL. */
ANYSOCK_EXTERN int anysock_tcp_connect(anysock_ctx *ctx, const char *host,
                                       const char *service,
                                       anysock_connect_cb connect_cb,
                                       anysock_prepare_cb prepare_cb,
                                       void *data, anysock_guard **guard);

/* Reject the connection just handed to connect_cb (AnyEvent's fourth
 * argument): the caller keeps and closes that fd; the remaining targets
 * are tried and connect_cb runs again later (a lookup still running at
 * the win was stopped: only addresses known then are left). With nothing
 * left it gets the last attempt's error, -ECONNABORTED when every
 * connection was rejected. Returns 0, or -EINVAL when the guard's
 * operation has not just succeeded. */
ANYSOCK_EXTERN int anysock_tcp_connect_retry(anysock_guard *guard);

/* A new connection: fd is non-blocking, close-on-exec and the caller's;
 * host/port name the peer ("unix/" and 0 for unix sockets). status < 0 only
 * reports an accept error the server survived (fd -1, host NULL). */
typedef void (*anysock_accept_cb)(void *data, int status, int fd,
                                  const char *host, unsigned port);

/* Called after bind, before listen, with the bound address (for unix/:
 * "unix/" and port 0). Returns the listen backlog, 0 for the default. */
typedef int (*anysock_listen_prepare_cb)(void *data, int fd,
                                         const char *host, unsigned port);

/* AnyEvent::Socket::tcp_server. host: an IPv4 or IPv6 address, "unix/"
 * (service is then the socket path), or NULL for every address on IPv6 and
 * IPv4 (one dual-stack socket where possible). service: a port number, a
 * service name, or NULL/"0" for an ephemeral port.
 * Every error up to listen() is returned here (the path exists and is not
 * a socket: ANYSOCK_ENOTSOCK); on 0 the socket is listening.
 * Cancelling the guard stops accepting, closes the listener and removes a
 * unix socket file if it is still the one created. guard may be NULL: the
 * server then runs until anysock_ctx_free. */
ANYSOCK_EXTERN int anysock_tcp_server(anysock_ctx *ctx, const char *host,
                                      const char *service,
                                      anysock_accept_cb accept_cb,
                                      anysock_listen_prepare_cb prepare_cb,
                                      void *data, anysock_guard **guard);

/* AnyEvent::Socket::tcp_bind: the same set-up, but the listening fd is
 * handed back in *fd (the caller's) instead of being accepted on.
 * The guard only removes the unix socket file when cancelled; with a NULL
 * guard the file is left in place. */
ANYSOCK_EXTERN int anysock_tcp_bind(anysock_ctx *ctx, const char *host,
                                    const char *service,
                                    anysock_listen_prepare_cb prepare_cb,
                                    void *data, int *fd,
                                    anysock_guard **guard);

/* TCP_NODELAY on or off. Returns 0 or a negated errno. */
ANYSOCK_EXTERN int anysock_tcp_nodelay(int fd, int on);

/* TCP_CONGESTION (e.g. "cubic", "reno"). Returns 0 or a negated errno. */
ANYSOCK_EXTERN int anysock_tcp_congestion(int fd, const char *name);

/* ---- per-call options (one type per direction) --------------------------
 *
 * ABI: each options struct starts with `size`, set by its _init function
 * to sizeof the struct the caller was compiled against. Fields are only
 * ever appended; the library reads only the fields that fit in `size` and
 * uses defaults for the rest, so a program built against an older header
 * keeps working with a newer library. Always call the _init function. */

/* Phases that can end an attempt (anysock_attempt.phase). */
enum anysock_phase {
    ANYSOCK_PHASE_RESOLVE = 1,  /* resolution gave nothing for it */
    ANYSOCK_PHASE_SOCKET,       /* socket() or a transport option failed */
    ANYSOCK_PHASE_PREPARE,      /* prepare_cb's timeout expired */
    ANYSOCK_PHASE_CONNECT,      /* connect() reported an error */
    ANYSOCK_PHASE_DEADLINE,     /* the overall deadline expired */
    ANYSOCK_PHASE_CANCEL,       /* another attempt won, or the guard */
    ANYSOCK_PHASE_WON
};

/* One connection attempt, for the failure report and the trace. */
typedef struct anysock_attempt {
    int family;                 /* AF_INET, AF_INET6, AF_UNIX */
    anysock_addr addr;
    uint16_t port;
    int status;                 /* 0 (won / still running) or an error */
    int phase;                  /* ANYSOCK_PHASE_*, 0 while running */
    double started;             /* seconds since the call started */
    double duration;            /* seconds it ran */
} anysock_attempt;

/* Trace events (anysock_trace_cb's `event`). */
enum anysock_trace_event {
    ANYSOCK_TRACE_ANSWER = 1,   /* a family answered: family, count, status */
    ANYSOCK_TRACE_ATTEMPT_START,
    ANYSOCK_TRACE_ATTEMPT_FAIL,
    ANYSOCK_TRACE_ATTEMPT_WON,
    ANYSOCK_TRACE_TRANSPORT     /* status 1: MPTCP in use, 0: plain TCP */
};

typedef struct anysock_trace {
    int event;                  /* ANYSOCK_TRACE_* */
    double elapsed;             /* seconds since the call started */
    int family;                 /* ANSWER: AF_INET / AF_INET6 */
    size_t count;               /* ANSWER: addresses in this answer */
    int status;                 /* ANSWER / ATTEMPT_FAIL: 0 or an error */
    const anysock_attempt *attempt; /* ATTEMPT_*: borrowed for the call */
} anysock_trace;

typedef void (*anysock_trace_cb)(void *data, const anysock_trace *ev);

/* Client transport flags (anysock_connect_opts.flags).
 * Transport options apply to TCP targets only (a unix/ target gets a plain
 * socket) and are set on every attempt's socket before prepare_cb, which
 * can still override them. An option the kernel refuses fails that
 * attempt with its errno (phase ANYSOCK_PHASE_SOCKET); the others go on.
 * - MPTCP: falls back to plain TCP when the kernel lacks MPTCP or
 *   net.mptcp.enabled is 0; ANYSOCK_TRACE_TRANSPORT says which was used.
 * - FASTOPEN: TCP_FASTOPEN_CONNECT (Linux 4.11+; ignored where missing).
 *   With a cached cookie connect() succeeds before any packet is sent, so
 *   it cannot be a Happy Eyeballs signal. Rule: an attempt uses TFO only
 *   when resolution is complete and gave exactly one target; with more
 *   targets (or while answers are still pending) no attempt uses it.
 *   With TFO, connect_cb may run before the handshake: a refused or
 *   unreachable peer shows up as an error on the first write or read.
 * - bind_addr: "addr" or "addr:port" ("[v6]:port"). Without a port the
 *   kernel picks it at connect() (IP_BIND_ADDRESS_NO_PORT, Linux 4.2+);
 *   with one SO_REUSEADDR is set. An attempt of the other family fails
 *   with -EAFNOSUPPORT.
 * - interface: SO_BINDTODEVICE; where that needs a privilege the process
 *   lacks (CAP_NET_RAW before Linux 5.7) IP_UNICAST_IF/IPV6_UNICAST_IF,
 *   which steer outgoing routing only. Unknown name: -ENODEV. */
#define ANYSOCK_CONNECT_MPTCP    0x1u  /* IPPROTO_MPTCP, TCP fallback */
#define ANYSOCK_CONNECT_FASTOPEN 0x2u  /* TCP_FASTOPEN_CONNECT */
#define ANYSOCK_CONNECT_NODELAY  0x4u  /* TCP_NODELAY at creation */
#define ANYSOCK_CONNECT_NOSRV    0x8u  /* never ask SRV first */

/* The Resolution Delay used when anysock_connect_opts.resolution_delay
 * is < 0: 50 ms, RFC 8305's recommendation. curl went to 25 ms after
 * Mozilla measured a P99 gap of 21 ms between A and AAAA answers; we keep
 * the RFC's value because here the cost of waiting a little longer is
 * paid only when the non-preferred family answers first AND the preferred
 * one is late or broken, while 25 ms leaves almost no margin over that
 * P99 on slower resolver paths (the gap grows with the resolver's RTT).
 * A preferred answer that misses the delay is not lost either: it joins
 * the race at the next attempt-delay step. */
#define ANYSOCK_RESOLUTION_DELAY_DEFAULT 0.05

typedef struct anysock_connect_opts {
    size_t size;                /* set by anysock_connect_opts_init */
    /* timeouts, seconds; < 0 means "the default" */
    /* whole call, from the start call to the callback (resolution and
     * every attempt); on expiry everything stops and the callback gets
     * -ETIMEDOUT. 0 none (default) */
    double deadline;
    /* RFC 8305 §5 stagger: from one attempt's start to the next one's
     * (a failed attempt starts the next at once); < 0: the ctx's
     * connect_delay; 0: one at a time */
    double attempt_delay;
    /* RFC 8305 §3: from the first answer, how long to wait for the
     * preferred family when the other answered first; < 0:
     * ANYSOCK_RESOLUTION_DELAY_DEFAULT */
    double resolution_delay;
    int first_family_count;     /* RFC 8305 §4; 0: 1 */
    int family;                 /* 0 any, 4, 6 */
    const char *protocols;      /* NULL: ctx's; as anysock_config */
    anysock_trace_cb trace;     /* NULL costs nothing */
    void *trace_data;
    /* transport, applied to every attempt's socket before prepare_cb */
    unsigned flags;             /* ANYSOCK_CONNECT_* */
    int keepalive;              /* 1 on: SO_KEEPALIVE; 0 leave as is;
                                 * others, or unknown flags: -EINVAL */
    int keepidle, keepintvl, keepcnt; /* seconds / count; 0 system's */
    unsigned user_timeout_ms;   /* TCP_USER_TIMEOUT; 0 leave as is */
    const char *bind_addr;      /* source "addr" or "addr:port"; NULL */
    const char *interface;      /* SO_BINDTODEVICE name; NULL */
} anysock_connect_opts;

ANYSOCK_EXTERN void anysock_connect_opts_init(anysock_connect_opts *o);

/* anysock_tcp_connect with options (NULL: the defaults, which make it
 * exactly anysock_tcp_connect). Returns -EINVAL for an invalid option. */
ANYSOCK_EXTERN int anysock_tcp_connect_ex(anysock_ctx *ctx, const char *host,
                                          const char *service,
                                          const anysock_connect_opts *opts,
                                          anysock_connect_cb connect_cb,
                                          anysock_prepare_cb prepare_cb,
                                          void *data, anysock_guard **guard);

/* Every attempt of a tcp_connect so far, oldest first: copies up to `max`
 * into `out` and returns how many there were. Valid from inside the
 * operation's connect_cb (the guard is still live there) and until the
 * guard is cancelled. A family whose lookup gave nothing appears as a row
 * with that family, no address (addr.family 0), its status and phase
 * ANYSOCK_PHASE_RESOLVE. An attempt closed because another won and
 * started again after anysock_tcp_connect_retry is listed once, by its
 * latest run. At most ANYSOCK_CONNECT_MAX_ATTEMPTS attempts are made per
 * family (IPv4, IPv6; a unix/ path is one), so there are at most
 * ANYSOCK_CONNECT_REPORT_MAX rows: every attempt plus up to 8 resolution
 * rows (a failed or empty family, or addresses dropped because 256 of
 * better SRV order were already kept: -ENOSPC); later resolution rows
 * are not kept. */
#define ANYSOCK_CONNECT_MAX_ATTEMPTS 64
#define ANYSOCK_CONNECT_REPORT_MAX (2 * ANYSOCK_CONNECT_MAX_ATTEMPTS + 8)
ANYSOCK_EXTERN size_t anysock_connect_report(const anysock_guard *guard,
                                             anysock_attempt *out,
                                             size_t max);

/* Server flags (anysock_server_opts.flags); REUSEPORT as server_flags
 * (either one turns it on). MPTCP falls back to plain TCP where the
 * kernel lacks it or net.mptcp.enabled is 0, and where an MPTCP socket
 * refuses a requested option. Every IPv6 listener gets an explicit
 * IPV6_V6ONLY: 1 with ANYSOCK_LISTEN_V6ONLY, or for host NULL when the
 * protocol preference allows only IPv6; else 0 (dual-stack on "::",
 * whatever net.ipv6.bindv6only says). */
#define ANYSOCK_LISTEN_MPTCP     0x2u  /* IPPROTO_MPTCP, TCP fallback */
#define ANYSOCK_LISTEN_V6ONLY    0x4u  /* IPV6_V6ONLY on an IPv6 host */

typedef struct anysock_server_opts {
    size_t size;                /* set by anysock_server_opts_init */
    unsigned flags;             /* ANYSOCK_SERVER_REUSEPORT, _LISTEN_* */
    int backlog;                /* prepare_cb's if > 0, else this if
                                   > 0, else SOMAXCONN */
    int fastopen_qlen;          /* TCP_FASTOPEN queue; 0 off */
    int defer_accept;           /* TCP_DEFER_ACCEPT seconds; 0 off */
    /* Accepts per wake-up (0: 64). The rest wait for the next loop
     * iteration, so a connect flood cannot starve other watchers. */
    int accept_budget;
} anysock_server_opts;

/* Zero everything and set size. */
ANYSOCK_EXTERN void anysock_server_opts_init(anysock_server_opts *o);

/* anysock_tcp_server / anysock_tcp_bind with options (NULL: defaults,
 * which make them exactly the plain calls). -EINVAL for a negative value
 * or an unknown flag; an option the kernel refuses is its errno, with
 * nothing left open.
 * A unix path whose socket still answers a connect() (another running
 * server) is -EADDRINUSE and left alone; a stale one is replaced. With
 * a service "@name" the socket is abstract: no file is created, checked
 * or removed, and a name in use is -EADDRINUSE.
 * anysock_ctx_free from inside prepare_cb (of these or the plain calls)
 * is allowed: the call then returns -ECANCELED with nothing left open
 * and must not touch ctx again. */
ANYSOCK_EXTERN int anysock_tcp_server_ex(anysock_ctx *ctx, const char *host,
                                         const char *service,
                                         const anysock_server_opts *opts,
                                         anysock_accept_cb accept_cb,
                                         anysock_listen_prepare_cb prepare_cb,
                                         void *data, anysock_guard **guard);

ANYSOCK_EXTERN int anysock_tcp_bind_ex(anysock_ctx *ctx, const char *host,
                                       const char *service,
                                       const anysock_server_opts *opts,
                                       anysock_listen_prepare_cb prepare_cb,
                                       void *data, int *fd,
                                       anysock_guard **guard);

/* Serve an already listening stream socket with the same accept loop
 * (budget, EMFILE handling) as tcp_server; opts' accept_budget,
 * fastopen_qlen and defer_accept apply (flags and backlog do not: the
 * socket exists). The fd is made non-blocking and close-on-exec. On 0
 * the library owns fd and closes it when the guard is cancelled (nothing
 * is unlinked); on error (-EBADF, -ENOTSOCK, -EPROTOTYPE for a
 * non-stream socket, -EINVAL when it is not listening) it stays the
 * caller's. */
ANYSOCK_EXTERN int anysock_tcp_server_adopt(anysock_ctx *ctx, int fd,
                                            const anysock_server_opts *opts,
                                            anysock_accept_cb accept_cb,
                                            void *data, anysock_guard **guard);

/* systemd socket activation without libsystemd: checks LISTEN_PID and
 * LISTEN_FDS, that each fd from 3 is a listening stream socket, and makes
 * it non-blocking and close-on-exec. Writes up to `max` fds and, when
 * names is not NULL, LISTEN_FDNAMES entries: names[i] points at entry i
 * inside the environment string, which ends at the next ':' or NUL (use
 * strcspn(names[i], ":")), or at a static "unknown" when absent. With
 * unset_env the variables are removed as sd_listen_fds(1) does (even on
 * error; not thread-safe, like unsetenv). Returns the count, which may
 * exceed max; 0 when not activated (no LISTEN_PID/LISTEN_FDS, or a
 * LISTEN_PID that is not this process: meant for another one); -EINVAL
 * for a malformed value; an fd that is not a listening stream socket is
 * -EBADF, -ENOTSOCK, -EPROTOTYPE or -EINVAL as for adopt. */
ANYSOCK_EXTERN int anysock_listen_fds(int unset_env, int *fds,
                                      const char **names, size_t max);

/* ---- statistics ------------------------------------------------------------ */

typedef struct anysock_ctx_stats {
    size_t size;                /* caller sets sizeof; fields as above */
    size_t ops_live;            /* pending operations */
    size_t guards_finished;     /* finished, guard not yet cancelled */
    size_t dns_queued;          /* DNS queries waiting to be sent */
    size_t dns_inflight;        /* DNS queries with the servers */
    size_t servers;             /* listening servers */
    size_t attempts;            /* connection attempts in progress */
    /* the TTL cache (anysock_config.dns_cache), per DNS question (A,
     * AAAA, SRV): answered from it, asked the servers, and live entries
     * pushed out by the bound (expired ones are not counted); all 0 with
     * the cache off */
    uint64_t cache_hits, cache_misses, cache_evictions;
} anysock_ctx_stats;

/* Fill `st` (set st->size = sizeof *st first; a smaller size from an
 * older header gets the fields that fit). For watching leaks: a finished
 * operation keeps its memory (a few hundred bytes) until its guard is
 * cancelled, and guards_finished counts those guards, so a program that
 * forgets anysock_guard_cancel sees it grow. ops_live counts operations
 * not finished yet (servers included; a tcp_connect is one, its own
 * lookup is not counted apart, only its queries in dns_*); unguarded
 * operations free
 * themselves and are never in guards_finished. Costs O(live operations).
 * Returns 0, or -EINVAL for a NULL argument or a size below sizeof(size_t). */
ANYSOCK_EXTERN int anysock_ctx_stats_get(const anysock_ctx *ctx,
                                         anysock_ctx_stats *st);

/* ---- guards -------------------------------------------------------------------- */

/* Stop the operation if still pending (no callback will run, its fds are
 * closed, its watchers stopped), free it, and set *guard to NULL. Safe from
 * inside any callback, the operation's own included; NULL or *guard NULL
 * is a no-op. Every guard handed out must be cancelled exactly once: a
 * finished operation's memory stays until then (anysock_ctx_stats's
 * guards_finished counts it); pass a NULL guard to have an operation free
 * itself after its callback. */
ANYSOCK_EXTERN void anysock_guard_cancel(anysock_guard **guard);

#ifdef __cplusplus
}
#endif

#endif /* ANYSOCK_H */
