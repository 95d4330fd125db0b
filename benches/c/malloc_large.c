/*
 * malloc_large: the pattern of mimalloc-bench's malloc-large (a program that
 * keeps up to 20 big buffers and replaces them at random), written for
 * tinyalloc.
 *
 *   malloc_large [iterations] [min MiB] [max MiB]
 *   defaults: 100 iterations of 5..25 MiB
 *
 * 20 slots, empty at first. Each iteration picks a random slot and a random
 * size in [min, max] MiB, allocates a new buffer and fills it with zeros
 * (as C++'s `std::make_unique<char[]>(n)` does: every page is touched), and
 * only then frees the slot's old buffer (a `unique_ptr` assignment), so up
 * to 21 buffers are live at once. What counts is the peak resident set
 * (the live buffers are the same for every allocator) and the time.
 *
 * Prints one line on stdout:
 *   RESULT secs=... live_peak_mib=... malloc_from=...
 * (`preload` adds the peak RSS.)
 */
#include "bench.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 20

/* Called through a volatile pointer, so that the compiler cannot fuse
 * malloc + memset into calloc (C++'s operator new + memset is not fused). */
static void *(*volatile fill)(void *, int, size_t) = memset;

int main(int argc, char **argv) {
    int iterations = argc > 1 ? atoi(argv[1]) : 100;
    size_t min = (size_t)(argc > 2 ? atoi(argv[2]) : 5) << 20;
    size_t max = (size_t)(argc > 3 ? atoi(argv[3]) : 25) << 20;
    if (iterations < 1 || min == 0 || max < min) {
        fprintf(stderr, "usage: %s [iterations] [min MiB] [max MiB]\n", argv[0]);
        return 2;
    }
    char *buffers[SLOTS] = {0};
    size_t sizes[SLOTS] = {0};
    size_t live = 0, live_peak = 0;
    uint64_t rng = 42;
    double start = now_secs();
    for (int i = 0; i < iterations; i++) {
        int slot = (int)(next_random(&rng) % SLOTS);
        size_t size = min + next_random(&rng) % (max - min + 1);
        char *fresh = malloc(size);
        if (!fresh) {
            fprintf(stderr, "malloc(%zu) failed\n", size);
            return 1;
        }
        fill(fresh, 0, size);
        live += size;
        if (live > live_peak)
            live_peak = live;
        free(buffers[slot]);
        live -= sizes[slot];
        buffers[slot] = fresh;
        sizes[slot] = size;
    }
    double secs = now_secs() - start;
    for (int s = 0; s < SLOTS; s++)
        free(buffers[s]);
    const char *from = malloc_from();
    printf("RESULT secs=%.3f live_peak_mib=%.1f malloc_from=%s\n", secs, live_peak / 1048576.0, from);
    return 0;
}
