/* objcache.c — the persistent cache of compiled step objects.
 *
 * LLVM's optimisation and machine-code generation are most of a compile
 * (docs/performance.md), and a user reruns the same program many times. Each
 * step module's object code is kept under the cache directory, named by a
 * 128-bit hash of everything the object depends on: the module's IR text,
 * the target CPU and features, the pass pipeline, and the versions of rlc and
 * LLVM. An entry is a header (magic, key, payload size and payload hash) and
 * the object bytes; it is written to a temporary file and renamed into place,
 * so concurrent runs never see half an entry. An entry that does not match
 * its header (a torn copy, a bit flip, a foreign file) is a miss: the module
 * is compiled again and the entry replaced. A cache that cannot be written
 * (read-only home, full disk) only costs the time it would have saved.
 */
#include "kernel.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <llvm-c/Core.h>

#define ENTRY_MAGIC "RLCOBJ1\n"
enum { MAGIC_BYTES = 8, HEADER_BYTES = MAGIC_BYTES + 16 + 8 + 16 };

/* Two FNV-1a lanes with different offset bases: 128 bits against accidental
 * collisions and corrupt payloads (not against an adversary who can write the
 * cache directory, who could as well replace rlc). */
typedef struct Hash128 {
    uint64_t lo, hi;
} Hash128;

static void hash_bytes(Hash128 *h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h->lo = (h->lo ^ p[i]) * 1099511628211ull;
        h->hi = (h->hi ^ p[i]) * 1099511628211ull;
    }
}

static void hash_str(Hash128 *h, const char *s) { hash_bytes(h, s, strlen(s) + 1); }

static Hash128 hash_init(void) {
    return (Hash128){.lo = 1469598103934665603ull, .hi = 0x6c62272e07bb0142ull};
}

static void put_u64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_u64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

ObjCacheKey objcache_key(LLVMModuleRef m, LLVMTargetMachineRef tm, const char *pipeline) {
    Hash128 h = hash_init();
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    char versions[96];
    snprintf(versions, sizeof versions, "rlc %s llvm %u.%u.%u", RLC_VERSION, major, minor, patch);
    hash_str(&h, versions);
    char *cpu = LLVMGetTargetMachineCPU(tm);
    char *features = LLVMGetTargetMachineFeatureString(tm);
    char *triple = LLVMGetTargetMachineTriple(tm);
    hash_str(&h, cpu);
    hash_str(&h, features);
    hash_str(&h, triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    LLVMDisposeMessage(triple);
    hash_str(&h, pipeline);
    char *ir = LLVMPrintModuleToString(m);
    hash_str(&h, ir);
    LLVMDisposeMessage(ir);
    ObjCacheKey key;
    snprintf(key.hex, sizeof key.hex, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
    return key;
}

static char *entry_path(const char *dir, const ObjCacheKey *key) {
    size_t n = strlen(dir) + sizeof key->hex + 8;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s.o", dir, key->hex);
    return path;
}

static void header_for(unsigned char *hdr, const ObjCacheKey *key, const void *obj, size_t n) {
    memcpy(hdr, ENTRY_MAGIC, MAGIC_BYTES);
    memcpy(hdr + MAGIC_BYTES, key->hex, 16);
    put_u64(hdr + MAGIC_BYTES + 16, n);
    Hash128 h = hash_init();
    hash_bytes(&h, obj, n);
    put_u64(hdr + MAGIC_BYTES + 24, h.lo);
    put_u64(hdr + MAGIC_BYTES + 32, h.hi);
}

LLVMMemoryBufferRef objcache_get(const char *dir, const ObjCacheKey *key) {
    char *path = entry_path(dir, key);
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) return NULL;
    LLVMMemoryBufferRef out = NULL;
    unsigned char hdr[HEADER_BYTES];
    struct stat st;
    if (fread(hdr, 1, sizeof hdr, f) == sizeof hdr && fstat(fileno(f), &st) == 0 &&
        memcmp(hdr, ENTRY_MAGIC, MAGIC_BYTES) == 0 &&
        memcmp(hdr + MAGIC_BYTES, key->hex, 16) == 0) {
        uint64_t n = get_u64(hdr + MAGIC_BYTES + 16);
        char *obj = st.st_size >= HEADER_BYTES && n == (uint64_t)st.st_size - HEADER_BYTES
                        ? malloc(n ? n : 1)
                        : NULL;
        unsigned char expect[HEADER_BYTES];
        if (obj && fread(obj, 1, n, f) == n) {
            header_for(expect, key, obj, n);
            if (memcmp(expect, hdr, sizeof hdr) == 0)
                out = LLVMCreateMemoryBufferWithMemoryRangeCopy(obj, n, key->hex);
        }
        free(obj);
    }
    fclose(f);
    return out;
}

static bool make_dirs(const char *dir) {
    char *p = strdup(dir);
    if (!p) return false;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) break;
        *s = '/';
    }
    free(p);
    return mkdir(dir, 0755) == 0 || errno == EEXIST;
}

void objcache_put(const char *dir, const ObjCacheKey *key, LLVMMemoryBufferRef obj) {
    if (!make_dirs(dir)) return;
    char *path = entry_path(dir, key);
    size_t tn = path ? strlen(path) + 8 : 0;
    char *tmp = path ? malloc(tn) : NULL;
    if (!tmp) {
        free(path);
        return;
    }
    snprintf(tmp, tn, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        const char *bytes = LLVMGetBufferStart(obj);
        size_t n = LLVMGetBufferSize(obj);
        unsigned char hdr[HEADER_BYTES];
        header_for(hdr, key, bytes, n);
        FILE *f = fdopen(fd, "wb");
        bool ok = f && fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr && fwrite(bytes, 1, n, f) == n;
        if (f ? fclose(f) != 0 : close(fd) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) unlink(tmp);
    }
    free(tmp);
    free(path);
}

char *objcache_default_dir(void) {
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    const char *base = xdg && xdg[0] == '/' ? xdg : NULL;
    const char *suffix = base ? "/rlc" : "/.cache/rlc";
    if (!base) base = home && home[0] == '/' ? home : NULL;
    if (!base) return NULL;
    size_t n = strlen(base) + strlen(suffix) + 1;
    char *dir = malloc(n);
    if (dir) snprintf(dir, n, "%s%s", base, suffix);
    return dir;
}
