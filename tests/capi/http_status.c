/* http_status.c: see http_status.h. */
#define _POSIX_C_SOURCE 200809L

#include "http_status.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Sends GET `path` over a plain TCP connection to 127.0.0.1:port and reads the status line
 * into `status` ("HTTP/1.1 200 OK"). Returns 0 on success. */
int http_get_status(int port, const char* path, char* status, size_t status_size) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  struct timeval timeout = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr*)&addr, sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  char request[256];
  int n = snprintf(request, sizeof request,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
  if (send(fd, request, (size_t)n, 0) != n) {
    close(fd);
    return -1;
  }
  char response[4096];
  size_t have = 0;
  while (have + 1 < sizeof response) {
    ssize_t got = recv(fd, response + have, sizeof response - 1 - have, 0);
    if (got <= 0) break;
    have += (size_t)got;
    response[have] = '\0';
    if (strstr(response, "\r\n")) break;
  }
  close(fd);
  response[have] = '\0';
  char* eol = strstr(response, "\r\n");
  if (!eol) return -1;
  size_t length = (size_t)(eol - response);
  if (length >= status_size) length = status_size - 1;
  memcpy(status, response, length);
  status[length] = '\0';
  return 0;
}
