/* http_status.h: the status line of a plain HTTP GET, for the C ABI tests. */
#ifndef RTHUB_TESTS_HTTP_STATUS_H
#define RTHUB_TESTS_HTTP_STATUS_H

#include <stddef.h>

/* Sends GET `path` over a plain TCP connection to 127.0.0.1:port and reads the status line
 * into `status` ("HTTP/1.1 200 OK"). Returns 0 on success. */
int http_get_status(int port, const char* path, char* status, size_t status_size);

#endif
