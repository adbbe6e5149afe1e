/*
 * clip.c - gradient norm and clipping over a model's trainable tensors (buffers are skipped),
 * like torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
 */
#include "core/internal.h"

#include <math.h>

/* Σ g² of one gradient in double. Eight partial sums in a fixed order (independent of threads and
 * of the vector width) so the loop vectorizes without reassociating across runs. */
static double sum_sq(int64_t n, const float *restrict g)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += (double)g[i + j] * (double)g[i + j];
    for (int j = 0; i < n; i++, j++)
        acc[j] += (double)g[i] * (double)g[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* ‖all gradients‖₂ in double, parameters in registration order. */
static double total_norm(const dc_model *m)
{
    double s = 0;
    int n = dc_model_n_tensors(m);
    for (int i = 0; i < n; i++) {
        const dc_tensor *t = dc_model_tensor(m, i);
        if (!dc_model_is_buffer(m, i) && t->grad)
            s += sum_sq(t->numel, t->grad);
    }
    return sqrt(s);
}

/*
 * dc_grad_norm - the global L2 norm of all trainable gradients (NaN/Inf if any gradient is).
 */
float dc_grad_norm(const dc_model *m)
{
    return m ? (float)total_norm(m) : 0.0f;
}

/*
 * dc_clip_grad_norm - clip_coef = max_norm / (‖g‖ + 1e-6) in float32 as PyTorch computes it;
 * when clip_coef < 1 every gradient is multiplied by it. Returns ‖g‖ before clipping.
 * A non-finite norm is returned as is and the gradients are left alone (PyTorch would scale them
 * by NaN), so that dc_optim_step can name the parameter whose gradient is not finite.
 */
float dc_clip_grad_norm(dc_model *m, float max_norm)
{
    if (!m)
        return 0.0f;
    float total = (float)total_norm(m);
    if (!isfinite(total))
        return total;
    float coef = max_norm / (total + 1e-6f);
    if (!(coef < 1.0f))
        return total;
    int n = dc_model_n_tensors(m);
    for (int i = 0; i < n; i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        if (dc_model_is_buffer(m, i) || !t->grad)
            continue;
        float *restrict g = t->grad;
        for (int64_t j = 0; j < t->numel; j++)
            g[j] *= coef;
    }
    return total;
}

/*
 * dc_clip_grad_value - clamp every trainable gradient to [−v, v] (NaN stays NaN, like
 * torch.clamp). A negative or NaN v leaves the gradients unchanged.
 */
void dc_clip_grad_value(dc_model *m, float v)
{
    if (!m || !(v >= 0))
        return;
    int n = dc_model_n_tensors(m);
    for (int i = 0; i < n; i++) {
        dc_tensor *t = dc_model_tensor(m, i);
        if (dc_model_is_buffer(m, i) || !t->grad)
            continue;
        float *restrict g = t->grad;
        for (int64_t j = 0; j < t->numel; j++) {
            float x = g[j];
            x = x < -v ? -v : x;
            g[j] = x > v ? v : x;
        }
    }
}
