/*
 * promtext: label-value escaping for the Prometheus text format (see
 * promtext.h).  Any byte other than the three escaped ones passes through.
 */
#include "promtext.h"

int prom_label_value(buf_t *b, const char *s)
{
    for (; *s; s++) {
        int rc;
        switch (*s) {
        case '\\': rc = buf_puts(b, "\\\\"); break;
        case '"':  rc = buf_puts(b, "\\\""); break;
        case '\n': rc = buf_puts(b, "\\n"); break;
        default:   rc = buf_putc(b, *s); break;
        }
        if (rc)
            return -1;
    }
    return 0;
}
