/* tinyalloc.h's heaps from C (capi/tests/header.rs): a per-request arena of
 * 100,000 blocks destroyed at once, frees from another thread, realloc and
 * calloc into a heap, and a deleted heap whose blocks stay valid for free().
 * Linked against libtinyalloc.so, so malloc and free are tinyalloc's too.
 * Exits non-zero with a message on the first failed check. */
#include "tinyalloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__,   \
                    #cond);                                              \
            exit(1);                                                     \
        }                                                                \
    } while (0)

#define BLOCKS 100000

static unsigned char *blocks[BLOCKS];
static size_t sizes[BLOCKS];

static size_t size_of_block(size_t i) { return 16 + (i * 7919) % 1009; }

/* Free every other block with free(), on another thread. */
static void *free_odd(void *arg) {
    (void)arg;
    for (size_t i = 1; i < BLOCKS; i += 2) {
        CHECK(blocks[i][0] == (unsigned char)i);
        CHECK(blocks[i][sizes[i] - 1] == (unsigned char)(i >> 3));
        free(blocks[i]);
    }
    return NULL;
}

int main(void) {
    struct tinyalloc_stats start, full, destroyed, deleted, freed;
    tinyalloc_stats(&start);

    /* The per-request arena: fill, check, free half elsewhere, destroy. */
    tinyalloc_heap_t *heap = tinyalloc_heap_new();
    CHECK(heap != NULL);
    for (size_t i = 0; i < BLOCKS; i++) {
        sizes[i] = size_of_block(i);
        blocks[i] = tinyalloc_heap_malloc(heap, sizes[i]);
        CHECK(blocks[i] != NULL);
        CHECK((uintptr_t)blocks[i] % 16 == 0);
        blocks[i][0] = (unsigned char)i;
        blocks[i][sizes[i] - 1] = (unsigned char)(i >> 3);
    }
    unsigned char *big = tinyalloc_heap_malloc(heap, (size_t)3 << 20);
    CHECK(big != NULL);
    memset(big, 7, (size_t)3 << 20);
    unsigned *zeroed = tinyalloc_heap_calloc(heap, 1000, sizeof *zeroed);
    CHECK(zeroed != NULL);
    for (size_t i = 0; i < 1000; i++) CHECK(zeroed[i] == 0);
    CHECK(tinyalloc_heap_calloc(heap, SIZE_MAX / 2, 4) == NULL);
    CHECK(tinyalloc_heap_malloc(heap, SIZE_MAX) == NULL);
    char *grown = tinyalloc_heap_realloc(heap, NULL, 10);
    CHECK(grown != NULL);
    memcpy(grown, "123456789", 10);
    grown = tinyalloc_heap_realloc(heap, grown, 200000);
    CHECK(grown != NULL && strcmp(grown, "123456789") == 0);
    tinyalloc_stats(&full);
    CHECK(full.live_regions > start.live_regions);
    CHECK(full.user_heaps == start.user_heaps + 1);

    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, free_odd, NULL) == 0);
    CHECK(pthread_join(thread, NULL) == 0);
    for (size_t i = 0; i < BLOCKS; i += 4) tinyalloc_heap_free(heap, blocks[i]);
    tinyalloc_heap_free(heap, NULL); /* ignored */
    tinyalloc_heap_free(heap, big);
    tinyalloc_heap_destroy(heap); /* the other quarter, the realloc'd block */
    tinyalloc_stats(&destroyed);
    printf("heap: regions start %zu full %zu destroyed %zu; cached %zu\n",
           start.live_regions, full.live_regions, destroyed.live_regions,
           destroyed.cached_bytes);
    CHECK(destroyed.live_regions <= start.live_regions + 1);
    CHECK(destroyed.user_heaps == start.user_heaps);

    /* A deleted heap: blocks stay valid, free() releases them later. */
    heap = tinyalloc_heap_new();
    CHECK(heap != NULL);
    for (size_t i = 0; i < BLOCKS; i += 10) {
        blocks[i] = tinyalloc_heap_malloc(heap, sizes[i]);
        CHECK(blocks[i] != NULL);
        memset(blocks[i], (int)(i & 0xff), sizes[i]);
    }
    big = tinyalloc_heap_malloc(heap, (size_t)1 << 20);
    CHECK(big != NULL);
    memset(big, 9, (size_t)1 << 20);
    tinyalloc_heap_delete(heap);
    tinyalloc_stats(&deleted);
    CHECK(deleted.abandoned_segments > destroyed.abandoned_segments);
    for (size_t i = 0; i < BLOCKS; i += 10) {
        for (size_t b = 0; b < sizes[i]; b++)
            CHECK(blocks[i][b] == (unsigned char)(i & 0xff));
        free(blocks[i]);
    }
    CHECK(big[0] == 9 && big[((size_t)1 << 20) - 1] == 9);
    free(big);
    tinyalloc_collect(); /* adopts the deleted heap's segments, now empty */
    tinyalloc_stats(&freed);
    printf("deleted heap: abandoned %zu -> %zu, regions %zu -> %zu\n",
           deleted.abandoned_segments, freed.abandoned_segments,
           deleted.live_regions, freed.live_regions);
    CHECK(freed.abandoned_segments == start.abandoned_segments);
    CHECK(freed.live_regions < deleted.live_regions);
    printf("tinyalloc.h heap checks passed\n");
    return 0;
}
