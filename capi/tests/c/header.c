/* tinyalloc.h from C: stats, collect, the cache bound and giving the
 * thread's heap up, linked against libtinyalloc.so (capi/tests/header.rs).
 * Exits non-zero with a message on the first failed check. */
#include "tinyalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                      \
    do {                                                                 \
        if (!(cond)) {                                                   \
            fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__,   \
                    #cond);                                              \
            return 1;                                                    \
        }                                                                \
    } while (0)

/* The struct with a guard after it: the library writes exactly its size. */
struct guarded {
    struct tinyalloc_stats stats;
    unsigned char guard[64];
};

static void print(const char *when, const struct tinyalloc_stats *s) {
    printf("%s: mapped %zu mmap %zu munmap %zu madvise %zu mremap %zu arenas %zu "
           "slots %zu regions %zu cached %zu abandoned %zu heaps %zu\n",
           when, s->mapped_bytes, s->map_calls, s->unmap_calls, s->purge_calls,
           s->move_calls, s->arenas, s->arena_slots_in_use, s->live_regions,
           s->cached_bytes, s->abandoned_segments, s->live_heaps);
}

int main(void) {
    const size_t big = (size_t)8 << 20;
    struct guarded g;
    memset(&g, 0xa5, sizeof g);
    void *small = malloc(100);
    CHECK(small != NULL);
    tinyalloc_stats(&g.stats);
    print("start", &g.stats);
    for (size_t i = 0; i < sizeof g.guard; i++) CHECK(g.guard[i] == 0xa5);
    CHECK(g.stats.mapped_bytes > 0);
    CHECK(g.stats.map_calls >= 1);
    CHECK(g.stats.arenas >= 1);
    CHECK(g.stats.arena_slots_in_use >= 1);
    CHECK(g.stats.live_regions >= 1);
    CHECK(g.stats.live_heaps >= 1);
    tinyalloc_stats(NULL); /* ignored */

    /* A freed large region is cached; collect returns it to the kernel. */
    char *block = malloc(big);
    CHECK(block != NULL);
    memset(block, 1, big);
    struct tinyalloc_stats live;
    tinyalloc_stats(&live);
    CHECK(live.live_regions > g.stats.live_regions);
    free(block);
    struct tinyalloc_stats freed;
    tinyalloc_stats(&freed);
    print("freed", &freed);
    CHECK(freed.cached_bytes >= big);
    tinyalloc_collect();
    struct tinyalloc_stats collected;
    tinyalloc_stats(&collected);
    print("collected", &collected);
    CHECK(collected.cached_bytes == 0);
    CHECK(collected.purge_calls + collected.unmap_calls >
          freed.purge_calls + freed.unmap_calls);

    /* With no cache, a freed region is returned at once. */
    tinyalloc_set_cache_limit(0);
    block = malloc(big);
    CHECK(block != NULL);
    memset(block, 2, big);
    free(block);
    struct tinyalloc_stats uncached;
    tinyalloc_stats(&uncached);
    print("uncached", &uncached);
    CHECK(uncached.cached_bytes == 0);
    free(small);

    /* Per kind: 2,000 live blocks of 100 B are at least 200,000 live bytes
     * of small blocks (the caller's own heap is counted afresh), and the
     * parts add up to what is carved. */
    enum { COUNT = 2000 };
    static void *blocks[COUNT];
    for (int i = 0; i < COUNT; i++) {
        blocks[i] = malloc(100);
        CHECK(blocks[i] != NULL);
    }
    struct {
        struct tinyalloc_paged_stats paged;
        unsigned char guard[64];
    } p;
    memset(&p, 0xa5, sizeof p);
    CHECK(tinyalloc_paged_stats(TINYALLOC_SMALL, &p.paged) == 0);
    for (size_t i = 0; i < sizeof p.guard; i++) CHECK(p.guard[i] == 0xa5);
    printf("small: segments %zu in_pages %zu carved %zu live %zu free_in_pages %zu "
           "abandoned_live %zu free_dirty %zu free_purged %zu\n",
           p.paged.segments, p.paged.in_pages, p.paged.carved, p.paged.live,
           p.paged.free_in_pages, p.paged.abandoned_live, p.paged.free_dirty,
           p.paged.free_purged);
    CHECK(p.paged.segments >= 1);
    CHECK(p.paged.live >= (size_t)COUNT * 100);
    CHECK(p.paged.live + p.paged.free_in_pages + p.paged.abandoned_live == p.paged.carved);
    CHECK(p.paged.carved <= p.paged.in_pages);
    size_t live_before = p.paged.live;
    for (int i = 0; i < COUNT; i++) free(blocks[i]);
    CHECK(tinyalloc_paged_stats(TINYALLOC_SMALL, &p.paged) == 0);
    CHECK(p.paged.live + (size_t)COUNT * 100 <= live_before);
    struct tinyalloc_paged_stats medium;
    CHECK(tinyalloc_paged_stats(TINYALLOC_MEDIUM, &medium) == 0);
    CHECK(medium.carved <= medium.in_pages);
    memset(&medium, 0x5a, sizeof medium);
    CHECK(tinyalloc_paged_stats(2, &medium) == -1);
    CHECK(tinyalloc_paged_stats(-1, &medium) == -1);
    CHECK(medium.segments == (size_t)0x5a5a5a5a5a5a5a5aULL);
    CHECK(tinyalloc_paged_stats(TINYALLOC_SMALL, NULL) == -1);

    /* Giving the thread's heap up: a block allocated before stays valid
     * and is freed into an abandoned segment; the next malloc takes a
     * heap again. */
    char *kept = malloc(100);
    CHECK(kept != NULL);
    memset(kept, 7, 100);
    struct tinyalloc_stats before_release;
    tinyalloc_stats(&before_release);
    tinyalloc_release_thread_heap();
    struct tinyalloc_stats released;
    tinyalloc_stats(&released);
    CHECK(released.live_heaps + 1 == before_release.live_heaps);
    CHECK(released.abandoned_segments > before_release.abandoned_segments);
    for (int i = 0; i < 100; i++) CHECK(kept[i] == 7);
    free(kept);
    char *again = malloc(100);
    CHECK(again != NULL);
    struct tinyalloc_stats retaken;
    tinyalloc_stats(&retaken);
    CHECK(retaken.live_heaps == before_release.live_heaps);
    free(again);
    printf("tinyalloc.h checks passed\n");
    return 0;
}
