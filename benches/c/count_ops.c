/* Allocation loops for instruction counting (scripts/count-instructions.sh).
 *
 *   count_ops MODE N
 *
 * MODE is one of
 *   pair     malloc(64) + free, N times                      (op = one pair)
 *   batch    100 blocks of 16..1024 B: malloc all, free all (op = one pair)
 *   calloc   calloc(1, 256) + free, N times                  (op = one pair)
 *   realloc  malloc(16), realloc doubling to 4 KiB, free     (op = one realloc)
 * and N the number of ops. Run it under callgrind with N and 2N: the
 * difference of the two totals divided by N is the cost of one op (start-up,
 * first-use slow paths and this program's set-up cancel out).
 *
 * Prints to stderr the library that serves `malloc` (dlsym's first
 * definition), so the caller can check that a preload took over.
 * Built with -fno-builtin: the compiler must not elide or merge the calls. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 100
#define REALLOC_STEPS 8 /* 16 -> 32 -> ... -> 4096 */

static void *volatile sink;

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s pair|batch|calloc|realloc N\n", argv[0]);
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[2]);
    Dl_info info;
    void *fn = dlsym(RTLD_DEFAULT, "malloc");
    if (fn && dladdr(fn, &info) && info.dli_fname)
        fprintf(stderr, "malloc from %s\n", info.dli_fname);

    if (!strcmp(mode, "pair")) {
        for (long i = 0; i < n; i++) {
            void *p = malloc(64);
            sink = p;
            free(p);
        }
    } else if (!strcmp(mode, "batch")) {
        static size_t sizes[BATCH];
        static void *blocks[BATCH];
        unsigned x = 12345;
        for (int i = 0; i < BATCH; i++) {
            x = x * 1103515245u + 12345u;
            sizes[i] = 16 + (x >> 8) % (1024 - 16 + 1);
        }
        for (long r = 0; r < n / BATCH; r++) {
            for (int i = 0; i < BATCH; i++)
                blocks[i] = malloc(sizes[i]);
            sink = blocks[BATCH - 1];
            for (int i = 0; i < BATCH; i++)
                free(blocks[i]);
        }
    } else if (!strcmp(mode, "calloc")) {
        for (long i = 0; i < n; i++) {
            void *p = calloc(1, 256);
            sink = p;
            free(p);
        }
    } else if (!strcmp(mode, "realloc")) {
        for (long r = 0; r < n / REALLOC_STEPS; r++) {
            char *p = malloc(16);
            p[0] = 1;
            for (size_t size = 32; size <= 4096; size *= 2) {
                p = realloc(p, size);
                p[size - 1] = 1;
            }
            sink = p;
            free(p);
        }
    } else {
        fprintf(stderr, "unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
