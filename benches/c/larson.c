/*
 * larson: the Larson & Krishnan server simulation ("Memory Allocation for
 * Long-Running Server Applications", ISMM 1998), as mimalloc-bench runs it.
 *
 *   larson <secs> <min size> <max size> <blocks per thread> <rounds> <seed> <threads> [max ops]
 *   e.g. larson 5 8 1000 5000 100 4141 8
 *
 * The main thread allocates every thread's array of blocks (random sizes in
 * [min, max)). Each worker then replaces random entries of its own array:
 * free the old block, malloc one of a random size, write its first bytes.
 * After rounds * blocks replacements the worker starts a successor thread
 * that inherits the array (and the random state) and exits, so blocks are
 * handed across thread generations: the successor frees its predecessor's
 * blocks. After <secs> seconds the main thread raises a stop flag and waits
 * for every chain to finish its current generation. With [max ops], a chain
 * also stops after that many replacements (a fixed amount of work, for
 * instruction counts under callgrind, where time is no measure).
 *
 * Prints one line on stdout:
 *   RESULT ops_per_sec=... secs=... ops=... threads=... generations=... end_kb=... malloc_from=...
 * where one op is one replacement (a free plus a malloc), and end_kb is the
 * resident set once the main thread has freed every block (what a server
 * keeps after a burst; no allocator here runs a background thread, so it is
 * also what an idle process keeps).
 */
#include "bench.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct chain {
    char **blocks;          /* this chain's array of live blocks */
    size_t count;           /* entries in `blocks` */
    size_t min_size, range; /* sizes are min_size + [0, range) */
    uint64_t per_generation; /* replacements before handing over */
    uint64_t rng;           /* inherited by each successor */
    uint64_t ops;           /* replacements done (written by the running generation) */
    uint64_t generations;   /* threads this chain has run */
    uint64_t max_ops;       /* stop after this many replacements (0: no limit) */
    atomic_int finished;    /* set (release) by the last generation after the stop */
    char pad[64];
};

static atomic_int stop;

static void *generation(void *arg);

/* Start the next generation of `c` on a new detached thread; if no thread
 * can be created, keep going on this one. */
static int hand_over(struct chain *c) {
    pthread_attr_t attr;
    pthread_t thread;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&thread, &attr, generation, c);
    pthread_attr_destroy(&attr);
    return rc == 0;
}

static void *generation(void *arg) {
    struct chain *c = arg;
    for (;;) {
        c->generations++;
        uint64_t rng = c->rng;
        uint64_t done = 0;
        uint64_t limit = c->per_generation;
        if (c->max_ops && c->max_ops - c->ops < limit)
            limit = c->max_ops - c->ops;
        for (; done < limit; done++) {
            size_t victim = next_random(&rng) % c->count;
            free(c->blocks[victim]);
            size_t size = c->min_size + next_random(&rng) % c->range;
            char *block = malloc(size);
            if (block == NULL) {
                fprintf(stderr, "larson: out of memory\n");
                exit(1);
            }
            /* Touch it, as the original does. */
            ((volatile char *)block)[0] = 'a';
            ((volatile char *)block)[1] = 'b';
            c->blocks[victim] = block;
            if ((done & 127) == 0 && atomic_load_explicit(&stop, memory_order_relaxed))
                break;
        }
        c->ops += done;
        c->rng = rng;
        if (atomic_load_explicit(&stop, memory_order_relaxed) || (c->max_ops && c->ops >= c->max_ops)) {
            atomic_store_explicit(&c->finished, 1, memory_order_release);
            return NULL;
        }
        if (hand_over(c))
            return NULL; /* this thread exits; the successor owns the array */
    }
}

int main(int argc, char **argv) {
    if (argc != 8 && argc != 9) {
        fprintf(stderr, "usage: %s <secs> <min size> <max size> <blocks per thread> <rounds> <seed> <threads> [max ops]\n",
                argv[0]);
        return 2;
    }
    double secs = atof(argv[1]);
    size_t min_size = strtoul(argv[2], NULL, 10);
    size_t max_size = strtoul(argv[3], NULL, 10);
    size_t per_thread = strtoul(argv[4], NULL, 10);
    uint64_t rounds = strtoull(argv[5], NULL, 10);
    uint64_t seed = strtoull(argv[6], NULL, 10);
    int threads = atoi(argv[7]);
    uint64_t max_ops = argc == 9 ? strtoull(argv[8], NULL, 10) : 0;
    if (threads < 1 || per_thread < 1 || max_size <= min_size || min_size < 2) {
        fprintf(stderr, "larson: bad arguments\n");
        return 2;
    }

    struct chain *chains = calloc(threads, sizeof *chains);
    uint64_t rng = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (int t = 0; t < threads; t++) {
        struct chain *c = &chains[t];
        c->blocks = malloc(per_thread * sizeof *c->blocks);
        c->count = per_thread;
        c->min_size = min_size;
        c->range = max_size - min_size;
        c->per_generation = rounds * per_thread;
        c->max_ops = max_ops;
        for (size_t i = 0; i < per_thread; i++)
            c->blocks[i] = malloc(min_size + next_random(&rng) % c->range);
        c->rng = next_random(&rng) | 1;
    }

    double start = now_secs();
    for (int t = 0; t < threads; t++) {
        if (!hand_over(&chains[t])) {
            fprintf(stderr, "larson: cannot create a thread\n");
            return 1;
        }
    }
    /* Sleep until the time is up (or every chain has done its max ops). */
    for (;;) {
        int running = 0;
        for (int t = 0; t < threads; t++)
            running += !atomic_load_explicit(&chains[t].finished, memory_order_acquire);
        if (running == 0 || now_secs() - start >= secs)
            break;
        usleep(1000);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < threads; t++) {
        while (!atomic_load_explicit(&chains[t].finished, memory_order_acquire))
            usleep(100);
    }
    double elapsed = now_secs() - start;

    uint64_t ops = 0, generations = 0;
    for (int t = 0; t < threads; t++) {
        ops += chains[t].ops;
        generations += chains[t].generations;
        for (size_t i = 0; i < chains[t].count; i++)
            free(chains[t].blocks[i]);
        free(chains[t].blocks);
    }
    free(chains);
    long end_kb = rss_kb();

    const char *from = malloc_from();
    printf("RESULT ops_per_sec=%.0f secs=%.3f ops=%llu threads=%d generations=%llu end_kb=%ld "
           "malloc_from=%s\n",
           ops / elapsed, elapsed, (unsigned long long)ops, threads, (unsigned long long)generations,
           end_kb, from);
    return 0;
}
