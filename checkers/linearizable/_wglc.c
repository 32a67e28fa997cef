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

static void search_destroy(Search *s) {
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

static void search_free(PyObject *capsule) {
    Search *s = PyCapsule_GetPointer(capsule, "wglc.Search");
    if (s) search_destroy(s);
}

/* The arrays of a search over n ops from its events (codes 2 * op + is_completion, in history
 * order) and a determinate byte per op; the model is set by the caller. -1 with no exception
 * set when out of memory (the caller raises), -2 for an event out of range. */
static int search_setup(Search *s, const int32_t *events, size_t n_nodes, const unsigned char *det) {
    size_t n = s->n = n_nodes / 2;
    size_t nwords = s->nwords = (n + 63) / 64 + 1;
    s->status = "running";
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
        || memo_init(&s->memo, 1024) < 0 || cache_init(&s->cache) < 0)
        return -1;
    memcpy(s->determinate, det, n);
    for (size_t k = 0; k < n_nodes; k++) {
        int32_t v = events[k];
        if (v < 0 || (size_t)(v >> 1) >= n) return -2;
        s->code[k + 1] = v;
        if (v & 1) s->return_node[v >> 1] = (int32_t)(k + 1);
    }
    for (size_t k = 0; k <= n_nodes + 1; k++) { s->nxt[k] = (int32_t)(k + 1); s->prv[k] = (int32_t)k - 1; }
    for (size_t i = 0; i < n; i++) {
        s->zobrist[i] = mix(0x9e3779b97f4a7c15ULL * (i + 1));
        s->remaining += s->determinate[i] ? 1 : 0;
    }
    s->failed = -1;
    s->watching_failure = 1;
    s->node = s->remaining ? s->nxt[0] : 0;
    if (!s->remaining) s->status = "valid";
    return 0;
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
    int32_t *codes = NULL;
    PyObject *events = PySequence_Fast(events_obj, "events must be a sequence of ints");
    if (!events) goto fail;
    Py_ssize_t n_nodes = PySequence_Fast_GET_SIZE(events);
    size_t n = (size_t)n_nodes / 2;
    if ((size_t)det.len != n) {
        PyErr_SetString(PyExc_ValueError, "determinate must have one byte per entry");
        goto fail;
    }
    codes = malloc((n_nodes + 1) * sizeof(int32_t));
    if (!codes) { PyErr_NoMemory(); goto fail; }
    for (Py_ssize_t k = 0; k < n_nodes; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(events, k));
        if (v == -1 && PyErr_Occurred()) goto fail;
        codes[k] = v < 0 || v > INT32_MAX ? -1 : (int32_t)v;
    }
    int set = search_setup(s, codes, (size_t)n_nodes, det.buf);
    if (set == -2) { PyErr_SetString(PyExc_ValueError, "event code out of range"); goto fail; }
    if (set < 0) { PyErr_NoMemory(); goto fail; }
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
    free(codes);
    Py_DECREF(events);
    PyBuffer_Release(&det);
    return capsule;
fail:
    free(codes);
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

/* ---- check_journal: the lean path from a journal's bytes to the search, all in C ------------
 *
 * The lean path of lean.py decodes every line into a Python map (orjson), pairs and splits
 * them (scan_rows, split_register above): on a small history the decoding and its imports are
 * most of the time, and on a large one the maps are most of the memory. This reads the file
 * itself, a block at a time, keeps per op only a few numbers (a key number, a kind, two value
 * numbers, two positions), and searches key after key, so nothing per op is a Python object.
 *
 * It takes a strict subset of what scan_rows and split_register take, and applies the same
 * rules to it (the comments name them): lines of one JSON object each, of the journal's fields
 * only; strings without escapes or bytes past ASCII; integers of at most 18 digits; client
 * values [key, value] or [key, [expected, new]] of integers, strings and null; no true or false
 * (which Python equates with 1 and 0). Anything else makes it answer "not taken", and lean.py
 * then decodes the file the orjson way, which takes more and in turn hands what it does not
 * take to the general reader. So an unusual file costs one more quick pass, never a different
 * verdict. */

typedef struct { unsigned char tag; int64_t x; } Tok; /* tag: 0 null, 1 integer, 2 string (x: its number) */
enum { TOK_NULL, TOK_INT, TOK_STR };

/* One open-addressing table for everything interned: strings (by bytes), keys (by token) and
 * each key's values (by key and token), each kind told apart by `space`. */
typedef struct {
    uint64_t hash; int64_t x; uint32_t space, aux; int32_t number; /* number + 1; 0: free */
} Slot;

typedef struct {
    Slot *slots; size_t mask, used;
    char *arena; size_t arena_len, arena_cap; /* string bytes */
    size_t *str_off, *str_len; size_t nstr, str_cap;
} Intern;

static uint64_t bytes_hash(const char *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * KV_BASE;
    return mix(h ^ n);
}

static int intern_grow(Intern *t) {
    size_t cap = t->slots ? (t->mask + 1) * 2 : 4096;
    Slot *slots = calloc(cap, sizeof(Slot));
    if (!slots) return -1;
    if (t->slots)
        for (size_t i = 0; i <= t->mask; i++) {
            if (!t->slots[i].number) continue;
            size_t j = t->slots[i].hash & (cap - 1);
            while (slots[j].number) j = (j + 1) & (cap - 1);
            slots[j] = t->slots[i];
        }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return 0;
}

/* The number of a string, new ones numbered from 0 in order; -1 when out of memory. */
static int64_t intern_str(Intern *t, const char *p, size_t n) {
    if ((t->used + 1) * 2 > (t->slots ? t->mask + 1 : 0) && intern_grow(t) < 0) return -1;
    uint64_t h = bytes_hash(p, n);
    size_t i = h & t->mask;
    for (; t->slots[i].number; i = (i + 1) & t->mask) {
        Slot *e = &t->slots[i];
        if (e->space == 0 && e->hash == h && t->str_len[e->x] == n && memcmp(t->arena + t->str_off[e->x], p, n) == 0)
            return e->x;
    }
    if (t->nstr == t->str_cap) {
        size_t cap = t->str_cap ? t->str_cap * 2 : 1024;
        size_t *off = realloc(t->str_off, cap * sizeof(size_t)); if (off) t->str_off = off;
        size_t *len = realloc(t->str_len, cap * sizeof(size_t)); if (len) t->str_len = len;
        if (!off || !len) return -1;
        t->str_cap = cap;
    }
    if (t->arena_len + n > t->arena_cap) {
        size_t cap = (t->arena_cap + n) * 2 + 4096;
        char *grown = realloc(t->arena, cap);
        if (!grown) return -1;
        t->arena = grown; t->arena_cap = cap;
    }
    memcpy(t->arena + t->arena_len, p, n);
    t->str_off[t->nstr] = t->arena_len; t->str_len[t->nstr] = n;
    t->arena_len += n;
    t->slots[i] = (Slot){h, (int64_t)t->nstr, 0, 0, 1};
    t->used++;
    return (int64_t)t->nstr++;
}

/* The number of (space, aux, token): `*fresh` says whether it is new, numbered `next`. */
static int32_t intern_tok(Intern *t, uint32_t space, uint32_t aux, Tok v, int32_t next, int *fresh) {
    if ((t->used + 1) * 2 > (t->slots ? t->mask + 1 : 0) && intern_grow(t) < 0) return -1;
    uint64_t h = mix(((uint64_t)space << 40) ^ ((uint64_t)aux << 2) ^ v.tag ^ mix((uint64_t)v.x + 0x51));
    size_t i = h & t->mask;
    uint32_t s = space | ((uint32_t)v.tag << 30);
    for (; t->slots[i].number; i = (i + 1) & t->mask) {
        Slot *e = &t->slots[i];
        if (e->space == s && e->aux == aux && e->x == v.x) { *fresh = 0; return e->number - 1; }
    }
    t->slots[i] = (Slot){h, v.x, s, aux, next + 1};
    t->used++;
    *fresh = 1;
    return next;
}

typedef struct {
    const char *p, *end;
    int bad; /* set at the first thing not taken */
} Cursor;

static void ws(Cursor *c) { while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++; }

static int eat(Cursor *c, char ch) {
    ws(c);
    if (c->p < c->end && *c->p == ch) { c->p++; return 1; }
    return 0;
}

/* A string without escapes, control characters or bytes past ASCII: its bytes. */
static int str_token(Cursor *c, const char **start, size_t *len) {
    ws(c);
    if (c->p >= c->end || *c->p != '"') return 0;
    const char *q = ++c->p;
    while (q < c->end && *q != '"') {
        unsigned char ch = (unsigned char)*q;
        if (ch == '\\' || ch < 0x20 || ch >= 0x80) return 0;
        q++;
    }
    if (q >= c->end) return 0;
    *start = c->p; *len = (size_t)(q - c->p);
    c->p = q + 1;
    return 1;
}

/* An integer of at most 18 digits (so it fits in 64 bits), in JSON's form. */
static int int_token(Cursor *c, int64_t *out) {
    ws(c);
    const char *q = c->p;
    int negative = q < c->end && *q == '-';
    if (negative) q++;
    const char *digits = q;
    int64_t v = 0;
    while (q < c->end && *q >= '0' && *q <= '9') v = v * 10 + (*q++ - '0');
    size_t n = (size_t)(q - digits);
    if (n == 0 || n > 18 || (n > 1 && *digits == '0')) return 0;
    if (q < c->end && (*q == '.' || *q == 'e' || *q == 'E')) return 0; /* a float */
    c->p = q;
    *out = negative ? -v : v;
    return 1;
}

static int word(Cursor *c, const char *w, size_t n) {
    ws(c);
    if ((size_t)(c->end - c->p) >= n && memcmp(c->p, w, n) == 0) { c->p += n; return 1; }
    return 0;
}

/* A plain value (null, an integer or a string) as a token. */
static int plain_token(Cursor *c, Intern *t, Tok *out) {
    ws(c);
    if (c->p >= c->end) return 0;
    if (*c->p == 'n') { out->tag = TOK_NULL; out->x = 0; return word(c, "null", 4); }
    if (*c->p == '"') {
        const char *s; size_t n;
        if (!str_token(c, &s, &n)) return 0;
        int64_t id = intern_str(t, s, n);
        if (id < 0) { c->bad = 2; return 0; }
        out->tag = TOK_STR; out->x = id;
        return 1;
    }
    out->tag = TOK_INT;
    return int_token(c, &out->x);
}

/* Any JSON value, checked and skipped (a nemesis op's value): nested at most 50 deep; floats
 * within 64-bit integers' range (scan_rows's rule for them), no escapes. */
static int skip_value(Cursor *c, int depth) {
    ws(c);
    if (c->p >= c->end || depth > 50) return 0;
    char ch = *c->p;
    if (ch == '"') { const char *s; size_t n; return str_token(c, &s, &n); }
    if (ch == 'n') return word(c, "null", 4);
    if (ch == 't') return word(c, "true", 4);
    if (ch == 'f') return word(c, "false", 5);
    if (ch == '[' || ch == '{') {
        char close = ch == '[' ? ']' : '}';
        c->p++;
        if (eat(c, close)) return 1;
        do {
            if (close == '}') {
                const char *s; size_t n;
                if (!str_token(c, &s, &n) || !eat(c, ':')) return 0;
            }
            if (!skip_value(c, depth + 1)) return 0;
        } while (eat(c, ','));
        return eat(c, close);
    }
    /* a number: JSON's grammar, then its size */
    const char *q = c->p, *start = q;
    if (q < c->end && *q == '-') q++;
    const char *digits = q;
    while (q < c->end && *q >= '0' && *q <= '9') q++;
    if (q == digits || (q - digits > 1 && *digits == '0')) return 0;
    int integral = 1;
    if (q < c->end && *q == '.') {
        integral = 0; q++;
        const char *f = q;
        while (q < c->end && *q >= '0' && *q <= '9') q++;
        if (q == f) return 0;
    }
    if (q < c->end && (*q == 'e' || *q == 'E')) {
        integral = 0; q++;
        if (q < c->end && (*q == '+' || *q == '-')) q++;
        const char *e = q;
        while (q < c->end && *q >= '0' && *q <= '9') q++;
        if (q == e) return 0;
    }
    if (integral) { if (q - digits > 18) return 0; }
    else {
        char buf[64];
        if (q - start >= (long)sizeof buf) return 0;
        memcpy(buf, start, (size_t)(q - start)); buf[q - start] = 0;
        double d = strtod(buf, NULL);
        if (!(d > -9223372036854775808.0 && d < 9223372036854775808.0)) return 0;
    }
    c->p = q;
    return 1;
}

/* A client op's value: [key, v] (shape 1) or [key, [v, v2]] (shape 2), v and v2 plain. */
typedef struct { int shape; Tok key, v, v2; } Value;

static int client_value(Cursor *c, Intern *t, Value *out) {
    if (!eat(c, '[') || !plain_token(c, t, &out->key) || !eat(c, ',')) return 0;
    ws(c);
    if (c->p < c->end && *c->p == '[') {
        c->p++;
        if (!plain_token(c, t, &out->v) || !eat(c, ',') || !plain_token(c, t, &out->v2) || !eat(c, ']')) return 0;
        out->shape = 2;
    } else {
        if (!plain_token(c, t, &out->v)) return 0;
        out->shape = 1;
    }
    return eat(c, ']');
}

enum { F_READ, F_WRITE, F_CAS, F_OTHER };
enum { OUT_INFO, OUT_OK, OUT_FAIL };

typedef struct {
    int32_t key, a, b; /* key number; value numbers (cas: expected, new) */
    uint32_t call, ret; /* positions */
    unsigned char f, outcome;
} JCall;

typedef struct { int64_t process, time; int64_t f_name; uint32_t call; int32_t used; } Open;

typedef struct {
    Intern in;
    JCall *calls; size_t ncalls, calls_cap;
    Open *open; size_t open_mask, open_used, open_tomb;
    int32_t *next_value; size_t nkeys, keys_cap; /* per key: the next value number (0 is null) */
    Tok *key_tok; /* per key: the key itself */
    long long pos, last_index, counts[5], last_time; /* counts: nemesis, invoke, ok, fail, info */
    int has_index, has_last_time, cas, observe;
    int64_t f_read, f_write, f_cas;
} Journal;

static Open *open_find(Journal *j, int64_t process) {
    size_t i = mix((uint64_t)process) & j->open_mask;
    Open *tomb = NULL;
    for (; j->open[i].used; i = (i + 1) & j->open_mask) {
        if (j->open[i].used == 1 && j->open[i].process == process) return &j->open[i];
        if (j->open[i].used == 2 && !tomb) tomb = &j->open[i];
    }
    return tomb ? tomb : &j->open[i];
}

static int open_grow(Journal *j) {
    size_t cap = j->open ? (j->open_mask + 1) * 2 : 256;
    if (j->open && j->open_used * 4 < (j->open_mask + 1)) cap = j->open_mask + 1; /* tombstones only: rebuild */
    Open *old = j->open;
    size_t old_cap = old ? j->open_mask + 1 : 0;
    j->open = calloc(cap, sizeof(Open));
    if (!j->open) { j->open = old; return -1; }
    j->open_mask = cap - 1;
    j->open_tomb = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].used == 1) *open_find(j, old[i].process) = old[i];
    free(old);
    return 0;
}

/* The number of v among key k's values (null: 0). */
static int32_t value_number(Journal *j, int32_t k, Tok v) {
    if (v.tag == TOK_NULL) return 0;
    int fresh;
    int32_t n = intern_tok(&j->in, 2, (uint32_t)k, v, j->next_value[k], &fresh);
    if (n >= 0 && fresh) j->next_value[k]++;
    return n;
}

/* The numbers of an op's values, as split_register takes them: read, write: [key, v];
 * cas: [key, [expected, new]]. 0: not taken; -1: out of memory. */
static int number_values(Journal *j, JCall *call, const Value *v) {
    if (call->f == F_CAS ? v->shape != 2 : v->shape != 1) return 0;
    call->a = value_number(j, call->key, v->v);
    call->b = call->f == F_CAS ? value_number(j, call->key, v->v2) : 0;
    return call->a < 0 || call->b < 0 ? -1 : 1;
}

/* One line: 1 taken, 0 not taken, -1 out of memory. */
static int journal_line(Journal *j, const char *p, const char *end) {
    static const char *const names[] = {"index", "time", "type", "process", "f", "value", "node", "error"};
    static const size_t lens[] = {5, 4, 4, 7, 1, 5, 4, 5};
    Cursor c = {p, end, 0};
    j->pos++;
    if (j->pos > UINT32_MAX / 2) return 0; /* positions and crashed ops' returns fit in 32 bits */
    if (!eat(&c, '{')) return 0;
    int seen = 0, type = -1, has_time = 0, has_f = 0, process_kind = 0; /* 0 null or absent, 1 int, 2 string */
    int64_t index = -1, time = 0, process = 0, f_name = -1;
    int has_value = 0;
    Value value = {0};
    const char *value_at = NULL;
    if (!eat(&c, '}')) {
        do {
            const char *s; size_t n;
            if (!str_token(&c, &s, &n) || !eat(&c, ':')) return 0;
            int k = 0;
            while (k < 8 && !(lens[k] == n && memcmp(names[k], s, n) == 0)) k++;
            if (k == 8 || (seen >> k) & 1) return 0; /* a field the journal does not write, or twice */
            seen |= 1 << k;
            ws(&c);
            int null = word(&c, "null", 4);
            switch (k) {
            case 0: if (!null && (!int_token(&c, &index) || index < 0)) return 0; break;
            case 1: if (!null) { if (!int_token(&c, &time) || time < 0) return 0; has_time = 1; } break;
            case 2:
                if (null || !str_token(&c, &s, &n)) return 0;
                for (type = 0; type < 4 && !(strlen(TYPE_NAMES[type]) == n && memcmp(TYPE_NAMES[type], s, n) == 0); type++) {}
                if (type == 4) return 0;
                break;
            case 3:
                if (null) break;
                ws(&c);
                if (c.p < c.end && *c.p == '"') { if (!str_token(&c, &s, &n)) return 0; process_kind = 2; }
                else { if (!int_token(&c, &process) || process < 0) return 0; process_kind = 1; }
                break;
            case 4:
                if (null) break;
                if (!str_token(&c, &s, &n)) return 0;
                f_name = intern_str(&j->in, s, n);
                if (f_name < 0) return -1;
                has_f = 1;
                break;
            case 5:
                if (null) break;
                has_value = 1;
                value_at = c.p;
                if (!skip_value(&c, 1)) return 0;
                break;
            case 6: if (!null && !str_token(&c, &s, &n)) return 0; break;
            case 7: /* plain: an integer or a string */
                if (!null) { Tok tok; if (!plain_token(&c, &j->in, &tok)) return c.bad == 2 ? -1 : 0; }
                break;
            }
        } while (eat(&c, ','));
        if (!eat(&c, '}')) return 0;
    }
    ws(&c);
    if (c.p != c.end || type < 0) return 0;
    /* scan_rows: index present on every line or none, increasing; time a count */
    int indexed = index >= 0;
    if (j->has_index < 0) j->has_index = indexed;
    if (indexed != j->has_index) return 0;
    if (indexed) { if (index <= j->last_index) return 0; j->last_index = index; }
    j->has_last_time = has_time;
    j->last_time = time;
    if (process_kind != 1) { j->counts[0]++; return 1; } /* the nemesis, or a note */
    j->counts[1 + type]++;
    if (!has_f || !has_value) return 0; /* split_register refuses an op without f or [key, value] */
    Cursor vc = {value_at, end, 0};
    if (!client_value(&vc, &j->in, &value)) return vc.bad == 2 ? -1 : 0;
    if (j->open_used + j->open_tomb + 1 > (j->open ? (j->open_mask + 1) / 2 : 0) && open_grow(j) < 0) return -1;
    Open *o = open_find(j, process);
    int is_open = o->used == 1;
    if (type == 0) { /* an invocation */
        if (is_open) return 0;
        unsigned char f = f_name == j->f_read ? F_READ : f_name == j->f_write ? F_WRITE
                        : f_name == j->f_cas && j->cas ? F_CAS : F_OTHER;
        if (f == F_OTHER) return 0; /* split_register: read, write or (cas-register) cas only */
        if (j->ncalls == j->calls_cap) {
            size_t cap = j->calls_cap ? j->calls_cap * 2 : 1024;
            JCall *grown = realloc(j->calls, cap * sizeof(JCall));
            if (!grown) return -1;
            j->calls = grown; j->calls_cap = cap;
        }
        int fresh;
        Tok key = value.key;
        if (key.tag == TOK_NULL) return 0;
        int32_t k = intern_tok(&j->in, 1, 0, key, (int32_t)j->nkeys, &fresh);
        if (k < 0) return -1;
        if (fresh) {
            if (j->nkeys == j->keys_cap) {
                size_t cap = j->keys_cap ? j->keys_cap * 2 : 256;
                int32_t *grown = realloc(j->next_value, cap * sizeof(int32_t));
                if (grown) j->next_value = grown;
                Tok *toks = realloc(j->key_tok, cap * sizeof(Tok));
                if (toks) j->key_tok = toks;
                if (!grown || !toks) return -1;
                j->keys_cap = cap;
            }
            j->key_tok[j->nkeys] = key;
            j->next_value[j->nkeys++] = 1;
        }
        JCall *call = &j->calls[j->ncalls];
        *call = (JCall){k, 0, 0, (uint32_t)j->pos, 0, f, OUT_INFO};
        int numbered = number_values(j, call, &value);
        if (numbered <= 0) return numbered;
        if (o->used == 2) j->open_tomb--;
        *o = (Open){process, has_time ? time : -1, f_name, (uint32_t)j->ncalls, 1};
        j->open_used++;
        j->ncalls++;
        return 1;
    }
    if (!is_open || o->f_name != f_name) return 0; /* scan_rows: a completion of the open call, same f */
    if (has_time && o->time >= 0 && time < o->time) return 0;
    JCall *call = &j->calls[o->call];
    {
        Tok own = j->key_tok[call->key];
        if (value.key.tag != own.tag || value.key.x != own.x) return 0; /* a completion names another key */
    }
    o->used = 2; /* a tombstone */
    j->open_used--; j->open_tomb++;
    call->ret = (uint32_t)j->pos;
    call->outcome = type == 1 ? OUT_OK : type == 2 ? OUT_FAIL : OUT_INFO;
    if (type == 1) { /* split_register: an ok op's values are its completion's */
        int numbered = number_values(j, call, &value);
        if (numbered <= 0) return numbered;
    }
    return 1;
}

static void journal_free(Journal *j) {
    free(j->in.slots); free(j->in.arena); free(j->in.str_off); free(j->in.str_len);
    free(j->calls); free(j->open); free(j->next_value); free(j->key_tok);
}

/* Reads the file a block at a time, line by line. 1 all taken, 0 not (or a read error: the
 * orjson way then says what), -1 out of memory. */
static int journal_read(Journal *j, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t cap = 1 << 20, have = 0;
    char *buf = malloc(cap);
    int result = buf ? 1 : -1, first = 1;
    while (result == 1) {
        if (have == cap) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) { result = -1; break; }
            buf = grown; cap *= 2;
        }
        size_t got = fread(buf + have, 1, cap - have, f);
        if (got == 0) {
            if (ferror(f)) result = 0;
            else if (have) result = journal_line(j, buf, buf + have); /* a last line without a newline */
            break;
        }
        if (first && (have + got < 2 || buf[0] != '{' || buf[1] != '"')) { result = 0; break; } /* as lean.py */
        first = 0;
        have += got;
        char *line = buf, *stop = buf + have, *nl;
        while (result == 1 && (nl = memchr(line, '\n', (size_t)(stop - line)))) {
            result = journal_line(j, line, nl);
            line = nl + 1;
        }
        have = (size_t)(stop - line);
        memmove(buf, line, have);
    }
    free(buf);
    fclose(f);
    return result; /* no exception set here: it runs without the GIL */
}

/* check_journal(path, cas, observe_failed_cas, key_steps, time_limit, memory_limit) ->
 * None (not taken: decode it the orjson way), False (taken, but a key is found invalid or the
 * limits ran out: the general path decides), or (op_count, keys, invokes, oks, fails, infos,
 * nemesis_events, last_time or None, hard keys) when every key is linearizable but the hard
 * keys, whose search ran out of key_steps (journal.py has them checked the general way). */
static PyObject *check_journal(PyObject *Py_UNUSED(self), PyObject *args) {
    const char *path;
    int cas, observe;
    unsigned long long key_steps;
    double time_limit;
    long long memory_limit;
    if (!PyArg_ParseTuple(args, "sppKdL", &path, &cas, &observe, &key_steps, &time_limit, &memory_limit)) return NULL;
    double deadline = time_limit >= 0 ? now() + time_limit : -1;
    Journal j;
    memset(&j, 0, sizeof j);
    j.pos = -1; j.last_index = -1; j.has_index = -1; j.cas = cas; j.observe = observe;
    PyObject *out = NULL, *hard = NULL;
    int32_t *first = NULL, *order = NULL, *codes = NULL;
    uint64_t *events = NULL;
    unsigned char *det = NULL, *kind = NULL;
    int32_t *a = NULL, *b = NULL;
    if ((j.f_read = intern_str(&j.in, "read", 4)) < 0 || (j.f_write = intern_str(&j.in, "write", 5)) < 0
        || (j.f_cas = intern_str(&j.in, "cas", 3)) < 0) { PyErr_NoMemory(); goto done; }
    int read;
    Py_BEGIN_ALLOW_THREADS
    read = journal_read(&j, path);
    Py_END_ALLOW_THREADS
    if (read < 0) { if (!PyErr_Occurred()) PyErr_NoMemory(); goto done; }
    if (read == 0 || j.pos < 0) { out = Py_NewRef(Py_None); goto done; }

    /* split_register: skip failed ops (but an observed failed cas) and crashed reads; a crashed
     * op returns after the end of the history, in the order of invocation. Then each key's ops
     * in invocation order, through a counting sort. */
    uint32_t end = (uint32_t)j.pos + 1;
    size_t nkeys = j.nkeys, kept = 0;
    first = calloc(nkeys + 1, sizeof(int32_t));
    order = malloc((j.ncalls + 1) * sizeof(int32_t));
    if (!first || !order) { PyErr_NoMemory(); goto done; }
    for (size_t c = 0; c < j.ncalls; c++) {
        JCall *call = &j.calls[c];
        if (call->outcome == OUT_FAIL && !(observe && call->f == F_CAS)) continue;
        if (call->outcome == OUT_INFO && call->f == F_READ) continue;
        if (call->outcome == OUT_INFO) call->ret = end++;
        first[call->key + 1]++;
        kept++;
    }
    size_t largest = 0;
    for (size_t k = 0; k < nkeys; k++) {
        if ((size_t)first[k + 1] > largest) largest = (size_t)first[k + 1];
        first[k + 1] += first[k];
    }
    {
        int32_t *fill = malloc((nkeys + 1) * sizeof(int32_t));
        if (!fill) { PyErr_NoMemory(); goto done; }
        memcpy(fill, first, (nkeys + 1) * sizeof(int32_t));
        for (size_t c = 0; c < j.ncalls; c++) {
            JCall *call = &j.calls[c];
            if (call->outcome == OUT_FAIL && !(observe && call->f == F_CAS)) continue;
            if (call->outcome == OUT_INFO && call->f == F_READ) continue;
            order[fill[call->key]++] = (int32_t)c;
        }
        free(fill);
    }
    events = malloc((2 * largest + 1) * sizeof(uint64_t));
    codes = malloc((2 * largest + 1) * sizeof(int32_t));
    det = malloc(largest + 1); kind = malloc(largest + 1);
    a = malloc((largest + 1) * 4); b = malloc((largest + 1) * 4);
    if (!events || !codes || !det || !kind || !a || !b) { PyErr_NoMemory(); goto done; }
    int all_valid = 1;
    hard = PyList_New(0); /* keys whose search ran out of key_steps */
    if (!hard) goto done;
    for (size_t k = 0; k < nkeys && all_valid; k++) {
        size_t n = (size_t)(first[k + 1] - first[k]), any = 0;
        for (size_t i = 0; i < n; i++) {
            JCall *call = &j.calls[order[first[k] + i]];
            kind[i] = call->f == F_READ ? REG_READ : call->f == F_WRITE ? REG_WRITE
                    : call->outcome == OUT_FAIL ? REG_CAS_FAIL : REG_CAS;
            a[i] = call->a; b[i] = call->b;
            det[i] = call->outcome != OUT_INFO;
            any |= det[i];
            events[2 * i] = ((uint64_t)call->call << 32) | (uint64_t)(2 * i);
            events[2 * i + 1] = ((uint64_t)call->ret << 32) | (uint64_t)(2 * i + 1);
        }
        if (!any) continue; /* lean.py: nothing determinate, nothing to search */
        qsort(events, 2 * n, sizeof(uint64_t), by_position);
        for (size_t e = 0; e < 2 * n; e++) codes[e] = (int32_t)(events[e] & 0xFFFFFFFFu);
        Search *s = calloc(1, sizeof(Search));
        if (!s) { PyErr_NoMemory(); goto done; }
        s->native_reg = 1;
        s->reg.kind = malloc(n + 1); s->reg.a = malloc(n * 4 + 4); s->reg.b = malloc(n * 4 + 4);
        if (!s->reg.kind || !s->reg.a || !s->reg.b || search_setup(s, codes, 2 * n, det) < 0) {
            search_destroy(s); PyErr_NoMemory(); goto done;
        }
        memcpy(s->reg.kind, kind, n); memcpy(s->reg.a, a, n * 4); memcpy(s->reg.b, b, n * 4);
        const char *status = s->status;
        if (!strcmp(status, "running")) {
            double left = deadline < 0 ? -1 : deadline - now();
            status = advance(s, deadline < 0 ? -1 : (left > 0 ? left : 0), memory_limit, Py_None, key_steps);
        }
        int hard_key = status && !strcmp(status, "steps");
        all_valid = status && (hard_key || !strcmp(status, "valid"));
        search_destroy(s);
        if (!status) goto done; /* an exception (none is raised by the register model) */
        if (hard_key) {
            Tok t = j.key_tok[k];
            PyObject *key = t.tag == TOK_INT ? PyLong_FromLongLong(t.x)
                : PyUnicode_FromStringAndSize(j.in.arena + j.in.str_off[t.x], (Py_ssize_t)j.in.str_len[t.x]);
            if (!key || PyList_Append(hard, key) < 0) { Py_XDECREF(key); goto done; }
            Py_DECREF(key);
        }
    }
    if (!all_valid) { out = Py_NewRef(Py_False); goto done; }
    PyObject *last_time = j.has_last_time ? PyLong_FromLongLong(j.last_time) : Py_NewRef(Py_None);
    out = Py_BuildValue("(nnLLLLLNO)", (Py_ssize_t)kept, (Py_ssize_t)nkeys, j.counts[1], j.counts[2], j.counts[3],
                        j.counts[4], j.counts[0], last_time, hard);
done:
    Py_XDECREF(hard);
    free(first); free(order); free(events); free(codes); free(det); free(kind); free(a); free(b);
    journal_free(&j);
    return out;
}

static PyMethodDef methods[] = {
    {"check_journal", check_journal, METH_VARARGS,
     "check_journal(path, cas, observe_failed_cas, key_steps, time_limit, memory_limit) -> None (not taken), "
     "False (a key invalid, or out of time or memory) or (op_count, keys, invokes, oks, fails, infos, "
     "nemesis_events, last_time, hard keys) (journal.py)."},
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
