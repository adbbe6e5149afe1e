/*
 * plot.h - SVG line charts for the CLI (plot_svg.c), and the chart of `deepc show forecast`
 * (forecast.c).
 */
#ifndef DC_CLI_PLOT_H
#define DC_CLI_PLOT_H

#include <stddef.h>
#include <stdint.h>

/* One line of a chart. */
typedef struct plot_line {
    const char *label;  /* legend text (escaped when written) */
    const double *y;    /* [n] values; a NaN or inf leaves a gap in the line */
    const char *color;  /* an SVG colour written as given ("#1f77b4"): not user text */
    int dashed;         /* 1: a dashed stroke */
} plot_line;

typedef struct plot_chart {
    const char *title, *x_label, *y_label; /* any text (escaped when written); may be NULL */
    const double *x;                       /* [n] positions along the x axis, finite */
    int64_t n;                             /* points per line, >= 1 */
    const plot_line *lines;                /* [n_lines], 1..8 */
    int n_lines;
    int width, height;                     /* pixels; 0 picks 960 x 440 */
} plot_chart;

/*
 * plot_svg_write - write c to path as a standalone SVG 1.1 file: a title, axes with "nice" tick
 * values (1, 2 or 5 times a power of ten) and light grid lines, the axis labels, one <polyline>
 * per unbroken run of finite points of each line, and a legend. The y range covers every finite
 * value of every line. Written atomically (a temporary file renamed over path). Returns 0, or
 * -1 with a message that names path in dc_last_error() (bad chart, no finite value, a write
 * failure); nothing is printed.
 */
int plot_svg_write(const char *path, const plot_chart *c);

/* The pieces both writers share (plot_svg.c): an axis from p0 to p1 pixels showing values
 * [v0, v1]; a "nice" tick step (1, 2 or 5 times a power of ten) of about range / n; decimals
 * enough for its multiples; a value's pixel; the padded finite range of a chart (-1: nothing
 * finite); the ticks of an axis (multiples of step, at most 100; the first into *first). */
typedef struct axis {
    double v0, v1, p0, p1;
} axis;
double plot_nice_step(double range, int n);
int plot_step_decimals(double step);
double plot_ax_map(const axis *a, double v);
int plot_data_range(const plot_chart *c, double *x0, double *x1, double *y0, double *y1);
int plot_ticks(const axis *a, double step, double *first);

/*
 * plot_png_write - the same chart as plot_svg_write, drawn into an RGB image (the built-in
 * bitmap font for the text, 2-pixel lines) and written as a PNG (plot_svg_write does this for a
 * path ending in ".png"). Returns 0, or -1 with a message that names path in dc_last_error().
 */
int plot_png_write(const char *path, const plot_chart *c);

/*
 * plot_log_extras - the extra metric columns of the deepc log.csv at log_path (those after
 * elapsed_s, written by tasks with extra metrics) as charts, one point per row that has them:
 * the columns whose name contains "acc" into PREFIXmetrics_acc.EXT, the others into
 * PREFIXmetrics.EXT (ext "svg" or "png"); training columns dashed, val_* solid. The names of
 * the files written go into written[0..n) ("" for none). Returns how many files were written
 * (0: the log has no extra columns or no values yet), or -1 with the message in dc_last_error().
 */
int plot_log_extras(const char *log_path, const char *prefix, const char *ext, char *written,
                    size_t n);

/*
 * plot_log_curves - `deepc plot DIR`: DIR/log.csv (deepc train --out DIR) as DIR/loss.svg
 * (training and validation loss against the step; to out instead when given, its folders made)
 * and, for a classification run without out, DIR/accuracy.svg. wrote[size] receives what was
 * written ("DIR/accuracy.svg and loss.svg"). 0; -2 when the log is missing, not a deepc log or
 * empty; -1 when a chart could not be written. The message is in dc_last_error() either way,
 * nothing is printed: the caller names itself.
 */
int plot_log_curves(const char *dir, const char *out, char *wrote, size_t size);

/*
 * plot_forecast_svg - `deepc show forecast`: the actual test values of s and the model's
 * forecasts pred[n[DC_SPLIT_TEST]] (normalised, as dc_series_predict gives them) in the target's
 * original units, against the data row, with the test score sc in the title; model and path
 * (the spec and data file) name the lines and the axis. Written with plot_svg_write: 0, or -1
 * with the message in dc_last_error().
 */
struct dc_series;
struct dc_forecast_score;
int plot_forecast_svg(const char *out, const struct dc_series *s, const float *pred,
                      const struct dc_forecast_score *sc, const char *model, const char *path);

#endif
