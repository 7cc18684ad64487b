/* The native CPU kernel of the MetaRL rule for layered actors: one act and one learn step, each copy
 * computed start to end in registers and L1 — the state is read once and written once per step.
 *
 * It is genpolicy/nets/learning_rule_fast.py's act_layered / learn_layered written out by hand (the
 * tests compare the two): the same copy-minor layout (the copy index b is the last, contiguous axis of
 * every array, stride B), the same factored connection cell and the same rational tanh. Copies are
 * taken V at a time: every value below is a vector of V lanes, one lane per copy, so the inner loops
 * over lanes compile to SIMD instructions; the small dimensions (state H, signal SD) are compile-time
 * constants (-DSTATE_DIM, -DSIGNAL_DIM), layer sizes are run-time. A lane never reads another lane,
 * so a copy's result does not depend on which block, thread or batch it ran in. Blocks are shared out
 * over `threads` OpenMP threads — the runtime torch itself loaded (libgomp.so.1), so the kernel runs on
 * torch's own thread pool instead of competing with it; built without OpenMP it runs on one thread.
 *
 * Layout. The per-step arrays are copy-minor, (rows, B): obs (sizes[0], B); eps, s, sample, out (N, B)
 * with N the non-input neurons layer by layer; reward (B). The persistent arrays are *blocked*:
 * (B/V, rows, V), block k holding copies k·V … k·V + V − 1, so that one block's state is one contiguous
 * stretch of memory (streamed once, no strided misses): genome (P rows, RuleLayout order: cells reward,
 * node, connection, each W_s (H+i, H), b_s (H), W_o (H+i, o), b_o (o), row-major), weights (E),
 * biases, sigmas (N), reward_state (sizes[L]·H), node_state (N·H), edge_state (E·H). Edge e of layer l
 * (sizes[l-1] → sizes[l]) is e_at[l] + i·n_out + q.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef STATE_DIM
#define STATE_DIM 8
#endif
#ifndef SIGNAL_DIM
#define SIGNAL_DIM 1
#endif
#define H STATE_DIM
#define SD SIGNAL_DIM
#define V 16
#define NI 5          /* node info: s, sample, out, bias, sigma */
#define MAXW 64       /* widest layer */
#define MAXL 8        /* most layers */
#define MAXN 256      /* most non-input neurons */

typedef float lane[V];

#define LANES _Pragma("omp simd") for (int j = 0; j < V; j++)
/* row r of block k of a blocked array with R rows */
#define ROW(a, R, r) ((a) + ((int64_t)blk * (R) + (r)) * V)

/* tanh as a clamped rational function (13/6, Eigen's float coefficients), as learn_layered's tanh */
static inline float rtanh(float x) {
    x = x < -7.90531110763549805f ? -7.90531110763549805f : (x > 7.90531110763549805f ? 7.90531110763549805f : x);
    float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return x * p / q;
}

static inline float clampf(float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); }

/* V lanes from a copy-minor row (stride-1 over copies); a short block repeats its last copy */
static inline void load(float *dst, const float *src, int nv) {
    if (nv == V) {
        memcpy(dst, src, sizeof(lane));
    } else {
        LANES dst[j] = src[j < nv ? j : nv - 1];
    }
}

static inline void store(float *dst, const float *src, int nv) {
    if (nv == V) {
        memcpy(dst, src, sizeof(lane));
    } else {
        for (int j = 0; j < nv; j++) dst[j] = src[j];
    }
}

/* V lanes into a blocked row; keep: which lanes change (NULL: all) */
static inline void put(float *restrict dst, const float *restrict src, const uint8_t *keep) {
    if (!keep) {
        memcpy(dst, src, sizeof(lane));
    } else {
        LANES dst[j] = keep[j] ? src[j] : dst[j];
    }
}

typedef struct {
    int base, in, out; /* offset in the genome, inputs, outputs */
} cell_t;

/* row r, column c of a cell's state matrix W_s / output matrix W_o, its biases */
#define WS(cl, r, c) ((cl).base + (r) * H + (c))
#define BS(cl, c) ((cl).base + (H + (cl).in) * H + (c))
#define WO(cl, r, c) ((cl).base + (H + (cl).in) * H + H + (r) * (cl).out + (c))
#define BO(cl, c) ((cl).base + (H + (cl).in) * H + H + (H + (cl).in) * (cl).out + (c))

/* one step of a recurrent cell on V lanes: x (in), h (H, updated) → y (out) */
static void cell_step(const lane *restrict g, cell_t cl, const lane *restrict x, lane *restrict h, lane *restrict y) {
    lane hn[H];
    for (int c = 0; c < H; c++) {
        lane acc;
        LANES acc[j] = g[BS(cl, c)][j];
        for (int r = 0; r < H; r++) LANES acc[j] += h[r][j] * g[WS(cl, r, c)][j];
        for (int r = 0; r < cl.in; r++) LANES acc[j] += x[r][j] * g[WS(cl, H + r, c)][j];
        LANES hn[c][j] = rtanh(acc[j]);
    }
    for (int c = 0; c < cl.out; c++) {
        lane acc;
        LANES acc[j] = g[BO(cl, c)][j];
        for (int r = 0; r < H; r++) LANES acc[j] += hn[r][j] * g[WO(cl, r, c)][j];
        for (int r = 0; r < cl.in; r++) LANES acc[j] += x[r][j] * g[WO(cl, H + r, c)][j];
        LANES y[c][j] = rtanh(acc[j]);
    }
    memcpy(h, hn, sizeof(hn));
}

int metarl_limits(int *out) {
    out[0] = H, out[1] = SD, out[2] = MAXW, out[3] = MAXL, out[4] = MAXN;
#ifdef _OPENMP
    out[5] = 1;
#else
    out[5] = 0;
#endif
    return V;
}

/* The stochastic forward pass for the blocks [lo, hi) of B copies: s = x·W + b, sample = s + σ·ε, out = tanh(sample). */
void metarl_act(int threads, int64_t B, int64_t lo, int64_t hi, int L, const int *sizes, const float *weights,
                const float *biases, const float *sigmas, const float *obs, const float *eps, float *s_out,
                float *sample_out, float *out_out) {
    int N = 0, E = 0;
    for (int l = 1; l <= L; l++) N += sizes[l], E += sizes[l - 1] * sizes[l];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t blk = lo; blk < hi; blk++) {
        const int64_t b0 = blk * V;
        const int nv = (int)(B - b0 < V ? B - b0 : V);
        lane x[MAXW], xn[MAXW];
        for (int i = 0; i < sizes[0]; i++) load(x[i], obs + i * B + b0, nv);
        int n_at = 0, e_at = 0;
        for (int l = 1; l <= L; l++) {
            int n_in = sizes[l - 1], n_out = sizes[l];
            for (int q = 0; q < n_out; q++) {
                lane acc, w, sg, ep;
                memcpy(acc, ROW(biases, N, n_at + q), sizeof(lane));
                lane sum;
                for (int i = 0; i < n_in; i++) {
                    memcpy(w, ROW(weights, E, e_at + i * n_out + q), sizeof(lane));
                    if (i == 0) {
                        LANES sum[j] = x[i][j] * w[j];
                    } else {
                        LANES sum[j] += x[i][j] * w[j];
                    }
                }
                LANES acc[j] = sum[j] + acc[j];
                memcpy(sg, ROW(sigmas, N, n_at + q), sizeof(lane));
                load(ep, eps + (n_at + q) * B + b0, nv);
                lane smp, o;
                LANES smp[j] = acc[j] + sg[j] * ep[j];
                LANES o[j] = rtanh(smp[j]);
                memcpy(xn[q], o, sizeof(lane));
                store(s_out + (n_at + q) * B + b0, acc, nv);
                store(sample_out + (n_at + q) * B + b0, smp, nv);
                store(out_out + (n_at + q) * B + b0, o, nv);
            }
            memcpy(x, xn, n_out * sizeof(lane));
            n_at += n_out, e_at += n_in * n_out;
        }
    }
}

/* One step of the rule for the blocks [lo, hi) of B copies after the environment step, in place.
 * keep (B,) or NULL: copies with keep[b] == 0 are left as they are (finished lifetimes). */
static void learn_blocks(int64_t B, int64_t lo, int64_t hi, int L, const int *sizes, float lr, float wl, float sl,
                         const float *genome, float *weights, float *biases, float *sigmas, float *rs, float *ns,
                         float *es, const float *obs, const float *s, const float *sample, const float *out,
                         const float *reward, const uint8_t *keep_all, float *scratch) {
    const cell_t rew = {0, 1 + NI, SD};
    const int node_base = (H + 1 + NI) * H + H + (H + 1 + NI) * SD + SD;
    const cell_t node = {node_base, NI + SD, SD + 2};
    const cell_t conn = {node_base + (H + NI + SD) * H + H + (H + NI + SD) * (SD + 2) + SD + 2, 2 * NI + SD + 2,
                         SD + 1};
    const int P = conn.base + (H + conn.in) * H + H + (H + conn.in) * conn.out + conn.out;
    int n_at[MAXL + 1], e_at[MAXL + 1];
    n_at[0] = 0, e_at[0] = 0;
    for (int l = 1; l <= L; l++) n_at[l] = n_at[l - 1] + sizes[l], e_at[l] = e_at[l - 1] + sizes[l - 1] * sizes[l];
    const int N = n_at[L], E = e_at[L], R = sizes[L];
    lane *g = (lane *)scratch;          /* the block's genome (P, V) */
    lane(*info)[NI] = (lane(*)[NI])(g + P); /* (N, 5): node info before the update */
    for (int64_t blk = lo; blk < hi; blk++) {
        const int64_t b0 = blk * V;
        const int nv = (int)(B - b0 < V ? B - b0 : V);
        uint8_t mask[V];
        const uint8_t *keep = 0;
        if (keep_all || nv < V) {  /* a short block's padding lanes, and finished copies, stay as they are */
            int all = nv == V;
            for (int j = 0; j < V; j++) {
                mask[j] = j < nv && (!keep_all || keep_all[b0 + j]);
                all &= mask[j];
            }
            if (!all) keep = mask;
        }
        memcpy(g, ROW(genome, P, 0), P * sizeof(lane));
        for (int n = 0; n < N; n++) {
            load(info[n][0], s + n * B + b0, nv);
            load(info[n][1], sample + n * B + b0, nv);
            load(info[n][2], out + n * B + b0, nv);
            memcpy(info[n][3], ROW(biases, N, n), sizeof(lane));
            memcpy(info[n][4], ROW(sigmas, N, n), sizeof(lane));
        }
        /* the reward cell on the output neurons → their learning signal */
        lane signal[MAXW][SD], x[2 * NI + SD + 2], h[H], y[SD + 2];
        lane r;
        load(r, reward + b0, nv);
        for (int o = 0; o < sizes[L]; o++) {
            memcpy(x[0], r, sizeof(lane));
            memcpy(x[1], info[n_at[L - 1] + o], NI * sizeof(lane));
            memcpy(h, ROW(rs, R * H, o * H), sizeof(h));
            cell_step(g, rew, x, h, y);
            for (int k = 0; k < H; k++) put(ROW(rs, R * H, o * H + k), h[k], keep);
            memcpy(signal[o], y, SD * sizeof(lane));
        }
        for (int l = L; l >= 1; l--) {
            const int n_in = sizes[l - 1], n_out = sizes[l], n0 = n_at[l - 1];
            const float flag = l == 1 ? 1.0f : 0.0f;
            /* the node cell on the layer's neurons: new b and σ, the signal for their incoming edges,
             * then the connection cell's per-post-neuron terms (post info, that signal, bias, flag) */
            lane post_s[MAXW][H], post_o[MAXW][SD + 1];
            for (int q = 0; q < n_out; q++) {
                const int n = n0 + q;
                memcpy(x[0], info[n], NI * sizeof(lane));
                memcpy(x[NI], signal[q], SD * sizeof(lane));
                memcpy(h, ROW(ns, N * H, n * H), sizeof(h));
                cell_step(g, node, x, h, y);
                for (int k = 0; k < H; k++) put(ROW(ns, N * H, n * H + k), h[k], keep);
                lane post[NI];
                memcpy(post[0], info[n], 3 * sizeof(lane));
                LANES post[3][j] = clampf(info[n][3][j] + lr * y[SD][j], -wl, wl);
                LANES post[4][j] = clampf(info[n][4][j] + lr * y[SD + 1][j], 0.0f, sl);
                put(ROW(biases, N, n), post[3], keep);
                put(ROW(sigmas, N, n), post[4], keep);
                for (int c = 0; c < H; c++) {
                    lane acc;
                    LANES acc[j] = g[BS(conn, c)][j] + flag * g[WS(conn, H + 2 * NI + SD + 1, c)][j];
                    for (int k = 0; k < NI; k++) LANES acc[j] += post[k][j] * g[WS(conn, H + k, c)][j];
                    for (int k = 0; k < SD; k++) LANES acc[j] += y[k][j] * g[WS(conn, H + 2 * NI + k, c)][j];
                    memcpy(post_s[q][c], acc, sizeof(lane));
                }
                for (int c = 0; c < SD + 1; c++) {
                    lane acc;
                    LANES acc[j] = g[BO(conn, c)][j] + flag * g[WO(conn, H + 2 * NI + SD + 1, c)][j];
                    for (int k = 0; k < NI; k++) LANES acc[j] += post[k][j] * g[WO(conn, H + k, c)][j];
                    for (int k = 0; k < SD; k++) LANES acc[j] += y[k][j] * g[WO(conn, H + 2 * NI + k, c)][j];
                    memcpy(post_o[q][c], acc, sizeof(lane));
                }
            }
            /* the per-pre-neuron terms: the old info of the layer below, or the observation */
            lane pre_s[MAXW][H], pre_o[MAXW][SD + 1];
            for (int i = 0; i < n_in; i++) {
                lane pre[NI];
                if (l == 1) {
                    memset(pre, 0, sizeof(pre));
                    load(pre[2], obs + i * B + b0, nv);
                } else {
                    memcpy(pre, info[n_at[l - 2] + i], sizeof(pre));
                }
                for (int c = 0; c < H; c++) {
                    lane acc;
                    LANES acc[j] = pre[0][j] * g[WS(conn, H + NI, c)][j];
                    for (int k = 1; k < NI; k++) LANES acc[j] += pre[k][j] * g[WS(conn, H + NI + k, c)][j];
                    memcpy(pre_s[i][c], acc, sizeof(lane));
                }
                for (int c = 0; c < SD + 1; c++) {
                    lane acc;
                    LANES acc[j] = pre[0][j] * g[WO(conn, H + NI, c)][j];
                    for (int k = 1; k < NI; k++) LANES acc[j] += pre[k][j] * g[WO(conn, H + NI + k, c)][j];
                    memcpy(pre_o[i][c], acc, sizeof(lane));
                }
            }
            /* the connection cell on every edge: new state and weight, the signal back to its pre neuron */
            lane next[MAXW][SD];
            memset(next, 0, n_in * sizeof(next[0]));
            const int w_row = H + 2 * NI + SD;
            for (int i = 0; i < n_in; i++) {
                for (int q = 0; q < n_out; q++) {
                    const int64_t e = e_at[l - 1] + i * n_out + q;
                    lane w, hn[H];
                    memcpy(w, ROW(weights, E, e), sizeof(lane));
                    memcpy(h, ROW(es, E * H, e * H), sizeof(h));
                    for (int c = 0; c < H; c++) {
                        lane acc;
                        LANES acc[j] = h[0][j] * g[WS(conn, 0, c)][j];
                        for (int k = 1; k < H; k++) LANES acc[j] += h[k][j] * g[WS(conn, k, c)][j];
                        LANES hn[c][j] = rtanh(acc[j] + pre_s[i][c][j] + post_s[q][c][j] + w[j] * g[WS(conn, w_row, c)][j]);
                    }
                    lane yo[SD + 1];
                    for (int c = 0; c < SD + 1; c++) {
                        lane acc;
                        LANES acc[j] = hn[0][j] * g[WO(conn, 0, c)][j];
                        for (int k = 1; k < H; k++) LANES acc[j] += hn[k][j] * g[WO(conn, k, c)][j];
                        LANES yo[c][j] = rtanh(acc[j] + pre_o[i][c][j] + post_o[q][c][j] + w[j] * g[WO(conn, w_row, c)][j]);
                    }
                    for (int k = 0; k < H; k++) put(ROW(es, E * H, e * H + k), hn[k], keep);
                    LANES w[j] = clampf(w[j] + lr * yo[SD][j], -wl, wl);
                    put(ROW(weights, E, e), w, keep);
                    for (int k = 0; k < SD; k++) LANES next[i][k][j] += yo[k][j];
                }
            }
            const float inv = 1.0f / (float)n_out;
            for (int i = 0; i < n_in; i++)
                for (int k = 0; k < SD; k++) LANES signal[i][k][j] = next[i][k][j] * inv;
        }
    }
}

/* learn_blocks over the blocks [lo, hi), shared out over `threads` threads (each its own scratch) */
int metarl_learn(int threads, int64_t B, int64_t lo, int64_t hi, int L, const int *sizes, float lr, float wl,
                 float sl, const float *genome, float *weights, float *biases, float *sigmas, float *rs, float *ns,
                 float *es, const float *obs, const float *s, const float *sample, const float *out,
                 const float *reward, const uint8_t *keep_all, int64_t scratch_floats) {
    int failed = 0;
#pragma omp parallel num_threads(threads) reduction(| : failed)
    {
        int t = 0, n = 1;
#ifdef _OPENMP
        t = omp_get_thread_num(), n = omp_get_num_threads();
#endif
        int64_t per = (hi - lo + n - 1) / n, a = lo + t * per, b = a + per < hi ? a + per : hi;
        if (a < b) {
            float *scratch = (float *)aligned_alloc(64, (size_t)scratch_floats * sizeof(float));
            if (!scratch) {
                failed = 1;
            } else {
                learn_blocks(B, a, b, L, sizes, lr, wl, sl, genome, weights, biases, sigmas, rs, ns, es, obs, s,
                             sample, out, reward, keep_all, scratch);
                free(scratch);
            }
        }
    }
    return failed;
}
