/* Literal announcements; see literal.h.  Pure: no config.h needed. */
#include <stdint.h>

#include "proxy/literal.h"

int
literal_at_end(const char *buf, size_t start, size_t end, size_t *n,
    int *sync)
{
	size_t	 i = end, val = 0;

	if (i == start || buf[--i] != '}')
		return 0;
	*sync = 1;
	if (i > start && buf[i - 1] == '+') {
		*sync = 0;
		i--;
	}
	while (i > start && buf[i - 1] >= '0' && buf[i - 1] <= '9')
		i--;
	if (i == start || buf[i - 1] != '{' || buf[i] < '0' || buf[i] > '9')
		return 0;
	for (; buf[i] >= '0' && buf[i] <= '9'; i++) {
		if (val > (SIZE_MAX - 9) / 10) {
			val = SIZE_MAX;
			break;
		}
		val = val * 10 + (size_t)(buf[i] - '0');
	}
	*n = val;
	return 1;
}
