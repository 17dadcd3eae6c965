/* anysock_unpack_sockaddr on arbitrary bytes taken as a sockaddr of exactly
 * the input's length (so ASan sees any read past len). Asserts: 0,
 * -EINVAL (shorter than its family needs) or -EAFNOSUPPORT (other family),
 * outputs untouched on failure, NULL outputs allowed; on success the
 * family, address and port are the input's, a unix path points inside
 * sun_path, stops at the first NUL or the end (an abstract name, with a
 * leading NUL, is every byte), and packing the result
 * again gives a sockaddr that unpacks to the same. */
#include "fuzz.h"

#include <stddef.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr *sa;
    anysock_addr host, h2;
    anysock_sockaddr packed;
    uint16_t port, p2, fam = 0;
    const char *path, *path2;
    size_t pathlen, pl2, need = 0;
    socklen_t len = (socklen_t)size;
    int r, want;

    if (size > 4096)
        return 0;
    sa = (struct sockaddr *)fz_dup(data, size);
    if (size >= sizeof(sa_family_t))
        memcpy(&fam, data, sizeof fam);
    switch (fam) {
    case AF_INET:
        need = sizeof(struct sockaddr_in);
        break;
    case AF_INET6:
        need = sizeof(struct sockaddr_in6);
        break;
    case AF_UNIX:
        need = offsetof(struct sockaddr_un, sun_path);
        break;
    }
    if (size < sizeof(sa_family_t))
        want = -EINVAL;
    else if (!need)
        want = -EAFNOSUPPORT;
    else
        want = size < need ? -EINVAL : 0;

    fz_fill(&host, sizeof host);
    fz_fill(&port, sizeof port);
    fz_fill(&path, sizeof path);
    fz_fill(&pathlen, sizeof pathlen);
    r = anysock_unpack_sockaddr(sa, len, &host, &port, &path, &pathlen);
    CHECK(r == want);
    /* every combination of NULL outputs gives the same status */
    CHECK(anysock_unpack_sockaddr(sa, len, NULL, NULL, NULL, NULL) == r);
    if (r < 0) {
        CHECK(fz_untouched(&host, sizeof host));
        CHECK(fz_untouched(&port, sizeof port));
        CHECK(fz_untouched(&path, sizeof path));
        CHECK(fz_untouched(&pathlen, sizeof pathlen));
        goto out;
    }
    CHECK(host.family == fam);
    switch (fam) {
    case AF_INET: {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        static const uint8_t zero[12];

        CHECK(memcmp(host.bytes, &in->sin_addr, 4) == 0);
        CHECK(memcmp(host.bytes + 4, zero, 12) == 0);
        CHECK(port == ntohs(in->sin_port));
        CHECK(path == NULL && pathlen == 0);
        break;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

        CHECK(memcmp(host.bytes, &in6->sin6_addr, 16) == 0);
        CHECK(port == ntohs(in6->sin6_port));
        CHECK(path == NULL && pathlen == 0);
        break;
    }
    case AF_UNIX: {
        const struct sockaddr_un *un = (const struct sockaddr_un *)sa;
        size_t max = size - need;

        if (max > sizeof un->sun_path)
            max = sizeof un->sun_path;
        CHECK(port == 0);
        CHECK(path == un->sun_path);
        if (max > 1 && path[0] == '\0') {
            CHECK(pathlen == max);   /* abstract: every byte, NULs too */
            break;
        }
        CHECK(pathlen <= max);
        CHECK(!memchr(path, '\0', pathlen));
        CHECK(pathlen == max || path[pathlen] == '\0');
        break;
    }
    }
    /* pack(unpack(x)) unpacks to unpack(x); a 108-byte unix path without
     * NUL does not fit back (sun_path needs its NUL here). */
    /* a relative file path starting with '@' is the documented
     * ambiguity: packing it names an abstract socket (write ./@x) */
    if (fam == AF_UNIX && pathlen > 0 && path[0] == '@')
        goto out;
    r = anysock_pack_sockaddr(&host, port, path, pathlen, &packed);
    if (fam == AF_UNIX && pathlen >= sizeof packed.u.un.sun_path &&
        !(pathlen == sizeof packed.u.un.sun_path && path[0] == '\0')) {
        CHECK(r == -ENAMETOOLONG);
        goto out;
    }
    CHECK(r == 0);
    CHECK(anysock_unpack_sockaddr(&packed.u.sa, packed.len, &h2, &p2, &path2,
                                  &pl2) == 0);
    CHECK(memcmp(&h2, &host, sizeof host) == 0 && p2 == port);
    CHECK(pl2 == pathlen);
    CHECK(pathlen == 0 || memcmp(path2, path, pathlen) == 0);
out:
    free(sa);
    return 0;
}
