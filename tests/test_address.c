/* Address layer: oracle vectors from AnyEvent::Socket 7.17
 * (tests/vectors, made by tests/gen/gen_vectors.pl), round-trip
 * properties, guard pages, documented examples and buffer rules. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "anysock.h"

/* ---- TSV vectors ----------------------------------------------------- */

#define MAXF 4

typedef struct field {
    char *s;
    size_t len;
} field;

typedef struct row {
    field f[MAXF];
    int n;
    size_t lineno;
} row;

typedef struct table {
    row *rows;
    size_t count;
} table;

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Fields escape every byte outside 0x20..0x7e and the backslash as \xNN. */
static field unescape(const char *s, size_t len)
{
    field f;
    size_t j = 0;

    f.s = malloc(len + 1);
    assert_non_null(f.s);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\\' && i + 3 < len && s[i + 1] == 'x' &&
            hexdigit(s[i + 2]) >= 0 && hexdigit(s[i + 3]) >= 0) {
            f.s[j++] = (char)(hexdigit(s[i + 2]) << 4 | hexdigit(s[i + 3]));
            i += 3;
        } else {
            f.s[j++] = s[i];
        }
    }
    f.s[j] = '\0';
    f.len = j;
    return f;
}

static table load(const char *name)
{
    char path[1024];
    FILE *fp;
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;
    table t = {NULL, 0};

    /* ANYSOCK_VECTOR_DIR runs the same checks over another corpus, e.g.
     * one from gen_vectors.pl --seed N --scale F. */
    if (getenv("ANYSOCK_VECTOR_DIR"))
        snprintf(path, sizeof path, "%s/%s", getenv("ANYSOCK_VECTOR_DIR"),
                 name);
    else
        snprintf(path, sizeof path, "%s/tests/vectors/%s",
                 ANYSOCK_SOURCE_DIR, name);
    fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    while ((n = getline(&line, &cap, fp)) > 0) {
        row r;
        size_t len = (size_t)n, start = 0;

        if (line[len - 1] == '\n')
            len--;
        memset(&r, 0, sizeof r);
        r.lineno = t.count + 1;
        for (size_t i = 0; i <= len; i++) {
            if (i == len || line[i] == '\t') {
                assert_true(r.n < MAXF);
                r.f[r.n++] = unescape(line + start, i - start);
                start = i + 1;
            }
        }
        if (t.count == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            t.rows = realloc(t.rows, alloc * sizeof *t.rows);
            assert_non_null(t.rows);
        }
        t.rows[t.count++] = r;
    }
    free(line);
    fclose(fp);
    assert_true(t.count > 0);
    return t;
}

static void unload(table *t)
{
    for (size_t i = 0; i < t->count; i++)
        for (int k = 0; k < t->rows[i].n; k++)
            free(t->rows[i].f[k].s);
    free(t->rows);
}

/* Printable form of bytes for failure messages. */
static const char *show(const char *s, size_t len)
{
    static char buf[4096];
    size_t j = 0;

    for (size_t i = 0; i < len && j + 5 < sizeof buf; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            buf[j++] = (char)c;
        else
            j += (size_t)snprintf(buf + j, 5, "\\x%02x", c);
    }
    buf[j] = '\0';
    return buf;
}

/* An exact-size heap copy, so ASan flags any read past len. */
static char *dup_exact(const field *f)
{
    char *p = malloc(f->len ? f->len : 1);

    assert_non_null(p);
    memcpy(p, f->s, f->len);
    return p;
}

static void to_hex(const uint8_t *b, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* The CLI's rendering of a parse result: hex, "unix" or "undef". */
static void parse_result(int which, const char *s, size_t len, char *out)
{
    uint8_t b[16];
    anysock_addr a;
    int rc;

    switch (which) {
    case 4:
        if (anysock_parse_ipv4(s, len, b) == 0)
            to_hex(b, 4, out);
        else
            strcpy(out, "undef");
        return;
    case 6:
        if (anysock_parse_ipv6(s, len, b) == 0)
            to_hex(b, 16, out);
        else
            strcpy(out, "undef");
        return;
    case 'u':
        rc = anysock_parse_unix(s, len, &a);
        break;
    default:
        rc = anysock_parse_address(s, len, &a);
        break;
    }
    if (rc < 0)
        strcpy(out, "undef");
    else if (a.family == AF_UNIX)
        strcpy(out, "unix");
    else
        to_hex(a.bytes, a.family == AF_INET ? 4 : 16, out);
}

static void check_parse_file(const char *name, int which)
{
    table t = load(name);
    size_t bad = 0;

    for (size_t i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        char got[40];
        char *in;

        assert_int_equal(r->n, 2);
        in = dup_exact(&r->f[0]);
        parse_result(which, in, r->f[0].len, got);
        free(in);
        if (strcmp(got, r->f[1].s) != 0 && bad++ < 20)
            print_error("%s:%zu in=\"%s\" want=%s got=%s\n", name, r->lineno,
                        show(r->f[0].s, r->f[0].len), r->f[1].s, got);
    }
    print_message("%s: %zu vectors, %zu mismatches\n", name, t.count, bad);
    unload(&t);
    assert_int_equal(bad, 0);
}

static void test_vectors_parse_ipv4(void **state)
{
    (void)state;
    check_parse_file("parse_ipv4.tsv", 4);
}

static void test_vectors_parse_ipv6(void **state)
{
    (void)state;
    check_parse_file("parse_ipv6.tsv", 6);
}

static void test_vectors_parse_unix(void **state)
{
    (void)state;
    check_parse_file("parse_unix.tsv", 'u');
}

static void test_vectors_parse_address(void **state)
{
    (void)state;
    check_parse_file("parse_address.tsv", 'a');
}

/* HEX -> octets; 0 when it is not 8 or 32 hex digits (a CLI rule, checked
 * by the cli_vectors test, not a library one). */
static size_t unhex(const field *f, uint8_t *b)
{
    if (f->len != 8 && f->len != 32)
        return 0;
    for (size_t i = 0; i < f->len; i++) {
        int c = (unsigned char)f->s[i];
        int v = hexdigit(c >= 'A' && c <= 'F' ? c + 32 : c);
        if (v < 0)
            return 0;
        if (i % 2 == 0)
            b[i / 2] = (uint8_t)(v << 4);
        else
            b[i / 2] |= (uint8_t)v;
    }
    return f->len / 2;
}

static void check_format_file(const char *name, int which)
{
    table t = load(name);
    size_t bad = 0, used = 0;

    for (size_t i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        anysock_addr a;
        char got[ANYSOCK_ADDRESS_STRLEN];
        size_t n;
        int rc;

        memset(&a, 0, sizeof a);
        n = unhex(&r->f[0], a.bytes);
        if ((which == 4 && n != 4) || (which == 6 && n != 16) || n == 0)
            continue;
        used++;
        a.family = n == 4 ? AF_INET : AF_INET6;
        if (which == 4)
            rc = anysock_format_ipv4(a.bytes, got, sizeof got);
        else if (which == 6)
            rc = anysock_format_ipv6(a.bytes, got, sizeof got);
        else
            rc = anysock_format_address(&a, got, sizeof got);
        assert_true(rc > 0);
        assert_int_equal((size_t)rc, strlen(got));
        if (strcmp(got, r->f[1].s) != 0 && bad++ < 20)
            print_error("%s:%zu hex=%s want=%s got=%s\n", name, r->lineno,
                        r->f[0].s, r->f[1].s, got);
    }
    print_message("%s: %zu vectors (%zu with well-formed HEX), "
                  "%zu mismatches\n", name, t.count, used, bad);
    unload(&t);
    assert_true(used > 0);
    assert_int_equal(bad, 0);
}

static void test_vectors_format_ipv4(void **state)
{
    (void)state;
    check_format_file("format_ipv4.tsv", 4);
}

static void test_vectors_format_ipv6(void **state)
{
    (void)state;
    check_format_file("format_ipv6.tsv", 6);
}

static void test_vectors_format_address(void **state)
{
    (void)state;
    check_format_file("format_address.tsv", 'a');
}

static void test_vectors_parse_hostport(void **state)
{
    table t = load("hostport.tsv");
    size_t bad = 0, withdef = 0;

    (void)state;
    for (size_t i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        anysock_hostport hp;
        char *in = dup_exact(&r->f[0]);
        char *def = r->f[1].len ? dup_exact(&r->f[1]) : NULL;
        int rc = anysock_parse_hostport(in, r->f[0].len, def, r->f[1].len,
                                        &hp);
        int ok;

        withdef += r->f[1].len > 0;
        if (r->n == 3) {
            ok = rc == -EINVAL;
        } else {
            assert_int_equal(r->n, 4);
            ok = rc == 0 && hp.hostlen == r->f[2].len &&
                 memcmp(hp.host, r->f[2].s, hp.hostlen) == 0 &&
                 hp.portlen == r->f[3].len &&
                 memcmp(hp.port, r->f[3].s, hp.portlen) == 0;
        }
        if (!ok && bad++ < 20)
            print_error("hostport.tsv:%zu in=\"%s\" default=\"%s\" rc=%d\n",
                        r->lineno, show(r->f[0].s, r->f[0].len), r->f[1].s,
                        rc);
        free(in);
        free(def);
    }
    print_message("hostport.tsv: %zu vectors (%zu with a default), "
                  "%zu mismatches\n", t.count, withdef, bad);
    unload(&t);
    assert_int_equal(bad, 0);
}

static void test_vectors_format_hostport(void **state)
{
    table t = load("format_hostport.tsv");
    size_t bad = 0;

    (void)state;
    for (size_t i = 0; i < t.count; i++) {
        row *r = &t.rows[i];
        size_t need = r->f[0].len + r->f[1].len + 4;
        char *out = malloc(need);
        int rc;

        assert_int_equal(r->n, 3);
        assert_non_null(out);
        rc = anysock_format_hostport(r->f[0].s, r->f[0].len, r->f[1].s,
                                     r->f[1].len, out, need);
        if ((rc < 0 || (size_t)rc != r->f[2].len ||
             memcmp(out, r->f[2].s, (size_t)rc) != 0) &&
            bad++ < 20)
            print_error("format_hostport.tsv:%zu host=\"%s\" rc=%d\n",
                        r->lineno, show(r->f[0].s, r->f[0].len), rc);
        free(out);
    }
    print_message("format_hostport.tsv: %zu vectors, %zu mismatches\n",
                  t.count, bad);
    unload(&t);
    assert_int_equal(bad, 0);
}

/* ---- guard page ------------------------------------------------------ */

/* Every parser on every vector input placed at the very end of a readable
 * page followed by a PROT_NONE page: a read past len faults. */
static void test_parsers_never_read_past_len(void **state)
{
    static const char *files[] = {"parse_ipv4.tsv", "parse_ipv6.tsv",
                                  "parse_unix.tsv", "parse_address.tsv",
                                  "hostport.tsv"};
    long pg = sysconf(_SC_PAGESIZE);
    char *map;
    size_t runs = 0;

    (void)state;
    map = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(map != MAP_FAILED);
    assert_int_equal(mprotect(map + pg, (size_t)pg, PROT_NONE), 0);
    for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
        table t = load(files[k]);
        for (size_t i = 0; i < t.count; i++) {
            field *f = &t.rows[i].f[0];
            char *s;
            uint8_t b[16];
            anysock_addr a;
            anysock_hostport hp;

            if (f->len > (size_t)pg)
                continue;
            s = map + pg - f->len;
            memcpy(s, f->s, f->len);
            (void)anysock_parse_ipv4(s, f->len, b);
            (void)anysock_parse_ipv6(s, f->len, b);
            (void)anysock_parse_unix(s, f->len, &a);
            (void)anysock_parse_address(s, f->len, &a);
            (void)anysock_parse_hostport(s, f->len, NULL, 0, &hp);
            (void)anysock_parse_hostport(s, f->len, s, f->len, &hp);
            (void)anysock_getprotobyname(s, f->len);
            (void)anysock_format_hostport(s, f->len, s, f->len, NULL, 0);
            runs++;
        }
        unload(&t);
    }
    munmap(map, 2 * (size_t)pg);
    print_message("guard page: %zu inputs through every parser\n", runs);
    assert_true(runs > 1000);
}

/* ---- round trips ----------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64*: reproducible from the printed seed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}

static int setup_seed(void **state)
{
    const char *env = getenv("ANYSOCK_TEST_SEED");
    uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);

    (void)state;
    rng_state = seed ? seed : 1;
    print_message("round-trip seed: %llu (ANYSOCK_TEST_SEED=%llu to "
                  "repeat)\n", (unsigned long long)seed,
                  (unsigned long long)seed);
    return 0;
}

/* Random octets with plenty of zero groups, so every "::" and special
 * prefix shape comes up. */
static void rand_bytes(uint8_t *b, size_t n)
{
    uint64_t mode = rnd() % 4;

    for (size_t i = 0; i < n; i += 2) {
        uint64_t r = rnd();
        if (mode > 0 && r % 3 == 0) {
            b[i] = 0;
            if (i + 1 < n)
                b[i + 1] = 0;
        } else {
            b[i] = (uint8_t)(r >> 8);
            if (i + 1 < n)
                b[i + 1] = (uint8_t)(r >> 16);
        }
    }
    if (mode == 3 && n == 16) /* the 7.17 special prefixes */
        memset(b, 0, 8 + rnd() % 5);
}

static void test_format_parse_ipv6_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint8_t b[16], back[16];
        char text[ANYSOCK_IPV6_STRLEN];
        int n;

        rand_bytes(b, 16);
        n = anysock_format_ipv6(b, text, sizeof text);
        assert_true(n > 0 && n < 40);
        if (anysock_parse_ipv6(text, (size_t)n, back) != 0 ||
            memcmp(b, back, 16) != 0)
            fail_msg("round trip failed for %s", text);
    }
}

static void test_format_parse_ipv4_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 200000; i++) {
        uint8_t b[4], back[4];
        char text[ANYSOCK_IPV4_STRLEN];
        int n;

        rand_bytes(b, 4);
        n = anysock_format_ipv4(b, text, sizeof text);
        assert_true(n >= 7 && n <= 15);
        if (anysock_parse_ipv4(text, (size_t)n, back) != 0 ||
            memcmp(b, back, 4) != 0)
            fail_msg("round trip failed for %s", text);
    }
}

static void test_format_parse_address_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        anysock_addr a, back;
        char text[ANYSOCK_ADDRESS_STRLEN];
        int n;

        memset(&a, 0, sizeof a);
        a.family = rnd() % 2 ? AF_INET : AF_INET6;
        rand_bytes(a.bytes, a.family == AF_INET ? 4 : 16);
        /* A mapped address comes back as the IPv4 it carries. */
        if (a.family == AF_INET6 && memcmp(a.bytes,
            "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0) {
            memmove(a.bytes, a.bytes + 12, 4);
            memset(a.bytes + 4, 0, 12);
            a.family = AF_INET;
        }
        n = anysock_format_address(&a, text, sizeof text);
        assert_true(n > 0);
        assert_int_equal(anysock_parse_address(text, (size_t)n, &back), 0);
        if (memcmp(&a, &back, sizeof a) != 0)
            fail_msg("address round trip failed for %s", text);
    }
}

/* parse(format(parse(s))) == parse(s), over mutated address strings. */
static void test_parse_format_parse_is_fixed_point(void **state)
{
    static const char alpha[] = "0123456789abcdefABCDEF:::...x \n";
    size_t parsed = 0;

    (void)state;
    for (int i = 0; i < 300000; i++) {
        char s[48], text[ANYSOCK_IPV6_STRLEN], text2[ANYSOCK_IPV6_STRLEN];
        size_t len = 1 + rnd() % 40;
        uint8_t b[16], b2[16];
        int n, n2;

        for (size_t k = 0; k < len; k++)
            s[k] = alpha[rnd() % (sizeof alpha - 1)];
        if (anysock_parse_ipv6(s, len, b) != 0)
            continue;
        parsed++;
        n = anysock_format_ipv6(b, text, sizeof text);
        assert_true(n > 0);
        assert_int_equal(anysock_parse_ipv6(text, (size_t)n, b2), 0);
        assert_memory_equal(b, b2, 16);
        n2 = anysock_format_ipv6(b2, text2, sizeof text2);
        assert_int_equal(n, n2);
        assert_string_equal(text, text2);
    }
    print_message("fixed point: %zu of 300000 random strings parsed\n",
                  parsed);
    assert_true(parsed > 100);
}

static void test_unpack_pack_roundtrip(void **state)
{
    (void)state;
    for (int i = 0; i < 100000; i++) {
        anysock_addr a, back;
        anysock_sockaddr sa;
        uint16_t port = (uint16_t)rnd(), bport = 1;
        char path[sizeof sa.u.un.sun_path];
        size_t pathlen = 0, blen = 0;
        const char *bpath = NULL;

        memset(&a, 0, sizeof a);
        switch (rnd() % 3) {
        case 0:
            a.family = AF_INET;
            rand_bytes(a.bytes, 4);
            break;
        case 1:
            a.family = AF_INET6;
            rand_bytes(a.bytes, 16);
            break;
        default:
            a.family = AF_UNIX;
            pathlen = rnd() % sizeof path;
            for (size_t k = 0; k < pathlen; k++)
                path[k] = (char)(1 + rnd() % 255);
            if (pathlen == 1 && path[0] == '@')
                path[0] = 'a';   /* an empty abstract name is -EINVAL */
            port = 0;
        }
        assert_int_equal(anysock_pack_sockaddr(&a, port, path, pathlen, &sa),
                         0);
        assert_int_equal(anysock_unpack_sockaddr(&sa.u.sa, sa.len, &back,
                                                 &bport, &bpath, &blen),
                         0);
        assert_memory_equal(&a, &back, sizeof a);
        assert_int_equal(port, bport);
        if (a.family == AF_UNIX) {
            assert_int_equal(blen, pathlen);
            /* "@name" (abstract) comes back with its leading NUL */
            if (pathlen > 0 && path[0] == '@')
                path[0] = '\0';
            assert_memory_equal(bpath, path, pathlen);
        } else {
            assert_null(bpath);
        }
    }
}

/* ---- documented examples --------------------------------------------- */

static void expect_parse(int which, const char *in, const char *want)
{
    char got[40];

    parse_result(which, in, strlen(in), got);
    if (strcmp(got, want) != 0)
        fail_msg("parse(%c) \"%s\": want %s got %s", which < 10 ? '0' + which
                 : which, in, want, got);
}

static void test_parse_documented_examples(void **state)
{
    (void)state;
    /* POD of 7.17 */
    expect_parse(6, "2002:5345::10.0.0.1", "200253450000000000000000"
                                           "0a000001");
    expect_parse(6, "192.89.98.1", "00000000000000000000ffffc0596201");
    expect_parse('a', "10.1.2.3", "0a010203");
    expect_parse('a', "unix/", "unix");
    expect_parse('u', "unix/", "unix");
    /* every POSIX dotted form */
    expect_parse(4, "127.1", "7f000001");
    expect_parse(4, "127.0.1", "7f000001");
    expect_parse(4, "0x7f.1", "7f000001");
    expect_parse(4, "017700000001", "7f000001");
    expect_parse(4, "2130706433", "7f000001");
    expect_parse(4, "1.2.3.4\n", "01020304"); /* Perl's `$` */
    expect_parse(4, "0x1f\n", "undef");       /* hex() dies on the "\n" */
    expect_parse(4, "040000000000", "undef"); /* oct() non-portable: dies */
    expect_parse(4, "4294967296", "undef");
    expect_parse(4, "0X1", "undef");
    expect_parse(4, "08", "undef");
    expect_parse(6, "1:2:3:4::5:6:7:8", "00010002000300040005000600070008");
    expect_parse(6, "fe80::1%eth0", "undef");
    expect_parse('a', "::ffff:1.2.3.4", "01020304");
}

static void expect_hostport(const char *in, const char *def,
                            const char *host, const char *port)
{
    anysock_hostport hp;
    int rc = anysock_parse_hostport(in, strlen(in), def,
                                    def ? strlen(def) : 0, &hp);

    if (!host) {
        if (rc != -EINVAL)
            fail_msg("hostport \"%s\": want nothing, rc %d", in, rc);
        return;
    }
    if (rc != 0 || hp.hostlen != strlen(host) ||
        memcmp(hp.host, host, hp.hostlen) != 0 ||
        hp.portlen != strlen(port) || memcmp(hp.port, port, hp.portlen) != 0)
        fail_msg("hostport \"%s\": want %s %s, rc %d", in, host, port, rc);
}

static void test_parse_hostport_documented_forms(void **state)
{
    (void)state;
    expect_hostport("localhost:443", NULL, "localhost", "443");
    expect_hostport("localhost", "https", "localhost", "https");
    expect_hostport("[::1]", NULL, NULL, NULL);
    expect_hostport("[::1]", "80", "::1", "80");
    expect_hostport("/tmp/debug.sock", NULL, "unix/", "/tmp/debug.sock");
    expect_hostport("www.x.de:443", NULL, "www.x.de", "443");
    expect_hostport("www.x.de:https=443", NULL, "www.x.de", "https=443");
    expect_hostport("127.1:22", NULL, "127.1", "22");
    expect_hostport("[10.0.1]:80", NULL, "10.0.1", "80");
    expect_hostport("[www.x.org] 17", NULL, "www.x.org", "17");
    expect_hostport("::1 443", NULL, "::1", "443");
    expect_hostport("10.0.0.1 smtp", NULL, "10.0.0.1", "smtp");
    expect_hostport("unix/:/path/to/socket", NULL, "unix/",
                    "/path/to/socket");
    expect_hostport("affe::1#80", NULL, "affe::1", "80");
    /* rejected: a hostname with a colon, blanks before a name */
    expect_hostport("a:b:c", "80", NULL, NULL);
    expect_hostport(" host:80", NULL, NULL, NULL);
    expect_hostport("host", "", NULL, NULL);
    expect_hostport("host", "0", "host", "0"); /* "0" is a default */
    expect_hostport("host\t80", "9", "host\t80", "9"); /* tab is host */
}

static void test_parse_hostport_spans_point_into_inputs(void **state)
{
    static const char in[] = "example.org";
    static const char def[] = "443";
    anysock_hostport hp;

    (void)state;
    assert_int_equal(anysock_parse_hostport(in, 11, def, 3, &hp), 0);
    assert_ptr_equal(hp.host, in);
    assert_ptr_equal(hp.port, def);
    assert_int_equal(anysock_parse_hostport("/s", 2, NULL, 0, &hp), 0);
    assert_int_equal(hp.hostlen, 5);
    assert_memory_equal(hp.host, "unix/", 5);
}

static void test_format_documented_examples(void **state)
{
    static const struct {
        const char *hex, *want;
    } cases[] = {
        {"01020305", "1.2.3.5"},
        {"00000000000000000000000000000000", "::"},
        {"00000000000000000000000000000001", "::1"},
        {"0000000000000000000000000a000001", "::10.0.0.1"},
        {"00000000000000000000ffff01020304", "1.2.3.4"}, /* address */
        {"0000000000000000ffff000001020304", "::ffff:0:1.2.3.4"},
        {"20010db8000000000000000000000001", "2001:db8::1"},
        {"00010000000000010000000000000001", "1:0:0:1::1"},
        {"00010000000000000001000000000000", "1::1:0:0:0"},
        {"00000000000000010000000000000000", "0:0:0:1::"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        field f = {(char *)cases[i].hex, strlen(cases[i].hex)};
        anysock_addr a;
        char got[ANYSOCK_ADDRESS_STRLEN];

        memset(&a, 0, sizeof a);
        a.family = unhex(&f, a.bytes) == 4 ? AF_INET : AF_INET6;
        assert_true(anysock_format_address(&a, got, sizeof got) > 0);
        assert_string_equal(got, cases[i].want);
    }
}

/* ---- buffer and error rules ------------------------------------------ */

static void test_format_too_small_is_enospc_and_untouched(void **state)
{
    static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0,
                                   0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t v4[4] = {192, 168, 100, 200};
    anysock_addr unx = {AF_UNIX, {0}};
    char buf[64], pat[64];
    int n;

    (void)state;
    memset(pat, 0xaa, sizeof pat);
    n = (int)strlen("2001:db8::1");
    memcpy(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_ipv6(v6, buf, (size_t)n), -ENOSPC);
    assert_memory_equal(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_ipv6(v6, buf, (size_t)n + 1), n);
    memcpy(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_ipv4(v4, buf, 15), -ENOSPC);
    assert_memory_equal(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_ipv4(v4, buf, 16), 15);
    memcpy(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_address(&unx, buf, 5), -ENOSPC);
    assert_memory_equal(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_address(&unx, buf, 6), 5);
    assert_string_equal(buf, "unix/");
    memcpy(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_hostport("::1", 3, "80", 2, buf, 8),
                     -ENOSPC);
    assert_memory_equal(buf, pat, sizeof buf);
    assert_int_equal(anysock_format_hostport("::1", 3, "80", 2, buf, 9), 8);
    assert_string_equal(buf, "[::1]:80");
    assert_int_equal(anysock_format_ipv4(v4, NULL, 0), -ENOSPC);
}

static void test_parse_failure_leaves_output_untouched(void **state)
{
    uint8_t b[16], pat[16];
    anysock_addr a, apat;
    anysock_hostport hp, hpat;

    (void)state;
    memset(pat, 0x5a, sizeof pat);
    memcpy(b, pat, sizeof b);
    assert_int_equal(anysock_parse_ipv4("1.2.3.256", 9, b), -EINVAL);
    assert_int_equal(anysock_parse_ipv6("1::2::3", 7, b), -EINVAL);
    assert_memory_equal(b, pat, sizeof b);
    memset(&apat, 0x5a, sizeof apat);
    a = apat;
    assert_int_equal(anysock_parse_address("unix", 4, &a), -EINVAL);
    assert_int_equal(anysock_parse_unix("unix//", 6, &a), -EINVAL);
    assert_memory_equal(&a, &apat, sizeof a);
    memset(&hpat, 0x5a, sizeof hpat);
    hp = hpat;
    assert_int_equal(anysock_parse_hostport("a:b:c", 5, "1", 1, &hp),
                     -EINVAL);
    assert_int_equal(anysock_parse_hostport("[::1]", 5, NULL, 0, &hp),
                     -EINVAL);
    /* fails only at the last check: a host with ':' must parse as IPv6 */
    assert_int_equal(anysock_parse_hostport("[1:2]:80", 8, NULL, 0, &hp),
                     -EINVAL);
    assert_int_equal(anysock_parse_hostport("[1:2]", 5, "80", 2, &hp),
                     -EINVAL);
    assert_memory_equal(&hp, &hpat, sizeof hp);
}

static void test_parse_is_length_bounded(void **state)
{
    uint8_t b[4];

    (void)state;
    /* Bytes after len are not part of the input. */
    assert_int_equal(anysock_parse_ipv4("1.2.3.45", 7, b), 0);
    assert_memory_equal(b, "\x01\x02\x03\x04", 4);
    assert_int_equal(anysock_parse_ipv4("", 0, b), -EINVAL);
}

static void test_address_family_of_each_kind(void **state)
{
    anysock_addr a;

    (void)state;
    memset(&a, 0, sizeof a);
    assert_int_equal(anysock_address_family(&a), 0);
    assert_int_equal(anysock_aton("1.2.3.4", 7, &a), 0);
    assert_int_equal(anysock_address_family(&a), AF_INET);
    assert_int_equal(anysock_aton("::2", 3, &a), 0);
    assert_int_equal(anysock_address_family(&a), AF_INET6);
    assert_int_equal(anysock_aton("unix/", 5, &a), 0);
    assert_int_equal(anysock_address_family(&a), AF_UNIX);
    memset(&a, 0, sizeof a);
    assert_int_equal(anysock_ntoa(&a, NULL, 0), -EAFNOSUPPORT);
}

static void test_pack_sockaddr_rejects_long_unix_path(void **state)
{
    anysock_addr unx = {AF_UNIX, {0}}, none = {0, {0}};
    anysock_sockaddr sa, pat;
    char path[sizeof sa.u.un.sun_path + 1];

    (void)state;
    memset(path, 'p', sizeof path);
    memset(&pat, 0x5a, sizeof pat);
    sa = pat;
    assert_int_equal(anysock_pack_sockaddr(&unx, 0, path, sizeof path - 1,
                                           &sa),
                     -ENAMETOOLONG);
    assert_int_equal(anysock_pack_sockaddr(&none, 80, NULL, 0, &sa),
                     -EAFNOSUPPORT);
    assert_memory_equal(&sa, &pat, sizeof sa);
    assert_int_equal(anysock_pack_sockaddr(&unx, 0, path, sizeof path - 2,
                                           &sa),
                     0);
    assert_int_equal(sa.u.un.sun_path[sizeof path - 2], '\0');
}

static void test_pack_sockaddr_sets_family_port_and_length(void **state)
{
    anysock_addr a;
    anysock_sockaddr sa;

    (void)state;
    assert_int_equal(anysock_parse_address("::1", 3, &a), 0);
    assert_int_equal(anysock_pack_sockaddr(&a, 443, NULL, 0, &sa), 0);
    assert_int_equal(sa.len, sizeof(struct sockaddr_in6));
    assert_int_equal(sa.u.in6.sin6_family, AF_INET6);
    assert_int_equal(ntohs(sa.u.in6.sin6_port), 443);
    assert_int_equal(sa.u.in6.sin6_scope_id, 0);
    assert_int_equal(anysock_parse_address("127.0.0.1", 9, &a), 0);
    assert_int_equal(anysock_pack_sockaddr(&a, 80, NULL, 0, &sa), 0);
    assert_int_equal(sa.len, sizeof(struct sockaddr_in));
    assert_int_equal(sa.u.in.sin_addr.s_addr, htonl(0x7f000001));
}

static void test_unpack_sockaddr_rejects_short_or_unknown(void **state)
{
    struct sockaddr_in in;
    struct sockaddr_storage ss;
    anysock_addr a;

    (void)state;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    assert_int_equal(anysock_unpack_sockaddr((struct sockaddr *)&in,
                                             sizeof in - 1, &a, NULL, NULL,
                                             NULL),
                     -EINVAL);
    assert_int_equal(anysock_unpack_sockaddr((struct sockaddr *)&in, 1, &a,
                                             NULL, NULL, NULL),
                     -EINVAL);
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_PACKET;
    assert_int_equal(anysock_unpack_sockaddr((struct sockaddr *)&ss,
                                             sizeof ss, &a, NULL, NULL,
                                             NULL),
                     -EAFNOSUPPORT);
}

static void test_getprotobyname_builtin_names_any_case(void **state)
{
    (void)state;
    assert_int_equal(anysock_getprotobyname("tcp", 3), 6);
    assert_int_equal(anysock_getprotobyname("TCP", 3), 6);
    assert_int_equal(anysock_getprotobyname("Udp", 3), 17);
    assert_int_equal(anysock_getprotobyname("icmp", 4), 1);
    assert_int_equal(anysock_getprotobyname("tcpx", 3), 6);
    assert_int_equal(anysock_getprotobyname("no-such-proto", 13),
                     -EPROTONOSUPPORT);
    assert_int_equal(anysock_getprotobyname("", 0), -EPROTONOSUPPORT);
    assert_int_equal(anysock_getprotobyname("t\0p", 3), -EPROTONOSUPPORT);
}

static void test_getprotobyname_uses_protocols_database(void **state)
{
    (void)state;
    if (access("/etc/protocols", R_OK) != 0) {
        print_message("skip: /etc/protocols not readable\n");
        skip();
    }
    assert_int_equal(anysock_getprotobyname("SCTP", 4), 132);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_parse_ipv4),
        cmocka_unit_test(test_vectors_parse_ipv6),
        cmocka_unit_test(test_vectors_parse_unix),
        cmocka_unit_test(test_vectors_parse_address),
        cmocka_unit_test(test_vectors_format_ipv4),
        cmocka_unit_test(test_vectors_format_ipv6),
        cmocka_unit_test(test_vectors_format_address),
        cmocka_unit_test(test_vectors_parse_hostport),
        cmocka_unit_test(test_vectors_format_hostport),
        cmocka_unit_test(test_parsers_never_read_past_len),
        cmocka_unit_test(test_format_parse_ipv6_roundtrip),
        cmocka_unit_test(test_format_parse_ipv4_roundtrip),
        cmocka_unit_test(test_format_parse_address_roundtrip),
        cmocka_unit_test(test_parse_format_parse_is_fixed_point),
        cmocka_unit_test(test_unpack_pack_roundtrip),
        cmocka_unit_test(test_parse_documented_examples),
        cmocka_unit_test(test_parse_hostport_documented_forms),
        cmocka_unit_test(test_parse_hostport_spans_point_into_inputs),
        cmocka_unit_test(test_format_documented_examples),
        cmocka_unit_test(test_format_too_small_is_enospc_and_untouched),
        cmocka_unit_test(test_parse_failure_leaves_output_untouched),
        cmocka_unit_test(test_parse_is_length_bounded),
        cmocka_unit_test(test_address_family_of_each_kind),
        cmocka_unit_test(test_pack_sockaddr_rejects_long_unix_path),
        cmocka_unit_test(test_pack_sockaddr_sets_family_port_and_length),
        cmocka_unit_test(test_unpack_sockaddr_rejects_short_or_unknown),
        cmocka_unit_test(test_getprotobyname_builtin_names_any_case),
        cmocka_unit_test(test_getprotobyname_uses_protocols_database),
    };

    return cmocka_run_group_tests(tests, setup_seed, NULL);
}
