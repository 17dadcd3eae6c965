/* The hosts file: parsed like 7.17's _parse_hosts, cached per ctx and
 * re-read only when it changes (one stat per look-up). */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOSTS_MAX_BYTES ((off_t)64 * 1024 * 1024)

struct hent {
    const char *name;
    int family;
    uint8_t bytes[16];
};

struct anysock__hosts {
    struct timespec mtime;
    dev_t dev;
    ino_t ino;
    off_t size;
    char *text;          /* the file, lowercased, names NUL-split in place */
    struct hent *v;
    size_t n;
};

void anysock__hosts_free(struct anysock__hosts *h)
{
    if (h == NULL)
        return;
    anysock__free(h->text);
    anysock__free(h->v);
    anysock__free(h);
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static int hosts_parse(struct anysock__hosts *h)
{
    char *p = h->text;
    size_t cap = 0;

    h->n = 0;
    while (*p != '\0') {
        char *line = p, *end = strchr(p, '\n'), *hash, *addr;
        uint8_t b[16];
        int fam;

        if (end != NULL) {
            *end = '\0';
            p = end + 1;
        } else {
            p += strlen(p);
        }
        if ((hash = strchr(line, '#')) != NULL)
            *hash = '\0';
        for (char *c = line; *c != '\0'; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        while (is_blank(*line))
            line++;
        addr = line;
        while (*line != '\0' && !is_blank(*line))
            line++;
        if (*line == '\0')
            continue;        /* no aliases */
        *line++ = '\0';
        if (anysock_parse_ipv4(addr, strlen(addr), b) == 0)
            fam = AF_INET;
        else if (anysock_parse_ipv6(addr, strlen(addr), b) == 0)
            fam = AF_INET6;
        else
            continue;
        for (;;) {
            char *name;

            while (is_blank(*line))
                line++;
            if (*line == '\0')
                break;
            name = line;
            while (*line != '\0' && !is_blank(*line))
                line++;
            if (*line != '\0')
                *line++ = '\0';
            if (h->n == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                struct hent *nv = anysock__malloc(ncap * sizeof *nv);

                if (nv == NULL)
                    return -ENOMEM;
                if (h->n)
                    memcpy(nv, h->v, h->n * sizeof *nv);
                anysock__free(h->v);
                h->v = nv;
                cap = ncap;
            }
            h->v[h->n].name = name;
            h->v[h->n].family = fam;
            memcpy(h->v[h->n].bytes, b, 16);
            h->n++;
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
    /* a NUL byte must not end the text early: 0xff, which no looked-up
     * name holds (IDNA makes names ASCII), keeps later lines and, as in
     * 7.17, makes the word it is in match nothing */
    for (ssize_t i = 0; i < got; i++)
        if (nh->text[i] == '\0')
            nh->text[i] = (char)0xff;
    if (hosts_parse(nh) != 0)
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
    size_t k = 0;

    if (h == NULL)
        return 0;
    for (size_t i = 0; i < h->n && k < max; i++)
        if (h->v[i].family == family && strcmp(h->v[i].name, name) == 0)
            memcpy(out[k++], h->v[i].bytes, 16);
    return k;
}
