/* anysock resolve [-4|-6] [--proto tcp|udp] [--type stream|dgram|seqpacket]
 *                 [--dns-server ADDR[:PORT]] [--cache] [--hosts-first]
 *                 NODE SERVICE
 * One line per target: FAMILY TYPE PROTO HOST SERVICE (CLI.md). */
#include <anysock.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct result {
    struct ev_loop *loop;
    int status;
    int printed;
    int done;
};

static const char *family_word(int family)
{
    return family == AF_INET ? "inet" : family == AF_INET6 ? "inet6"
                                                           : "unix";
}

static const char *type_word(int type)
{
    return type == SOCK_DGRAM ? "dgram" : type == SOCK_SEQPACKET
                                              ? "seqpacket" : "stream";
}

static void on_resolved(void *data, int status, const anysock_target *t,
                        size_t n)
{
    struct result *r = data;

    r->done = 1;
    r->status = status;
    /* queries c-ares still holds (e.g. after the lookup deadline) must
     * not keep us waiting: ctx_free ends them */
    ev_break(r->loop, EVBREAK_ALL);
    for (size_t i = 0; i < n; i++) {
        anysock_addr a;
        uint16_t port;
        const char *path;
        size_t pathlen;
        char host[ANYSOCK_ADDRESS_STRLEN];

        if (anysock_unpack_sockaddr(&t[i].addr.u.sa, t[i].addr.len, &a,
                                    &port, &path, &pathlen) < 0 ||
            anysock_format_address(&a, host, sizeof host) < 0)
            continue;
        if (t[i].family == AF_UNIX)
            printf("unix %s 0 unix/ %.*s\n", type_word(t[i].socktype),
                   (int)pathlen, path);
        else
            printf("%s %s %d %s %u\n", family_word(t[i].family),
                   type_word(t[i].socktype), t[i].protocol, host,
                   (unsigned)port);
        r->printed++;
    }
}

/* "--name VALUE" or "--name=VALUE"; advances *i past what it used. */
static const char *opt_value(int argc, char **argv, int *i, const char *name)
{
    size_t n = strlen(name);

    if (strncmp(argv[*i], name, n) != 0)
        return NULL;
    if (argv[*i][n] == '=')
        return argv[*i] + n + 1;
    if (argv[*i][n] == '\0' && *i + 1 < argc)
        return argv[++*i];
    return NULL;
}

int cli_resolve(int argc, char **argv)
{
    const char *proto = "tcp", *dns = NULL, *pos[2], *v;
    int family = 0, socktype = 0, npos = 0, rc, cache = 0, hfirst = 0;
    struct ev_loop *loop;
    anysock_config cfg;
    anysock_ctx *ctx;
    struct result r = {NULL, 0, 0, 0};

    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "-4") == 0) {
            family = 4;
        } else if (strcmp(a, "-6") == 0) {
            family = 6;
        } else if ((v = opt_value(argc, argv, &i, "--proto")) != NULL) {
            if (strcmp(v, "tcp") != 0 && strcmp(v, "udp") != 0 &&
                strcmp(v, "sctp") != 0)
                return cli_usage();
            proto = v;
        } else if ((v = opt_value(argc, argv, &i, "--type")) != NULL) {
            if (strcmp(v, "stream") == 0)
                socktype = SOCK_STREAM;
            else if (strcmp(v, "dgram") == 0)
                socktype = SOCK_DGRAM;
            else if (strcmp(v, "seqpacket") == 0)
                socktype = SOCK_SEQPACKET;
            else
                return cli_usage();
        } else if ((v = opt_value(argc, argv, &i, "--dns-server")) != NULL) {
            dns = v;
        } else if (strcmp(a, "--cache") == 0) {
            cache = 1;
        } else if (strcmp(a, "--hosts-first") == 0) {
            hfirst = 1;
        } else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++) {
                if (npos == 2)
                    return cli_usage();
                pos[npos++] = argv[i];
            }
        } else if (a[0] == '-' && a[1] != '\0' && a[1] != '-' &&
                   strcmp(a, "-") != 0) {
            return cli_usage();
        } else if (a[0] == '-' && a[1] == '-') {
            return cli_usage();
        } else {
            if (npos == 2)
                return cli_usage();
            pos[npos++] = a;
        }
    }
    if (npos != 2)
        return cli_usage();

    anysock_config_init(&cfg);
    cfg.dns_servers = dns;
    /* the TTL cache and hosts-first order (issue 17); without the flags
     * the environment still decides */
    if (cache)
        cfg.dns_cache = 256;
    if (hfirst)
        cfg.hosts_first = 1;
    loop = ev_loop_new(EVFLAG_AUTO);
    if (loop == NULL) {
        fputs("anysock: cannot create an event loop\n", stderr);
        return 1;
    }
    rc = anysock_ctx_new(loop, &cfg, &ctx);
    if (rc < 0) {
        if (rc == ANYSOCK_ECONFIG && dns != NULL)
            fprintf(stderr, "anysock: --dns-server %s: malformed\n", dns);
        else
            fprintf(stderr, "anysock: %s\n", anysock_strerror(rc));
        ev_loop_destroy(loop);
        return 1;
    }
    r.loop = loop;
    rc = anysock_resolve_sockaddr(ctx, pos[0], pos[1], proto, family,
                                  socktype, on_resolved, &r, NULL);
    if (rc == 0)
        ev_run(loop, 0);
    else
        r.status = rc;
    anysock_ctx_free(ctx);
    ev_loop_destroy(loop);
    if (fflush(stdout) != 0)
        return 1;
    if (r.printed > 0)
        return 0;
    fprintf(stderr, "anysock: %s %s: %s\n", pos[0], pos[1],
            anysock_strerror(r.status < 0 ? r.status : -ENXIO));
    return 1;
}
