/* objcache.c — the persistent cache of compiled step objects.
 *
 * LLVM's optimisation and machine-code generation are most of a compile
 * (docs/performance.md), and a user reruns the same program many times. Each
 * step module's object code is kept under the cache directory, named by a
 * 128-bit hash of everything the object depends on: the module's code (its
 * bitcode), the target CPU and features, the pass pipelines, and the versions
 * of rlc and LLVM. An entry
 * is a header (magic, key, payload size and payload hash) and the object
 * bytes; it is written to a temporary file and renamed into place, so
 * concurrent runs never see half an entry. An entry that does not match
 * its header (a torn copy, a bit flip, a foreign file) is a miss: the module
 * is compiled again and the entry replaced. A cache that cannot be written
 * (read-only home, full disk) only costs the time it would have saved.
 * The same directory remembers dataset properties that lowering needs and only a
 * corpus knows (`brown.vocab`), keyed by the corpus files' names, sizes, inodes and
 * times, so that a second run does not read the corpus to compile (the trainer
 * reads it once, after). Like make, it cannot see a file rewritten with the same
 * size within one tick of the file system's clock; --no-cache reads the data.
 * A second name for each object (objcache_source_key) hashes what the module was
 * generated from instead of its IR: the program's inputs and the build id of the
 * rlc that lowers and emits it. A run whose every module has such an entry takes
 * them without emitting or printing any IR (most of a cached run otherwise).
 */
#include "kernel.h"

#include <elf.h>
#include <link.h> /* dl_iterate_phdr: the build defines _GNU_SOURCE */
#include <pthread.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <llvm-c/BitWriter.h>
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

static ObjCacheKey key_of(Hash128 h) {
    ObjCacheKey key;
    snprintf(key.hex, sizeof key.hex, "%016llx%016llx", (unsigned long long)h.hi,
             (unsigned long long)h.lo);
    return key;
}

ObjCacheKey objcache_text_hash(const char *text) {
    Hash128 h = hash_init();
    hash_str(&h, text);
    return key_of(h);
}

bool objcache_named_by_its_code(const char *name, size_t n) {
    enum { HEX = 32 };
    if (n <= HEX + 1 || name[n - HEX - 1] != '_') return false;
    for (size_t i = n - HEX; i < n; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return false;
    for (size_t i = 0; i < n - HEX - 1; i++) /* the kind: letters and _ */
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_')) return false;
    return true;
}

/* The module's code, as its bitcode (LLVM writes the same bytes for the same
 * module): printing it as text cost the square of its size (printing one function
 * numbers the metadata of them all), 53 ms of CPU for bert.rl's first module
 * before any compile could start, the bitcode a few. */
static void hash_bitcode(Hash128 *h, LLVMMemoryBufferRef bitcode) {
    hash_bytes(h, LLVMGetBufferStart(bitcode), LLVMGetBufferSize(bitcode));
}

void objcache_version(char *out, size_t cap) {
    unsigned major, minor, patch;
    LLVMGetVersion(&major, &minor, &patch);
    snprintf(out, cap, "rlc %s (LLVM %u.%u.%u)", RLC_VERSION, major, minor, patch);
}

/* What the code is compiled for and by: rlc's and LLVM's versions, the target CPU, its
 * features and triple, and the pass pipeline. */
static void hash_target(Hash128 *h, LLVMTargetMachineRef tm, const char *pipeline) {
    char version[96];
    objcache_version(version, sizeof version);
    hash_str(h, version);
    char *cpu = LLVMGetTargetMachineCPU(tm);
    char *features = LLVMGetTargetMachineFeatureString(tm);
    char *triple = LLVMGetTargetMachineTriple(tm);
    hash_str(h, cpu);
    hash_str(h, features);
    hash_str(h, triple);
    LLVMDisposeMessage(cpu);
    LLVMDisposeMessage(features);
    LLVMDisposeMessage(triple);
    hash_str(h, pipeline);
}

ObjCacheKey objcache_key_of_bitcode(LLVMMemoryBufferRef bitcode, LLVMTargetMachineRef tm, const char *pipeline) {
    Hash128 h = hash_init();
    hash_target(&h, tm, pipeline);
    hash_bitcode(&h, bitcode);
    return key_of(h);
}

ObjCacheKey objcache_key(LLVMModuleRef m, LLVMTargetMachineRef tm, const char *pipeline) {
    LLVMMemoryBufferRef bitcode = LLVMWriteBitcodeToMemoryBuffer(m);
    ObjCacheKey key = objcache_key_of_bitcode(bitcode, tm, pipeline);
    LLVMDisposeMemoryBuffer(bitcode);
    return key;
}

/* The GNU build id (the linker's hash of the file) of the executable or library
 * that holds this code: it changes with any change of lowering, fusion or codegen. */
typedef struct BuildId {
    unsigned char bytes[64];
    size_t n;
} BuildId;

static BuildId build_id;

static bool holds_this_code(const struct dl_phdr_info *info) {
    uintptr_t here = (uintptr_t)(void *)objcache_source_key;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t start = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && here >= start && here - start < ph->p_memsz) return true;
    }
    return false;
}

static int find_build_id(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    if (!holds_this_code(info)) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_NOTE) continue;
        const unsigned char *p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
        const unsigned char *end = p + ph->p_memsz;
        while ((size_t)(end - p) >= sizeof(ElfW(Nhdr))) {
            ElfW(Nhdr) note;
            memcpy(&note, p, sizeof note);
            size_t name = (note.n_namesz + 3u) & ~(size_t)3, desc = (note.n_descsz + 3u) & ~(size_t)3;
            const unsigned char *at = p + sizeof note;
            if ((size_t)(end - at) < name + desc) break;
            if (note.n_type == NT_GNU_BUILD_ID && note.n_namesz == 4 && memcmp(at, "GNU", 4) == 0 &&
                note.n_descsz > 0 && note.n_descsz <= sizeof build_id.bytes) {
                memcpy(build_id.bytes, at + name, note.n_descsz);
                build_id.n = note.n_descsz;
                return 1;
            }
            p = at + name + desc;
        }
    }
    return 1;
}

static void read_build_id(void) { dl_iterate_phdr(find_build_id, NULL); }

bool objcache_source_key(const char *inputs, const char *module, LLVMTargetMachineRef tm,
                         const char *pipeline, ObjCacheKey *key) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_build_id);
    if (build_id.n == 0) return false;
    Hash128 h = hash_init();
    hash_str(&h, "by source");
    hash_bytes(&h, build_id.bytes, build_id.n);
    hash_target(&h, tm, pipeline);
    hash_str(&h, inputs);
    hash_str(&h, module);
    *key = key_of(h);
    return true;
}

static char *entry_path(const char *dir, const ObjCacheKey *key, const char *suffix) {
    size_t n = strlen(dir) + sizeof key->hex + strlen(suffix) + 2;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s%s", dir, key->hex, suffix);
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
    char *path = entry_path(dir, key, ".o");
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

/* Writes head then body to path (taken) through a temporary file renamed into
 * place, so a concurrent reader sees the old entry or the new one, never a part. */
static void put_entry(const char *dir, char *path, const void *head, size_t head_n, const void *body,
                      size_t body_n) {
    size_t tn = path ? strlen(path) + 8 : 0;
    char *tmp = path && make_dirs(dir) ? malloc(tn) : NULL;
    if (!tmp) {
        free(path);
        return;
    }
    snprintf(tmp, tn, "%s.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "wb");
        bool ok = f && fwrite(head, 1, head_n, f) == head_n && fwrite(body, 1, body_n, f) == body_n;
        if (f ? fclose(f) != 0 : close(fd) != 0) ok = false;
        if (!ok || rename(tmp, path) != 0) unlink(tmp);
    }
    free(tmp);
    free(path);
}

void objcache_put(const char *dir, const ObjCacheKey *key, LLVMMemoryBufferRef obj) {
    const char *bytes = LLVMGetBufferStart(obj);
    size_t n = LLVMGetBufferSize(obj);
    unsigned char hdr[HEADER_BYTES];
    header_for(hdr, key, bytes, n);
    put_entry(dir, entry_path(dir, key, ".o"), hdr, sizeof hdr, bytes, n);
}

/* ------------------------------------------------ dataset properties */

#define DIM_MAGIC "RLCDIM1\n"

/* "MAGIC" KEY "\n" VALUE "\n": the key in full, so that a hash collision is a miss. */
bool objcache_get_dim(const char *dir, const char *key, int64_t *value) {
    ObjCacheKey name = objcache_text_hash(key);
    char *path = entry_path(dir, &name, ".dim");
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) return false;
    size_t want = strlen(DIM_MAGIC) + strlen(key) + 32, n = 0;
    char *text = malloc(want + 1);
    if (text) n = fread(text, 1, want, f);
    fclose(f);
    bool ok = false;
    if (text && n > strlen(DIM_MAGIC) + strlen(key) + 1) {
        text[n] = 0;
        const char *at = text + strlen(DIM_MAGIC) + strlen(key);
        char *end = NULL;
        long long v = *at == '\n' ? strtoll(at + 1, &end, 10) : -1;
        ok = strncmp(text, DIM_MAGIC, strlen(DIM_MAGIC)) == 0 &&
             strncmp(text + strlen(DIM_MAGIC), key, strlen(key)) == 0 && v > 0 && *end == '\n' && !end[1];
        if (ok) *value = v;
    }
    free(text);
    return ok;
}

void objcache_put_dim(const char *dir, const char *key, int64_t value) {
    ObjCacheKey name = objcache_text_hash(key);
    size_t n = strlen(key) + 32;
    char *body = malloc(n);
    if (!body) return;
    snprintf(body, n, "%s\n%lld\n", key, (long long)value);
    put_entry(dir, entry_path(dir, &name, ".dim"), DIM_MAGIC, strlen(DIM_MAGIC), body, strlen(body));
    free(body);
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
