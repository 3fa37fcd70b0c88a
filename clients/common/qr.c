/*
 * qr.c - a QR code in the terminal (libqrencode, ECC level M, 8-bit mode).
 *
 * Two module rows per text line with Unicode half blocks, on explicit
 * colours (light modules drawn in bright white on a black background), so
 * the code reads the right way round on dark and light terminals alike. A
 * quiet zone of 2 modules surrounds it.
 */
#include <qrencode.h>

#include "cli.h"

#define QUIET 2

/* 1 if the module at (x, y) of the padded code is light. */
static int light(const QRcode *qr, int x, int y)
{
    int w = qr->width;

    x -= QUIET;
    y -= QUIET;
    if (x < 0 || y < 0 || x >= w || y >= w) {
        return 1;
    }
    return (qr->data[(size_t)y * (size_t)w + (size_t)x] & 1U) == 0;
}

int cli_qr_print(FILE *f, const char *text)
{
    static const char *const cell[4] = {
        " ",            /* both dark */
        "\xE2\x96\x84", /* U+2584 lower half: bottom light */
        "\xE2\x96\x80", /* U+2580 upper half: top light */
        "\xE2\x96\x88", /* U+2588 full block: both light */
    };
    QRcode *qr;
    int size;
    int x;
    int y;
    int top;
    int bottom;

    qr = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
    if (qr == NULL) {
        return -1;
    }
    size = qr->width + 2 * QUIET;
    for (y = 0; y < size; y += 2) {
        fputs("\x1b[40;97m", f);
        for (x = 0; x < size; x++) {
            top = light(qr, x, y);
            /* Below the last row (odd size) is outside the code: dark. */
            bottom = y + 1 < size ? light(qr, x, y + 1) : 0;
            fputs(cell[top * 2 + bottom], f);
        }
        fputs("\x1b[0m\n", f);
    }
    QRcode_free(qr);
    return 0;
}
