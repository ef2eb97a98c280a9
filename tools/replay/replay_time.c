/* replay_time: --from / --until values (contract in replay_time.h). */
#include "replay_time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* ms since the epoch, or 2026-12-04T10:00:00[.mmm]Z. -1 when neither. */
int64_t replay_parse_time(const char *s)
{
    int y, mo, d, h, mi, sec, n = 0, ms = 0;
    char *end;
    long long v;

    if (*s >= '0' && *s <= '9' && !strchr(s, '-')) {
        v = strtoll(s, &end, 10);
        return *end || v < 0 ? -1 : v;
    }
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec,
               &n) != 6 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
        mi > 59 || sec > 60 || h < 0 || mi < 0 || sec < 0)
        return -1;
    s += n;
    if (*s == '.') {
        int k = 0;

        for (s++; *s >= '0' && *s <= '9' && k < 3; s++, k++)
            ms = ms * 10 + (*s - '0');
        while (k++ < 3)
            ms *= 10;
    }
    if (strcmp(s, "Z") != 0)
        return -1;
    return ((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) * 60000LL +
           sec * 1000LL + ms;
}

