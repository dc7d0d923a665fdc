// socket_batch.hpp: many non-blocking sends (or receives) on different sockets for the price of
// one system call.
//
// A flush pass writes to thousands of sockets, one send() each, and on a machine where entering
// the kernel is dear (a virtual machine with speculation mitigations: about 2 us a call here,
// docs/BENCHMARKS.md) that entry is a large share of a delivery. With io_uring the pass queues its
// sends and hands them to the kernel together; each still runs at once and in full, as
// send(MSG_DONTWAIT) would (no retry, no background thread: a full socket answers EAGAIN), so
// run() returns with every send done and its result known, and the caller handles a partial or
// failed one exactly as after send(). Without io_uring (an old kernel, a seccomp filter,
// RTHUB_IO_URING=0 in the environment) run() makes the same sends one by one. Receives work the
// same way, as recv(MSG_DONTWAIT) (the load generator reads its subscribers with them).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace rthub {

class SocketBatch {
 public:
  // What to do with one send's (receive's) result: the bytes sent (received), or -errno.
  using Done = void (*)(void* owner, ssize_t result, const unsigned char* data, size_t len);

  SocketBatch();
  ~SocketBatch();
  SocketBatch(const SocketBatch&) = delete;
  SocketBatch& operator=(const SocketBatch&) = delete;

  // Room for `len` bytes that stay valid until the next run() returns: the caller copies what it
  // sends there. Runs the queued sends first when the room left is too small.
  unsigned char* space(size_t len);
  // Queues a send of `len` bytes at `data` (from space(), or kept alive by the caller until run()
  // returns) to `fd`; done(owner, ...) is called from run(). Runs the queue first when it is full.
  void add(int fd, const unsigned char* data, size_t len, Done done, void* owner);
  // Queues a receive of up to `len` bytes into `buffer` (the caller's, until run() returns).
  void add_receive(int fd, unsigned char* buffer, size_t len, Done done, void* owner);
  // Sends everything queued and reports each result, in the order added.
  void run();

  bool uses_io_uring() const { return ring_fd_ >= 0; }
  // The sends made since the last call, through io_uring and by send() (for /metrics).
  void take_counts(uint64_t& ring, uint64_t& plain) {
    ring = ring_sends_;
    plain = plain_sends_;
    ring_sends_ = plain_sends_ = 0;
  }

 private:
  struct Entry {
    bool receive;
    int fd;
    const unsigned char* data;
    size_t len;
    Done done;
    void* owner;
    ssize_t result;
  };
  bool open_ring();
  void close_ring();
  bool full() const { return entries_.size() >= entries_max_; }
  // Submits the entries to the ring and waits for their results; if the ring fails it is closed,
  // and the entries left without a result are made by hand.
  void run_on_ring();

  std::vector<Entry> entries_;
  std::vector<unsigned char> arena_;
  size_t arena_used_ = 0;
  uint64_t ring_sends_ = 0;
  uint64_t plain_sends_ = 0;

  // The ring (see io_uring_setup(2)); ring_fd_ < 0 without one.
  int ring_fd_ = -1;
  unsigned entries_max_;  // the ring's submission queue, or kRingEntries without one
  void* sq_map_ = nullptr;
  size_t sq_map_bytes_ = 0;
  void* cq_map_ = nullptr;
  size_t cq_map_bytes_ = 0;
  void* sqes_map_ = nullptr;
  size_t sqes_map_bytes_ = 0;
  unsigned* sq_tail_ = nullptr;
  unsigned* sq_mask_ = nullptr;
  unsigned* sq_array_ = nullptr;
  unsigned* cq_head_ = nullptr;
  unsigned* cq_tail_ = nullptr;
  unsigned* cq_mask_ = nullptr;
  void* cqes_ = nullptr;
};

}  // namespace rthub
