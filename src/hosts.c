/* The hosts file: parsed like 7.17's _parse_hosts, cached per ctx and
 * re-read only when it changes (one stat per look-up). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bounds on what one parse may cost (README, resolver section): a bigger
 * file is not read (an empty one); names past the cap are ignored. Both
 * keep offsets and indices in 32 bits and the memory bounded (~260 MiB
 * at worst; ~75 MiB for a 1,000,000-line, 28 MB ad-block file). */
#define HOSTS_MAX_BYTES ((off_t)64 * 1024 * 1024)
#define HOSTS_MAX_NAMES ((size_t)1 << 22)

/* One (name, address) pair, in file order. */
struct hent {
    uint32_t name;       /* offset of the NUL-ended name in text */
    uint32_t next;       /* next pair with the same name, index + 1; 0 ends */
    uint32_t hash;       /* of the name */
    uint8_t family;
    uint8_t bytes[16];
};

/* The index: open addressing (linear probing) on the name, one slot per
 * distinct name, pointing at its first pair; a look-up is O(1) expected
 * instead of a strcmp per pair. */
struct hslot {
    uint32_t hash;
    uint32_t head;       /* index + 1 of the name's first pair; 0: empty */
};

struct anysock__hosts {
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    off_t size;
    char *text;          /* the file, lowercased, names NUL-split in place */
    struct hent *v;
    size_t n;
    struct hslot *slot;
    size_t mask;         /* slots - 1 (a power of two) */
};

void anysock__hosts_free(struct anysock__hosts *h)
{
    if (h == NULL)
        return;
    anysock__free(h->text);
    anysock__free(h->v);
    anysock__free(h->slot);
    anysock__free(h);
}

#define BLANK(c) ((c) == ' ' || (c) == '\t')

/* FNV-1a: short keys, no seed needed (the file is the admin's). */
#define HASH0 2166136261u
#define HASH(x, c) (((x) ^ (unsigned char)(c)) * 16777619u)

static uint32_t name_hash(const char *s)
{
    uint32_t x = HASH0;

    for (; *s != '\0'; s++)
        x = HASH(x, *s);
    return x;
}

/* A byte of a word as the file is matched: lowercased, and a NUL (which
 * must not end the text early) made 0xff, which no looked-up name holds
 * (IDNA makes names ASCII): as in 7.17, the word matches nothing. */
static inline char fold(char c)
{
    if (c >= 'A' && c <= 'Z')
        return (char)(c - 'A' + 'a');
    return c == '\0' ? (char)0xff : c;
}

static int push(struct anysock__hosts *h, size_t *cap, uint32_t name,
                uint32_t hash, int fam, const uint8_t b[16])
{
    struct hent *e;

    if (h->n == *cap) {
        size_t ncap = *cap * 2;
        struct hent *nv = anysock__malloc(ncap * sizeof *nv);

        if (nv == NULL)
            return -ENOMEM;
        memcpy(nv, h->v, h->n * sizeof *nv);
        anysock__free(h->v);
        h->v = nv;
        *cap = ncap;
    }
    e = &h->v[h->n++];
    e->name = name;
    e->next = 0;
    e->hash = hash;
    e->family = (uint8_t)fam;
    memcpy(e->bytes, b, 16);
    return 0;
}

/* 7.17's _parse_hosts over text[0..len) (text[len] is NUL): per line, "#"
 * to the end is dropped, the first word is an IPv4 or IPv6 address, every
 * further word a name for it. One pass: memchr finds the line's end and
 * its "#", the words are folded, split (NUL-ended in place) and the names
 * hashed in the same scan; the pair array grows by doubling. */
static int hosts_parse(struct anysock__hosts *h, size_t len)
{
    char *p = h->text, *e = h->text + len;
    /* room for a pair per 16 bytes (ad-block lines are longer): pages
     * never touched cost nothing, a doubling copies them all */
    size_t cap = len / 16 + 16;

    if (cap > HOSTS_MAX_NAMES)
        cap = HOSTS_MAX_NAMES;
    h->n = 0;
    h->v = anysock__malloc(cap * sizeof *h->v);
    if (h->v == NULL)
        return -ENOMEM;
    while (p < e) {
        char *c = p, *eol = memchr(p, '\n', (size_t)(e - p)), *hash, *addr;
        uint8_t b[16];
        int fam;

        if (eol == NULL)
            eol = e;
        p = eol + 1;
        if ((hash = memchr(c, '#', (size_t)(eol - c))) != NULL)
            eol = hash;
        while (c < eol && BLANK(*c))
            c++;
        for (addr = c; c < eol && !BLANK(*c); c++)
            *c = fold(*c);
        if (c == eol)
            continue;        /* no aliases */
        *c = '\0';
        if (anysock_parse_ipv4(addr, (size_t)(c - addr), b) == 0)
            fam = AF_INET;
        else if (anysock_parse_ipv6(addr, (size_t)(c - addr), b) == 0)
            fam = AF_INET6;
        else
            continue;
        c++;
        for (;;) {
            uint32_t x = HASH0;
            char *name;

            while (c < eol && BLANK(*c))
                c++;
            if (c == eol)
                break;
            for (name = c; c < eol && !BLANK(*c); c++) {
                *c = fold(*c);
                x = HASH(x, *c);
            }
            *c = '\0';      /* a blank, the "#", the "\n" or text[len] */
            if (c < eol)
                c++;
            if (h->n == HOSTS_MAX_NAMES)
                return 0;    /* the cap: the rest is ignored */
            if (push(h, &cap, (uint32_t)(name - h->text), x, fam, b) != 0)
                return -ENOMEM;
        }
    }
    return 0;
}

/* The index over h->v. Pairs go in from the last, each in front of its
 * name's chain, so every chain is in file order (7.17's push order). The
 * slot a few pairs on is fetched ahead: the table is bigger than the
 * caches and its slots are hit at random. */
static int hosts_index(struct anysock__hosts *h)
{
    size_t ns = 16;

    while (ns < 2 * h->n)
        ns *= 2;
    h->slot = anysock__calloc(ns, sizeof *h->slot);
    if (h->slot == NULL)
        return -ENOMEM;
    h->mask = ns - 1;
    for (size_t i = h->n; i-- > 0;) {
        uint32_t x = h->v[i].hash;
        size_t k = x & h->mask;

        if (i >= 8)
            __builtin_prefetch(&h->slot[h->v[i - 8].hash & h->mask], 1);
        for (;; k = (k + 1) & h->mask) {
            struct hslot *s = &h->slot[k];

            if (s->head == 0) {
                s->hash = x;
                s->head = (uint32_t)i + 1;
                break;
            }
            if (s->hash == x && strcmp(h->text + h->v[s->head - 1].name,
                                       h->text + h->v[i].name) == 0) {
                h->v[i].next = s->head;
                s->head = (uint32_t)i + 1;
                break;
            }
        }
    }
    return 0;
}

static bool same_file(const struct anysock__hosts *h, const struct stat *st)
{
    return h->dev == st->st_dev && h->ino == st->st_ino &&
           h->size == st->st_size && h->mtime.tv_sec == st->st_mtim.tv_sec &&
           h->mtime.tv_nsec == st->st_mtim.tv_nsec;
}

static void drop(anysock_ctx *ctx)
{
    anysock__hosts_free(ctx->hosts);
    ctx->hosts = NULL;
}

/* The cache for ctx->hosts_path: one stat per call, a re-read only when
 * the file changed. A missing or unreadable file is an empty one. The
 * stat only decides whether to look again: what is read is what the
 * opened fd says it is, because the path can change in between (a FIFO
 * swapped in must not block the loop: O_NONBLOCK, then fstat). */
static struct anysock__hosts *hosts_get(anysock_ctx *ctx)
{
    struct anysock__hosts *nh;
    struct stat st;
    ssize_t got = 0;
    int fd;

    if (stat(ctx->hosts_path, &st) != 0 || !S_ISREG(st.st_mode)) {
        drop(ctx);
        return NULL;
    }
    if (ctx->hosts != NULL && same_file(ctx->hosts, &st))
        return ctx->hosts;
    drop(ctx);
    fd = open(ctx->hosts_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size > HOSTS_MAX_BYTES) {
        anysock__close(fd);
        return NULL;
    }
    nh = anysock__calloc(1, sizeof *nh);
    if (nh == NULL)
        goto fail;
    nh->text = anysock__malloc((size_t)st.st_size + 1);
    if (nh->text == NULL)
        goto fail;
    while (got < st.st_size) {
        ssize_t r = read(fd, nh->text + got, (size_t)(st.st_size - got));

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += r;
    }
    anysock__close(fd);
    fd = -1;
    nh->text[got] = '\0';
    if (hosts_parse(nh, (size_t)got) != 0 || hosts_index(nh) != 0)
        goto fail;
    nh->dev = st.st_dev;
    nh->ino = st.st_ino;
    nh->size = st.st_size;
    nh->mtime = st.st_mtim;
    ctx->hosts = nh;
    return nh;
fail:
    if (fd >= 0)
        anysock__close(fd);
    anysock__hosts_free(nh);
    return NULL;
}

size_t anysock__hosts_find(anysock_ctx *ctx, const char *name, int family,
                           uint8_t (*out)[16], size_t max)
{
    struct anysock__hosts *h = hosts_get(ctx);
    uint32_t x;
    size_t k = 0;

    if (h == NULL || h->n == 0)
        return 0;
    x = name_hash(name);
    for (size_t i = x & h->mask; h->slot[i].head != 0; i = (i + 1) & h->mask) {
        const struct hslot *s = &h->slot[i];

        if (s->hash != x || strcmp(h->text + h->v[s->head - 1].name, name) != 0)
            continue;
        /* the name's pairs, in file order */
        for (uint32_t j = s->head; j != 0 && k < max; j = h->v[j - 1].next)
            if (h->v[j - 1].family == family)
                memcpy(out[k++], h->v[j - 1].bytes, 16);
        break;
    }
    return k;
}
