/*
 * malloc_thread: the pattern of glibc's benchtests/bench-malloc-thread (the
 * "glibc-thread" row of mimalloc-bench), written for tinyalloc.
 *
 *   malloc_thread <secs> <threads> [max ops per thread]
 *   e.g. malloc_thread 2 8
 *
 * Every thread owns a working set of 1024 slots, all empty at the start, and
 * replaces random slots: free the old block (free(NULL) while the slot is
 * still empty), malloc a new one. Sizes follow an inverse-square
 * distribution over [4, 32768] bytes (most are a few bytes, one in ~250 is
 * above 1 KiB), read from a table of 8000 precomputed sizes; slots from a
 * table of 4096 precomputed indexes; both tables are shared by all threads
 * and walked in order, as the original does. No block leaves its thread and
 * no thread exits early: this is the allocator's own-thread fast path with a
 * small, cache-resident working set and a new size class almost every call.
 * With [max ops], each thread stops after that many replacements (a fixed
 * amount of work, for instruction counts under callgrind).
 *
 * Prints one line on stdout:
 *   RESULT ops_per_sec=... secs=... ops=... threads=... malloc_from=...
 * where one op is one replacement (a free plus a malloc).
 */
#include "bench.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define WORKING_SET 1024
#define SIZE_TABLE 8000
#define SLOT_TABLE (WORKING_SET * 4)
#define MIN_SIZE 4.0
#define MAX_SIZE 32768.0

static unsigned sizes[SIZE_TABLE];
static unsigned slots[SLOT_TABLE];
static atomic_int stop;
static uint64_t max_ops;

struct worker {
    uint64_t ops;
    char pad[56];
};

/* Inverse transform of the density c / s^2 on [MIN_SIZE, MAX_SIZE]:
 * 1/s is uniform between 1/MAX_SIZE and 1/MIN_SIZE. */
static unsigned inverse_square_size(double u) {
    double inv = 1.0 / MAX_SIZE + u * (1.0 / MIN_SIZE - 1.0 / MAX_SIZE);
    return (unsigned)(1.0 / inv);
}

static void fill_tables(void) {
    uint64_t rng = 88;
    for (int i = 0; i < SIZE_TABLE; i++)
        sizes[i] = inverse_square_size((double)(next_random(&rng) >> 11) / 9007199254740992.0);
    for (int i = 0; i < SLOT_TABLE; i++)
        slots[i] = next_random(&rng) % WORKING_SET;
}

static void *run(void *arg) {
    struct worker *w = arg;
    void *set[WORKING_SET] = {0};
    unsigned size_at = 0, slot_at = 0;
    uint64_t ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed) && (max_ops == 0 || ops < max_ops)) {
        /* 64 replacements between looks at the flag, as cheap as the original's. */
        for (int i = 0; i < 64; i++) {
            unsigned slot = slots[slot_at];
            slot_at = slot_at + 1 == SLOT_TABLE ? 0 : slot_at + 1;
            unsigned size = sizes[size_at];
            size_at = size_at + 1 == SIZE_TABLE ? 0 : size_at + 1;
            free(set[slot]);
            set[slot] = malloc(size);
            if (!set[slot]) {
                fprintf(stderr, "malloc(%u) failed\n", size);
                exit(1);
            }
        }
        ops += 64;
    }
    for (int i = 0; i < WORKING_SET; i++)
        free(set[i]);
    w->ops = ops;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s <secs> <threads> [max ops per thread]\n", argv[0]);
        return 2;
    }
    double secs = atof(argv[1]);
    int threads = atoi(argv[2]);
    max_ops = argc > 3 ? strtoull(argv[3], NULL, 10) : 0;
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "threads must be 1..1024\n");
        return 2;
    }
    fill_tables();
    struct worker *workers = calloc(threads, sizeof *workers);
    pthread_t *ids = calloc(threads, sizeof *ids);
    if (!workers || !ids)
        return 1;
    double start = now_secs();
    for (int t = 0; t < threads; t++)
        if (pthread_create(&ids[t], NULL, run, &workers[t]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    if (max_ops == 0) {
        struct timespec nap = {(time_t)secs, (long)((secs - (time_t)secs) * 1e9)};
        nanosleep(&nap, NULL);
        atomic_store(&stop, 1);
    }
    uint64_t ops = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        ops += workers[t].ops;
    }
    double elapsed = now_secs() - start;
    const char *from = malloc_from();
    printf("RESULT ops_per_sec=%.0f secs=%.3f ops=%llu threads=%d malloc_from=%s\n",
           ops / elapsed, elapsed, (unsigned long long)ops, threads, from);
    free(ids);
    free(workers);
    return 0;
}
