/* fileio.c — atomic file replacement and the metrics log (fileio.h). Both are
 * written so that a crash, a kill or a full disk never leaves a file worse than
 * before, and never passes silently. */
#define _DEFAULT_SOURCE
#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------ paths */

/* The folder part of path ("." when it has none), newly allocated. */
static char *dir_part(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/* path with every symbolic link of its last component followed (a missing
 * target ends the walk: that is the file to create). */
static char *follow_links(const char *path, rt_error *err) {
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[PATH_MAX];
        ssize_t n = hops < 40 ? readlink(cur, link, sizeof link - 1) : -1;
        if (n < 0) {
            rt_fail(err, "%s: cannot follow the symbolic link: %s", path,
                    hops < 40 ? strerror(errno) : strerror(ELOOP));
            free(cur);
            return NULL;
        }
        link[n] = 0;
        char *next;
        if (link[0] == '/') {
            next = strdup(link);
        } else {
            char *dir = dir_part(cur);
            size_t len = dir ? strlen(dir) + strlen(link) + 2 : 0;
            next = dir ? malloc(len) : NULL;
            if (next) snprintf(next, len, "%s/%s", dir, link);
            free(dir);
        }
        free(cur);
        cur = next;
    }
    rt_fail(err, "%s: out of memory", path);
    return NULL;
}

/* ------------------------------------------------------------ temporary files */

static const char tmp_letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
#define TMP_TAG ".tmp"
#define TMP_RANDOM 6

/* Whether name is base + ".tmp" + six letters or digits: a temporary file of a
 * save of base (this writer's names, and mkstemp's of earlier versions). */
static bool is_temp_of(const char *name, const char *base) {
    size_t nb = strlen(base), nt = strlen(TMP_TAG);
    if (strlen(name) != nb + nt + TMP_RANDOM || strncmp(name, base, nb) != 0 ||
        strncmp(name + nb, TMP_TAG, nt) != 0)
        return false;
    for (const char *p = name + nb + nt; *p; p++)
        if (!strchr(tmp_letters, *p)) return false;
    return true;
}

/* Removes the temporary files that killed saves of target left in its folder.
 * A file counts as left behind only when it is a regular file of this user and
 * no process holds its lock: a save in progress holds it until it renames. */
static void remove_stale_temps(const char *target) {
    char *dir = dir_part(target);
    const char *slash = strrchr(target, '/');
    const char *base = slash ? slash + 1 : target;
    DIR *d = dir ? opendir(dir) : NULL;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (!is_temp_of(e->d_name, base)) continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0) continue;
        struct stat held, named;
        if (fstat(fd, &held) == 0 && S_ISREG(held.st_mode) && held.st_uid == geteuid() &&
            flock(fd, LOCK_EX | LOCK_NB) == 0 &&
            fstatat(dirfd(d), e->d_name, &named, AT_SYMLINK_NOFOLLOW) == 0 &&
            named.st_dev == held.st_dev && named.st_ino == held.st_ino)
            unlinkat(dirfd(d), e->d_name, 0);
        close(fd);
    }
    if (d) closedir(d);
    free(dir);
}

/* Six letters that differ between processes, calls and clock ticks. */
static void random_tag(char *out) {
    static uint64_t calls;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                 (++calls * 0x9e3779b97f4a7c15ull);
    for (int k = 0; k < TMP_RANDOM; k++) {
        x ^= x >> 31;
        x *= 0xbf58476d1ce4e5b9ull;
        x ^= x >> 29;
        out[k] = tmp_letters[x % (sizeof tmp_letters - 1)];
    }
    out[TMP_RANDOM] = 0;
}

/* Creates and locks a new temporary file beside target; the mode 0666 is cut by
 * the umask, as for any new file. Returns the descriptor, or -1 with errno. */
static int create_temp(const char *target, char *tmp, size_t cap) {
    for (int attempt = 0; attempt < 100; attempt++) {
        char tag[TMP_RANDOM + 1];
        random_tag(tag);
        snprintf(tmp, cap, "%s" TMP_TAG "%s", target, tag);
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0) {
            if (errno == EEXIST) continue;
            return -1;
        }
        /* Another save's clean-up may have locked the file between our open and
         * our lock, and then removed it: start again with a new name. Where the
         * file system has no locks, clean-ups cannot lock it either, so they
         * leave it alone and the file is written unlocked. */
        struct stat st;
        bool taken = flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
        if (!taken && fstat(fd, &st) == 0 && st.st_nlink > 0) return fd;
        close(fd);
    }
    errno = EEXIST;
    return -1;
}

bool rt_replace_begin(rt_replace *r, const char *path, const char *what, rt_error *err) {
    *r = (rt_replace){.path = path, .what = what};
    if (!(r->target = follow_links(path, err))) return false;
    remove_stale_temps(r->target);
    size_t cap = strlen(r->target) + sizeof TMP_TAG + TMP_RANDOM + 1;
    r->tmp = malloc(cap);
    if (!r->tmp) {
        rt_fail(err, "%s: out of memory", path);
        free(r->target);
        *r = (rt_replace){0};
        return false;
    }
    int fd = create_temp(r->target, r->tmp, cap);
    if (fd >= 0 && !(r->f = fdopen(fd, "wb"))) {
        int saved = errno;
        close(fd);
        unlink(r->tmp);
        errno = saved;
    }
    if (!r->f) {
        rt_fail(err, "%s: cannot write the %s: %s", path, what, strerror(errno));
        free(r->target);
        free(r->tmp);
        *r = (rt_replace){0};
        return false;
    }
    errno = 0; /* a failed write sets it; commit reports that reason */
    return true;
}

void rt_replace_abort(rt_replace *r) {
    if (r->f) {
        fclose(r->f);
        unlink(r->tmp);
    }
    free(r->target);
    free(r->tmp);
    *r = (rt_replace){0};
}

/* fsync of the folder holding path, so that a rename in it survives a crash.
 * File systems that cannot sync a folder (EINVAL) keep their own guarantees. */
static int sync_dir_of(const char *path) {
    char *dir = dir_part(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd) == 0 || errno == EINVAL ? 0 : -1;
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

bool rt_replace_commit(rt_replace *r, rt_error *err) {
    int fd = fileno(r->f);
    bool ok = fflush(r->f) == 0 && !ferror(r->f);
    int saved = ok ? 0 : errno ? errno : EIO;
    struct stat st;
    /* the replaced file keeps its permissions; a new one has the umask's */
    if (ok && stat(r->target, &st) == 0 && fchmod(fd, st.st_mode & 07777) != 0) saved = errno, ok = false;
    if (ok && fsync(fd) != 0) saved = errno, ok = false;
    if (fclose(r->f) != 0 && ok) saved = errno, ok = false;
    r->f = NULL;
    if (ok && rename(r->tmp, r->target) != 0) saved = errno, ok = false;
    if (!ok) {
        unlink(r->tmp);
        rt_fail(err, "%s: cannot write the %s: %s", r->path, r->what, strerror(saved));
    } else if (sync_dir_of(r->target) != 0) {
        rt_fail(err, "%s: written, but its folder could not be synced to disk: %s", r->path,
                strerror(errno));
        ok = false;
    }
    free(r->target);
    free(r->tmp);
    *r = (rt_replace){0};
    return ok;
}

/* ------------------------------------------------------------ metrics */

struct rt_metrics {
    int fd;
    int64_t run;
    char *path;
};

/* Writes all of buf (a write may take part of it). */
static bool write_all(int fd, const char *buf, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            if (w == 0) errno = ENOSPC;
            return false;
        }
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

/* The file's bytes (a regular file's; anything else reads as empty). */
static char *read_existing(int fd, size_t *len) {
    struct stat st;
    *len = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return calloc(1, 1);
    char *buf = malloc((size_t)st.st_size + 1);
    size_t n = 0;
    while (buf && n < (size_t)st.st_size) {
        ssize_t got = pread(fd, buf + n, (size_t)st.st_size - n, (off_t)n);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        n += (size_t)got;
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

/* Moves a log whose header differs from this run's aside: PATH's ".csv" becomes
 * ".N.csv" with the first N not taken (link refuses to replace a file). */
static bool move_aside(const char *path, rt_error *err) {
    size_t len = strlen(path), stem = len > 4 && strcmp(path + len - 4, ".csv") == 0 ? len - 4 : len;
    char aside[PATH_MAX];
    for (int n = 1; n < 100000; n++) {
        snprintf(aside, sizeof aside, "%.*s.%d%s", (int)stem, path, n, path + stem);
        if (link(path, aside) == 0) {
            if (unlink(path) == 0) return true;
            break;
        }
        if (errno != EEXIST) break;
    }
    rt_fail(err, "%s: its columns differ from this run's and it cannot be moved aside: %s", path,
            strerror(errno));
    return false;
}

rt_metrics *rt_metrics_open(const char *path, const char *columns, rt_error *err) {
    rt_metrics *m = calloc(1, sizeof *m);
    size_t hlen = strlen(columns) + 6;
    char *header = malloc(hlen);
    if (!m || !header || !(m->path = strdup(path))) {
        rt_fail(err, "%s: out of memory", path);
        goto fail;
    }
    snprintf(header, hlen, "run,%s\n", columns);
    m->fd = -1;
    for (int tries = 0; tries < 2; tries++) {
        m->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
        if (m->fd < 0) {
            rt_fail(err, "%s: cannot write the metrics: %s", path, strerror(errno));
            goto fail;
        }
        size_t len;
        char *old = read_existing(m->fd, &len);
        if (!old) {
            rt_fail(err, "%s: out of memory", path);
            goto fail;
        }
        /* a line cut short by a crash is not a row */
        size_t keep = len;
        while (keep > 0 && old[keep - 1] != '\n') keep--;
        bool fresh = keep == 0;
        if (!fresh && (keep < strlen(header) || strncmp(old, header, strlen(header)) != 0)) {
            free(old);
            close(m->fd);
            m->fd = -1;
            if (!move_aside(path, err)) goto fail;
            continue;
        }
        if (keep < len && ftruncate(m->fd, (off_t)keep) != 0) {
            rt_fail(err, "%s: cannot drop its unfinished last line: %s", path, strerror(errno));
            free(old);
            goto fail;
        }
        m->run = 1;
        for (const char *p = strchr(old, '\n'); !fresh && p && p[1]; p = strchr(p + 1, '\n')) {
            long long run = strtoll(p + 1, NULL, 10);
            if (run >= m->run) m->run = run + 1;
        }
        free(old);
        if (fresh && !write_all(m->fd, header, strlen(header))) {
            rt_fail(err, "%s: cannot write the metrics: %s", path, strerror(errno));
            goto fail;
        }
        free(header);
        return m;
    }
    rt_fail(err, "%s: cannot start a new metrics file", path);
fail:
    free(header);
    if (m && m->fd >= 0) close(m->fd);
    if (m) free(m->path);
    free(m);
    return NULL;
}

bool rt_metrics_row(rt_metrics *m, const char *row, rt_error *err) {
    size_t len = strlen(row) + 24;
    char *line = malloc(len);
    if (!line) {
        rt_fail(err, "%s: out of memory", m->path);
        return false;
    }
    int n = snprintf(line, len, "%lld,%s\n", (long long)m->run, row);
    bool ok = write_all(m->fd, line, (size_t)n);
    free(line);
    if (!ok) rt_fail(err, "%s: cannot write the metrics: %s", m->path, strerror(errno));
    return ok;
}

bool rt_metrics_close(rt_metrics *m, rt_error *err) {
    if (!m) return true;
    bool ok = close(m->fd) == 0;
    if (!ok) rt_fail(err, "%s: cannot write the metrics: %s", m->path, strerror(errno));
    free(m->path);
    free(m);
    return ok;
}
