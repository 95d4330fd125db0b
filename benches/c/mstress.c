// mstress: a port of mimalloc's test-stress (as mimalloc-bench runs it:
// `mstress <threads> 50 25`), written from its description:
//
// - ITER rounds; each round starts THREADS fresh threads and joins them
//   (threads are destroyed and re-created every round);
// - thread `tid` makes 100 * SCALE * (tid % 8 + 1) allocations and keeps
//   half as many "retained" objects for its whole life; sizes are 1, 2, 4,
//   ... words (a power of two, linear in the exponent), 1% of them 100x
//   bigger, 0.1% 1000x, 0.01% 10000x;
// - every object is allocated with malloc, filled with a pattern and
//   checked when freed;
// - at each step a thread allocates (an ordinary or a retained object), frees
//   a random earlier object with probability ~2/3, and with probability ~1/4
//   swaps one of its objects with a random slot of a shared array of 1000
//   (atomic exchange), so objects are freed by threads that did not
//   allocate them, often after their allocating thread exited;
// - after each round the main thread frees half of the shared slots (all of
//   them after the last round).
//
// Prints `RESULT time_ms=.. peak_kb=.. end_kb=..` (peak from getrusage, end
// from /proc/self/statm after the last round).
//
// Usage: mstress [threads=32] [scale=50] [iterations=25]
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define SHARED_SLOTS 1000
#define PATTERN 0xbf58476d1ce4e5b9ULL

static int threads = 32;
static int scale = 50;
static int iterations = 25;
static _Atomic(uintptr_t*) shared[SHARED_SLOTS];

// splitmix64's output mix, applied to the state itself.
static uint64_t next_random(uint64_t* state) {
    uint64_t x = *state;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    *state = x;
    return x;
}

// True with probability about `percent`% (the original counts 0..=percent).
static int chance(uint64_t percent, uint64_t* state) {
    return next_random(state) % 100 <= percent;
}

static uintptr_t* new_object(size_t words, uint64_t* state) {
    if (chance(1, state)) {
        if (chance(1, state)) {
            words *= 10000;
        } else if (chance(10, state)) {
            words *= 1000;
        } else {
            words *= 100;
        }
    }
    if (words == 40) words++;  // the original avoids glibc's thread-stack size
    uintptr_t* object = malloc(words * sizeof(uintptr_t));
    if (object == NULL) {
        fprintf(stderr, "mstress: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < words; i++) object[i] = (words - i) ^ PATTERN;
    return object;
}

static void drop_object(uintptr_t* object) {
    if (object == NULL) return;
    size_t words = object[0] ^ PATTERN;
    for (size_t i = 0; i < words; i++) {
        if ((object[i] ^ PATTERN) != words - i) {
            fprintf(stderr, "mstress: block %p corrupted at word %zu\n", (void*)object, i);
            abort();
        }
    }
    free(object);
}

static void* worker(void* arg) {
    intptr_t tid = (intptr_t)arg;
    uint64_t state = (uint64_t)(tid + 1) * 43;
    const unsigned shift = 5;           // ordinary objects: 1..16 words
    const unsigned retained_shift = 7;  // retained objects: 1..64 words
    size_t allocs = 100 * (size_t)scale * (size_t)(tid % 8 + 1);
    size_t retain = allocs / 2;
    uintptr_t** data = NULL;
    size_t data_cap = 0, data_len = 0;
    uintptr_t** retained = malloc(retain * sizeof(uintptr_t*));
    size_t retained_len = 0;
    if (retained == NULL && retain > 0) exit(1);

    while (allocs > 0 || retain > 0) {
        if (retain == 0 || (chance(50, &state) && allocs > 0)) {
            allocs--;
            if (data_len >= data_cap) {
                data_cap += 100000;
                data = realloc(data, data_cap * sizeof(uintptr_t*));
                if (data == NULL) exit(1);
            }
            data[data_len++] = new_object((size_t)1 << (next_random(&state) % shift), &state);
        } else {
            retained[retained_len++] =
                new_object((size_t)1 << (next_random(&state) % retained_shift), &state);
            retain--;
        }
        if (chance(66, &state) && data_len > 0) {
            size_t i = next_random(&state) % data_len;
            drop_object(data[i]);
            data[i] = NULL;
        }
        if (chance(25, &state) && data_len > 0) {
            size_t i = next_random(&state) % data_len;
            size_t slot = next_random(&state) % SHARED_SLOTS;
            data[i] = atomic_exchange(&shared[slot], data[i]);
        }
    }
    for (size_t i = 0; i < retained_len; i++) drop_object(retained[i]);
    for (size_t i = 0; i < data_len; i++) drop_object(data[i]);
    free(retained);
    free(data);
    return NULL;
}

static long rss_kb(void) {
    FILE* f = fopen("/proc/self/statm", "r");
    long size = 0, resident = 0;
    if (f == NULL || fscanf(f, "%ld %ld", &size, &resident) != 2) return -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char** argv) {
    if (argc > 1) threads = atoi(argv[1]);
    if (argc > 2) scale = atoi(argv[2]);
    if (argc > 3) iterations = atoi(argv[3]);
    if (threads < 1) threads = 1;

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t state = 43 * 43;
    for (int round = 0; round < iterations; round++) {
        pthread_t* ids = malloc(threads * sizeof(pthread_t));
        if (ids == NULL) exit(1);
        for (int i = 0; i < threads; i++) {
            if (pthread_create(&ids[i], NULL, worker, (void*)(intptr_t)i) != 0) {
                fprintf(stderr, "mstress: pthread_create failed\n");
                return 1;
            }
        }
        for (int i = 0; i < threads; i++) pthread_join(ids[i], NULL);
        free(ids);
        for (int i = 0; i < SHARED_SLOTS; i++) {
            if (chance(50, &state) || round + 1 == iterations) {
                drop_object(atomic_exchange(&shared[i], NULL));
            }
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long end = rss_kb();
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    double ms = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    printf("RESULT time_ms=%.1f peak_kb=%ld end_kb=%ld\n", ms, usage.ru_maxrss, end);
    return 0;
}
