/*
 * Extended-precision addition for INCRBYFLOAT.
 *
 * Redis does INCRBYFLOAT in C `long double` (80-bit x87 extended precision on x86-64) and
 * prints the sum with "%.17Lf". Rust has no such type, and f64 arithmetic yields different
 * digits for common inputs, so this file does exactly that step in C and nothing else. The
 * Rust side (src/types/num/longdouble.rs) trims the printed digits.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest accepted number text, NUL excluded: the same bound Redis applies. */
#define KEEL_LD_MAX_TEXT 5119

/*
 * Reads `len` bytes at `s` as one long double. The whole text must be the number: no
 * leading white space, nothing after it (an embedded NUL counts as something after it),
 * not NaN, and not so large or so small in magnitude that strtold had to give up
 * (ERANGE with an infinite or zero result). Returns 1 and sets *out on success.
 */
static int keel_ld_read(const char *s, size_t len, long double *out)
{
    char text[KEEL_LD_MAX_TEXT + 1];
    char *stop = NULL;
    long double v;

    if (len == 0 || len > KEEL_LD_MAX_TEXT)
        return 0;
    memcpy(text, s, len);
    text[len] = '\0';
    if (isspace((unsigned char)text[0]))
        return 0;
    errno = 0;
    v = strtold(text, &stop);
    if (stop != text + len)
        return 0;
    if (errno == EINVAL || isnan(v))
        return 0;
    if (errno == ERANGE && (isinf(v) || v == 0.0L))
        return 0;
    *out = v;
    return 1;
}

/*
 * Adds the numbers written in `a` and `b` and prints the sum with "%.17Lf" into `out`.
 * Returns the printed length (0 if it does not fit in `out_len` bytes, NUL included),
 * -1 if either text is not a valid number, -2 if the sum is NaN or infinite.
 */
long keel_ld_add(const char *a, size_t a_len, const char *b, size_t b_len, char *out,
                 size_t out_len)
{
    long double x, y, sum;
    int n;

    if (!keel_ld_read(a, a_len, &x) || !keel_ld_read(b, b_len, &y))
        return -1;
    sum = x + y;
    if (isnan(sum) || isinf(sum))
        return -2;
    n = snprintf(out, out_len, "%.17Lf", sum);
    if (n < 0 || (size_t)n >= out_len)
        return 0;
    return n;
}
