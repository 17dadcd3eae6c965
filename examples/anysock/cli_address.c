/* anysock parse | format | hostport | format-hostport (contract: CLI.md).
 *
 * Single mode answers one argument; batch mode (argument "-") answers one
 * stdin line per output line, streaming with constant memory. Results are
 * written with fwrite so that NUL and CR bytes pass through unchanged. */
#define _GNU_SOURCE /* getline */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anysock.h"
#include "cli.h"

/* Answer one input; returns 0 with a result, 1 for `undef`. */
typedef int (*answer_fn)(const void *ctx, const char *s, size_t len);

static void out_undef(void)
{
    fputs("undef\n", stdout);
}

static void out_hex(const uint8_t *b, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    char buf[33];

    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = hex[b[i] >> 4];
        buf[2 * i + 1] = hex[b[i] & 15];
    }
    buf[2 * n] = '\n';
    fwrite(buf, 1, 2 * n + 1, stdout);
}

/* Run `fn` over every stdin line (LF removed; a last line without LF
 * counts). Batch mode always exits 0 unless output fails. */
static int batch(answer_fn fn, const void *ctx)
{
    static char obuf[1 << 16];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

    setvbuf(stdout, obuf, _IOFBF, sizeof obuf);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        size_t len = (size_t)n;
        if (line[len - 1] == '\n')
            len--;
        fn(ctx, line, len);
    }
    free(line);
    if (fflush(stdout) != 0 || ferror(stdout) || ferror(stdin)) {
        perror("anysock");
        return 1;
    }
    return 0;
}

static int run(answer_fn fn, const void *ctx, const char *arg)
{
    int rc;

    if (strcmp(arg, "-") == 0)
        return batch(fn, ctx);
    rc = fn(ctx, arg, strlen(arg));
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}

/* ---- parse ----------------------------------------------------------- */

static int parse_ipv4(const void *ctx, const char *s, size_t len)
{
    uint8_t b[4];

    (void)ctx;
    if (anysock_parse_ipv4(s, len, b) < 0) {
        out_undef();
        return 1;
    }
    out_hex(b, 4);
    return 0;
}

static int parse_ipv6(const void *ctx, const char *s, size_t len)
{
    uint8_t b[16];

    (void)ctx;
    if (anysock_parse_ipv6(s, len, b) < 0) {
        out_undef();
        return 1;
    }
    out_hex(b, 16);
    return 0;
}

static int print_addr(const anysock_addr *a)
{
    switch (a->family) {
    case AF_INET:
        out_hex(a->bytes, 4);
        return 0;
    case AF_INET6:
        out_hex(a->bytes, 16);
        return 0;
    case AF_UNIX:
        fputs("unix\n", stdout);
        return 0;
    default:
        out_undef();
        return 1;
    }
}

static int parse_unix(const void *ctx, const char *s, size_t len)
{
    anysock_addr a;

    (void)ctx;
    if (anysock_parse_unix(s, len, &a) < 0) {
        out_undef();
        return 1;
    }
    return print_addr(&a);
}

static int parse_address(const void *ctx, const char *s, size_t len)
{
    anysock_addr a;

    (void)ctx;
    if (anysock_parse_address(s, len, &a) < 0) {
        out_undef();
        return 1;
    }
    return print_addr(&a);
}

struct mode {
    const char *name;
    answer_fn fn;
};

/* "MODE TEXT": run the mode's answer over TEXT (or stdin for "-"). */
static int run_mode(const struct mode *modes, size_t n, int argc,
                    char **argv)
{
    if (argc != 2)
        return cli_usage();
    for (size_t i = 0; i < n; i++)
        if (strcmp(argv[0], modes[i].name) == 0)
            return run(modes[i].fn, NULL, argv[1]);
    return cli_usage();
}

int cli_parse(int argc, char **argv)
{
    static const struct mode modes[] = {
        {"ipv4", parse_ipv4},
        {"ipv6", parse_ipv6},
        {"unix", parse_unix},
        {"address", parse_address},
    };

    return run_mode(modes, sizeof modes / sizeof modes[0], argc, argv);
}

/* ---- format ---------------------------------------------------------- */

/* Exactly 8 or 32 hex digits, any case; returns the octet count or 0. */
static size_t unhex(const char *s, size_t len, uint8_t *b)
{
    if (len != 8 && len != 32)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            v = (c | 0x20) - 'a' + 10;
        else
            return 0;
        if (i % 2 == 0)
            b[i / 2] = (uint8_t)(v << 4);
        else
            b[i / 2] |= (uint8_t)v;
    }
    return len / 2;
}

static int out_text(int n, const char *buf)
{
    if (n < 0) {
        out_undef();
        return 1;
    }
    fwrite(buf, 1, (size_t)n, stdout);
    putchar('\n');
    return 0;
}

static int format_ipv4(const void *ctx, const char *s, size_t len)
{
    uint8_t b[16];
    char buf[ANYSOCK_IPV4_STRLEN];

    (void)ctx;
    if (unhex(s, len, b) != 4)
        return out_text(-1, NULL);
    return out_text(anysock_format_ipv4(b, buf, sizeof buf), buf);
}

static int format_ipv6(const void *ctx, const char *s, size_t len)
{
    uint8_t b[16];
    char buf[ANYSOCK_IPV6_STRLEN];

    (void)ctx;
    if (unhex(s, len, b) != 16)
        return out_text(-1, NULL);
    return out_text(anysock_format_ipv6(b, buf, sizeof buf), buf);
}

static int format_address(const void *ctx, const char *s, size_t len)
{
    anysock_addr a;
    char buf[ANYSOCK_ADDRESS_STRLEN];
    size_t n;

    (void)ctx;
    memset(&a, 0, sizeof a);
    n = unhex(s, len, a.bytes);
    if (n == 0)
        return out_text(-1, NULL);
    a.family = n == 4 ? AF_INET : AF_INET6;
    return out_text(anysock_format_address(&a, buf, sizeof buf), buf);
}

int cli_format(int argc, char **argv)
{
    static const struct mode modes[] = {
        {"ipv4", format_ipv4},
        {"ipv6", format_ipv6},
        {"address", format_address},
    };

    return run_mode(modes, sizeof modes / sizeof modes[0], argc, argv);
}

/* ---- hostport -------------------------------------------------------- */

static int hostport(const void *ctx, const char *s, size_t len)
{
    const char *def = ctx;
    anysock_hostport hp;

    if (anysock_parse_hostport(s, len, def, def ? strlen(def) : 0, &hp) <
        0) {
        out_undef();
        return 1;
    }
    fwrite(hp.host, 1, hp.hostlen, stdout);
    putchar('\t');
    fwrite(hp.port, 1, hp.portlen, stdout);
    putchar('\n');
    return 0;
}

int cli_hostport(int argc, char **argv)
{
    if (argc != 1 && argc != 2)
        return cli_usage();
    return run(hostport, argc == 2 ? argv[1] : NULL, argv[0]);
}

/* ---- format-hostport -------------------------------------------------- */

static int print_hostport(const char *host, size_t hostlen, const char *port,
                          size_t portlen)
{
    char small[512];
    char *buf = small;
    size_t need = hostlen + portlen + 4;
    int n;

    if (need > sizeof small && !(buf = malloc(need))) {
        perror("anysock");
        exit(1);
    }
    n = anysock_format_hostport(host, hostlen, port, portlen, buf, need);
    out_text(n, buf);
    if (buf != small)
        free(buf);
    return n < 0;
}

/* A line is HOST, TAB, PORT; without a TAB it is a host with no port. */
static int format_hostport_line(const void *ctx, const char *s, size_t len)
{
    const char *tab = memchr(s, '\t', len);

    (void)ctx;
    if (!tab)
        return print_hostport(s, len, NULL, 0);
    return print_hostport(s, (size_t)(tab - s), tab + 1,
                          len - (size_t)(tab - s) - 1);
}

int cli_format_hostport(int argc, char **argv)
{
    int rc;

    if (argc == 1 && strcmp(argv[0], "-") == 0)
        return batch(format_hostport_line, NULL);
    if (argc != 1 && argc != 2)
        return cli_usage();
    rc = print_hostport(argv[0], strlen(argv[0]), argc == 2 ? argv[1] : "",
                        argc == 2 ? strlen(argv[1]) : 0);
    if (fflush(stdout) != 0)
        return 1;
    return rc;
}
