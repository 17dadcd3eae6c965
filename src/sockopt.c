/* Transport options for client sockets (every tcp_connect attempt) and
 * the MPTCP-with-fallback socket shared with the server side.
 *
 * Everything here is Linux socket options applied to a fresh socket
 * before connect(); see the README's "Transport options" section for the
 * kernel version each needs and what happens where it is missing. */
#include "internal.h"

#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#ifndef TCP_FASTOPEN_CONNECT
#define TCP_FASTOPEN_CONNECT 30
#endif
#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif
#ifndef IP_UNICAST_IF
#define IP_UNICAST_IF 50
#endif
#ifndef IPV6_UNICAST_IF
#define IPV6_UNICAST_IF 76
#endif

/* Bounds the kernel itself enforces (net/ipv4/tcp.c); checking them here
 * turns a per-attempt EINVAL into one up-front -EINVAL. */
#define KEEPIDLE_MAX 32767
#define KEEPINTVL_MAX 32767
#define KEEPCNT_MAX 127

static int set_int(int fd, int level, int name, int value)
{
    return setsockopt(fd, level, name, &value, sizeof value) < 0 ? -errno
                                                                 : 0;
}

int anysock__tcp_socket(int family, int want_mptcp, int *mptcp)
{
    int fd;

    *mptcp = 0;
    if (want_mptcp) {
        fd = anysock__socket(family, SOCK_STREAM, IPPROTO_MPTCP);
        if (fd >= 0) {
            *mptcp = 1;
            return fd;
        }
        /* Kernel without MPTCP (EPROTONOSUPPORT before 5.6, or built
         * without it), net.mptcp.enabled=0 (ENOPROTOOPT), or a family
         * it does not do (EINVAL): plain TCP, as Go and curl do. */
        if (fd != -EPROTONOSUPPORT && fd != -EINVAL && fd != -ENOPROTOOPT)
            return fd;
    }
    return anysock__socket(family, SOCK_STREAM, 0);
}

/* "addr", "addr:port", "[v6]:port" into a sockaddr. Returns 0 or -EINVAL. */
static int parse_bind(const char *s, anysock_sockaddr *out)
{
    anysock_hostport hp;
    anysock_addr a;
    unsigned long port = 0;
    size_t i;

    if (anysock_parse_hostport(s, strlen(s), "0", 1, &hp) < 0 ||
        hp.portlen == 0 || hp.portlen > 5)
        return -EINVAL;
    for (i = 0; i < hp.portlen; i++) {
        if (hp.port[i] < '0' || hp.port[i] > '9')
            return -EINVAL;
        port = port * 10 + (unsigned long)(hp.port[i] - '0');
    }
    if (port > 65535 || anysock_parse_address(hp.host, hp.hostlen, &a) < 0 ||
        (a.family != AF_INET && a.family != AF_INET6))
        return -EINVAL;
    return anysock_pack_sockaddr(&a, (uint16_t)port, NULL, 0, out);
}

int anysock__connect_opts_check(const anysock_connect_opts *o)
{
    anysock_sockaddr sa;

    if (o == NULL)
        return 0;
    /* as tcp_server_ex: an unknown bit or value is a caller's bug, not
     * something to ignore silently */
    if ((o->flags & ~(ANYSOCK_CONNECT_MPTCP | ANYSOCK_CONNECT_FASTOPEN |
                      ANYSOCK_CONNECT_NODELAY | ANYSOCK_CONNECT_NOSRV)) != 0 ||
        (o->keepalive != 0 && o->keepalive != 1))
        return -EINVAL;
    if (o->keepidle < 0 || o->keepidle > KEEPIDLE_MAX ||
        o->keepintvl < 0 || o->keepintvl > KEEPINTVL_MAX ||
        o->keepcnt < 0 || o->keepcnt > KEEPCNT_MAX ||
        o->user_timeout_ms > 0x7fffffffu)
        return -EINVAL;
    if (o->bind_addr != NULL && parse_bind(o->bind_addr, &sa) < 0)
        return -EINVAL;
    if (o->interface != NULL &&
        (o->interface[0] == '\0' || strlen(o->interface) >= IF_NAMESIZE))
        return -EINVAL;
    return 0;
}

/* SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7; without it the
 * unicast-if options steer the route (not the receive side) instead. */
static int bind_interface(int fd, int family, const char *name)
{
    unsigned idx;
    int rc;

    rc = setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, name,
                    (socklen_t)strlen(name) + 1) < 0 ? -errno : 0;
    if (rc != -EPERM && rc != -EACCES)
        return rc;
    idx = if_nametoindex(name);
    if (idx == 0)
        return -ENODEV;
    /* both take the index in network byte order (ip(7), ipv6(7)) */
    if (family == AF_INET)
        return set_int(fd, IPPROTO_IP, IP_UNICAST_IF, (int)htonl(idx));
    return set_int(fd, IPPROTO_IPV6, IPV6_UNICAST_IF, (int)htonl(idx));
}

/* Every option but the socket itself. Returns 0 or a negated errno. */
static int apply(int fd, const anysock_connect_opts *o, int family,
                 int fastopen)
{
    anysock_sockaddr sa;
    int rc;

    if ((o->flags & ANYSOCK_CONNECT_NODELAY) &&
        (rc = set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1)) < 0)
        return rc;
    if (o->keepalive > 0) {
        if ((rc = set_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1)) < 0)
            return rc;
        if (o->keepidle > 0 &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, o->keepidle)) < 0)
            return rc;
        if (o->keepintvl > 0 &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPINTVL, o->keepintvl)) < 0)
            return rc;
        if (o->keepcnt > 0 &&
            (rc = set_int(fd, IPPROTO_TCP, TCP_KEEPCNT, o->keepcnt)) < 0)
            return rc;
    }
    if (o->user_timeout_ms > 0 &&
        (rc = set_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT,
                      (int)o->user_timeout_ms)) < 0)
        return rc;
    if (o->interface != NULL &&
        (rc = bind_interface(fd, family, o->interface)) < 0)
        return rc;
    if (o->bind_addr != NULL) {
        if ((rc = parse_bind(o->bind_addr, &sa)) < 0)
            return rc;
        /* An IPv4 source cannot serve an IPv6 target or the reverse:
         * this attempt fails, the other family's still run. */
        if (sa.u.sa.sa_family != family)
            return -EAFNOSUPPORT;
        if (family == AF_INET ? sa.u.in.sin_port == 0
                              : sa.u.in6.sin6_port == 0) {
            /* Defer the port choice to connect(), so the 4-tuple, not
             * the address alone, must be unique (Linux 4.2+). */
            (void)set_int(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
        } else if ((rc = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1)) < 0) {
            /* a fixed port is reused at once after a close (TIME_WAIT) */
            return rc;
        }
        if (bind(fd, &sa.u.sa, sa.len) < 0)
            return -errno;
    }
    /* Opt-in and only an optimisation: a kernel without it (before 4.11)
     * or an MPTCP socket that refuses it just connects normally. */
    if (fastopen)
        (void)set_int(fd, IPPROTO_TCP, TCP_FASTOPEN_CONNECT, 1);
    return 0;
}

int anysock__connect_socket(const anysock_connect_opts *opts, int family,
                            int socktype, int protocol, int fastopen,
                            int *mptcp)
{
    bool tcp = (family == AF_INET || family == AF_INET6) &&
               socktype == SOCK_STREAM &&
               (protocol == 0 || protocol == IPPROTO_TCP);
    int fd, rc, mp = 0;

    if (mptcp != NULL)
        *mptcp = 0;
    /* unix/ (and anything not TCP) gets a plain socket: these are TCP
     * options, and a unix path has no source address or interface. */
    if (opts == NULL || !tcp)
        return anysock__socket(family, socktype, protocol);
    fd = anysock__tcp_socket(family,
                             (opts->flags & ANYSOCK_CONNECT_MPTCP) != 0, &mp);
    if (fd < 0)
        return fd;
    rc = apply(fd, opts, family, fastopen);
    if (rc < 0 && mp && (rc == -EOPNOTSUPP || rc == -ENOPROTOOPT)) {
        /* An older MPTCP socket refuses some TCP options (keepalive
         * details before 6.x): the options matter more, use TCP. */
        anysock__close(fd);
        mp = 0;
        fd = anysock__socket(family, SOCK_STREAM, 0);
        if (fd < 0)
            return fd;
        rc = apply(fd, opts, family, fastopen);
    }
    if (rc < 0) {
        anysock__close(fd);
        return rc;
    }
    if (mptcp != NULL)
        *mptcp = mp;
    return fd;
}
