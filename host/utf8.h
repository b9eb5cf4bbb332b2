/* UTF-8 validation shared by the JSON encoder and decoder. */
#ifndef WMH_UTF8_H
#define WMH_UTF8_H
#include <stddef.h>
/* Length (1-4) of the valid UTF-8 sequence at s, or 0 if it is invalid
 * (overlong forms, surrogates and values past U+10FFFF are invalid). */
size_t utf8_valid_prefix(const unsigned char *s, size_t n);
/* Encodes code point cp into out (4 bytes room); returns its length. */
size_t utf8_encode(unsigned cp, char *out);
#endif
