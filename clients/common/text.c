/*
 * text.c - UTF-8 checking, JSON output (one object per line) and safe
 * terminal output of text that came from a peer.
 *
 * Invariant: nothing a peer wrote reaches stdout unfiltered. In JSON it is
 * escaped; on a terminal, control characters (which could move the cursor,
 * rewrite earlier lines or set the window title) and bidirectional
 * overrides (which could reorder what is displayed) are shown as escapes,
 * and invalid UTF-8 becomes U+FFFD.
 */
#include <string.h>
#include <time.h>

#include "cli.h"

/* Length (1..4) of the valid UTF-8 sequence at s[0..len), 0 if invalid;
 * the code point goes to *cp. Overlongs, surrogates and values above
 * U+10FFFF are invalid. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    uint32_t c = s[0];
    size_t n;
    size_t i;
    uint32_t min;

    if (c < 0x80U) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2U && c <= 0xDFU) {
        n = 2;
        c &= 0x1FU;
        min = 0x80U;
    } else if (c >= 0xE0U && c <= 0xEFU) {
        n = 3;
        c &= 0x0FU;
        min = 0x800U;
    } else if (c >= 0xF0U && c <= 0xF4U) {
        n = 4;
        c &= 0x07U;
        min = 0x10000U;
    } else {
        return 0;
    }
    if (n > len) {
        return 0;
    }
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xC0U) != 0x80U) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3FU);
    }
    if (c < min || c > 0x10FFFFU || (c >= 0xD800U && c <= 0xDFFFU)) {
        return 0;
    }
    *cp = c;
    return n;
}

int cli_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t n;
    uint32_t cp;

    while (i < len) {
        n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            return 0;
        }
        i += n;
    }
    return 1;
}

void cli_json_write_string(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t n;
    uint32_t cp;

    fputc('"', f);
    while (i < len) {
        n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            fputs("\\ufffd", f);
            i++;
            continue;
        }
        switch (cp) {
        case '"':
            fputs("\\\"", f);
            break;
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        case '\b':
            fputs("\\b", f);
            break;
        case '\f':
            fputs("\\f", f);
            break;
        default:
            if (cp < 0x20U || cp == 0x7FU) {
                fprintf(f, "\\u%04x", (unsigned)cp);
            } else {
                fwrite(p + i, 1, n, f);
            }
        }
        i += n;
    }
    fputc('"', f);
}

void cli_json_begin(cli_json *j)
{
    j->f = stdout;
    j->n = 0;
    fputc('{', j->f);
}

static void key(cli_json *j, const char *k)
{
    if (j->n++ > 0) {
        fputc(',', j->f);
    }
    cli_json_write_string(j->f, k, strlen(k));
    fputc(':', j->f);
}

void cli_json_str(cli_json *j, const char *k, const char *val)
{
    cli_json_strn(j, k, val, strlen(val));
}

void cli_json_strn(cli_json *j, const char *k, const char *val, size_t len)
{
    key(j, k);
    cli_json_write_string(j->f, val, len);
}

void cli_json_int(cli_json *j, const char *k, int64_t v)
{
    key(j, k);
    fprintf(j->f, "%lld", (long long)v);
}

void cli_json_uint(cli_json *j, const char *k, uint64_t v)
{
    key(j, k);
    fprintf(j->f, "%llu", (unsigned long long)v);
}

void cli_json_bool(cli_json *j, const char *k, int v)
{
    key(j, k);
    fputs(v ? "true" : "false", j->f);
}

void cli_json_end(cli_json *j)
{
    fputs("}\n", j->f);
    fflush(j->f);
}

static int is_bidi_control(uint32_t cp)
{
    return (cp >= 0x202AU && cp <= 0x202EU) || (cp >= 0x2066U && cp <= 0x2069U) ||
           cp == 0x200EU || cp == 0x200FU || cp == 0x061CU;
}

void cli_print_text(FILE *f, const char *s, size_t len, int indent)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    size_t n;
    uint32_t cp;

    while (i < len) {
        n = utf8_next(p + i, len - i, &cp);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", f);
            i++;
            continue;
        }
        if (cp == '\n') {
            fprintf(f, "\n%*s", indent, "");
        } else if (cp == '\t') {
            fputc('\t', f);
        } else if (cp < 0x20U || cp == 0x7FU || (cp >= 0x80U && cp <= 0x9FU)) {
            fprintf(f, "\\x%02x", (unsigned)cp);
        } else if (is_bidi_control(cp)) {
            fprintf(f, "\\u%04x", (unsigned)cp);
        } else {
            fwrite(p + i, 1, n, f);
        }
        i += n;
    }
}

void cli_format_time(char out[32], uint64_t unix_ms)
{
    time_t t = (time_t)(unix_ms / 1000U);
    struct tm tm;

    if (unix_ms == 0 || localtime_r(&t, &tm) == NULL ||
        strftime(out, 32, "%Y-%m-%d %H:%M:%S", &tm) == 0) {
        memcpy(out, "-", 2);
    }
}

void cli_hex(char *out, size_t cap, const uint8_t *in, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    if (cap < 2 * n + 1) {
        if (cap > 0) {
            out[0] = '\0';
        }
        return;
    }
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0FU];
    }
    out[2 * n] = '\0';
}

uint64_t cli_now_ms(void)
{
    struct timespec ts;

    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        return 0;
    }
    return (uint64_t)ts.tv_sec * 1000U + (uint64_t)ts.tv_nsec / 1000000U;
}
