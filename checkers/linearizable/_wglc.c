/* The Wing-Gong-Lowe search of wgl.py, in C.
 *
 * Same algorithm and same answers as wgl.search_python; see that module for the idea. What
 * differs is representation: model states are small integers numbered by the Python side, the
 * model itself stays in Python and is asked once per distinct (state, op) pair (the answers are
 * memoised here), the set of linearized ops is a bitset, and the cache of (bitset, state) pairs is
 * an open-addressing hash table whose hash is kept up to date incrementally (Zobrist: one random
 * word per op, XORed in and out), so probing does not rehash the bitset.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    uint64_t *keys; /* (state << 32 | op), EMPTY when free */
    int32_t *values;
    size_t mask, used;
} Memo;

#define EMPTY UINT64_MAX

typedef struct {
    uint64_t *arena; /* per entry: hash, state, then nwords of bitset */
    size_t stride, count, capacity;
    uint32_t *slots; /* entry number + 1; 0 when free */
    size_t mask;
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

static int memo_init(Memo *m, size_t cap) {
    m->keys = malloc(cap * sizeof(uint64_t));
    m->values = malloc(cap * sizeof(int32_t));
    if (!m->keys || !m->values) return -1;
    memset(m->keys, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    m->used = 0;
    return 0;
}

static int32_t *memo_find(Memo *m, uint64_t key, int *found) {
    size_t i = mix(key) & m->mask;
    while (m->keys[i] != EMPTY) {
        if (m->keys[i] == key) { *found = 1; return &m->values[i]; }
        i = (i + 1) & m->mask;
    }
    *found = 0;
    return &m->values[i];
}

static int memo_put(Memo *m, uint64_t key, int32_t value) {
    if ((m->used + 1) * 2 > m->mask + 1) {
        Memo bigger;
        if (memo_init(&bigger, (m->mask + 1) * 2) < 0) return -1;
        for (size_t i = 0; i <= m->mask; i++) {
            if (m->keys[i] == EMPTY) continue;
            int found;
            int32_t *slot = memo_find(&bigger, m->keys[i], &found);
            size_t at = slot - bigger.values;
            bigger.keys[at] = m->keys[i];
            *slot = m->values[i];
            bigger.used++;
        }
        free(m->keys); free(m->values);
        *m = bigger;
    }
    int found;
    int32_t *slot = memo_find(m, key, &found);
    size_t at = slot - m->values;
    if (!found) { m->keys[at] = key; m->used++; }
    *slot = value;
    return 0;
}

static int cache_init(Cache *c, size_t nwords) {
    c->stride = nwords + 2;
    c->count = 0;
    c->capacity = 1024;
    c->arena = malloc(c->capacity * c->stride * sizeof(uint64_t));
    c->mask = 2047;
    c->slots = calloc(c->mask + 1, sizeof(uint32_t));
    return (c->arena && c->slots) ? 0 : -1;
}

static size_t cache_bytes(const Cache *c) {
    return c->capacity * c->stride * sizeof(uint64_t) + (c->mask + 1) * sizeof(uint32_t);
}

/* Adds (bits, state) unless present. Returns 1 if added, 0 if it was there, -1 on no memory. */
static int cache_add(Cache *c, uint64_t hash, int32_t state, const uint64_t *bits, size_t nwords) {
    size_t i = hash & c->mask;
    while (c->slots[i]) {
        const uint64_t *e = c->arena + (size_t)(c->slots[i] - 1) * c->stride;
        if (e[0] == hash && (int32_t)e[1] == state && memcmp(e + 2, bits, nwords * 8) == 0) return 0;
        i = (i + 1) & c->mask;
    }
    if (c->count == UINT32_MAX - 1) return -1;
    if (c->count == c->capacity) {
        uint64_t *grown = realloc(c->arena, c->capacity * 2 * c->stride * sizeof(uint64_t));
        if (!grown) return -1;
        c->arena = grown;
        c->capacity *= 2;
    }
    uint64_t *e = c->arena + c->count * c->stride;
    e[0] = hash; e[1] = (uint64_t)(uint32_t)state;
    memcpy(e + 2, bits, nwords * 8);
    c->count++;
    c->slots[i] = (uint32_t)c->count;
    if (c->count * 2 > c->mask + 1) {
        size_t cap = (c->mask + 1) * 2;
        uint32_t *slots = calloc(cap, sizeof(uint32_t));
        if (!slots) return -1;
        for (size_t k = 0; k < c->count; k++) {
            size_t j = c->arena[k * c->stride] & (cap - 1);
            while (slots[j]) j = (j + 1) & (cap - 1);
            slots[j] = (uint32_t)(k + 1);
        }
        free(c->slots);
        c->slots = slots;
        c->mask = cap - 1;
    }
    return 1;
}

static PyObject *search(PyObject *self, PyObject *args) {
    PyObject *events_obj, *step, *cancelled;
    Py_buffer det;
    double time_limit;
    long long memory_limit;
    unsigned long long max_steps;
    if (!PyArg_ParseTuple(args, "Oy*OdLOK", &events_obj, &det, &step, &time_limit, &memory_limit, &cancelled,
                          &max_steps))
        return NULL;

    PyObject *result = NULL;
    PyObject *events = PySequence_Fast(events_obj, "events must be a sequence of ints");
    Py_ssize_t n_nodes = events ? PySequence_Fast_GET_SIZE(events) : 0;
    size_t n = (size_t)n_nodes / 2, nwords = (n + 63) / 64 + 1;
    const unsigned char *determinate = det.buf;
    int32_t *code = NULL, *nxt = NULL, *prv = NULL, *return_node = NULL;
    int32_t *stack_node = NULL, *stack_state = NULL, *best = NULL, *best_state = NULL;
    uint64_t *bits = NULL, *zobrist = NULL;
    Memo memo = {0};
    Cache cache = {0};
    const char *status = "valid";
    if (!events) goto done;
    if ((size_t)det.len != n) {
        PyErr_SetString(PyExc_ValueError, "determinate must have one byte per entry");
        goto done;
    }

    code = calloc(n_nodes + 2, sizeof(int32_t));
    nxt = calloc(n_nodes + 2, sizeof(int32_t));
    prv = calloc(n_nodes + 2, sizeof(int32_t));
    return_node = calloc(n + 1, sizeof(int32_t));
    stack_node = calloc(n + 1, sizeof(int32_t));
    stack_state = calloc(n + 1, sizeof(int32_t));
    best = calloc(n + 1, sizeof(int32_t));
    best_state = calloc(n + 1, sizeof(int32_t));
    bits = calloc(nwords, sizeof(uint64_t));
    zobrist = calloc(n + 1, sizeof(uint64_t));
    if (!code || !nxt || !prv || !return_node || !stack_node || !stack_state || !best || !best_state || !bits
        || !zobrist || memo_init(&memo, 1024) < 0 || cache_init(&cache, nwords) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t k = 0; k < n_nodes; k++) {
        long v = PyLong_AsLong(PySequence_Fast_GET_ITEM(events, k));
        if (v == -1 && PyErr_Occurred()) goto done;
        if (v < 0 || (size_t)(v >> 1) >= n) {
            PyErr_SetString(PyExc_ValueError, "event code out of range");
            goto done;
        }
        code[k + 1] = (int32_t)v;
        if (v & 1) return_node[v >> 1] = (int32_t)(k + 1);
    }
    for (Py_ssize_t k = 0; k <= n_nodes + 1; k++) { nxt[k] = (int32_t)(k + 1); prv[k] = (int32_t)(k - 1); }
    for (size_t i = 0; i < n; i++) zobrist[i] = mix(0x9e3779b97f4a7c15ULL * (i + 1));

    long remaining = 0;
    for (size_t i = 0; i < n; i++) remaining += determinate[i] ? 1 : 0;
    long depth = 0, best_len = 0, low = 0, failed = -1;
    int watching_failure = 1;
    int32_t state = 0;
    uint64_t hash = 0;
    unsigned long long steps = 0;
    double deadline = time_limit >= 0 ? now() + time_limit : -1;

    int32_t node = remaining ? nxt[0] : 0;
    while (remaining) {
        steps++;
        if (steps == max_steps) { status = "steps"; break; }
        if (!(steps & 0xFFF)) {
            if (deadline >= 0 && now() > deadline) { status = "time"; break; }
            if (!(steps & 0xFFFF)) {
                if (memory_limit > 0 && resident() > memory_limit) { status = "memory"; break; }
                if (cancelled != Py_None) {
                    PyObject *r = PyObject_CallNoArgs(cancelled);
                    if (!r) goto done;
                    int yes = PyObject_IsTrue(r);
                    Py_DECREF(r);
                    if (yes < 0) goto done;
                    if (yes) { status = "cancelled"; break; }
                }
            }
        }
        int32_t c = code[node];
        if (!(c & 1)) { /* an invocation: try to linearize it here */
            int32_t i = c >> 1;
            uint64_t key = ((uint64_t)(uint32_t)state << 32) | (uint32_t)i;
            int found;
            int32_t after = *memo_find(&memo, key, &found);
            if (!found) {
                PyObject *r = PyObject_CallFunction(step, "ii", (int)state, (int)i);
                if (!r) goto done;
                long v = PyLong_AsLong(r);
                Py_DECREF(r);
                if (v == -1 && PyErr_Occurred()) goto done;
                after = (int32_t)v;
                if (memo_put(&memo, key, after) < 0) { PyErr_NoMemory(); goto done; }
            }
            if (after >= 0) {
                bits[i >> 6] |= 1ULL << (i & 63);
                uint64_t with_i = hash ^ zobrist[i];
                int added = cache_add(&cache, with_i ^ mix((uint64_t)(uint32_t)after + 1), after, bits, nwords);
                if (added < 0) { status = "memory"; bits[i >> 6] &= ~(1ULL << (i & 63)); break; }
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
                            best[k] = code[stack_node[k]] >> 1;
                            best_state[k] = k + 1 < depth ? stack_state[k + 1] : state;
                        }
                        best_len = low = depth;
                        failed = -1;
                        watching_failure = 1;
                    }
                    if (determinate[i]) remaining--;
                    node = nxt[0];
                    continue;
                }
                bits[i >> 6] &= ~(1ULL << (i & 63));
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
            bits[i >> 6] &= ~(1ULL << (i & 63));
            hash ^= zobrist[i];
            if (determinate[i]) remaining++;
            int32_t r = return_node[i];
            nxt[prv[r]] = r; prv[nxt[r]] = r;
            nxt[prv[node]] = node; prv[nxt[node]] = node;
            node = nxt[node];
        }
    }
    (void)cache_bytes;

    {
        PyObject *best_list = PyList_New(best_len), *state_list = PyList_New(best_len);
        if (!best_list || !state_list) { Py_XDECREF(best_list); Py_XDECREF(state_list); goto done; }
        for (long k = 0; k < best_len; k++) {
            PyList_SET_ITEM(best_list, k, PyLong_FromLong(best[k]));
            PyList_SET_ITEM(state_list, k, PyLong_FromLong(best_state[k]));
        }
        PyObject *failed_obj = failed >= 0 ? PyLong_FromLong(failed) : Py_NewRef(Py_None);
        result = Py_BuildValue("sNNNKn", status, best_list, state_list, failed_obj, steps, (Py_ssize_t)cache.count);
    }

done:
    Py_XDECREF(events);
    PyBuffer_Release(&det);
    free(code); free(nxt); free(prv); free(return_node);
    free(stack_node); free(stack_state); free(best); free(best_state);
    free(bits); free(zobrist);
    free(memo.keys); free(memo.values);
    free(cache.arena); free(cache.slots);
    return result;
}

static PyMethodDef methods[] = {
    {"search", search, METH_VARARGS,
     "search(events, determinate, step, time_limit, memory_limit, cancelled, max_steps) -> "
     "(status, best, best_states, failed, steps, cache_entries)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wglc", "Wing-Gong-Lowe search in C.", -1, methods};

PyMODINIT_FUNC PyInit__wglc(void) { return PyModule_Create(&module); }
