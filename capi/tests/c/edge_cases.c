/*
 * Edge cases of every function libtinyalloc exports, asserted against the
 * glibc semantics the C ABI promises.
 *
 *   edge_cases            strict: the allocator under test is tinyalloc
 *   edge_cases glibc      the same program against plain glibc, skipping the
 *                         checks where glibc 2.36 differs (it has no
 *                         free_sized, and before 2.38 its aligned_alloc
 *                         accepted any alignment), to show that the
 *                         expectations below are glibc's own
 *
 * Exits 0 when every check passes, 1 otherwise (each failure is printed).
 * Compile with -fno-builtin so the compiler keeps every call as written.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GNUC__) && __GNUC__ >= 12
/* The failure paths below use a block after a realloc that must fail. */
#pragma GCC diagnostic ignored "-Wuse-after-free"
#endif

/* C23 names; absent from glibc 2.36, so weak: null if nobody defines them. */
extern void free_sized(void *ptr, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *ptr, size_t align, size_t size) __attribute__((weak));

static int failures;
static int checks;
static int strict = 1;

#define CHECK(cond)                                                          \
    do {                                                                     \
        checks++;                                                            \
        if (!(cond)) {                                                       \
            failures++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s (errno %d)\n", __FILE__, __LINE__, \
                    #cond, errno);                                           \
        }                                                                    \
    } while (0)

/* Sizes the compiler cannot see through. */
static volatile size_t size_max = SIZE_MAX;
static volatile size_t half_plus_one = SIZE_MAX / 2 + 1;
static volatile size_t beyond_ptrdiff = (size_t)PTRDIFF_MAX + 1;

static int aligned_to(const void *p, size_t align) {
    return ((uintptr_t)p & (align - 1)) == 0;
}

static void fill(unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(seed + i * 31 + (i >> 8));
}

static int filled(const unsigned char *p, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != (unsigned char)(seed + i * 31 + (i >> 8)))
            return 0;
    return 1;
}

static int all_zero(const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int compare_ptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static const size_t sizes[] = {
    0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 100, 127, 128,
    129, 255, 256, 1000, 1024, 4095, 4096, 4097, 8191, 8192, 8193, 65535,
    65536, 65537, 131071, 131072, 131073, 262144, 1000000, 1 << 21,
    (1 << 21) + 1, 5 << 20, 33 << 20,
};
#define SIZES (sizeof sizes / sizeof sizes[0])

static void test_malloc(void) {
    /* malloc(0): non-null and unique. */
    enum { ZEROS = 1000 };
    static void *zeros[ZEROS];
    for (int i = 0; i < ZEROS; i++) {
        zeros[i] = malloc(0);
        CHECK(zeros[i] != NULL);
    }
    qsort(zeros, ZEROS, sizeof zeros[0], compare_ptr);
    int distinct = 1;
    for (int i = 1; i < ZEROS; i++)
        if (zeros[i] == zeros[i - 1])
            distinct = 0;
    CHECK(distinct);
    for (int i = 0; i < ZEROS; i++)
        free(zeros[i]);

    free(NULL);

    /* Alignment, usable size, contents, for sizes across every path. */
    for (size_t i = 0; i < SIZES; i++) {
        size_t n = sizes[i];
        unsigned char *p = malloc(n);
        CHECK(p != NULL);
        if (!p)
            continue;
        /* 16 (alignof(max_align_t)) for anything that can hold 16 bytes. */
        CHECK(aligned_to(p, n >= 16 ? 16 : 8));
        CHECK(malloc_usable_size(p) >= n);
        fill(p, n, (unsigned)i);
        CHECK(filled(p, n, (unsigned)i));
        /* The whole usable size is writable. */
        memset(p, 0x5a, malloc_usable_size(p));
        free(p);
    }

    /* Impossible sizes: null with ENOMEM. */
    errno = 0;
    CHECK(malloc(size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(beyond_ptrdiff) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(malloc(size_max - 4096) == NULL && errno == ENOMEM);

    CHECK(malloc_usable_size(NULL) == 0);
}

static void test_calloc(void) {
    for (size_t i = 0; i < SIZES; i++) {
        size_t n = sizes[i];
        /* Dirty a block of the same size first, so reuse must be zeroed. */
        unsigned char *dirty = malloc(n);
        CHECK(dirty != NULL);
        if (dirty) {
            memset(dirty, 0xa5, n);
            free(dirty);
        }
        unsigned char *p = calloc(1, n);
        CHECK(p != NULL);
        if (p) {
            CHECK(all_zero(p, n));
            CHECK(aligned_to(p, n >= 16 ? 16 : 8));
            free(p);
        }
        p = calloc(n, 3);
        CHECK(p != NULL);
        if (p) {
            if (!all_zero(p, n * 3)) {
                size_t at = 0;
                while (!p[at])
                    at++;
                fprintf(stderr, "calloc(%zu, 3) = %p: byte %zu is %#x\n", n, (void *)p, at, p[at]);
            }
            CHECK(all_zero(p, n * 3));
            free(p);
        }
    }
    void *p = calloc(0, 0);
    CHECK(p != NULL);
    free(p);

    /* Every byte malloc_usable_size reports may be written; a block that
     * reuses that memory must still come back zeroed from calloc. */
    static const size_t large[] = {200000, 1 << 20, 3 << 20};
    for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
        unsigned char *dirty = malloc(large[i]);
        CHECK(dirty != NULL);
        if (!dirty)
            continue;
        size_t usable = malloc_usable_size(dirty);
        memset(dirty, 0x5a, usable);
        free(dirty);
        unsigned char *q = calloc(1, usable);
        CHECK(q != NULL);
        if (q) {
            CHECK(all_zero(q, usable));
            free(q);
        }
    }

    errno = 0;
    CHECK(calloc(half_plus_one, 2) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(2, half_plus_one) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(size_max, size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(calloc(1, beyond_ptrdiff) == NULL && errno == ENOMEM);
}

static void test_realloc(void) {
    /* realloc(NULL, n) is malloc(n). */
    unsigned char *p = realloc(NULL, 100);
    CHECK(p != NULL && aligned_to(p, 16) && malloc_usable_size(p) >= 100);
    free(p);

    /* Contents survive growth through every size, then shrinking. */
    p = NULL;
    size_t have = 0;
    for (size_t i = 1; i < SIZES; i++) {
        size_t n = sizes[i];
        unsigned char *q = realloc(p, n);
        CHECK(q != NULL);
        if (!q)
            break;
        CHECK(filled(q, have < n ? have : n, 7));
        CHECK(aligned_to(q, n >= 16 ? 16 : 8));
        CHECK(malloc_usable_size(q) >= n);
        fill(q, n, 7);
        p = q;
        have = n;
    }
    for (size_t i = SIZES - 1; i >= 1; i--) {
        size_t n = sizes[i];
        unsigned char *q = realloc(p, n);
        CHECK(q != NULL);
        if (!q)
            break;
        CHECK(filled(q, n, 7));
        p = q;
    }

    /* A failed realloc returns null, sets ENOMEM and leaves p alone (p
     * holds one byte now). */
    errno = 0;
    CHECK(realloc(p, size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(realloc(p, beyond_ptrdiff) == NULL && errno == ENOMEM);
    CHECK(filled(p, 1, 7));

    /* realloc(p, 0) frees p and returns null (glibc). */
    CHECK(realloc(p, 0) == NULL);

    /* A large block grown and shrunk in place or not: contents kept. */
    p = malloc(3 << 20);
    CHECK(p != NULL);
    fill(p, 3 << 20, 11);
    p = realloc(p, 9 << 20);
    CHECK(p != NULL && filled(p, 3 << 20, 11));
    p = realloc(p, 1 << 20);
    CHECK(p != NULL && filled(p, 1 << 20, 11));
    p = realloc(p, 100);
    CHECK(p != NULL && filled(p, 100, 11));
    free(p);

    /* reallocarray: overflow is ENOMEM and leaves p alone. */
    p = reallocarray(NULL, 10, 10);
    CHECK(p != NULL && malloc_usable_size(p) >= 100);
    fill(p, 100, 3);
    errno = 0;
    CHECK(reallocarray(p, half_plus_one, 2) == NULL && errno == ENOMEM);
    CHECK(filled(p, 100, 3));
    unsigned char *q = reallocarray(p, 1000, 10);
    CHECK(q != NULL && filled(q, 100, 3));
    free(q);
}

static void test_posix_memalign(void) {
    void *sentinel = (void *)(uintptr_t)0x1234;
    static const size_t bad[] = {0, 1, 2, 4, 12, 24, 40, sizeof(void *) * 3,
                                 sizeof(void *) * 5, 4097, (size_t)1 << 63 | 8};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *p = sentinel;
        CHECK(posix_memalign(&p, bad[i], 64) == EINVAL);
        CHECK(p == sentinel);
    }
    for (size_t align = sizeof(void *); align <= ((size_t)1 << 26); align <<= 1) {
        static const size_t lens[] = {0, 1, 100, 5000, 200000, 3 << 20};
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            void *p = sentinel;
            CHECK(posix_memalign(&p, align, lens[j]) == 0);
            CHECK(p != sentinel && p != NULL);
            if (p == sentinel || p == NULL)
                continue;
            CHECK(aligned_to(p, align));
            CHECK(malloc_usable_size(p) >= lens[j]);
            memset(p, 0x77, lens[j]);
            free(p);
        }
    }
    void *p = sentinel;
    CHECK(posix_memalign(&p, 64, size_max) == ENOMEM);
    CHECK(p == sentinel);
    CHECK(posix_memalign(&p, 4096, beyond_ptrdiff) == ENOMEM);
    CHECK(p == sentinel);
    CHECK(posix_memalign(&p, (size_t)1 << 62, 1) == ENOMEM);
    CHECK(p == sentinel);
}

static int have_c17_aligned_alloc(void) {
    if (strict)
        return 1;
    const char *version = gnu_get_libc_version();
    int major = 0, minor = 0;
    sscanf(version, "%d.%d", &major, &minor);
    return major > 2 || (major == 2 && minor >= 38);
}

static void test_aligned_alloc(void) {
    for (size_t align = 1; align <= ((size_t)1 << 24); align <<= 1) {
        static const size_t lens[] = {0, 1, 24, 4096, 100000, 1 << 21};
        for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
            unsigned char *p = aligned_alloc(align, lens[j]);
            CHECK(p != NULL);
            if (!p)
                continue;
            CHECK(aligned_to(p, align));
            CHECK(malloc_usable_size(p) >= lens[j]);
            fill(p, lens[j], 5);
            /* realloc of an aligned block keeps its contents. */
            unsigned char *q = realloc(p, lens[j] + 1000);
            CHECK(q != NULL && filled(q, lens[j], 5));
            free(q);
        }
    }
    if (have_c17_aligned_alloc()) {
        static const size_t bad[] = {0, 3, 24, 48, 4097, SIZE_MAX};
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            errno = 0;
            CHECK(aligned_alloc(bad[i], 64) == NULL && errno == EINVAL);
        }
    }
    errno = 0;
    CHECK(aligned_alloc(16, size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(aligned_alloc(4096, beyond_ptrdiff) == NULL && errno == ENOMEM);
}

static void test_memalign(void) {
    for (size_t align = 1; align <= ((size_t)1 << 24); align <<= 1) {
        unsigned char *p = memalign(align, 1000);
        CHECK(p != NULL && aligned_to(p, align) && malloc_usable_size(p) >= 1000);
        free(p);
    }
    /* Not a power of two: rounded up to one (glibc). */
    static const size_t odd[] = {24, 48, 100, 3000, 5000, 70000};
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t rounded = 1;
        while (rounded < odd[i])
            rounded <<= 1;
        unsigned char *p = memalign(odd[i], 77);
        CHECK(p != NULL && aligned_to(p, rounded) && malloc_usable_size(p) >= 77);
        free(p);
    }
    void *p = memalign(0, 10);
    CHECK(p != NULL);
    free(p);
    /* Beyond SIZE_MAX / 2 + 1: EINVAL. */
    errno = 0;
    CHECK(memalign(half_plus_one + 1, 1) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(memalign(size_max, 1) == NULL && errno == EINVAL);
    errno = 0;
    CHECK(memalign(64, size_max) == NULL && errno == ENOMEM);
}

static void test_valloc(void) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    static const size_t lens[] = {0, 1, 100, 4095, 4096, 4097, 100000, 3 << 20};
    for (size_t j = 0; j < sizeof lens / sizeof lens[0]; j++) {
        size_t n = lens[j];
        unsigned char *p = valloc(n);
        CHECK(p != NULL && aligned_to(p, page) && malloc_usable_size(p) >= n);
        memset(p, 1, n);
        free(p);
        size_t whole = (n + page - 1) / page * page;
        p = pvalloc(n);
        CHECK(p != NULL && aligned_to(p, page) && malloc_usable_size(p) >= whole);
        memset(p, 1, whole);
        free(p);
    }
    errno = 0;
    CHECK(valloc(size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pvalloc(size_max) == NULL && errno == ENOMEM);
    errno = 0;
    CHECK(pvalloc(beyond_ptrdiff) == NULL && errno == ENOMEM);
}

static void test_sized_free(void) {
    if (!strict && !free_sized)
        return; /* glibc before 2.43 */
    CHECK(free_sized != NULL && free_aligned_sized != NULL);
    if (!free_sized || !free_aligned_sized)
        return;
    void *p = malloc(100);
    free_sized(p, 100);
    free_sized(NULL, 0);
    p = aligned_alloc(256, 1000);
    CHECK(p != NULL && aligned_to(p, 256));
    free_aligned_sized(p, 256, 1000);
    free_aligned_sized(NULL, 64, 0);
}

/* Blocks libc allocates internally, freed here (and the other way round):
 * both sides must be the same allocator. */
static void test_libc_internal(void) {
    char *s = strdup("tinyalloc");
    CHECK(s != NULL && strcmp(s, "tinyalloc") == 0);
    free(s);
    char *formatted = NULL;
    CHECK(asprintf(&formatted, "%d-%s-%0500d", 42, "x", 7) > 0);
    CHECK(formatted != NULL && strncmp(formatted, "42-x-", 5) == 0);
    free(formatted);
    char *buf = NULL;
    size_t len = 0;
    FILE *stream = open_memstream(&buf, &len);
    CHECK(stream != NULL);
    for (int i = 0; i < 10000; i++)
        fprintf(stream, "line %d\n", i);
    fclose(stream);
    CHECK(buf != NULL && len > 10000 && strncmp(buf, "line 0\n", 7) == 0);
    free(buf);
    /* getline grows a caller-supplied malloc block with realloc. */
    char *line = malloc(1);
    size_t cap = 1;
    static char text[] = "a fairly long line of text for getline to grow into\n";
    FILE *in = fmemopen(text, strlen(text), "r");
    CHECK(in != NULL);
    CHECK(getline(&line, &cap, in) == (ssize_t)strlen(text));
    CHECK(cap > strlen(text) && strcmp(line, text) == 0);
    fclose(in);
    free(line);
}

/* malloc_trim returns memory and the allocator keeps serving afterwards. */
static void test_trim(void) {
    enum { N = 2000 };
    static void *blocks[N];
    for (int i = 0; i < N; i++)
        blocks[i] = malloc((size_t)(i % 50) * 1000 + 1);
    for (int i = 0; i < N; i++)
        free(blocks[i]);
    int released = malloc_trim(0);
    CHECK(released == 0 || released == 1);
    unsigned char *p = calloc(1, 300000);
    CHECK(p != NULL && all_zero(p, 300000));
    free(p);
}

/* Many blocks of mixed sizes live at once, freed in a scrambled order. */
static void test_churn(void) {
    enum { LIVE = 4096, ROUNDS = 200000 };
    static unsigned char *blocks[LIVE];
    static size_t lens[LIVE];
    uint64_t state = 88172645463325252ull;
    for (int round = 0; round < ROUNDS; round++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        size_t slot = state % LIVE;
        if (blocks[slot]) {
            CHECK(filled(blocks[slot], lens[slot] < 64 ? lens[slot] : 64, (unsigned)slot));
            free(blocks[slot]);
        }
        size_t n = (state >> 20) % ((state >> 60) == 0 ? 300000 : 2000);
        int zeroed = (state >> 40) % 4 == 0;
        blocks[slot] = zeroed ? calloc(1, n) : malloc(n);
        lens[slot] = n;
        CHECK(blocks[slot] != NULL);
        if (!blocks[slot])
            continue;
        if (zeroed)
            CHECK(all_zero(blocks[slot], n));
        /* Dirty the whole block, so that reuse has something to clear. */
        memset(blocks[slot], 0xee, n);
        fill(blocks[slot], n < 64 ? n : 64, (unsigned)slot);
    }
    for (int i = 0; i < LIVE; i++)
        free(blocks[i]);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "glibc") == 0)
        strict = 0;
    test_malloc();
    test_calloc();
    test_realloc();
    test_posix_memalign();
    test_aligned_alloc();
    test_memalign();
    test_valloc();
    test_sized_free();
    test_libc_internal();
    test_trim();
    test_churn();
    printf("edge_cases (%s): %d checks, %d failures\n", strict ? "strict" : "glibc",
           checks, failures);
    return failures ? 1 : 0;
}
