/*
 * What ferry reads from a backend's capability lists during a login.
 * Pure functions over one line of (hostile) backend output, kept apart
 * from the I/O so that tests/fuzz/backend_resp_fuzzer can reach them.
 */
#ifndef FERRY_BACKEND_CAPS_H
#define FERRY_BACKEND_CAPS_H

#include <stddef.h>

/* IMAP (bits below 0x0100 only; the rest is the dialogue's state). */
#define BCAP_LITERALPLUS	0x0001
#define BCAP_SASLIR		0x0002
#define BCAP_STARTTLS		0x0004
#define BCAP_ID			0x0008
#define BCAP_PLAIN		0x0010
#define BCAP_OAUTHBEARER	0x0020
#define BCAP_XOAUTH2		0x0040
#define BCAP_KNOWN		0x0100	/* a list has been read */

/* POP3 CAPA (RFC 2449 section 6). */
#define PCAP_STLS		0x0001
#define PCAP_SASL		0x0002	/* a SASL line at all */
#define PCAP_PLAIN		0x0004
#define PCAP_OAUTHBEARER	0x0008
#define PCAP_XOAUTH2		0x0010
#define PCAP_XCLIENT		0x0020

/* ManageSieve (RFC 5804 section 1.7). */
#define SCAP_STARTTLS		0x0001
#define SCAP_PLAIN		0x0002
#define SCAP_OAUTHBEARER	0x0004
#define SCAP_XOAUTH2		0x0008

/* The space-separated list p[0..len): BCAP_KNOWN and the bits found. */
unsigned int	imap_caps_parse(const char *, size_t);
/* "[CAPABILITY ...]" in a NUL-terminated greeting or answer; 0 if none. */
unsigned int	imap_caps_in_code(const char *);
/* One NUL-terminated line of CAPA's answer, dot-unstuffed. */
unsigned int	pop3_caps_line(const char *);
/* One NUL-terminated ManageSieve capability line: "NAME" ["value"]. */
unsigned int	sieve_caps_line(const char *);

#endif
