/*
 * internal.h - what the library's own layers share and users do not see: error setting, the
 * tape entry, op recording, arena access. Included by src/ only.
 */
#ifndef DC_INTERNAL_H
#define DC_INTERNAL_H

#include "deepc.h"

#include <stdarg.h>
#include <stdbool.h>

#if defined(__GNUC__) || defined(__clang__)
#define DC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define DC_PRINTF(f, a)
#endif

/* Set the thread's error message and return s (so `return dc_err(DC_ERR_SHAPE, ...)` works). */
dc_status dc_err(dc_status s, const char *fmt, ...) DC_PRINTF(2, 3);
/* Set the error and return NULL. */
void *dc_err_null(dc_status s, const char *fmt, ...) DC_PRINTF(2, 3);
/* Prefix the current message with context: "loading x.npy: " + old message. */
void dc_err_prefix(const char *fmt, ...) DC_PRINTF(1, 2);

/* Unknown names: the optimal-string-alignment edit distance of a and b (a swap of two
 * neighbours counts 1; names compared by their first 63 bytes); the entry of the NULL-terminated
 * list known nearest to word, or NULL when none is close (at most a third of its letters differ,
 * or word abbreviates it). */
int dc_edit_distance(const char *a, const char *b);
const char *dc_nearest_name(const char *word, const char *const *known);
/* The flags of a usage text: every "--name" (lower-case letters, digits, '-') that starts the
 * text or follows one of " \t\n[(|,", once each in order of appearance, cut out of text in
 * place (NUL-terminated there) into known[0..n) with known[n] = NULL, n < cap. Returns n. */
int dc_usage_flags(char *text, const char **known, int cap);

/* ---- tape ---- */

typedef struct dc_node dc_node;
/* Backward of one op: read n->out->grad, ADD into the grads of n->in (via dc_grad). */
typedef dc_status (*dc_backward_fn)(dc_ctx *ctx, dc_node *n);

#define DC_NODE_MAX_IN 4
struct dc_node {
    const char *op;                 /* op name, for messages */
    dc_backward_fn backward;
    dc_tensor *out;
    dc_tensor *in[DC_NODE_MAX_IN];  /* the first inputs (all of them when n_in <= 4) */
    dc_tensor **ins;                /* all inputs (== in when n_in <= 4) */
    int n_in;
    int64_t ia[4];                  /* small integer arguments (axis, ...) */
    float fa[4];                    /* small float arguments (slope, beta, ...) */
    void *saved;                    /* op-specific saved data, in the arena */
};

/*
 * dc_record - append a tape entry for `out` = op(in...). Does nothing and returns NULL when grad
 * recording is off or no input requires grad; otherwise marks out as requiring grad. The entry
 * and a copy of the input list live in the arena. On no memory returns NULL with the error set
 * and clears out's requires-grad flag (the caller may ignore it: backward then skips the op).
 */
dc_node *dc_record(dc_ctx *ctx, const char *op, dc_backward_fn bw, dc_tensor *out, int n_in,
                   dc_tensor *const *in);
/* True when an op with these inputs will be recorded. */
bool dc_needs_grad(const dc_ctx *ctx, int n_in, dc_tensor *const *in);
/* Internal tensor flag: t->grad came from the ctx's gradient buffers (dc_grad on an arena
 * tensor) and goes back to them once t's tape entry has run (ctx.c). */
#define DC_TF_GRAD_RECYCLE 0x100u
/* The gradient buffer of t for backward: NULL if t does not require grad; otherwise t->grad,
 * allocated zeroed in the arena on first use (possibly a recycled buffer, see ctx.c). */
float *dc_grad(dc_ctx *ctx, dc_tensor *t);
/* The same for a backward that writes every element of the gradient: when t has none yet it is
 * allocated without zeroing and *fresh = 1 (store, do not add); else *fresh = 0 (add). Saves a
 * memset and a read of each element on the first (usually only) contribution. */
float *dc_grad_fresh(dc_ctx *ctx, dc_tensor *t, int *fresh);
/* n floats of scratch for one op, from the dead gradient buffers of that size when there is one
 * (else the arena); dc_ctx_scratch_done hands it back for later gradients and scratch. Its
 * contents are undefined. NULL: no memory (error set). */
float *dc_ctx_scratch(dc_ctx *ctx, int64_t n);
void dc_ctx_scratch_done(dc_ctx *ctx, float *p, int64_t n);
/* For a backward whose gradient to `to` is exactly from's (add, reshape): when `to` has no
 * gradient yet and from's is a recycled arena buffer of the same size, that buffer becomes to's
 * (no copy) and from's grad is NULL; true if so. The caller must be done reading from->grad. */
bool dc_grad_move(dc_ctx *ctx, dc_tensor *from, dc_tensor *to);
/* A buffer of n_out floats kept in ctx across resets for something computed from a[0..na) and
 * b[0..nb) (b may be NULL with nb 0) under `key` (say, weights packed for one layout): *hit = 1
 * when the buffer kept for these addresses already holds the result for sources equal, element
 * for element, to these, so the caller skips the work; else the caller must fill it. Correct
 * whatever is done to the weights in between (the check is by value; the addresses only pick
 * the buffer). NULL (compute elsewhere) above PREP_MAX_FLOATS in all or out of memory. Up to 16
 * buffers per ctx, replaced round robin. */
#define PREP_MAX_FLOATS ((size_t)1 << 18)
float *dc_ctx_prepared(dc_ctx *ctx, uint64_t key, const float *a, size_t na, const float *b,
                       size_t nb, size_t n_out, int *hit);
/* The residual's share of a fused op's backward, dres += dy (ops/matmul.c): dy's buffer becomes
 * res's gradient when it has none yet (the residual stream's first gradient), else it is added. */
dc_status dc_residual_grad(dc_ctx *ctx, dc_tensor *y, dc_tensor *res);
/* y[R, O] = x[R, I] · W[O, I]ᵀ for w [O, I], nothing recorded: with the packed Wᵀ of a frozen
 * model's weight when the ctx has one (the same bits), else dc_gemm. */
void dc_linear_gemm(dc_ctx *ctx, int64_t R, const float *x, const dc_tensor *w, float *y);
/* y = res + dc_linear(x, w, b) as one tensor, bit for bit dc_add(res, dc_linear(x, w, b))
 * (ops/matmul.c): the residual around a linear layer without keeping the linear's output. res
 * has the output's shape. */
dc_tensor *dc_linear_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                              dc_tensor *res);
/* y = res + linear2(gelu(linear1(x))) (exact GELU, both biases) as one op, bit for bit
 * dc_linear_residual(dc_gelu(dc_linear(x, w1, b1), 0), w2, b2, res) (ops/ffn.c): keeps only the
 * hidden pre-activation and recomputes the GELU in backward (one [R, F] tensor less). */
dc_tensor *dc_ffn_gelu_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *w1, dc_tensor *b1,
                                dc_tensor *w2, dc_tensor *b2, dc_tensor *res);
/* A layer norm over the last dim (weight and bias [D]) in front of a fused op (ops/layernorm.c):
 * the fused op keeps x and the row statistics, not the norm's output, and recomputes that in
 * backward, the same bits, so a pre-LN block holds one [R, D] tensor less per norm.
 * dc_ln_pre_check: the operands (error set on false). dc_ln_pre_run: LayerNorm(x) into scratch
 * [R, D] (hand it back with dc_ctx_scratch_done), mean and rstd into stats [2R]; NULL when out of
 * memory. dc_ln_pre_grads: given dn, the gradient of the norm's output, adds x's, w's and b's
 * gradients exactly as dc_layer_norm's backward. */
bool dc_ln_pre_check(const char *op, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                     float eps);
float *dc_ln_pre_run(dc_ctx *ctx, const dc_tensor *x, const dc_tensor *w, const dc_tensor *b,
                     float eps, float *stats);
dc_status dc_ln_pre_grads(dc_ctx *ctx, dc_tensor *x, dc_tensor *w, dc_tensor *b,
                          const float *stats, const float *dn);
/* y = LayerNorm(x; lnw, lnb, eps)·Wᵀ + b as one op (ops/matmul.c), bit for bit
 * dc_linear(dc_layer_norm(x, 1, lnw, lnb, eps), w, b) without keeping the norm's output. */
dc_tensor *dc_layer_norm_linear(dc_ctx *ctx, dc_tensor *x, dc_tensor *lnw, dc_tensor *lnb,
                                float eps, dc_tensor *w, dc_tensor *b);
/* y = x + linear2(gelu(linear1(LayerNorm(x; lnw, lnb, eps)))) as one op (ops/ffn.c): the pre-LN
 * feed-forward block with its residual, bit for bit dc_ffn_gelu_residual(dc_layer_norm(x, ...),
 * w1, b1, w2, b2, x), keeping the hidden pre-activation and x only. */
dc_tensor *dc_ln_ffn_gelu_residual(dc_ctx *ctx, dc_tensor *x, dc_tensor *lnw, dc_tensor *lnb,
                                   float eps, dc_tensor *w1, dc_tensor *b1, dc_tensor *w2,
                                   dc_tensor *b2);
/* An arena tensor with the shape of x. */
dc_tensor *dc_empty_like(dc_ctx *ctx, const dc_tensor *x);
/* The tensor header only, sharing `data` with another tensor (a view). */
dc_tensor *dc_view(dc_ctx *ctx, dc_tensor *x, int ndim, const int64_t *shape);

/* ---- argument checks: set a message naming the op and return false ---- */
bool dc_check_f32(const char *op, const dc_tensor *t, const char *what);
bool dc_check_ndim(const char *op, const dc_tensor *t, const char *what, int ndim);
/* Normalise an axis (negatives from the end) into [0, ndim). */
bool dc_check_axis(const char *op, int ndim, int *axis);

/* ---- numerics ---- */
bool dc_ctx_checking_numerics(const dc_ctx *ctx);
/* A function run by dc_backward once before the tape (node -1) and after each node's backward
 * (its tape index, from the last to 0): data-parallel training starts a gradient bucket's
 * allreduce as soon as the last node that adds into it has run. An error stops the backward. */
typedef dc_status (*dc_backward_hook)(dc_ctx *ctx, int64_t node, void *user);
void dc_ctx_set_backward_hook(dc_ctx *ctx, dc_backward_hook fn, void *user);
/* Tape node i (0 <= i < dc_ctx_tape_len), or NULL. */
const dc_node *dc_ctx_tape_node(const dc_ctx *ctx, int64_t i);

/* The layer whose ops run now (set by dc_model_forward_all; NULL outside a model). */
void dc_ctx_set_scope(dc_ctx *ctx, const char *layer);

/* ---- GEMM operands of a frozen model (packs.c; dc_model_freeze) ---- */
struct dc_gemm_packed;
typedef struct dc_packs dc_packs;
/* An empty cache for the weights whose data lies in [lo, hi) (a model's parameter block); NULL
 * with the error set, named after who (the API call), when out of memory. dc_packs_clear drops
 * every pack (the weights changed); dc_packs_free frees the cache and its packs; dc_packs_bytes:
 * the memory they take. */
dc_packs *dc_packs_new(const void *lo, const void *hi, const char *who);
void dc_packs_clear(dc_packs *p);
void dc_packs_free(dc_packs *p);
size_t dc_packs_bytes(dc_packs *p);
/* Make the packs bfloat16 ones (on) or float32 ones (off): drops the packs made so far.
 * dc_packs_bf16: which. */
void dc_packs_set_bf16(dc_packs *p, int on);
int dc_packs_bf16(dc_packs *p);
/* op(B) = [W_0; ...; W_{n-1}]ᵀ for y = x·[W_0; ...]ᵀ (n in 1..4 float weights [O_i, I], the same
 * I): packed on the first call for these weights and kept (thread-safe). NULL (compute as
 * usual) when p is NULL, a weight lies outside p's block, or out of memory. */
const struct dc_gemm_packed *dc_packs_wt(dc_packs *p, int n, const dc_tensor *const *w);
/* The cache ops find through ctx while a frozen model runs (dc_model_forward sets it, and puts
 * back the previous one, returned by dc_ctx_set_packs, when it returns); NULL otherwise. */
dc_packs *dc_ctx_set_packs(dc_ctx *ctx, dc_packs *p);
dc_packs *dc_ctx_packs(const dc_ctx *ctx);
/* m's pack cache: NULL unless m is frozen (model.c). For code that runs a model's modules
 * without dc_model_forward (the KV-cache decoder), to set on its ctx. */
dc_packs *dc_model_packs(const dc_model *m);
/* dc_packs_wt on ctx's cache: NULL when no frozen model runs. */
const struct dc_gemm_packed *dc_ctx_packed_wt(dc_ctx *ctx, int n, const dc_tensor *const *w);

/* ---- ops ---- */
/* 0 makes dc_conv2d use im2col + GEMM even where the direct kernels apply (tests; the
 * environment's DEEPC_CONV=gemm does the same), 1 allows them again. */
void dc_conv_direct_enable(int on);

/* ---- overflow-checked sizes ---- */
/* *out = product of shape; false if negative or it overflows (or exceeds 2^40 elements). */
bool dc_shape_numel(int ndim, const int64_t *shape, int64_t *out);

/* ---- modules ---- */
/* Allocate a module struct of `size` bytes (zeroed) with its base fields filled. */
void *dc_module_alloc(size_t size, const char *type, const char *name, dc_forward_fn fwd);
/* True for a ReLU activation module (dc_act_new with DC_ACT_RELU). */
bool dc_module_is_relu(const dc_module *m);
/* True for an Add module (dc_add_new). */
bool dc_module_is_add(const dc_module *m);
/* Batch norm as y = x·scale + shift per channel: scale = γ·invstd, shift = β - mean·scale
 * (γ = 1, β = 0 when NULL), as dc_batch_norm applies it in both modes; a Conv2d folding a
 * BatchNorm in inference uses the same numbers. */
void dc_bn_scale_shift(int64_t C, const float *weight, const float *bias, const float *mean,
                       const float *invstd, float *scale, float *shift);
/* invstd = 1/√(var + eps), computed in double as batch norm's eval mode does. */
void dc_bn_invstd(int64_t C, const float *var, float eps, float *invstd);
/* The model's parameters were written by the library (a load): a frozen model drops its packed
 * GEMM operands, which are made again from the new values on first use (dc_model_freeze). */
void dc_model_weights_changed(dc_model *m);
/* The model's gradient block: *n floats holding every trainable tensor's gradient (padding
 * between tensors, if any, stays zero). */
float *dc_model_grad_block(const dc_model *m, int64_t *n);
/* "<prefix>.<suffix>" into buf; false if it does not fit. */
bool dc_join_name(char *buf, size_t size, const char *prefix, const char *suffix);

#endif
