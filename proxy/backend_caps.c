/* Backend capability lists; see backend_caps.h. */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "proxy/backend_caps.h"

/* With their lengths: most words are told apart without a compare. */
#define CAP(name, bit)	{ name, sizeof(name) - 1, bit }
static const struct {
	const char	*name;
	size_t		 len;
	unsigned int	 bit;
} imap_capnames[] = {
	CAP("LITERAL+", BCAP_LITERALPLUS), CAP("SASL-IR", BCAP_SASLIR),
	CAP("STARTTLS", BCAP_STARTTLS), CAP("ID", BCAP_ID),
	CAP("AUTH=PLAIN", BCAP_PLAIN), CAP("AUTH=OAUTHBEARER", BCAP_OAUTHBEARER),
	CAP("AUTH=XOAUTH2", BCAP_XOAUTH2),
};
#undef CAP

unsigned int
imap_caps_parse(const char *p, size_t len)
{
	const char	*end = p + len, *w;
	unsigned int	 caps = BCAP_KNOWN;
	size_t		 i, wlen;

	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		for (w = p; p < end && *p != ' '; p++)
			;
		wlen = (size_t)(p - w);
		for (i = 0; i < sizeof(imap_capnames) /
		    sizeof(imap_capnames[0]); i++)
			if (wlen == imap_capnames[i].len &&
			    strncasecmp(w, imap_capnames[i].name, wlen) == 0)
				caps |= imap_capnames[i].bit;
	}
	return caps;
}

unsigned int
imap_caps_in_code(const char *line)
{
	static const char	 code[] = "[CAPABILITY ";
	const char		*p, *end;

	/* Response codes are atoms: any case (fuzzing found "[capability"
	 * lists ignored).  Compared only where a '[' is: a compare at
	 * every byte was 2,400 instructions a login (callgrind). */
	for (p = strchr(line, '['); p != NULL; p = strchr(p + 1, '['))
		if (strncasecmp(p, code, sizeof(code) - 1) == 0)
			break;
	if (p == NULL || (end = strchr(p, ']')) == NULL)
		return 0;
	p += sizeof(code) - 1;
	return imap_caps_parse(p, (size_t)(end - p));
}

/* Which SASL mechanism the word p[0..n) names; 0 for none ferry uses. */
static unsigned int
mech_bit(const char *p, size_t n, unsigned int plain, unsigned int oauth,
    unsigned int xoauth2)
{
	if (n == 5 && strncasecmp(p, "PLAIN", 5) == 0)
		return plain;
	if (n == 11 && strncasecmp(p, "OAUTHBEARER", 11) == 0)
		return oauth;
	if (n == 7 && strncasecmp(p, "XOAUTH2", 7) == 0)
		return xoauth2;
	return 0;
}

unsigned int
pop3_caps_line(const char *line)
{
	const char	*p;
	unsigned int	 caps = 0;
	size_t		 n;

	/* Most lines are none of these: one look at the first letter,
	 * in either case, spares four compares (callgrind: 2,000
	 * instructions a login). */
	if ((line[0] & ~0x20) != 'S' && (line[0] & ~0x20) != 'X')
		return 0;
	if (strcasecmp(line, "STLS") == 0)
		return PCAP_STLS;
	if (strcasecmp(line, "XCLIENT") == 0 ||
	    strncasecmp(line, "XCLIENT ", 8) == 0)
		return PCAP_XCLIENT;
	if (strncasecmp(line, "SASL", 4) != 0 ||
	    (line[4] != ' ' && line[4] != '\0'))
		return 0;
	caps = PCAP_SASL;
	for (p = line + 4; *p != '\0'; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		caps |= mech_bit(p, n, PCAP_PLAIN, PCAP_OAUTHBEARER,
		    PCAP_XOAUTH2);
	}
	return caps;
}

unsigned int
sieve_caps_line(const char *line)
{
	const char	*p;
	unsigned int	 caps = 0;
	size_t		 n;

	if (strcasecmp(line, "\"STARTTLS\"") == 0)
		return SCAP_STARTTLS;
	if (strncasecmp(line, "\"SASL\" \"", 8) != 0)
		return 0;
	for (p = line + 8; *p != '\0' && *p != '"'; p += n) {
		p += strspn(p, " ");
		n = strcspn(p, " \"");
		caps |= mech_bit(p, n, SCAP_PLAIN, SCAP_OAUTHBEARER,
		    SCAP_XOAUTH2);
	}
	return caps;
}
