/*
 * gradcheck.h - the gradient-check engine and its cases, in the library (src/check/, above nn/:
 * the cases build modules) so that the CLI (`deepc gradcheck`) and the tests share them.
 *
 * A case makes its inputs (heap tensors with dc_tensor_requires_grad() for the ones to check, or
 * a model's parameters), runs a forward function, and the engine compares the analytic gradient
 * of L = Σ y ⊙ R (R a fixed random tensor) with central finite differences
 * (L(x+ε) − L(x−ε)) / 2ε, L accumulated in double. Cases live in gc_<area>.c files, one array
 * per area, listed in gradcheck.c.
 */
#ifndef DC_GRADCHECK_H
#define DC_GRADCHECK_H

#include "deepc.h"

#define GC_MAX_IN 16

typedef struct gc_case {
    const char *name;   /* "add broadcast [2,3]+[3]" */
    /* Fill ins[] and return how many (<= GC_MAX_IN), or -1 with dc_last_error() set. Inputs to
     * check must carry DC_TF_REQUIRES_GRAD. *state may hold anything forward/teardown need. */
    int (*setup)(dc_rng *r, dc_tensor **ins, void **state);
    dc_tensor *(*forward)(dc_ctx *ctx, dc_tensor **ins, void *state);
    /* Free the inputs and state; NULL means dc_tensor_free on each input. */
    void (*teardown)(dc_tensor **ins, int n, void *state);
    double rtol, atol;  /* 0 = defaults (rtol 1e-2, atol 1e-3) */
    int training;       /* run in training mode (dropout, batch norm) */
} gc_case;

typedef struct gc_list {
    const gc_case *cases;
    int n;
} gc_list;

/* One list per area; defined in gc_<area>.c. */
extern const gc_list gc_ops, gc_losses, gc_layers, gc_conv, gc_rnn, gc_seq, gc_conv1d_norm,
    gc_attn, gc_seq2seq;

/* Helpers for setups: a heap float tensor U(lo, hi) that requires grad / that does not. */
dc_tensor *gc_param(dc_rng *r, int ndim, const int64_t *shape, float lo, float hi);
dc_tensor *gc_const(dc_rng *r, int ndim, const int64_t *shape, float lo, float hi);
/* Module cases: gc_module_finish adds mod to m (which owns it even on failure), sets *st and
 * fills ins[0] = x, then every trainable tensor of m; it returns how many, or -1 after freeing
 * x and m. gc_module_fwd runs the module on ins[0]; gc_module_teardown frees x and the model. */
int gc_module_finish(dc_model *m, dc_module *mod, dc_tensor *x, dc_tensor **ins, void **st);
dc_tensor *gc_module_fwd(dc_ctx *ctx, dc_tensor **ins, void *st);
void gc_module_teardown(dc_tensor **ins, int n, void *st);
/* Push values away from kinks: any |x - k| < margin for k in kinks becomes k ± margin. */
void gc_avoid(dc_tensor *t, const float *kinks, int n_kinks, float margin);

/* Run every case whose name contains filter, or one of its '|'-separated alternatives (NULL =
 * all); a layer type (`conv2d`, `lstm`) runs the cases its descriptor names. Prints a table and
 * returns the number of failures; -1 when no case matches (the message, with the nearest name
 * and the known ones, on stderr). */
int gc_run_all(const char *filter, int verbose);
/* How many cases gc_run_all(filter, ...) would run. */
int gc_count(const char *filter);

#endif
