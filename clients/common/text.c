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

/* A walk over text one character at a time. */
typedef struct utf8_walk {
    const unsigned char *p;
    size_t len;
    size_t i;
    const unsigned char *at; /* the current character's bytes */
    size_t n;                /* their number; 0 for an invalid byte */
    uint32_t cp;             /* its code point, when n > 0 */
} utf8_walk;

static utf8_walk utf8_walk_of(const char *s, size_t len)
{
    utf8_walk w = {(const unsigned char *)s, len, 0, NULL, 0, 0};

    return w;
}

/* Steps to the next character (an invalid byte is one step); 0 at the end. */
static int utf8_step(utf8_walk *w)
{
    if (w->i >= w->len) {
        return 0;
    }
    w->at = w->p + w->i;
    w->n = utf8_next(w->at, w->len - w->i, &w->cp);
    w->i += w->n > 0 ? w->n : 1;
    return 1;
}

int cli_utf8_valid(const char *s, size_t len)
{
    utf8_walk w = utf8_walk_of(s, len);

    while (utf8_step(&w)) {
        if (w.n == 0) {
            return 0;
        }
    }
    return 1;
}

void cli_json_write_string(FILE *f, const char *s, size_t len)
{
    /* The characters JSON escapes with a backslash and a letter (or themselves). */
    static const char short_from[] = "\"\\\n\r\t\b\f";
    static const char short_to[] = "\"\\nrtbf";
    utf8_walk w = utf8_walk_of(s, len);
    const char *esc;

    fputc('"', f);
    while (utf8_step(&w)) {
        if (w.n == 0) {
            fputs("\\ufffd", f);
            continue;
        }
        /* Not for cp 0, which strchr would match with the terminator. */
        esc = w.cp > 0 && w.cp < 0x80U ? strchr(short_from, (int)w.cp) : NULL;
        if (esc != NULL) {
            fputc('\\', f);
            fputc(short_to[esc - short_from], f);
        } else if (w.cp < 0x20U || w.cp == 0x7FU) {
            fprintf(f, "\\u%04x", (unsigned)w.cp);
        } else {
            fwrite(w.at, 1, w.n, f);
        }
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
    utf8_walk w = utf8_walk_of(s, len);

    while (utf8_step(&w)) {
        if (w.n == 0) {
            fputs("\xEF\xBF\xBD", f);
            continue;
        }
        if (w.cp == '\n') {
            fprintf(f, "\n%*s", indent, "");
        } else if (w.cp == '\t') {
            fputc('\t', f);
        } else if (w.cp < 0x20U || w.cp == 0x7FU || (w.cp >= 0x80U && w.cp <= 0x9FU)) {
            fprintf(f, "\\x%02x", (unsigned)w.cp);
        } else if (is_bidi_control(w.cp)) {
            fprintf(f, "\\u%04x", (unsigned)w.cp);
        } else {
            fwrite(w.at, 1, w.n, f);
        }
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
