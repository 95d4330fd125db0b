/*
 * Blocks handed between threads: producers allocate and fill, consumers
 * verify and free (every free is a remote free for tinyalloc), across
 * waves of threads that exit, so later waves also free blocks whose owner
 * thread is gone (abandoned segments) and adopt what it left.
 *
 *   handoff [pairs] [blocks-per-producer] [waves]
 *
 * Prints a deterministic report (counts and checksums), identical whatever
 * the allocator; exits 1 if a block arrives corrupted.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RING 256

struct block {
    uint32_t producer;
    uint32_t seq;
    uint32_t len;      /* payload bytes after the header */
    uint32_t pad;
    unsigned char payload[];
};

struct channel {
    pthread_mutex_t lock;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct block *ring[RING];
    unsigned head, tail; /* tail - head = items queued */
    int closed;
};

struct pair {
    struct channel channel;
    uint32_t id;
    uint32_t blocks;
    uint64_t seed;
    /* consumer's results */
    uint64_t checksum;
    uint64_t bytes;
    uint64_t corrupt;
    /* blocks the consumer keeps alive past its producer's exit */
    struct block **kept;
    uint32_t kept_count;
};

static uint64_t next_random(uint64_t *state) {
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    return x;
}

static unsigned char byte_at(uint32_t producer, uint32_t seq, uint32_t i) {
    return (unsigned char)(producer * 131u + seq * 17u + i * 7u + (i >> 9));
}

static size_t pick_len(uint64_t *state) {
    uint64_t r = next_random(state);
    switch (r % 256) {
    case 0:
        return 130000 + (r >> 8) % 400000; /* large blocks */
    case 1:
    case 2:
    case 3:
        return 10000 + (r >> 8) % 50000; /* medium blocks */
    case 4: case 5: case 6: case 7: case 8: case 9: case 10: case 11:
    case 12: case 13: case 14: case 15: case 16: case 17: case 18: case 19:
        return 1000 + (r >> 8) % 9000;
    default:
        return (r >> 8) % 600;
    }
}

static void send(struct channel *c, struct block *b) {
    pthread_mutex_lock(&c->lock);
    while (c->tail - c->head == RING)
        pthread_cond_wait(&c->not_full, &c->lock);
    c->ring[c->tail++ % RING] = b;
    pthread_cond_signal(&c->not_empty);
    pthread_mutex_unlock(&c->lock);
}

static struct block *receive(struct channel *c) {
    pthread_mutex_lock(&c->lock);
    while (c->tail == c->head && !c->closed)
        pthread_cond_wait(&c->not_empty, &c->lock);
    struct block *b = c->tail == c->head ? NULL : c->ring[c->head++ % RING];
    pthread_cond_signal(&c->not_full);
    pthread_mutex_unlock(&c->lock);
    return b;
}

static void *producer(void *arg) {
    struct pair *p = arg;
    uint64_t state = p->seed;
    for (uint32_t seq = 0; seq < p->blocks; seq++) {
        size_t len = pick_len(&state);
        struct block *b;
        /* Every allocation function, so each is exercised across threads. */
        switch (seq % 5) {
        case 0:
            b = calloc(1, sizeof *b + len);
            break;
        case 1:
            b = aligned_alloc(64, (sizeof *b + len + 63) & ~(size_t)63);
            break;
        case 2:
            if (posix_memalign((void **)&b, 256, sizeof *b + len) != 0)
                b = NULL;
            break;
        case 3:
            /* Grown from a small block: realloc moves it across classes. */
            b = malloc(16);
            if (b)
                b = realloc(b, sizeof *b + len);
            break;
        default:
            b = malloc(sizeof *b + len);
            break;
        }
        if (!b) {
            fprintf(stderr, "producer %u: out of memory\n", p->id);
            exit(2);
        }
        b->producer = p->id;
        b->seq = seq;
        b->len = (uint32_t)len;
        for (uint32_t i = 0; i < len; i++)
            b->payload[i] = byte_at(p->id, seq, i);
        send(&p->channel, b);
    }
    pthread_mutex_lock(&p->channel.lock);
    p->channel.closed = 1;
    pthread_cond_broadcast(&p->channel.not_empty);
    pthread_mutex_unlock(&p->channel.lock);
    return NULL;
}

static uint64_t verify(struct pair *p, struct block *b) {
    uint64_t sum = 1469598103934665603ull;
    for (uint32_t i = 0; i < b->len; i++) {
        if (b->payload[i] != byte_at(b->producer, b->seq, i)) {
            p->corrupt++;
            break;
        }
        sum = (sum ^ b->payload[i]) * 1099511628211ull;
    }
    return sum ^ b->seq;
}

static void *consumer(void *arg) {
    struct pair *p = arg;
    struct block *b;
    while ((b = receive(&p->channel)) != NULL) {
        if (b->producer != p->id)
            p->corrupt++;
        p->checksum += verify(p, b);
        p->bytes += b->len;
        if (b->seq % 7 == 0) {
            /* Keep it for the next wave to free. */
            p->kept[p->kept_count++] = b;
        } else if (b->seq % 7 == 1 && b->len > 8) {
            /* Shrink someone else's block, then free it. */
            struct block *smaller = realloc(b, sizeof *b + b->len / 2);
            if (!smaller) {
                p->corrupt++;
                free(b);
            } else {
                free(smaller);
            }
        } else {
            free(b);
        }
    }
    return NULL;
}

int main(int argc, char **argv) {
    uint32_t pairs = argc > 1 ? (uint32_t)atoi(argv[1]) : 4;
    uint32_t blocks = argc > 2 ? (uint32_t)atoi(argv[2]) : 30000;
    uint32_t waves = argc > 3 ? (uint32_t)atoi(argv[3]) : 4;
    struct block **leftover = NULL;
    uint32_t leftover_count = 0;
    uint64_t total_checksum = 0, total_bytes = 0, total_corrupt = 0;

    for (uint32_t wave = 0; wave < waves; wave++) {
        struct pair *ps = calloc(pairs, sizeof *ps);
        pthread_t *threads = calloc(2 * pairs, sizeof *threads);
        for (uint32_t i = 0; i < pairs; i++) {
            struct pair *p = &ps[i];
            pthread_mutex_init(&p->channel.lock, NULL);
            pthread_cond_init(&p->channel.not_empty, NULL);
            pthread_cond_init(&p->channel.not_full, NULL);
            p->id = wave * 1000 + i;
            p->blocks = blocks;
            p->seed = 0x9e3779b97f4a7c15ull * (p->id + 1);
            p->kept = malloc(sizeof *p->kept * (blocks / 7 + 1));
            pthread_create(&threads[2 * i], NULL, producer, p);
            pthread_create(&threads[2 * i + 1], NULL, consumer, p);
        }
        /* Meanwhile, free the blocks the previous wave kept: their owner
         * threads have exited. */
        for (uint32_t i = 0; i < leftover_count; i++) {
            struct block *b = leftover[i];
            uint64_t sum = 1469598103934665603ull;
            for (uint32_t j = 0; j < b->len; j++)
                sum = (sum ^ b->payload[j]) * 1099511628211ull;
            total_checksum += sum;
            if (b->len && b->payload[b->len - 1] != byte_at(b->producer, b->seq, b->len - 1))
                total_corrupt++;
            free(b);
        }
        free(leftover);
        leftover = NULL;
        leftover_count = 0;
        for (uint32_t i = 0; i < 2 * pairs; i++)
            pthread_join(threads[i], NULL);

        uint32_t kept = 0;
        for (uint32_t i = 0; i < pairs; i++)
            kept += ps[i].kept_count;
        leftover = malloc(sizeof *leftover * (kept + 1));
        for (uint32_t i = 0; i < pairs; i++) {
            struct pair *p = &ps[i];
            printf("wave %u pair %u: %u blocks, %llu bytes, checksum %016llx, corrupt %llu\n",
                   wave, i, p->blocks, (unsigned long long)p->bytes,
                   (unsigned long long)p->checksum, (unsigned long long)p->corrupt);
            total_checksum += p->checksum;
            total_bytes += p->bytes;
            total_corrupt += p->corrupt;
            memcpy(leftover + leftover_count, p->kept, sizeof *p->kept * p->kept_count);
            leftover_count += p->kept_count;
            free(p->kept);
            pthread_mutex_destroy(&p->channel.lock);
            pthread_cond_destroy(&p->channel.not_empty);
            pthread_cond_destroy(&p->channel.not_full);
        }
        free(ps);
        free(threads);
    }
    for (uint32_t i = 0; i < leftover_count; i++)
        free(leftover[i]);
    free(leftover);
    printf("total: %llu bytes, checksum %016llx, corrupt %llu\n",
           (unsigned long long)total_bytes, (unsigned long long)total_checksum,
           (unsigned long long)total_corrupt);
    return total_corrupt ? 1 : 0;
}
