/* Drawing on pictures (CSegKernels.h, "pictures"): the YUV 4:2:0 overlay, rectangles, bitmap text and panoptic
   instances on either format. Plain C; the per-label table lookups are scalar by nature. In YUV every operation
   is the RGB one applied to luma per pixel and to chroma as the mean over a sample's pixels, which is what
   converting the RGB result to 4:2:0 gives (the operations are affine per pixel), up to rounding. */
#include "CSegKernels.h"

static int32_t round_to_int(double v) { return (int32_t)(v < 0 ? v - 0.5 : v + 0.5); }

void seg_yuv709_from_rgb(uint8_t r, uint8_t g, uint8_t b, int32_t yuv[3]) {
    const double kr = 0.2126, kb = 0.0722, kg = 1.0 - kr - kb;
    double luma = kr * r + kg * g + kb * b;  /* 0 ... 255 */
    yuv[0] = 16 + round_to_int(luma * 219.0 / 255.0);
    yuv[1] = 128 + round_to_int((b - luma) / (2.0 * (1.0 - kb)) * 224.0 / 255.0);
    yuv[2] = 128 + round_to_int((r - luma) / (2.0 * (1.0 - kr)) * 224.0 / 255.0);
}

void seg_yuv420_blend_lut_init(const uint8_t *colors, const uint16_t *weights, int32_t *lut) {
    for (int l = 0; l < 256; l++) {
        int32_t w = weights[l] > 256 ? 256 : weights[l], yuv[3];
        seg_yuv709_from_rgb(colors[3 * l], colors[3 * l + 1], colors[3 * l + 2], yuv);
        lut[4 * l + 0] = 256 - w;
        lut[4 * l + 1] = yuv[0] * w + 128;
        lut[4 * l + 2] = yuv[1] * w;
        lut[4 * l + 3] = yuv[2] * w;
    }
}

/* sum / (n * 256), rounded, for the n (1 ... 4) pixels of a chroma sample. */
static inline uint8_t chroma_mean256(int32_t sum, int n) {
    if (n == 4) return (uint8_t)((sum + 512) >> 10);
    if (n == 2) return (uint8_t)((sum + 256) >> 9);
    if (n == 1) return (uint8_t)((sum + 128) >> 8);
    return (uint8_t)((sum + n * 128) / (n * 256));
}

void seg_yuv420_overlay(const seg_picture *src, const uint8_t *labels, size_t label_stride, const int32_t *lut,
                        const seg_picture *dst, int dst_x) {
    const int w = src->width, h = src->height < dst->height ? src->height : dst->height;
    if (dst_x < 0 || dst_x >= dst->width || w <= 0) return;
    const int xn = dst_x + w > dst->width ? dst->width - dst_x : w;  /* panel columns inside dst */
    const int cx0 = dst_x >> 1, cx1 = (dst_x + xn - 1) >> 1;
    for (int cy = 0; 2 * cy < h; cy++) {
        const int rows = 2 * cy + 1 < h ? 2 : 1;
        for (int r = 0; r < rows; r++) {
            const int yy = 2 * cy + r;
            const uint8_t *s = src->y_or_rgb + (size_t)yy * src->stride, *lab = labels + (size_t)yy * label_stride;
            uint8_t *d = dst->y_or_rgb + (size_t)yy * dst->stride + dst_x;
            for (int x = 0; x < xn; x++) {
                const int32_t *e = lut + 4 * (size_t)lab[x];
                d[x] = (uint8_t)((s[x] * e[0] + e[1]) >> 8);
            }
        }
        const uint8_t *su = src->u + (size_t)cy * src->chroma_stride, *sv = src->v + (size_t)cy * src->chroma_stride;
        uint8_t *du = dst->u + (size_t)cy * dst->chroma_stride, *dv = dst->v + (size_t)cy * dst->chroma_stride;
        const uint8_t *lab0 = labels + (size_t)(2 * cy) * label_stride, *lab1 = lab0 + label_stride;
        /* Whole samples (both pixels of both rows in the panel) on the common path: an even panel start. */
        int cx = cx0;
        if (rows == 2 && (dst_x & 1) == 0) {
            const int whole_end = (dst_x + xn) >> 1;  /* samples before it have both columns in the panel */
            for (; cx < whole_end; cx++) {
                const int x = 2 * cx - dst_x, sc = x >> 1;
                const int32_t *e0 = lut + 4 * (size_t)lab0[x], *e1 = lut + 4 * (size_t)lab0[x + 1];
                const int32_t *e2 = lut + 4 * (size_t)lab1[x], *e3 = lut + 4 * (size_t)lab1[x + 1];
                const int32_t keep = e0[0] + e1[0] + e2[0] + e3[0];
                du[cx] = (uint8_t)((su[sc] * keep + e0[2] + e1[2] + e2[2] + e3[2] + 512) >> 10);
                dv[cx] = (uint8_t)((sv[sc] * keep + e0[3] + e1[3] + e2[3] + e3[3] + 512) >> 10);
            }
        }
        for (; cx <= cx1; cx++) {
            int32_t su_sum = 0, sv_sum = 0;
            int n = 0;
            for (int X = 2 * cx; X < 2 * cx + 2; X++) {
                if (X < dst_x || X >= dst_x + xn) continue;
                const int x = X - dst_x, sc = x >> 1;
                for (int r = 0; r < rows; r++) {
                    const int32_t *e = lut + 4 * (size_t)(r ? lab1 : lab0)[x];
                    su_sum += su[sc] * e[0] + e[2];
                    sv_sum += sv[sc] * e[0] + e[3];
                    n++;
                }
            }
            du[cx] = chroma_mean256(su_sum, n);
            dv[cx] = chroma_mean256(sv_sum, n);
        }
    }
}

static void yuv420_fill_rect_blend(const seg_picture *p, int x, int y, int rw, int rh, uint8_t r, uint8_t g, uint8_t b,
                                   int w) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + rw > p->width ? p->width : x + rw, y1 = y + rh > p->height ? p->height : y + rh;
    if (x0 >= x1 || y0 >= y1) return;
    int32_t wt = w < 0 ? 0 : (w > 256 ? 256 : w), iw = 256 - wt, c[3];
    seg_yuv709_from_rgb(r, g, b, c);
    const int32_t cy_w = c[0] * wt + 128;
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *row = p->y_or_rgb + (size_t)yy * p->stride;
        for (int xx = x0; xx < x1; xx++) row[xx] = (uint8_t)((row[xx] * iw + cy_w) >> 8);
    }
    /* A chroma sample with n pixels in the picture, k of them in the rectangle: the mean of k blended and
       n - k untouched pixels. */
    for (int cy = y0 >> 1; cy <= (y1 - 1) >> 1; cy++) {
        const int ry0 = 2 * cy, ry1 = 2 * cy + 2 > p->height ? p->height : 2 * cy + 2;
        const int ky = (ry1 < y1 ? ry1 : y1) - (ry0 > y0 ? ry0 : y0);
        uint8_t *u = p->u + (size_t)cy * p->chroma_stride, *v = p->v + (size_t)cy * p->chroma_stride;
        for (int cx = x0 >> 1; cx <= (x1 - 1) >> 1; cx++) {
            const int rx0 = 2 * cx, rx1 = 2 * cx + 2 > p->width ? p->width : 2 * cx + 2;
            const int kx = (rx1 < x1 ? rx1 : x1) - (rx0 > x0 ? rx0 : x0);
            const int32_t n = (rx1 - rx0) * (ry1 - ry0), k = kx * ky;
            const int32_t keep = n * 256 - k * wt, half = n * 128, den = n * 256;
            u[cx] = (uint8_t)((u[cx] * keep + k * wt * c[1] + half) / den);
            v[cx] = (uint8_t)((v[cx] * keep + k * wt * c[2] + half) / den);
        }
    }
}

void seg_picture_fill_rect_blend(const seg_picture *p, int x, int y, int rw, int rh, uint8_t r, uint8_t g, uint8_t b,
                                 int w) {
    if (p->format == SEG_PICTURE_YUV420)
        yuv420_fill_rect_blend(p, x, y, rw, rh, r, g, b, w);
    else
        seg_u8_fill_rect_blend(p->y_or_rgb, p->stride, p->width, p->height, x, y, rw, rh, r, g, b, w);
}

/* Whether pixel (X, Y) of the picture is a set pixel of the bitmap drawn at (x, y). */
static inline int bitmap_covers(const uint8_t *rows, int nrows, int ncols, int scale, int x, int y, int X, int Y) {
    if (X < x || Y < y) return 0;
    const int c = (X - x) / scale, r = (Y - y) / scale;
    return c < ncols && r < nrows && (rows[r] & (1u << (ncols - 1 - c)));
}

void seg_picture_draw_bitmap(const seg_picture *p, int x, int y, const uint8_t *rows, int nrows, int ncols, int scale,
                             uint8_t r, uint8_t g, uint8_t b) {
    if (scale < 1 || ncols < 1 || ncols > 8) return;
    if (p->format != SEG_PICTURE_YUV420) {
        for (int ry = 0; ry < nrows; ry++) {
            uint8_t bits = rows[ry];
            int c = 0;
            while (c < ncols) {
                /* one solid run of set pixels at a time */
                if (!(bits & (1u << (ncols - 1 - c)))) { c++; continue; }
                int c0 = c;
                while (c < ncols && (bits & (1u << (ncols - 1 - c)))) c++;
                seg_picture_fill_rect_blend(p, x + c0 * scale, y + ry * scale, (c - c0) * scale, scale, r, g, b, 256);
            }
        }
        return;
    }
    /* YUV: luma per set pixel; each chroma sample once, from how many of its pixels the whole glyph sets (drawing
       run by run would blend a sample again for each run that touches it). */
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + ncols * scale > p->width ? p->width : x + ncols * scale;
    int y1 = y + nrows * scale > p->height ? p->height : y + nrows * scale;
    if (x0 >= x1 || y0 >= y1) return;
    int32_t c[3];
    seg_yuv709_from_rgb(r, g, b, c);
    for (int yy = y0; yy < y1; yy++) {
        uint8_t *row = p->y_or_rgb + (size_t)yy * p->stride;
        for (int xx = x0; xx < x1; xx++)
            if (bitmap_covers(rows, nrows, ncols, scale, x, y, xx, yy)) row[xx] = (uint8_t)c[0];
    }
    for (int cy = y0 >> 1; cy <= (y1 - 1) >> 1; cy++) {
        uint8_t *u = p->u + (size_t)cy * p->chroma_stride, *v = p->v + (size_t)cy * p->chroma_stride;
        for (int cx = x0 >> 1; cx <= (x1 - 1) >> 1; cx++) {
            int n = 0, k = 0;
            for (int Y = 2 * cy; Y < 2 * cy + 2 && Y < p->height; Y++)
                for (int X = 2 * cx; X < 2 * cx + 2 && X < p->width; X++) {
                    n++;
                    k += bitmap_covers(rows, nrows, ncols, scale, x, y, X, Y);
                }
            if (k == 0) continue;
            u[cx] = (uint8_t)((u[cx] * (n - k) + c[1] * k + n / 2) / n);
            v[cx] = (uint8_t)((v[cx] * (n - k) + c[2] * k + n / 2) / n);
        }
    }
}

static inline uint8_t saturate_u8(int32_t v) { return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v)); }

/* Whether pixel x of row `row` (a panel row of segments) is on its segment's outline: a 4-neighbour in the panel
   differs. up/down are NULL at the panel's top/bottom. */
static inline int on_outline(const int32_t *row, const int32_t *up, const int32_t *down, int x, int width) {
    const int32_t s = row[x];
    return (x > 0 && row[x - 1] != s) || (x + 1 < width && row[x + 1] != s) || (up && up[x] != s) ||
           (down && down[x] != s);
}

void seg_picture_instance_overlay(const seg_picture *p, int panel_x, const int32_t *segments, int width, int height,
                                  int segment_count, const int32_t *deltas) {
    if (segment_count <= 0 || panel_x < 0 || panel_x + width > p->width || height > p->height) return;
    if (p->format != SEG_PICTURE_YUV420) {
        for (int yy = 0; yy < height; yy++) {
            const int32_t *row = segments + (size_t)yy * width;
            const int32_t *up = yy > 0 ? row - width : NULL, *down = yy + 1 < height ? row + width : NULL;
            uint8_t *px = p->y_or_rgb + (size_t)yy * p->stride + 3 * (size_t)panel_x;
            for (int x = 0; x < width; x++, px += 3) {
                const int32_t s = row[x];
                if (s <= 0 || s > segment_count) continue;
                if (on_outline(row, up, down, x, width)) {
                    px[0] = px[1] = px[2] = 255;
                } else {
                    for (int k = 0; k < 3; k++) px[k] = saturate_u8(px[k] + deltas[3 * s + k]);
                }
            }
        }
        return;
    }
    /* White in limited-range BT.709. */
    const uint8_t white_y = 235, white_c = 128;
    for (int cy = 0; 2 * cy < height; cy++) {
        const int rows = 2 * cy + 1 < height ? 2 : 1;
        int any = 0;
        for (int r = 0; r < rows; r++) {
            const int yy = 2 * cy + r;
            const int32_t *row = segments + (size_t)yy * width;
            const int32_t *up = yy > 0 ? row - width : NULL, *down = yy + 1 < height ? row + width : NULL;
            uint8_t *luma = p->y_or_rgb + (size_t)yy * p->stride + panel_x;
            for (int x = 0; x < width; x++) {
                const int32_t s = row[x];
                if (s <= 0 || s > segment_count) continue;
                any = 1;
                luma[x] = on_outline(row, up, down, x, width) ? white_y : saturate_u8(luma[x] + deltas[3 * s]);
            }
        }
        if (!any) continue;
        uint8_t *u = p->u + (size_t)cy * p->chroma_stride, *v = p->v + (size_t)cy * p->chroma_stride;
        for (int cx = panel_x >> 1; cx <= (panel_x + width - 1) >> 1; cx++) {
            int32_t su = 0, sv = 0;
            int n = 0, touched = 0;
            for (int X = 2 * cx; X < 2 * cx + 2; X++) {
                if (X < panel_x || X >= panel_x + width) continue;
                const int x = X - panel_x;
                for (int r = 0; r < rows; r++) {
                    const int yy = 2 * cy + r;
                    const int32_t *row = segments + (size_t)yy * width;
                    const int32_t s = row[x];
                    n++;
                    if (s <= 0 || s > segment_count) {
                        su += u[cx];
                        sv += v[cx];
                        continue;
                    }
                    touched = 1;
                    const int32_t *up = yy > 0 ? row - width : NULL, *down = yy + 1 < height ? row + width : NULL;
                    if (on_outline(row, up, down, x, width)) {
                        su += white_c;
                        sv += white_c;
                    } else {
                        su += saturate_u8(u[cx] + deltas[3 * s + 1]);
                        sv += saturate_u8(v[cx] + deltas[3 * s + 2]);
                    }
                }
            }
            if (!touched) continue;
            u[cx] = (uint8_t)((su + n / 2) / n);
            v[cx] = (uint8_t)((sv + n / 2) / n);
        }
    }
}
