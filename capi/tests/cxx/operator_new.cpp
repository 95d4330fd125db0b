// C++ operator new/delete served by tinyalloc: run under LD_PRELOAD and
// linked against libtinyalloc.so (capi/tests/cxx.rs). Exits non-zero with a
// message on the first failed check.
//
// Usage: operator_new <expected library substring> [glibc]
//   The first argument must occur in the path of the object defining
//   `operator new` (dladdr); "glibc" as second argument skips nothing but
//   the symbol check, for running the same expectations against libstdc++.

#include <dlfcn.h>
#include <sys/resource.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

static int failures = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            std::fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, \
                         #cond);                                           \
            failures++;                                                    \
        }                                                                  \
    } while (0)

// Keep the compiler from eliding new/delete pairs.
static void escape(void *p) { asm volatile("" : : "r"(p) : "memory"); }

// Sizes the compiler cannot see (no constant-size warnings, no folding).
static volatile std::size_t impossible = std::size_t(1) << 62;

struct alignas(64) Line64 {
    char bytes[64];
};
struct alignas(4096) Page {
    char bytes[4096];
};
struct Counted {
    static int live;
    int value;
    Counted() : value(7) { live++; }
    ~Counted() { live--; }
};
int Counted::live = 0;

static bool aligned(const void *p, std::size_t align) {
    return (reinterpret_cast<std::uintptr_t>(p) & (align - 1)) == 0;
}

static void plain_and_array() {
    for (int round = 0; round < 1000; round++) {
        int *one = new int(round);
        escape(one);
        CHECK(*one == round);
        delete one;

        Counted *many = new Counted[17];
        escape(many);
        CHECK(Counted::live == 17 && many[16].value == 7);
        delete[] many;
        CHECK(Counted::live == 0);

        char *bytes = new char[round + 1];
        escape(bytes);
        std::memset(bytes, 0xab, round + 1);
        delete[] bytes;
    }
    // Zero bytes: a unique, non-null block.
    void *a = ::operator new(0);
    void *b = ::operator new(0);
    CHECK(a != nullptr && b != nullptr && a != b);
    ::operator delete(a);
    ::operator delete(b);
    // Standard containers go through operator new too.
    std::vector<std::string> strings;
    for (int i = 0; i < 10000; i++) strings.push_back(std::string(40, 'x') + std::to_string(i));
    CHECK(strings[9999] == std::string(40, 'x') + "9999");
}

static void aligned_new() {
    for (int round = 0; round < 100; round++) {
        Line64 *line = new Line64;
        escape(line);
        CHECK(aligned(line, 64));
        delete line;
        Line64 *lines = new Line64[round + 1];
        escape(lines);
        CHECK(aligned(lines, 64));
        delete[] lines;
        Page *page = new Page;
        escape(page);
        CHECK(aligned(page, 4096));
        std::memset(page->bytes, round, sizeof page->bytes);
        delete page;
        Page *pages = new Page[3];
        escape(pages);
        CHECK(aligned(pages, 4096));
        delete[] pages;
    }
    void *big = ::operator new(1 << 20, std::align_val_t(1 << 21));
    CHECK(aligned(big, 1 << 21));
    ::operator delete(big, std::size_t(1) << 20, std::align_val_t(1 << 21));
    void *nothrow = ::operator new(100, std::align_val_t(256), std::nothrow);
    CHECK(nothrow != nullptr && aligned(nothrow, 256));
    ::operator delete(nothrow, std::align_val_t(256), std::nothrow);
}

static void sized_delete() {
    for (std::size_t size = 1; size < 70000; size = size * 3 + 1) {
        void *p = ::operator new(size);
        std::memset(p, 1, size);
        ::operator delete(p, size);
        void *q = ::operator new[](size);
        ::operator delete[](q, size);
    }
}

static void nothrow_returns_null() {
    CHECK(::operator new(impossible, std::nothrow) == nullptr);
    CHECK(::operator new[](impossible, std::nothrow) == nullptr);
    CHECK(::operator new(impossible, std::align_val_t(64), std::nothrow) == nullptr);
    char *array = new (std::nothrow) char[impossible];
    CHECK(array == nullptr);
    void *small = ::operator new(24, std::nothrow);
    CHECK(small != nullptr);
    ::operator delete(small, std::nothrow);
}

static void throws_bad_alloc() {
    int caught = 0;
    try {
        char *p = new char[impossible];
        escape(p);
        std::fprintf(stderr, "new char[2^62] returned %p\n", static_cast<void *>(p));
    } catch (const std::bad_alloc &e) {
        caught++;
        CHECK(std::strcmp(e.what(), "std::bad_alloc") == 0);
    }
    try {
        void *p = ::operator new(impossible);
        escape(p);
    } catch (const std::bad_alloc &) {
        caught++;
    }
    try {
        void *p = ::operator new(impossible, std::align_val_t(4096));
        escape(p);
    } catch (const std::bad_alloc &) {
        caught++;
    }
    try {
        // A container's growth fails the same way.
        std::vector<char> v;
        v.reserve(impossible);
    } catch (const std::bad_alloc &) {
        caught++;
    } catch (const std::length_error &) {
        caught++;  // libstdc++ may reject the size before allocating
    }
    CHECK(caught == 4);
}

// A nothrow new whose new-handler throws returns null: C++ catches what the
// handler throws there.
static int throwing_handler_calls = 0;
static void throwing_handler() {
    throwing_handler_calls++;
    throw std::bad_alloc();
}

static void nothrow_with_a_throwing_handler() {
    std::set_new_handler(throwing_handler);
    CHECK(::operator new(impossible, std::nothrow) == nullptr);
    CHECK(::operator new[](impossible, std::align_val_t(64), std::nothrow) == nullptr);
    CHECK(throwing_handler_calls == 2);
    // The throwing forms let it through.
    int caught = 0;
    try {
        void *p = ::operator new(impossible);
        escape(p);
    } catch (const std::bad_alloc &) {
        caught++;
    }
    CHECK(caught == 1 && throwing_handler_calls == 3);
    std::set_new_handler(nullptr);
}

// A new-handler that frees a reserve: the failed allocation is retried and
// succeeds. The failure is real: the address space is limited so that the
// reserve's 600 MiB cannot be had twice.
static char *reserve = nullptr;
static int handler_calls = 0;
static void free_reserve() {
    handler_calls++;
    delete[] reserve;
    reserve = nullptr;
    std::set_new_handler(nullptr);
}

static std::size_t address_space() {
    FILE *f = std::fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f) {
        if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
        std::fclose(f);
    }
    return pages * 4096;
}

static void new_handler_frees_reserve() {
    const std::size_t size = std::size_t(600) << 20;
    reserve = new char[size];
    escape(reserve);
    struct rlimit limit;
    limit.rlim_cur = limit.rlim_max = address_space() + (std::size_t(64) << 20);
    if (setrlimit(RLIMIT_AS, &limit) != 0) {
        std::perror("setrlimit");
        failures++;
        return;
    }
    // Without a handler, the second 600 MiB fails.
    CHECK(::operator new(size, std::nothrow) == nullptr);
    std::set_new_handler(free_reserve);
    char *again = nullptr;
    try {
        again = new char[size];
        escape(again);
    } catch (const std::bad_alloc &) {
        std::fprintf(stderr, "new threw although the handler freed the reserve\n");
    }
    CHECK(again != nullptr);
    CHECK(handler_calls == 1);
    CHECK(reserve == nullptr);
    delete[] again;
    std::set_new_handler(nullptr);
}

int main(int argc, char **argv) {
    const char *expected = argc > 1 ? argv[1] : "libtinyalloc";
    // Which object defines the operator new this program calls?
    void *(*plain_new)(std::size_t) = &::operator new;
    Dl_info info;
    std::memset(&info, 0, sizeof info);
    CHECK(dladdr(reinterpret_cast<void *>(plain_new), &info) != 0);
    const char *where = info.dli_fname ? info.dli_fname : "(none)";
    std::printf("operator new is %s in %s\n", info.dli_sname ? info.dli_sname : "?", where);
    CHECK(std::strstr(where, expected) != nullptr);

    plain_and_array();
    aligned_new();
    sized_delete();
    nothrow_returns_null();
    throws_bad_alloc();
    nothrow_with_a_throwing_handler();
    new_handler_frees_reserve();
    if (failures) {
        std::fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    std::printf("all operator new/delete checks passed\n");
    return 0;
}
