/* tinyalloc.h: tinyalloc's own API, exported by libtinyalloc.so and
 * libtinyalloc.a next to malloc, free and the C++ operator new family.
 *
 *     #include "tinyalloc.h"
 *     cc prog.c -Icapi/include -Ltarget/release -ltinyalloc
 *
 * None of these functions allocate; all may be called from any thread at
 * any time. Under LD_PRELOAD, look them up with dlsym(RTLD_DEFAULT, ...). */
#ifndef TINYALLOC_H
#define TINYALLOC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A snapshot of the allocator's own figures (mirrors tinyalloc::Stats). */
struct tinyalloc_stats {
    size_t mapped_bytes;       /* bytes mapped now (reserved address space) */
    size_t map_calls;          /* mmap calls, successful or not */
    size_t unmap_calls;        /* munmap calls */
    size_t purge_calls;        /* madvise calls (memory returned) */
    size_t move_calls;         /* mremap calls */
    size_t arenas;             /* arenas reserved */
    size_t arena_slots_in_use; /* segment slots claimed, live or cached */
    size_t live_regions;       /* segments and large regions live */
    size_t cached_bytes;       /* free regions held for reuse */
    size_t abandoned_segments; /* segments of exited threads, not yet adopted */
    size_t live_heaps;         /* heaps of running threads */
    size_t user_heaps;         /* tinyalloc_heap_t (tinyalloc::Heap) alive */
};

/* Fill *out with the current figures. */
void tinyalloc_stats(struct tinyalloc_stats *out);

/* Where the memory of one kind of block is (mirrors tinyalloc::PagedStats),
 * in bytes unless said otherwise. A heap counts its live blocks on its slow
 * paths (at most every 10 ms) and when its own thread asks, so another
 * thread's share is as of its last slow path. */
struct tinyalloc_paged_stats {
    size_t segments;           /* segments of this kind, owned or abandoned */
    size_t in_pages;           /* pages assigned to a size class */
    size_t carved;             /* of those, cut into blocks (committed) */
    size_t live;               /* live blocks */
    size_t free_in_pages;      /* free blocks inside pages in use */
    size_t abandoned_live;     /* live blocks of exited threads' segments */
    size_t free_dirty;         /* unused pages not purged yet (resident) */
    size_t free_purged;        /* unused pages purged or untouched (reserved) */
    size_t abandoned_segments; /* segments waiting to be adopted (a count) */
};

#define TINYALLOC_SMALL 0  /* blocks up to 8 KiB, in 64 KiB pages */
#define TINYALLOC_MEDIUM 1 /* blocks up to 128 KiB, in 512 KiB pages */

/* Fill *out with the figures of one kind; 0, or -1 (nothing written) for
 * another kind or a null out. */
int tinyalloc_paged_stats(int kind, struct tinyalloc_paged_stats *out);

/* Return free memory to the kernel now: the calling thread's empty pages,
 * abandoned segments with nothing live, every cached region. */
void tinyalloc_collect(void);

/* Give up the calling thread's heap now, as its exit would: for a thread
 * that is done allocating but does not exit yet (a worker that hands its
 * data on and goes idle). Its blocks stay valid; it may allocate again. */
void tinyalloc_release_thread_heap(void);

/* Fix the bound, in bytes, of the cache of free regions (0: no caching).
 * The default follows the program: 8 MiB plus the memory in use. */
void tinyalloc_set_cache_limit(size_t bytes);

/* Heaps of one's own (tinyalloc::Heap); unlike the functions above, these
 * allocate. A heap is used by one thread at a time (it may move between
 * threads); any thread may free its blocks, with free() or
 * tinyalloc_heap_free(). Blocks are aligned as malloc's. The
 * per-request arena: one heap per request, tinyalloc_heap_destroy at the
 * end, no free per object. */
typedef struct tinyalloc_heap tinyalloc_heap_t;

/* A new heap, or NULL when out of memory. */
tinyalloc_heap_t *tinyalloc_heap_new(void);

/* malloc, calloc and realloc into the heap (realloc moves a block of any
 * heap into this one unless it stays in place). */
void *tinyalloc_heap_malloc(tinyalloc_heap_t *heap, size_t size);
void *tinyalloc_heap_calloc(tinyalloc_heap_t *heap, size_t count, size_t size);
void *tinyalloc_heap_realloc(tinyalloc_heap_t *heap, void *ptr, size_t size);

/* Free ptr (NULL is ignored): a block of this heap without atomics, any
 * other block as free() does. */
void tinyalloc_heap_free(tinyalloc_heap_t *heap, void *ptr);

/* Free every block of the heap at once (time proportional to its pages, not
 * its blocks) and end it. Every free of one of its blocks must happen
 * before; a free after it is a double free. */
void tinyalloc_heap_destroy(tinyalloc_heap_t *heap);

/* End the heap, keeping its blocks valid: free() them later, from any
 * thread (mimalloc's mi_heap_delete). */
void tinyalloc_heap_delete(tinyalloc_heap_t *heap);

/* Configuration at run time (the same tunables as the TINYALLOC_*
 * environment variables, read before main; see README "Configuration").
 * A run-time call wins over the environment. Setters return 0, or -1 for a
 * value out of range (nothing changes); any thread, any time. */

/* Milliseconds a freed region stays committed before it is purged; a free
 * page inside a segment waits a tenth of it (0 to 3600000; default 100). */
int tinyalloc_config_set_purge_delay_ms(uint64_t ms);
uint64_t tinyalloc_config_get_purge_delay_ms(void);

/* Fixed bound of the free-region cache in bytes (0: no caching). The getter
 * returns TINYALLOC_CACHE_FOLLOWS_USE while no bound was fixed (the default
 * bound is 8 MiB plus the memory in use). */
#define TINYALLOC_CACHE_FOLLOWS_USE ((size_t)-1)
int tinyalloc_config_set_cache_limit(size_t bytes);
size_t tinyalloc_config_get_cache_limit(void);

/* Bytes reserved per arena from now on (4 MiB to 1 GiB, rounded up to a
 * multiple of 4 MiB; default 1 GiB); arenas already reserved keep theirs. */
int tinyalloc_config_set_arena_size(size_t bytes);
size_t tinyalloc_config_get_arena_size(void);

/* Print the allocator's figures on stderr at exit (non-zero) or not (0;
 * default, unless TINYALLOC_SHOW_STATS is set). The line of call counts
 * needs TINYALLOC_SHOW_STATS at start-up. */
int tinyalloc_config_set_show_stats(int on);
int tinyalloc_config_get_show_stats(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYALLOC_H */
