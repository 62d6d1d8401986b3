/* fncgi is a function in C that speaks CGI (RFC 3875) without any SDK: the request
 * is in its environment, its body on stdin; the response, a header block, a blank
 * line and the body, goes to stdout. It greets whoever QUERY_STRING's name= names, or
 * the world. Built with clang and wasi-libc (make examples):
 *
 *	bacalhau fn deploy cgi build/examples/fncgi.wasm
 *	curl 'http://127.0.0.1:8080/fn/cgi/?name=you'
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void put(const char *s) {
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(1, s, n);
		if (w <= 0)
			exit(1);
		s += w;
		n -= (size_t)w;
	}
}

int main(void) {
	char name[64] = "world";
	const char *q = getenv("QUERY_STRING");
	for (const char *p = q; p && *p;) {
		if (strncmp(p, "name=", 5) == 0) {
			size_t i = 0;
			for (p += 5; *p && *p != '&' && i < sizeof name - 1; p++) {
				char c = *p;
				/* letters, digits, '-' and '_' only: nothing to escape */
				if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_')
					name[i++] = c;
			}
			if (i > 0)
				name[i] = 0;
			break;
		}
		p = strchr(p, '&');
		if (p)
			p++;
	}
	put("Content-Type: text/plain; charset=utf-8\r\n\r\nHello, ");
	put(name);
	put("!\n");
	return 0;
}
