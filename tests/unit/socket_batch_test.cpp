// Many sends in one system call (socket_batch.hpp): each result is what send(MSG_DONTWAIT) would
// have said, in the order added, with io_uring and without it (RTHUB_IO_URING=0).
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "transport/socket_batch.hpp"

using namespace rthub;

namespace {

struct Pair {
  int ours = -1, theirs = -1;
  Pair() {
    int fds[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
    ours = fds[0];
    theirs = fds[1];
    REQUIRE(fcntl(ours, F_SETFL, fcntl(ours, F_GETFL) | O_NONBLOCK) == 0);
    REQUIRE(fcntl(theirs, F_SETFL, fcntl(theirs, F_GETFL) | O_NONBLOCK) == 0);
  }
  ~Pair() {
    if (ours >= 0) close(ours);
    if (theirs >= 0) close(theirs);
  }
  std::string drain() const {
    std::string got;
    char buf[65536];
    for (ssize_t n; (n = read(theirs, buf, sizeof buf)) > 0;)
      got.append(buf, static_cast<size_t>(n));
    return got;
  }
};

struct Result {
  int order;
  ssize_t result;
  std::string bytes;
};

struct Recorder {
  std::vector<Result> results;
  int next = 0;
  static void done(void* owner, ssize_t result, const unsigned char* data, size_t len) {
    auto* self = static_cast<Recorder*>(owner);
    self->results.push_back(
        Result{self->next++, result, std::string(reinterpret_cast<const char*>(data), len)});
  }
};

// Sends `text` through the batch from its arena.
void add_text(SocketBatch& batch, int fd, const std::string& text, Recorder& recorder) {
  unsigned char* room = batch.space(text.size());
  std::memcpy(room, text.data(), text.size());
  batch.add(fd, room, text.size(), &Recorder::done, &recorder);
}

// The batch made with io_uring where this machine has it, and made without.
std::unique_ptr<SocketBatch> make_batch(bool ring) {
  if (ring)
    unsetenv("RTHUB_IO_URING");
  else
    setenv("RTHUB_IO_URING", "0", 1);
  auto batch = std::make_unique<SocketBatch>();
  unsetenv("RTHUB_IO_URING");
  if (!ring) REQUIRE_FALSE(batch->uses_io_uring());
  return batch;
}

}  // namespace

TEST_CASE("every send of a batch arrives whole, reported in the order added", "[socket_batch]") {
  bool ring = GENERATE(true, false);
  auto batch = make_batch(ring);
  INFO("io_uring asked for: " << ring << ", in use: " << batch->uses_io_uring());
  std::vector<std::unique_ptr<Pair>> pairs;
  Recorder recorder;
  // More sends than one submission holds: the batch runs by itself when full.
  const int kSockets = 600;
  for (int i = 0; i < kSockets; ++i) {
    pairs.push_back(std::make_unique<Pair>());
    add_text(*batch, pairs.back()->ours, "message " + std::to_string(i), recorder);
  }
  CHECK(recorder.results.size() < static_cast<size_t>(kSockets));  // some still queued
  batch->run();
  REQUIRE(recorder.results.size() == static_cast<size_t>(kSockets));
  for (int i = 0; i < kSockets; ++i) {
    std::string text = "message " + std::to_string(i);
    CHECK(recorder.results[i].result == static_cast<ssize_t>(text.size()));
    CHECK(recorder.results[i].bytes == text);
    CHECK(pairs[i]->drain() == text);
  }
  uint64_t via_ring = 0, plain = 0;
  batch->take_counts(via_ring, plain);
  CHECK(via_ring + plain == static_cast<uint64_t>(kSockets));
  CHECK(via_ring == (batch->uses_io_uring() ? static_cast<uint64_t>(kSockets) : 0));
  batch->take_counts(via_ring, plain);
  CHECK(via_ring + plain == 0);
  batch->run();  // nothing queued: nothing reported
  CHECK(recorder.results.size() == static_cast<size_t>(kSockets));
}

TEST_CASE("a full socket answers EAGAIN or takes part, as send() would", "[socket_batch]") {
  bool ring = GENERATE(true, false);
  auto batch = make_batch(ring);
  Pair full, fine, closed;
  // Fill `full` until the kernel takes no more.
  std::string chunk(4096, 'x');
  size_t queued = 0;
  for (ssize_t n; (n = send(full.ours, chunk.data(), chunk.size(), MSG_DONTWAIT)) > 0;)
    queued += static_cast<size_t>(n);
  REQUIRE(errno == EAGAIN);
  close(closed.theirs);
  closed.theirs = -1;
  Recorder recorder;
  std::string big(100000, 'y');
  add_text(*batch, full.ours, big, recorder);
  add_text(*batch, closed.ours, "to nobody", recorder);
  add_text(*batch, fine.ours, "hello", recorder);
  batch->run();
  REQUIRE(recorder.results.size() == 3);
  CHECK(recorder.results[0].result == -EAGAIN);
  CHECK(recorder.results[1].result == -EPIPE);  // MSG_NOSIGNAL: an error, not a signal
  CHECK(recorder.results[2].result == 5);
  CHECK(fine.drain() == "hello");
  // Once the peer has read, a big send goes in part: the result says how much.
  std::string first = full.drain();
  CHECK(first.size() == queued);
  add_text(*batch, full.ours, big, recorder);
  batch->run();
  REQUIRE(recorder.results.size() == 4);
  ssize_t taken = recorder.results[3].result;
  CHECK(taken > 0);
  CHECK(taken <= static_cast<ssize_t>(big.size()));
  CHECK(full.drain() == big.substr(0, static_cast<size_t>(taken)));
}

TEST_CASE("bytes outside the arena are sent from where they are", "[socket_batch]") {
  bool ring = GENERATE(true, false);
  auto batch = make_batch(ring);
  Pair pair;
  Recorder recorder;
  static const unsigned char kText[] = "kept by the caller";
  batch->add(pair.ours, kText, sizeof kText - 1, &Recorder::done, &recorder);
  batch->run();
  REQUIRE(recorder.results.size() == 1);
  CHECK(recorder.results[0].result == static_cast<ssize_t>(sizeof kText - 1));
  CHECK(pair.drain() == "kept by the caller");
}

TEST_CASE("receives report what recv() would: bytes, EAGAIN, the peer's end", "[socket_batch]") {
  bool ring = GENERATE(true, false);
  auto batch = make_batch(ring);
  Pair with_data, empty, ended;
  REQUIRE(write(with_data.theirs, "abc", 3) == 3);
  close(ended.theirs);
  ended.theirs = -1;
  Recorder recorder;
  unsigned char a[16], b[16], c[16];
  batch->add_receive(with_data.ours, a, sizeof a, &Recorder::done, &recorder);
  batch->add_receive(empty.ours, b, sizeof b, &Recorder::done, &recorder);
  batch->add_receive(ended.ours, c, sizeof c, &Recorder::done, &recorder);
  batch->run();
  REQUIRE(recorder.results.size() == 3);
  CHECK(recorder.results[0].result == 3);
  CHECK(recorder.results[0].bytes.substr(0, 3) == "abc");
  CHECK(recorder.results[1].result == -EAGAIN);
  CHECK(recorder.results[2].result == 0);
}
