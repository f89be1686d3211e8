/* libFuzzer target: conf_parse() over arbitrary bytes. */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "src/conf.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 err[CONF_ERR_MAX];
	struct conf	*c;

	c = conf_parse("fuzz.conf", (const char *)data, size, err,
	    sizeof(err));
	conf_free(&c);
	return 0;
}
