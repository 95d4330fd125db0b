// thread_churn: a thread per request, thousands of times over, the way a
// thread-per-connection server (or a pool that retires idle workers) uses
// the allocator. Each thread lives for one request:
//
// - reads it into a 4 KiB buffer, parses it into 20..80 objects of
//   16..256 B, builds a response of 1..8 KiB from them;
// - frees the buffer, the response and all objects but one, in random order;
// - hands that one (the request's "result") to a shared mailbox of 1024
//   slots by an atomic swap, and frees whatever result it swapped out: a
//   block another thread allocated, usually one that has exited since;
// - exits.
//
// The main thread starts `concurrent` such threads, joins them all, and
// repeats until `requests` threads have run; at the end it frees what the
// mailbox holds. Every object is filled with a pattern and checked when
// freed.
//
// Prints `RESULT threads_per_sec=.. secs=.. requests=.. concurrent=..
// peak_kb=.. end_kb=.. malloc_from=..` (peak from getrusage, end from
// /proc/self/statm after the mailbox is emptied).
//
// Usage: thread_churn [requests=20000] [concurrent=8] [seed=1]
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>

#define MAILBOX_SLOTS 1024
#define MAX_OBJECTS 80
#define PATTERN 0x5bd1e9955bd1e995ULL

static _Atomic(uint64_t *) mailbox[MAILBOX_SLOTS];

// An object of `bytes` (a multiple of 8, at least 16): its first word holds
// its length in words, the rest a pattern derived from it.
static uint64_t *new_object(size_t bytes) {
    uint64_t *object = malloc(bytes);
    if (object == NULL) {
        fprintf(stderr, "thread_churn: out of memory\n");
        exit(1);
    }
    size_t words = bytes / 8;
    object[0] = words;
    for (size_t i = 1; i < words; i++) object[i] = (words + i) ^ PATTERN;
    return object;
}

static void drop_object(uint64_t *object) {
    if (object == NULL) return;
    size_t words = object[0];
    for (size_t i = 1; i < words; i++) {
        if (object[i] != ((words + i) ^ PATTERN)) {
            fprintf(stderr, "thread_churn: object %p corrupted at word %zu\n", (void *)object, i);
            abort();
        }
    }
    free(object);
}

static void *request(void *arg) {
    uint64_t state = (uint64_t)(uintptr_t)arg * 0x9e3779b97f4a7c15ULL + 1;
    uint64_t *objects[MAX_OBJECTS];
    uint64_t *buffer = new_object(4096);
    size_t count = 20 + next_random(&state) % (MAX_OBJECTS - 20 + 1);
    for (size_t i = 0; i < count; i++) {
        objects[i] = new_object(16 + 8 * (next_random(&state) % 31));
    }
    uint64_t *response = new_object(1024 + 8 * (next_random(&state) % 897));
    // Free in random order; the one left last is the result.
    for (size_t left = count; left > 1; left--) {
        size_t i = next_random(&state) % left;
        drop_object(objects[i]);
        objects[i] = objects[left - 1];
    }
    drop_object(response);
    drop_object(buffer);
    size_t slot = next_random(&state) % MAILBOX_SLOTS;
    drop_object(atomic_exchange(&mailbox[slot], objects[0]));
    return NULL;
}

int main(int argc, char **argv) {
    long requests = argc > 1 ? atol(argv[1]) : 20000;
    int concurrent = argc > 2 ? atoi(argv[2]) : 8;
    uint64_t seed = argc > 3 ? (uint64_t)atoll(argv[3]) : 1;
    if (requests < 1 || concurrent < 1) {
        fprintf(stderr, "usage: thread_churn [requests] [concurrent] [seed]\n");
        return 2;
    }
    pthread_t *ids = malloc((size_t)concurrent * sizeof(pthread_t));
    if (ids == NULL) return 1;
    double start = now_secs();
    long started = 0;
    while (started < requests) {
        int batch = 0;
        for (; batch < concurrent && started < requests; batch++, started++) {
            void *arg = (void *)(uintptr_t)(seed * 1000003 + (uint64_t)started);
            if (pthread_create(&ids[batch], NULL, request, arg) != 0) {
                fprintf(stderr, "thread_churn: pthread_create failed\n");
                return 1;
            }
        }
        for (int i = 0; i < batch; i++) pthread_join(ids[i], NULL);
    }
    double secs = now_secs() - start;
    free(ids);
    for (int i = 0; i < MAILBOX_SLOTS; i++) drop_object(atomic_exchange(&mailbox[i], NULL));
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    printf("RESULT threads_per_sec=%.0f secs=%.3f requests=%ld concurrent=%d peak_kb=%ld end_kb=%ld "
           "malloc_from=%s\n",
           requests / secs, secs, requests, concurrent, usage.ru_maxrss, rss_kb(), malloc_from());
    return 0;
}
