// floor-naive: a WebSocket broadcast server that does one send() per subscriber per message.
// The baseline of issue 8: what a loopback send() per delivery costs. See floor_server.hpp.
#include "floor_server.hpp"

int main(int argc, char** argv) {
  return bench::floor_main<false>("floor-naive", argc, argv);
}
