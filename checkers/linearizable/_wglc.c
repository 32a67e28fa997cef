/* The Wing-Gong-Lowe search of wgl.py, in C.
 *
 * Same algorithm and same answers as wgl.search_python; see that module for the idea. What
 * differs is representation: model states are small integers numbered by the Python side, the
 * model itself stays in Python and is asked once per distinct (state, op) pair (the answers are
 * memoised here), the set of linearized ops is a bitset, and the cache of (bitset, state) pairs is
 * an open-addressing hash table whose hash is kept up to date incrementally (Zobrist: one random
 * word per op, XORed in and out), so probing does not rehash the bitset.
 *
 * A search is an object (a capsule) that `run` advances by a number of steps at a time, so the
 * caller can give many partitions a little time each and stop at the first invalid one without
 * repeating work.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t key; /* (state << 32 | op), EMPTY when free */
    int32_t value;
} MemoSlot;

typedef struct {
    MemoSlot *slots;
    size_t mask, used;
    long long limit; /* resident bytes it may grow to; 0: no limit */
} Memo;

#define EMPTY UINT64_MAX

typedef struct {
    /* Per entry: hash, state, first stored word, number of stored words, the words. Only the
     * words between the first not-all-ones word and the last nonzero word are stored: the ops
     * before are all linearized, those after none, so a long history costs a few words an entry
     * instead of one bit per op. */
    uint64_t *arena;
    size_t used, capacity; /* in words */
    uint64_t *offsets;     /* per entry: where it starts in the arena */
    size_t count, offsets_capacity;
    uint32_t *slots; /* pairs: entry number + 1 (0 when free), then the high half of its hash */
    size_t mask;
    long long limit; /* resident bytes it may grow to; 0: no limit */
} Cache;

static uint64_t mix(uint64_t x) {
    x ^= x >> 31; x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27; x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static long long resident(void) {
    long long size = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%lld %lld", &size, &rss) != 2) rss = 0;
    fclose(f);
    return rss * (long long)sysconf(_SC_PAGESIZE);
}

/* Whether `extra` more bytes fit under the memory limit. Asked before each table grows (they
 * double, so a growth is a jump that a check every so many steps would only see afterwards):
 * this is what makes the limit hard for the search's own memory. */
static int room_for(long long limit, size_t extra) {
    return limit <= 0 || resident() + (long long)extra <= limit;
}

static int memo_init(Memo *m, size_t cap) {
    m->slots = malloc(cap * sizeof(MemoSlot));
    if (!m->slots) return -1;
    for (size_t i = 0; i < cap; i++) m->slots[i].key = EMPTY;
    m->mask = cap - 1;
    m->used = 0;
    return 0;
}

static MemoSlot *memo_find(Memo *m, uint64_t key) {
    size_t i = mix(key) & m->mask;
    while (m->slots[i].key != EMPTY && m->slots[i].key != key) i = (i + 1) & m->mask;
    return &m->slots[i];
}

static int memo_put(Memo *m, uint64_t key, int32_t value) {
    if ((m->used + 1) * 2 > m->mask + 1) {
        Memo bigger;
        if (!room_for(m->limit, (m->mask + 1) * 2 * sizeof(MemoSlot))) return -1;
        if (memo_init(&bigger, (m->mask + 1) * 2) < 0) return -1;
        bigger.limit = m->limit;
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->slots[i].key == EMPTY) continue;
            *memo_find(&bigger, m->slots[i].key) = m->slots[i];
            bigger.used++;
        }
        free(m->slots);
        *m = bigger;
    }
    MemoSlot *slot = memo_find(m, key);
    if (slot->key == EMPTY) m->used++;
    slot->key = key;
    slot->value = value;
    return 0;
}

static int cache_init(Cache *c) {
    c->used = c->count = 0;
    c->capacity = 1 << 16;
    c->arena = malloc(c->capacity * sizeof(uint64_t));
    c->offsets_capacity = 1024;
    c->offsets = malloc(c->offsets_capacity * sizeof(uint64_t));
    c->mask = 2047;
    c->slots = calloc(2 * (c->mask + 1), sizeof(uint32_t));
    return (c->arena && c->offsets && c->slots) ? 0 : -1;
}

/* Adds (bits[lo:hi], state) unless present. Returns 1 if added, 0 if it was there, -1 on no
 * memory. */
static int cache_add(Cache *c, uint64_t hash, int32_t state, const uint64_t *bits, size_t lo, size_t hi) {
    size_t i = hash & c->mask, n = hi - lo;
    uint32_t tag = (uint32_t)(hash >> 32);
    while (c->slots[2 * i]) {
        if (c->slots[2 * i + 1] == tag) {
            const uint64_t *e = c->arena + c->offsets[c->slots[2 * i] - 1];
            if (e[0] == hash && (int32_t)e[1] == state && e[2] == lo && e[3] == n
                && memcmp(e + 4, bits + lo, n * 8) == 0)
                return 0;
        }
        i = (i + 1) & c->mask;
    }
    if (c->count == UINT32_MAX - 1) return -1;
    if (c->used + 4 + n > c->capacity) {
        size_t cap = (c->capacity + 4 + n) * 2;
        if (!room_for(c->limit, (cap - c->capacity) * sizeof(uint64_t))) return -1;
        uint64_t *grown = realloc(c->arena, cap * sizeof(uint64_t));
        if (!grown) return -1;
        c->arena = grown;
        c->capacity = cap;
    }
    if (c->count == c->offsets_capacity) {
        if (!room_for(c->limit, c->offsets_capacity * sizeof(uint64_t))) return -1;
        uint64_t *grown = realloc(c->offsets, c->offsets_capacity * 2 * sizeof(uint64_t));
        if (!grown) return -1;
        c->offsets = grown;
        c->offsets_capacity *= 2;
    }
    uint64_t *e = c->arena + c->used;
    e[0] = hash; e[1] = (uint64_t)(uint32_t)state; e[2] = lo; e[3] = n;
    memcpy(e + 4, bits + lo, n * 8);
    c->offsets[c->count++] = c->used;
    c->used += 4 + n;
    c->slots[2 * i] = (uint32_t)c->count;
    c->slots[2 * i + 1] = tag;
    if (c->count * 2 > c->mask + 1) {
        size_t cap = (c->mask + 1) * 2;
        if (!room_for(c->limit, 2 * cap * sizeof(uint32_t))) return -1;
        uint32_t *slots = calloc(2 * cap, sizeof(uint32_t));
        if (!slots) return -1;
        for (size_t k = 0; k < c->count; k++) {
            uint64_t h = c->arena[c->offsets[k]];
            size_t j = h & (cap - 1);
            while (slots[2 * j]) j = (j + 1) & (cap - 1);
            slots[2 * j] = (uint32_t)(k + 1);
            slots[2 * j + 1] = (uint32_t)(h >> 32);
        }
        free(c->slots);
        c->slots = slots;
        c->mask = cap - 1;
    }
    return 1;
}

/* The linearized set as a bitset, with the bounds of its interesting part kept up to date:
 * words before `lo` are all ones, words from `hi` on are all zero. */
typedef struct {
    uint64_t *words;
    size_t nwords, lo, hi;
} Bits;

static void bits_set(Bits *b, int32_t i) {
    size_t w = (size_t)i >> 6;
    b->words[w] |= 1ULL << (i & 63);
    while (b->lo < b->nwords && b->words[b->lo] == UINT64_MAX) b->lo++;
    if (w + 1 > b->hi) b->hi = w + 1;
}

static void bits_clear(Bits *b, int32_t i) {
    size_t w = (size_t)i >> 6;
    b->words[w] &= ~(1ULL << (i & 63));
    if (w < b->lo) b->lo = w;
    while (b->hi > 0 && b->words[b->hi - 1] == 0) b->hi--;
}

/* The kv model (Porcupine's per-key string: get / put / append) natively, because its states are
 * fresh strings so almost every step would otherwise be a call into Python. States are interned
 * strings: an arena of bytes, a table keyed by (hash, length) and checked byte for byte. The hash
 * of s + v follows from the hash of s (polynomial), so an append hashes only v. */
enum { KV_GET, KV_PUT, KV_APPEND, KV_OTHER };
#define KV_BASE 0x100000001b3ULL

typedef struct {
    unsigned char *kind;           /* per op */
    const char **value; size_t *value_len; uint64_t *value_hash, *value_power;
    char *arena; size_t arena_len, arena_cap;
    size_t *offset, *length; uint64_t *hash; size_t count, cap; /* per state */
    int32_t *slots; size_t mask;   /* state number + 1; 0 when free */
    char *scratch; size_t scratch_cap;
} Kv;

static int kv_grow_slots(Kv *kv) {
    size_t cap = (kv->mask + 1) * 2;
    int32_t *slots = calloc(cap, sizeof(int32_t));
    if (!slots) return -1;
    for (size_t k = 0; k < kv->count; k++) {
        size_t j = mix(kv->hash[k] ^ kv->length[k]) & (cap - 1);
        while (slots[j]) j = (j + 1) & (cap - 1);
        slots[j] = (int32_t)(k + 1);
    }
    free(kv->slots);
    kv->slots = slots;
    kv->mask = cap - 1;
    return 0;
}

/* The number of the state holding these bytes, adding it if new; -2 when out of memory. */
static int32_t kv_intern(Kv *kv, const char *bytes, size_t len, uint64_t hash) {
    size_t i = mix(hash ^ len) & kv->mask;
    while (kv->slots[i]) {
        size_t k = (size_t)(kv->slots[i] - 1);
        if (kv->hash[k] == hash && kv->length[k] == len && memcmp(kv->arena + kv->offset[k], bytes, len) == 0)
            return (int32_t)k;
        i = (i + 1) & kv->mask;
    }
    if (kv->count == kv->cap) {
        size_t cap = kv->cap * 2;
        size_t *offset = realloc(kv->offset, cap * sizeof(size_t));
        if (offset) kv->offset = offset;
        size_t *length = realloc(kv->length, cap * sizeof(size_t));
        if (length) kv->length = length;
        uint64_t *hashes = realloc(kv->hash, cap * sizeof(uint64_t));
        if (hashes) kv->hash = hashes;
        if (!offset || !length || !hashes) return -2;
        kv->cap = cap;
    }
    if (kv->arena_len + len > kv->arena_cap) {
        size_t cap = (kv->arena_cap + len) * 2;
        char *arena = realloc(kv->arena, cap);
        if (!arena) return -2;
        kv->arena = arena;
        kv->arena_cap = cap;
    }
    memcpy(kv->arena + kv->arena_len, bytes, len);
    size_t k = kv->count++;
    kv->offset[k] = kv->arena_len;
    kv->length[k] = len;
    kv->hash[k] = hash;
    kv->arena_len += len;
    kv->slots[i] = (int32_t)(k + 1);
    if (kv->count * 2 > kv->mask + 1 && kv_grow_slots(kv) < 0) return -2;
    return (int32_t)k;
}

/* The state after op i in state s, -1 if the model refuses it, -2 when out of memory. */
static int32_t kv_step(Kv *kv, int32_t s, int32_t i) {
    size_t len = kv->length[s], vlen = kv->value_len[i];
    switch (kv->kind[i]) {
    case KV_GET:
        return (len == vlen && kv->hash[s] == kv->value_hash[i]
                && memcmp(kv->arena + kv->offset[s], kv->value[i], len) == 0) ? s : -1;
    case KV_PUT:
        return kv_intern(kv, kv->value[i], vlen, kv->value_hash[i]);
    case KV_APPEND:
        if (len + vlen > kv->scratch_cap) {
            size_t cap = (len + vlen) * 2;
            char *scratch = realloc(kv->scratch, cap);
            if (!scratch) return -2;
            kv->scratch = scratch;
            kv->scratch_cap = cap;
        }
        memcpy(kv->scratch, kv->arena + kv->offset[s], len);
        memcpy(kv->scratch + len, kv->value[i], vlen);
        return kv_intern(kv, kv->scratch, len + vlen, kv->hash[s] * kv->value_power[i] + kv->value_hash[i]);
    default:
        return -1;
    }
}

static void kv_free(Kv *kv) {
    free(kv->kind); free(kv->value); free(kv->value_len); free(kv->value_hash); free(kv->value_power);
    free(kv->arena); free(kv->offset); free(kv->length); free(kv->hash); free(kv->slots); free(kv->scratch);
}

/* spec: (kinds: bytes, values: list of bytes). The byte strings stay owned by `spec`. */
static int kv_init(Kv *kv, PyObject *spec, size_t n) {
    PyObject *kinds, *values;
    if (!PyArg_ParseTuple(spec, "SO!", &kinds, &PyList_Type, &values)) return -1;
    if ((size_t)PyBytes_GET_SIZE(kinds) != n || (size_t)PyList_GET_SIZE(values) != n) {
        PyErr_SetString(PyExc_ValueError, "kv spec needs one kind and one value per entry");
        return -1;
    }
    kv->kind = malloc(n + 1);
    kv->value = calloc(n + 1, sizeof(char *));
    kv->value_len = calloc(n + 1, sizeof(size_t));
    kv->value_hash = calloc(n + 1, sizeof(uint64_t));
    kv->value_power = calloc(n + 1, sizeof(uint64_t));
    kv->cap = 1024;
    kv->offset = malloc(kv->cap * sizeof(size_t));
    kv->length = malloc(kv->cap * sizeof(size_t));
    kv->hash = malloc(kv->cap * sizeof(uint64_t));
    kv->mask = 2047;
    kv->slots = calloc(kv->mask + 1, sizeof(int32_t));
    if (!kv->kind || !kv->value || !kv->value_len || !kv->value_hash || !kv->value_power || !kv->offset
        || !kv->length || !kv->hash || !kv->slots) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(kv->kind, PyBytes_AS_STRING(kinds), n);
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyList_GET_ITEM(values, i);
        if (!PyBytes_Check(v)) { PyErr_SetString(PyExc_TypeError, "kv values must be bytes"); return -1; }
        kv->value[i] = PyBytes_AS_STRING(v);
        kv->value_len[i] = (size_t)PyBytes_GET_SIZE(v);
        uint64_t h = 0, power = 1;
        for (size_t k = 0; k < kv->value_len[i]; k++) {
            h = h * KV_BASE + (unsigned char)kv->value[i][k];
            power *= KV_BASE;
        }
        kv->value_hash[i] = h;
        kv->value_power[i] = power;
    }
    if (kv_intern(kv, "", 0, 0) != 0) { PyErr_NoMemory(); return -1; } /* state 0: the empty string */
    return 0;
}

/* register and cas-register natively, for values the caller has numbered (0: None, never
 * written): a step is a comparison, so neither a call into Python nor the memo is worth it. */
enum { REG_READ, REG_WRITE, REG_CAS, REG_CAS_FAIL, REG_NEVER };

typedef struct {
    unsigned char *kind; int32_t *a, *b; /* per op: the value read or written; cas: expected, new */
} Reg;

static int32_t reg_step(const Reg *r, int32_t s, int32_t i) {
    switch (r->kind[i]) {
    case REG_READ: return r->a[i] == s ? s : -1;
    case REG_WRITE: return r->a[i];
    case REG_CAS: return r->a[i] == s ? r->b[i] : -1;
    case REG_CAS_FAIL: return r->a[i] != s ? s : -1; /* observed a value other than the expected */
    default: return -1;
    }
}

/* spec: (kinds: bytes, a: bytes, b: bytes), a and b native int32 arrays, one entry per op. */
static int reg_init(Reg *r, PyObject *spec, size_t n) {
    PyObject *kinds, *a, *b;
    if (!PyArg_ParseTuple(spec, "SSS", &kinds, &a, &b)) return -1;
    if ((size_t)PyBytes_GET_SIZE(kinds) != n || (size_t)PyBytes_GET_SIZE(a) != n * 4
        || (size_t)PyBytes_GET_SIZE(b) != n * 4) {
        PyErr_SetString(PyExc_ValueError, "register spec needs one kind and two values per entry");
        return -1;
    }
    r->kind = malloc(n + 1);
    r->a = malloc(n * 4 + 4);
    r->b = malloc(n * 4 + 4);
    if (!r->kind || !r->a || !r->b) { PyErr_NoMemory(); return -1; }
    memcpy(r->kind, PyBytes_AS_STRING(kinds), n);
    memcpy(r->a, PyBytes_AS_STRING(a), n * 4);
    memcpy(r->b, PyBytes_AS_STRING(b), n * 4);
    return 0;
}

typedef struct {
    PyObject *step; /* a callable (state, op) -> state or -1, a kv spec tuple or a register one */
    int native_kv, native_reg;
    Reg reg;
    int32_t *twin; /* per op: an earlier-invoked crashed op the model cannot tell apart, or -1 */
    size_t n, nwords;
    unsigned char *determinate;
    int32_t *code, *nxt, *prv, *return_node;
    int32_t *stack_node, *stack_state, *best, *best_state;
    Bits bits;
    uint64_t *zobrist;
    Memo memo;
    Cache cache;
    Kv kv;
    long remaining, depth, best_len, low, failed;
    int watching_failure;
    int32_t state, node;
    uint64_t hash;
    unsigned long long steps;
    size_t cache_bytes_checked;
    const char *status; /* "running" until it is decided */
} Search;

static void search_free(PyObject *capsule) {
    Search *s = PyCapsule_GetPointer(capsule, "wglc.Search");
    if (!s) return;
    Py_XDECREF(s->step);
    free(s->determinate);
    free(s->code); free(s->nxt); free(s->prv); free(s->return_node);
    free(s->stack_node); free(s->stack_state); free(s->best); free(s->best_state);
    free(s->bits.words); free(s->zobrist);
    free(s->memo.slots);
    free(s->cache.arena); free(s->cache.offsets); free(s->cache.slots);
    kv_free(&s->kv);
    free(s->reg.kind); free(s->reg.a); free(s->reg.b);
    free(s->twin);
    free(s);
}

static PyObject *start(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *events_obj, *step, *twins = NULL;
    Py_buffer det;
    if (!PyArg_ParseTuple(args, "Oy*O|S", &events_obj, &det, &step, &twins)) return NULL;
    Search *s = calloc(1, sizeof(Search));
    if (!s) { PyBuffer_Release(&det); return PyErr_NoMemory(); }
    PyObject *capsule = PyCapsule_New(s, "wglc.Search", search_free);
    if (!capsule) { free(s); PyBuffer_Release(&det); return NULL; }
    s->step = Py_NewRef(step);
    s->native_reg = PyTuple_Check(step) && PyTuple_GET_SIZE(step) == 3;
    s->native_kv = PyTuple_Check(step) && !s->native_reg;
    s->status = "running";
    PyObject *events = PySequence_Fast(events_obj, "events must be a sequence of ints");
    if (!events) goto fail;
    Py_ssize_t n_nodes = PySequence_Fast_GET_SIZE(events);
    size_t n = s->n = (size_t)n_nodes / 2;
    size_t nwords = s->nwords = (n + 63) / 64 + 1;
    if ((size_t)det.len != n) {
        PyErr_SetString(PyExc_ValueError, "determinate must have one byte per entry");
        goto fail;
    }
    s->determinate = malloc(n + 1);
    s->code = calloc(n_nodes + 2, sizeof(int32_t));
    s->nxt = calloc(n_nodes + 2, sizeof(int32_t));
    s->prv = calloc(n_nodes + 2, sizeof(int32_t));
    s->return_node = calloc(n + 1, sizeof(int32_t));
    s->stack_node = calloc(n + 1, sizeof(int32_t));
    s->stack_state = calloc(n + 1, sizeof(int32_t));
    s->best = calloc(n + 1, sizeof(int32_t));
    s->best_state = calloc(n + 1, sizeof(int32_t));
    s->bits.words = calloc(nwords, sizeof(uint64_t));
    s->bits.nwords = nwords;
    s->zobrist = calloc(n + 1, sizeof(uint64_t));
    if (!s->determinate || !s->code || !s->nxt || !s->prv || !s->return_node || !s->stack_node
        || !s->stack_state || !s->best || !s->best_state || !s->bits.words || !s->zobrist
        || memo_init(&s->memo, 1024) < 0 || cache_init(&s->cache) < 0) {
        PyErr_NoMemory();
        goto fail;
    }
    memcpy(s->determinate, det.buf, n);
    if (s->native_kv && kv_init(&s->kv, step, n) < 0) goto fail;
    if (s->native_reg && reg_init(&s->reg, step, n) < 0) goto fail;
    if (twins) {
        if ((size_t)PyBytes_GET_SIZE(twins) != 4 * n) {
            PyErr_SetString(PyExc_ValueError, "twins must hold one int32 per entry");
            goto fail;
        }
        s->twin = malloc(4 * n + 4);
        if (!s->twin) { PyErr_NoMemory(); goto fail; }
        memcpy(s->twin, PyBytes_AS_STRING(twins), 4 * n);
    }
    for (Py_ssize_t k = 0; k < n_nodes; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(events, k));
        if (v == -1 && PyErr_Occurred()) goto fail;
        if (v < 0 || (size_t)(v >> 1) >= n) {
            PyErr_SetString(PyExc_ValueError, "event code out of range");
            goto fail;
        }
        s->code[k + 1] = (int32_t)v;
        if (v & 1) s->return_node[v >> 1] = (int32_t)(k + 1);
    }
    for (Py_ssize_t k = 0; k <= n_nodes + 1; k++) { s->nxt[k] = (int32_t)(k + 1); s->prv[k] = (int32_t)(k - 1); }
    for (size_t i = 0; i < n; i++) {
        s->zobrist[i] = mix(0x9e3779b97f4a7c15ULL * (i + 1));
        s->remaining += s->determinate[i] ? 1 : 0;
    }
    s->failed = -1;
    s->watching_failure = 1;
    s->node = s->remaining ? s->nxt[0] : 0;
    if (!s->remaining) s->status = "valid";
    Py_DECREF(events);
    PyBuffer_Release(&det);
    return capsule;
fail:
    Py_XDECREF(events);
    PyBuffer_Release(&det);
    Py_DECREF(capsule);
    return NULL;
}

/* Advances the search; see `methods` below. Returns the status, or NULL with an exception. */
static const char *advance(Search *s, double time_limit, long long memory_limit, PyObject *cancelled,
                           unsigned long long max_steps) {
    int32_t *code = s->code, *nxt = s->nxt, *prv = s->prv, *return_node = s->return_node;
    int32_t *stack_node = s->stack_node, *stack_state = s->stack_state;
    Bits *bits = &s->bits;
    uint64_t *zobrist = s->zobrist;
    const unsigned char *determinate = s->determinate;
    long remaining = s->remaining, depth = s->depth, best_len = s->best_len, low = s->low, failed = s->failed;
    int watching_failure = s->watching_failure;
    int32_t state = s->state, node = s->node;
    uint64_t hash = s->hash;
    unsigned long long steps = 0;
    const char *status = NULL;
    double deadline = time_limit >= 0 ? now() + time_limit : -1;
    s->cache.limit = s->memo.limit = memory_limit;

    while (!status) {
        if (max_steps && steps == max_steps) { status = "steps"; break; }
        steps++;
        if (!(steps & 0xFFF)) {
            if (deadline >= 0 && now() > deadline) { status = "time"; break; }
            /* Resident size every 65536 steps, and sooner when the cache grows fast (each entry
             * holds a bitset of all ops, so a long partition fills memory quickly). */
            size_t cache_bytes = s->cache.used * 8;
            if (!(steps & 0xFFFF) || cache_bytes > s->cache_bytes_checked + (64u << 20)) {
                s->cache_bytes_checked = cache_bytes;
                if (memory_limit > 0 && resident() > memory_limit) { status = "memory"; break; }
                if (cancelled != Py_None) {
                    PyObject *r = PyObject_CallNoArgs(cancelled);
                    int yes = r ? PyObject_IsTrue(r) : -1;
                    Py_XDECREF(r);
                    if (yes < 0) break;
                    if (yes) { status = "cancelled"; break; }
                }
            }
        }
        int32_t c = code[node];
        if (!(c & 1)) { /* an invocation: try to linearize it here */
            int32_t i = c >> 1;
            uint64_t key = ((uint64_t)(uint32_t)state << 32) | (uint32_t)i;
            int32_t after;
            MemoSlot *known = NULL;
            int32_t t = s->twin ? s->twin[i] : -1;
            if (t >= 0 && !((bits->words[(size_t)t >> 6] >> (t & 63)) & 1)) {
                /* Symmetry: crashed ops the model cannot tell apart are placed earliest-invoked
                 * first. A placement that uses this one but not its unplaced twin, invoked
                 * before it and pending as long, has the same outcome with the twin instead. */
                after = -1;
            } else if (s->native_reg) {
                after = reg_step(&s->reg, state, i);
            } else if (s->native_kv && s->kv.kind[i] == KV_GET) {
                after = kv_step(&s->kv, state, i); /* a comparison: cheaper than the memo */
            } else {
                known = memo_find(&s->memo, key);
                after = known->value;
            }
            if (known && known->key == EMPTY) {
                if (s->native_kv) {
                    after = kv_step(&s->kv, state, i);
                    if (after == -2) { status = "memory"; break; }
                } else {
                    PyObject *r = PyObject_CallFunction(s->step, "ii", (int)state, (int)i);
                    if (!r) break;
                    long v = PyLong_AsLong(r);
                    Py_DECREF(r);
                    if (v == -1 && PyErr_Occurred()) break;
                    after = (int32_t)v;
                }
                if (memo_put(&s->memo, key, after) < 0) { status = "memory"; break; }
            }
            if (after >= 0) {
                bits_set(bits, i);
                uint64_t with_i = hash ^ zobrist[i];
                int added = cache_add(&s->cache, with_i ^ mix((uint64_t)(uint32_t)after + 1), after, bits->words,
                                      bits->lo, bits->hi < bits->lo ? bits->lo : bits->hi);
                if (added < 0) { status = "memory"; bits_clear(bits, i); break; }
                if (added) {
                    stack_node[depth] = node;
                    stack_state[depth] = state;
                    depth++;
                    state = after;
                    hash = with_i;
                    nxt[prv[node]] = nxt[node]; prv[nxt[node]] = prv[node];
                    int32_t r = return_node[i];
                    nxt[prv[r]] = nxt[r]; prv[nxt[r]] = prv[r];
                    if (depth > best_len) {
                        for (long k = low; k < depth; k++) {
                            s->best[k] = code[stack_node[k]] >> 1;
                            s->best_state[k] = k + 1 < depth ? stack_state[k + 1] : state;
                        }
                        best_len = low = depth;
                        failed = -1;
                        watching_failure = 1;
                    }
                    if (determinate[i] && --remaining == 0) { status = "valid"; break; }
                    node = nxt[0];
                    continue;
                }
                bits_clear(bits, i);
            }
            node = nxt[node];
        } else { /* a completion whose op is not placed yet: undo the last choice */
            if (watching_failure) { failed = c >> 1; watching_failure = 0; }
            if (depth == 0) { status = "invalid"; break; }
            depth--;
            if (depth < low) low = depth;
            node = stack_node[depth];
            state = stack_state[depth];
            int32_t i = code[node] >> 1;
            bits_clear(bits, i);
            hash ^= zobrist[i];
            if (determinate[i]) remaining++;
            int32_t r = return_node[i];
            nxt[prv[r]] = r; prv[nxt[r]] = r;
            nxt[prv[node]] = node; prv[nxt[node]] = node;
            node = nxt[node];
        }
    }
    s->remaining = remaining; s->depth = depth; s->best_len = best_len; s->low = low; s->failed = failed;
    s->watching_failure = watching_failure;
    s->state = state; s->node = node; s->hash = hash;
    s->steps += steps;
    return status;
}

static PyObject *run(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *capsule, *cancelled;
    double time_limit;
    long long memory_limit;
    unsigned long long max_steps;
    if (!PyArg_ParseTuple(args, "OdLOK", &capsule, &time_limit, &memory_limit, &cancelled, &max_steps)) return NULL;
    Search *s = PyCapsule_GetPointer(capsule, "wglc.Search");
    if (!s) return NULL;
    if (strcmp(s->status, "running") == 0) {
        const char *status = advance(s, time_limit, memory_limit, cancelled, max_steps);
        if (!status) return NULL;
        if (!strcmp(status, "valid") || !strcmp(status, "invalid")) s->status = status;
        return PyUnicode_FromString(status);
    }
    return PyUnicode_FromString(s->status);
}

static PyObject *result(PyObject *Py_UNUSED(self), PyObject *capsule) {
    Search *s = PyCapsule_GetPointer(capsule, "wglc.Search");
    if (!s) return NULL;
    PyObject *best_list = PyList_New(s->best_len), *state_list = PyList_New(s->best_len);
    if (!best_list || !state_list) goto fail;
    for (long k = 0; k < s->best_len; k++) {
        PyObject *op = PyLong_FromLong(s->best[k]);
        if (!op) goto fail;
        PyList_SET_ITEM(best_list, k, op);
        int32_t st = s->best_state[k];
        PyObject *state = s->native_kv
            ? PyUnicode_DecodeUTF8(s->kv.arena + s->kv.offset[st], s->kv.length[st], "replace")
            : PyLong_FromLong(st);
        if (!state) goto fail;
        PyList_SET_ITEM(state_list, k, state);
    }
    PyObject *failed = s->failed >= 0 ? PyLong_FromLong(s->failed) : Py_NewRef(Py_None);
    return Py_BuildValue("NNNKn", best_list, state_list, failed, s->steps, (Py_ssize_t)s->cache.count);
fail:
    Py_XDECREF(best_list);
    Py_XDECREF(state_list);
    return NULL;
}

/* ---- The lean path's one pass over decoded journal lines (lean.py) --------------------------
 * For each map: the shape rules of harness/history_check.py, the stats, and invocations paired
 * with completions into call records. Returns False at the first line not taken as it is (the
 * general path then reads the file and names the problem), True otherwise. */

#define LINE_MAX_DEPTH 100
static const char *const FIELD_NAMES[] = {"index", "time", "type", "process", "f", "value", "node", "error"};
static const char *const TYPE_NAMES[] = {"invoke", "ok", "fail", "info"};

static int is_plain(PyObject *v) { return v == Py_None || PyLong_CheckExact(v) || PyUnicode_CheckExact(v); }

/* Nested deeper than LINE_MAX_DEPTH, or a float that may be an integer past 64 bits. */
static int unusual(PyObject *v, int depth) {
    PyObject *items = PyDict_CheckExact(v) ? PyDict_Values(v) : (Py_INCREF(v), v);
    if (!items) return 1;
    int found = 0;
    Py_ssize_t n = PyList_GET_SIZE(items);
    for (Py_ssize_t k = 0; k < n && !found; k++) {
        PyObject *x = PyList_GET_ITEM(items, k);
        if (PyList_CheckExact(x) || PyDict_CheckExact(x)) found = depth >= LINE_MAX_DEPTH || unusual(x, depth + 1);
        else if (PyFloat_CheckExact(x)) { double d = PyFloat_AS_DOUBLE(x); found = !(d > -9223372036854775808.0 && d < 9223372036854775808.0); }
    }
    Py_DECREF(items);
    return found;
}

/* A non-negative 64-bit count (not a bool): 1, or 0 if v is something else. */
static int count_value(PyObject *v, long long *out) {
    if (!PyLong_CheckExact(v)) return 0;
    int overflow = 0;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow || x < 0) { PyErr_Clear(); return 0; }
    *out = x;
    return 1;
}

static PyObject *scan_rows(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *rows, *state, *open_calls, *calls;
    if (!PyArg_ParseTuple(args, "O!O!O!O!", &PyList_Type, &rows, &PyList_Type, &state, &PyDict_Type, &open_calls,
                          &PyList_Type, &calls)) return NULL;
    if (PyList_GET_SIZE(state) != 9) { PyErr_SetString(PyExc_ValueError, "state: 9 items"); return NULL; }
    static PyObject *names[8], *types[4];
    if (!names[0]) {
        for (int k = 0; k < 8; k++) names[k] = PyUnicode_InternFromString(FIELD_NAMES[k]);
        for (int k = 0; k < 4; k++) types[k] = PyUnicode_InternFromString(TYPE_NAMES[k]);
    }
    long long pos = PyLong_AsLongLong(PyList_GET_ITEM(state, 0));
    PyObject *has_index_obj = PyList_GET_ITEM(state, 1);
    int has_index = has_index_obj == Py_None ? -1 : has_index_obj == Py_True;
    long long last_index = PyLong_AsLongLong(PyList_GET_ITEM(state, 2));
    long long counts[5]; /* nemesis, invoke, ok, fail, info */
    for (int k = 0; k < 5; k++) counts[k] = PyLong_AsLongLong(PyList_GET_ITEM(state, 3 + k));
    PyObject *last_time = PyList_GET_ITEM(state, 8);
    Py_INCREF(last_time);
    if (PyErr_Occurred()) { Py_DECREF(last_time); return NULL; }
    int taken = 1;
    Py_ssize_t n = PyList_GET_SIZE(rows);
    for (Py_ssize_t r = 0; r < n && taken; r++) {
        taken = 0;
        pos++;
        PyObject *row = PyList_GET_ITEM(rows, r);
        if (!PyDict_CheckExact(row)) break;
        PyObject *field[8] = {NULL};
        Py_ssize_t at = 0, known = 0;
        PyObject *key, *value;
        while (PyDict_Next(row, &at, &key, &value)) {
            int k = 0;
            /* orjson hands out its cached key strings, so identity nearly always answers */
            while (k < 8 && key != names[k]) k++;
            if (k == 8)
                for (k = 0; k < 8 && !(PyUnicode_CheckExact(key) && PyUnicode_Compare(key, names[k]) == 0); k++) {}
            if (k == 8) break;
            field[k] = value;
            known++;
        }
        if (known != PyDict_GET_SIZE(row)) break;  /* a field the journal does not write */
        PyObject *index = field[0], *t = field[1], *kind = field[2], *process = field[3], *f = field[4];
        PyObject *v = field[5], *node = field[6], *error = field[7];
        int kind_no = -1;
        for (int k = 0; kind && k < 4 && kind_no < 0; k++)
            if (kind == types[k] || (PyUnicode_CheckExact(kind) && PyUnicode_Compare(kind, types[k]) == 0)) kind_no = k;
        if (kind_no < 0) break;
        long long x;
        if (t && t != Py_None && !count_value(t, &x)) break;
        if (has_index < 0) has_index = index && index != Py_None;
        if ((index && index != Py_None) != has_index) break;
        if (has_index) {
            if (!count_value(index, &x) || x <= last_index) break;
            last_index = x;
        }
        if (f && f != Py_None && !PyUnicode_CheckExact(f)) break;
        if (node && node != Py_None && !PyUnicode_CheckExact(node)) break;
        if (error && !is_plain(error)) break;
        if (v && (PyList_CheckExact(v) || PyDict_CheckExact(v)) && unusual(v, 1)) break;
        if (v && PyFloat_CheckExact(v)) { double d = PyFloat_AS_DOUBLE(v); if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) break; }
        Py_DECREF(last_time);
        last_time = t ? t : Py_None;
        Py_INCREF(last_time);
        if (!process || !PyLong_CheckExact(process)) {
            if (process && process != Py_None && !PyUnicode_CheckExact(process)) break;
            counts[0]++;
            taken = 1;
            continue;
        }
        if (!count_value(process, &x)) break;
        counts[1 + kind_no]++;
        PyObject *opened = PyDict_GetItemWithError(open_calls, process);
        if (!opened && PyErr_Occurred()) goto error;
        PyObject *time_obj = t ? t : Py_None, *f_obj = f ? f : Py_None, *v_obj = v ? v : Py_None;
        if (kind_no == 0) {
            if (opened) break;
            PyObject *call = PyList_New(7), *where = PyLong_FromLongLong(pos);
            if (!call || !where) { Py_XDECREF(call); Py_XDECREF(where); goto error; }
            PyObject *items[7] = {f_obj, v_obj, where, time_obj, types[3], Py_None, Py_None};
            for (int k = 0; k < 7; k++) { if (k != 2) Py_INCREF(items[k]); PyList_SET_ITEM(call, k, items[k]); }
            int failed = PyDict_SetItem(open_calls, process, call) < 0 || PyList_Append(calls, call) < 0;
            Py_DECREF(call);
            if (failed) goto error;
            taken = 1;
            continue;
        }
        if (!opened) break;
        int same = PyObject_RichCompareBool(PyList_GET_ITEM(opened, 0), f_obj, Py_EQ);
        if (same < 0) goto error;
        if (!same) break;
        PyObject *start = PyList_GET_ITEM(opened, 3);
        long long started;
        if (t && t != Py_None && start != Py_None && count_value(start, &started)) {
            long long ended;
            count_value(t, &ended);
            if (ended < started) break;
        }
        PyObject *where = PyLong_FromLongLong(pos);
        if (!where) goto error;
        Py_INCREF(kind); Py_INCREF(v_obj);
        PyList_SetItem(opened, 4, kind);
        PyList_SetItem(opened, 5, v_obj);
        PyList_SetItem(opened, 6, where);
        if (PyDict_DelItem(open_calls, process) < 0) goto error;
        taken = 1;
    }
    {
        PyObject *values[9];
        values[0] = PyLong_FromLongLong(pos);
        values[1] = has_index < 0 ? Py_None : has_index ? Py_True : Py_False;
        Py_INCREF(values[1]);
        values[2] = PyLong_FromLongLong(last_index);
        for (int k = 0; k < 5; k++) values[3 + k] = PyLong_FromLongLong(counts[k]);
        values[8] = last_time;
        for (int k = 0; k < 9; k++) {
            if (!values[k]) goto error;
            PyList_SetItem(state, k, values[k]);
        }
    }
    if (taken) Py_RETURN_TRUE;
    Py_RETURN_FALSE;
error:
    Py_XDECREF(last_time);
    return NULL;
}

/* ---- split_register: the lean path's pairing output, split by key, as register specs ------- */

static int plain(PyObject *v) {
    return v == Py_None || PyLong_CheckExact(v) || PyUnicode_CheckExact(v);
}

/* The number of `value` in `numbers` (a dict value -> number) and `values` (number -> value). */
static long number_of(PyObject *numbers, PyObject *values, PyObject *value) {
    PyObject *known = PyDict_GetItemWithError(numbers, value);
    if (known) return PyLong_AsLong(known);
    if (PyErr_Occurred()) return -1;
    PyObject *n = PyLong_FromSsize_t(PyList_GET_SIZE(values));
    if (!n) return -1;
    int bad = PyDict_SetItem(numbers, value, n) < 0 || PyList_Append(values, value) < 0;
    Py_DECREF(n);
    return bad ? -1 : (long)PyList_GET_SIZE(values) - 1;
}

typedef struct { size_t count, cap; unsigned char *kind, *det; int32_t *a, *b; uint64_t *events; } Part;

static int part_push(Part *p) {
    if (p->count < p->cap) return 0;
    size_t cap = p->cap ? p->cap * 2 : 16;
    unsigned char *kind = realloc(p->kind, cap); if (kind) p->kind = kind;
    unsigned char *det = realloc(p->det, cap); if (det) p->det = det;
    int32_t *a = realloc(p->a, cap * 4); if (a) p->a = a;
    int32_t *b = realloc(p->b, cap * 4); if (b) p->b = b;
    uint64_t *events = realloc(p->events, cap * 16); if (events) p->events = events;
    if (!kind || !det || !a || !b || !events) return -1;
    p->cap = cap;
    return 0;
}

static int by_position(const void *x, const void *y) {
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

/* split_register(calls, end, cas, observe_failed_cas) -> {key: (values, spec, determinate, events)}
 * or None for anything the lean path does not take (lean.py _split says which). */
static PyObject *split_register(PyObject *Py_UNUSED(self), PyObject *args) {
    PyObject *calls;
    long long end;
    int cas, observe;
    if (!PyArg_ParseTuple(args, "O!Lpp", &PyList_Type, &calls, &end, &cas, &observe)) return NULL;
    PyObject *index = PyDict_New(), *keys = PyList_New(0), *out = NULL;
    PyObject *numbers = PyList_New(0), *valuess = PyList_New(0);
    Part *parts = NULL;
    size_t nparts = 0, cap = 0;
    int refused = 0;
    if (!index || !keys || !numbers || !valuess) goto done;
    for (Py_ssize_t c = 0; c < PyList_GET_SIZE(calls); c++) {
        PyObject *call = PyList_GET_ITEM(calls, c);
        if (!PyList_Check(call) || PyList_GET_SIZE(call) != 7) { refused = 1; break; }
        PyObject *f = PyList_GET_ITEM(call, 0), *sent = PyList_GET_ITEM(call, 1), *outcome = PyList_GET_ITEM(call, 4);
        PyObject *got = PyList_GET_ITEM(call, 5);
        if (!PyUnicode_Check(f) || !PyUnicode_Check(outcome)) { refused = 1; break; }
        int is_read = PyUnicode_CompareWithASCIIString(f, "read") == 0;
        int is_write = PyUnicode_CompareWithASCIIString(f, "write") == 0;
        int is_cas = PyUnicode_CompareWithASCIIString(f, "cas") == 0;
        int ok = PyUnicode_CompareWithASCIIString(outcome, "ok") == 0;
        int fail = PyUnicode_CompareWithASCIIString(outcome, "fail") == 0;
        int info = !ok && !fail;
        if (fail && !(observe && is_cas)) continue;
        if (!PyList_CheckExact(sent) || PyList_GET_SIZE(sent) != 2) { refused = 1; break; }
        PyObject *key = PyList_GET_ITEM(sent, 0), *raw = PyList_GET_ITEM(sent, 1);
        if (ok) {
            if (!PyList_CheckExact(got) || PyList_GET_SIZE(got) != 2) { refused = 1; break; }
            raw = PyList_GET_ITEM(got, 1);
        }
        if (key == Py_None || !plain(key)) { refused = 1; break; }
        PyObject *first = NULL;
        if (PyList_CheckExact(raw)) {
            if (PyList_GET_SIZE(raw) != 2 || !plain(PyList_GET_ITEM(raw, 0)) || !plain(PyList_GET_ITEM(raw, 1))) {
                refused = 1; break;
            }
            first = PyList_GET_ITEM(raw, 0);
        } else if (!plain(raw)) { refused = 1; break; }
        if (!is_read && !is_write && !(cas && is_cas && first)) { refused = 1; break; } /* a shape error */
        if (info && is_read) continue; /* a crashed read observes nothing */
        PyObject *known = PyDict_GetItemWithError(index, key);
        size_t k;
        if (known) {
            k = PyLong_AsSize_t(known);
        } else {
            if (PyErr_Occurred()) goto done;
            if (nparts == cap) {
                size_t more = cap ? cap * 2 : 64;
                Part *grown = realloc(parts, more * sizeof(Part));
                if (!grown) { PyErr_NoMemory(); goto done; }
                memset(grown + cap, 0, (more - cap) * sizeof(Part));
                parts = grown; cap = more;
            }
            k = nparts++;
            PyObject *n = PyLong_FromSize_t(k), *d = PyDict_New(), *v = PyList_New(0);
            int bad = !n || !d || !v || PyDict_SetItem(index, key, n) < 0 || PyList_Append(keys, key) < 0
                || PyList_Append(numbers, d) < 0 || PyList_Append(valuess, v) < 0
                || (v && d && PyList_Append(v, Py_None) < 0);
            if (!bad) { PyObject *zero = PyLong_FromLong(0); bad = !zero || PyDict_SetItem(d, Py_None, zero) < 0; Py_XDECREF(zero); }
            Py_XDECREF(n); Py_XDECREF(d); Py_XDECREF(v);
            if (bad) goto done;
        }
        Part *p = &parts[k];
        if (part_push(p) < 0) { PyErr_NoMemory(); goto done; }
        PyObject *d = PyList_GET_ITEM(numbers, k), *v = PyList_GET_ITEM(valuess, k);
        size_t i = p->count++;
        long a, b = 0;
        if (first) {
            if (is_cas) {
                a = number_of(d, v, first);
                b = number_of(d, v, PyList_GET_ITEM(raw, 1));
            } else { /* a read or write of a pair: the value is the tuple */
                PyObject *pair = PyTuple_Pack(2, first, PyList_GET_ITEM(raw, 1));
                if (!pair) goto done;
                a = number_of(d, v, pair);
                Py_DECREF(pair);
            }
        } else {
            a = number_of(d, v, raw);
        }
        if (a < 0 || b < 0) goto done;
        p->kind[i] = is_read ? REG_READ : is_write ? REG_WRITE : fail ? REG_CAS_FAIL : REG_CAS;
        p->a[i] = (int32_t)a; p->b[i] = (int32_t)b;
        p->det[i] = !info;
        long long call_pos = PyLong_AsLongLong(PyList_GET_ITEM(call, 2));
        long long return_pos = info ? end++ : PyLong_AsLongLong(PyList_GET_ITEM(call, 6));
        if (PyErr_Occurred()) goto done;
        p->events[2 * i] = ((uint64_t)call_pos << 32) | (uint64_t)(2 * i);
        p->events[2 * i + 1] = ((uint64_t)return_pos << 32) | (uint64_t)(2 * i + 1);
    }
    if (refused) { out = Py_NewRef(Py_None); goto done; }
    out = PyDict_New();
    if (!out) goto done;
    for (size_t k = 0; k < nparts; k++) {
        Part *p = &parts[k];
        qsort(p->events, 2 * p->count, sizeof(uint64_t), by_position);
        PyObject *events = PyList_New((Py_ssize_t)(2 * p->count));
        if (!events) { Py_CLEAR(out); goto done; }
        for (size_t e = 0; e < 2 * p->count; e++)
            PyList_SET_ITEM(events, (Py_ssize_t)e, PyLong_FromUnsignedLong((unsigned long)(p->events[e] & 0xFFFFFFFFu)));
        PyObject *entry = Py_BuildValue("(O(y#y#y#)y#N)", PyList_GET_ITEM(valuess, k),
                                        (const char *)p->kind, (Py_ssize_t)p->count,
                                        (const char *)p->a, (Py_ssize_t)(4 * p->count),
                                        (const char *)p->b, (Py_ssize_t)(4 * p->count),
                                        (const char *)p->det, (Py_ssize_t)p->count, events);
        if (!entry || PyDict_SetItem(out, PyList_GET_ITEM(keys, k), entry) < 0) { Py_XDECREF(entry); Py_CLEAR(out); goto done; }
        Py_DECREF(entry);
    }
done:
    for (size_t k = 0; k < nparts; k++) {
        free(parts[k].kind); free(parts[k].det); free(parts[k].a); free(parts[k].b); free(parts[k].events);
    }
    free(parts);
    Py_XDECREF(index); Py_XDECREF(keys); Py_XDECREF(numbers); Py_XDECREF(valuess);
    return out;
}

static PyMethodDef methods[] = {
    {"split_register", split_register, METH_VARARGS,
     "split_register(calls, end, cas, observe_failed_cas) -> {key: (values, spec, determinate, events)} or None "
     "(lean.py)."},
    {"scan_rows", scan_rows, METH_VARARGS,
     "scan_rows(rows, state, open_calls, calls) -> taken: the lean path's pass over decoded lines (lean.py)."},
    {"start", start, METH_VARARGS,
     "start(events, determinate, step) -> search. events: 2 * op + is_completion, in history order; "
     "determinate: a byte per op; step: (state number, op) -> state number or -1, or a kv spec."},
    {"run", run, METH_VARARGS,
     "run(search, time_limit, memory_limit, cancelled, max_steps) -> status: valid, invalid, or why it "
     "stopped (steps: run again to go on; time, memory, cancelled). 0 or less means no limit."},
    {"result", result, METH_O, "result(search) -> (best, best_states, failed, steps, cache_entries)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_wglc", "Wing-Gong-Lowe search in C.", -1, methods, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__wglc(void) { return PyModule_Create(&module); }
