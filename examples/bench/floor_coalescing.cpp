// floor-coalescing: a WebSocket broadcast server that frames each message once and writes all of
// a socket's pending frames with one writev() per epoll round. The ceiling a hub's send path can
// hope for on one thread. See floor_server.hpp.
#include "floor_server.hpp"

int main(int argc, char** argv) {
  return bench::floor_main<true>("floor-coalescing", argc, argv);
}
