/*
 * font.h - a tiny built-in bitmap font for the captions of the pictures `deepc show` writes.
 * Printable ASCII (32..126), 5x7 pixel glyphs with 2 rows of descender, drawn into 8-bit gray
 * images at an integer scale. Other bytes are drawn as '?'.
 */
#ifndef DC_CLI_FONT_H
#define DC_CLI_FONT_H

#include <stddef.h>
#include <stdint.h>

#define CLI_FONT_ADVANCE 6 /* pixels per character at scale 1: 5 of glyph + 1 of gap */
#define CLI_FONT_LINE 10   /* pixels per line at scale 1: 7 body + 2 descender + 1 gap */

/* Width and height in pixels of s drawn at scale (lines split at '\n'; no trailing gap). */
int cli_font_width(const char *s, int scale);
int cli_font_height(const char *s, int scale);

/*
 * cli_font_draw - draw s with its top-left corner at (x, y) into the gray image img [h, w],
 * setting the glyph pixels to value. '\n' starts a new line at x. Pixels outside the image are
 * clipped, so any x, y is safe.
 */
void cli_font_draw(uint8_t *img, int w, int h, int x, int y, int scale, uint8_t value,
                   const char *s);

/*
 * cli_font_wrap - copy s into out (size bytes) with '\n' inserted so that no line is wider than
 * max_w pixels at scale: a line breaks after the last '>' that fits, else at the last ' ', '/'
 * or '-', else mid-word. At most max_lines lines are kept; a cut last line ends in '.'. Returns the
 * number of lines.
 */
int cli_font_wrap(const char *s, int max_w, int scale, int max_lines, char *out, size_t size);

#endif
