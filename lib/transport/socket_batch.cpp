#include "transport/socket_batch.hpp"

#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace rthub {
namespace {

// Sends per system call and bytes copied per batch: 256 sends of a typical message are a few
// dozen KiB; a batch of 64 KiB frames runs every eight.
constexpr unsigned kRingEntries = 256;
constexpr size_t kArenaBytes = 512 * 1024;
constexpr ssize_t kPending = -(1 << 30);  // no result yet

bool io_uring_wanted() {
  const char* setting = std::getenv("RTHUB_IO_URING");
  return !setting || std::strcmp(setting, "0") != 0;
}

void* map_ring(int fd, size_t bytes, off_t offset) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, offset);
  return p == MAP_FAILED ? nullptr : p;
}

template <typename T>
T* at(void* base, unsigned offset) {
  return reinterpret_cast<T*>(static_cast<char*>(base) + offset);
}

// Whether the ring's kernel knows IORING_OP_SEND and IORING_OP_RECV (Linux 5.6, like the probe
// itself: an older kernel refuses the probe).
bool knows_socket_calls(int ring_fd) {
  constexpr unsigned kOps = IORING_OP_RECV + 1;
  std::vector<unsigned char> buffer(sizeof(io_uring_probe) + kOps * sizeof(io_uring_probe_op), 0);
  auto* probe = reinterpret_cast<io_uring_probe*>(buffer.data());
  if (syscall(__NR_io_uring_register, ring_fd, IORING_REGISTER_PROBE, probe, kOps) < 0)
    return false;
  auto known = [probe](unsigned op) {
    return op <= probe->last_op && (probe->ops[op].flags & IO_URING_OP_SUPPORTED);
  };
  return known(IORING_OP_SEND) && known(IORING_OP_RECV);
}

}  // namespace

SocketBatch::SocketBatch() : arena_(kArenaBytes), entries_max_(kRingEntries) {
  entries_.reserve(kRingEntries);
  // Opened here, used by the service thread alone: a ring has no thread affinity without
  // IORING_SETUP_SINGLE_ISSUER, which is not asked for.
  if (io_uring_wanted()) open_ring();
}

SocketBatch::~SocketBatch() {
  close_ring();
}

bool SocketBatch::open_ring() {
  io_uring_params params;
  std::memset(&params, 0, sizeof params);
  int fd = static_cast<int>(syscall(__NR_io_uring_setup, kRingEntries, &params));
  if (fd < 0) return false;  // ENOSYS, EPERM (seccomp, io_uring_disabled): plain send() then
  ring_fd_ = fd;
  if (!knows_socket_calls(fd)) {
    close_ring();
    return false;
  }
  entries_max_ = std::min(params.sq_entries, kRingEntries);
  sq_map_bytes_ = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  cq_map_bytes_ = params.cq_off.cqes + params.cq_entries * sizeof(io_uring_cqe);
  bool single_map = params.features & IORING_FEAT_SINGLE_MMAP;
  if (single_map) sq_map_bytes_ = cq_map_bytes_ = std::max(sq_map_bytes_, cq_map_bytes_);
  sq_map_ = map_ring(fd, sq_map_bytes_, IORING_OFF_SQ_RING);
  cq_map_ = single_map ? sq_map_ : map_ring(fd, cq_map_bytes_, IORING_OFF_CQ_RING);
  sqes_map_bytes_ = params.sq_entries * sizeof(io_uring_sqe);
  sqes_map_ = map_ring(fd, sqes_map_bytes_, IORING_OFF_SQES);
  if (!sq_map_ || !cq_map_ || !sqes_map_) {
    close_ring();
    return false;
  }
  sq_tail_ = at<unsigned>(sq_map_, params.sq_off.tail);
  sq_mask_ = at<unsigned>(sq_map_, params.sq_off.ring_mask);
  sq_array_ = at<unsigned>(sq_map_, params.sq_off.array);
  cq_head_ = at<unsigned>(cq_map_, params.cq_off.head);
  cq_tail_ = at<unsigned>(cq_map_, params.cq_off.tail);
  cq_mask_ = at<unsigned>(cq_map_, params.cq_off.ring_mask);
  cqes_ = at<void>(cq_map_, params.cq_off.cqes);
  return true;
}

void SocketBatch::close_ring() {
  if (sqes_map_) munmap(sqes_map_, sqes_map_bytes_);
  if (cq_map_ && cq_map_ != sq_map_) munmap(cq_map_, cq_map_bytes_);
  if (sq_map_) munmap(sq_map_, sq_map_bytes_);
  sqes_map_ = cq_map_ = sq_map_ = nullptr;
  if (ring_fd_ >= 0) close(ring_fd_);
  ring_fd_ = -1;
}

unsigned char* SocketBatch::space(size_t len) {
  if (len > arena_.size()) arena_.resize(len);
  if (arena_used_ + len > arena_.size() || full()) run();
  return arena_.data() + arena_used_;
}

void SocketBatch::add(int fd, const unsigned char* data, size_t len, Done done, void* owner) {
  if (full()) run();  // only for bytes outside the arena (space() made room)
  if (data >= arena_.data() && data < arena_.data() + arena_.size())
    arena_used_ = static_cast<size_t>(data - arena_.data()) + len;
  entries_.push_back(Entry{false, fd, data, len, done, owner, kPending});
}

void SocketBatch::add_receive(int fd, unsigned char* buffer, size_t len, Done done, void* owner) {
  if (full()) run();
  entries_.push_back(Entry{true, fd, buffer, len, done, owner, kPending});
}

void SocketBatch::run_on_ring() {
  auto* sqes = static_cast<io_uring_sqe*>(sqes_map_);
  auto* cqes = static_cast<io_uring_cqe*>(cqes_);
  unsigned tail = *sq_tail_;  // this thread is the ring's only writer
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    unsigned index = tail & *sq_mask_;
    io_uring_sqe& sqe = sqes[index];
    std::memset(&sqe, 0, sizeof sqe);
    sqe.opcode = e.receive ? IORING_OP_RECV : IORING_OP_SEND;
    sqe.fd = e.fd;
    sqe.addr = reinterpret_cast<uint64_t>(e.data);
    sqe.len = static_cast<uint32_t>(e.len);
    // MSG_DONTWAIT: the call runs now or answers EAGAIN; io_uring neither waits for the socket
    // nor retries later, so every result is in when io_uring_enter returns.
    sqe.msg_flags = MSG_DONTWAIT | (e.receive ? 0 : MSG_NOSIGNAL);
    sqe.user_data = i;
    sq_array_[index] = index;
    ++tail;
  }
  __atomic_store_n(sq_tail_, tail, __ATOMIC_RELEASE);
  unsigned total = static_cast<unsigned>(entries_.size());
  unsigned unsubmitted = total, completed = 0;
  bool failed = false;
  while (completed < total) {
    int r = static_cast<int>(syscall(__NR_io_uring_enter, ring_fd_, unsubmitted, total - completed,
                                     IORING_ENTER_GETEVENTS, nullptr, 0));
    // Nothing taken from a ring that holds unsubmitted entries would wait for ever: a failure.
    if ((r < 0 && errno != EINTR) || (r == 0 && unsubmitted > 0)) failed = true;
    if (r > 0) unsubmitted -= static_cast<unsigned>(r);
    unsigned head = *cq_head_;
    unsigned ready = __atomic_load_n(cq_tail_, __ATOMIC_ACQUIRE);
    for (; head != ready; ++head) {
      const io_uring_cqe& cqe = cqes[head & *cq_mask_];
      if (cqe.user_data < entries_.size()) {
        entries_[cqe.user_data].result = cqe.res;
        ++completed;
      }
    }
    __atomic_store_n(cq_head_, head, __ATOMIC_RELEASE);
    if (failed) break;
  }
  if (!failed) return;
  // Calls the ring took but never reported cannot be told from made ones: their connections are
  // failed rather than risk writing bytes twice. The rest are made by hand, and so is everything
  // after: the ring is closed.
  for (size_t i = 0; i < total - unsubmitted; ++i)
    if (entries_[i].result == kPending) entries_[i].result = -EIO;
  close_ring();
}

void SocketBatch::run() {
  if (entries_.empty()) return;
  if (ring_fd_ >= 0) run_on_ring();
  for (Entry& e : entries_) {
    if (e.result != kPending) {
      ++ring_sends_;
      continue;
    }
    ssize_t n = e.receive ? recv(e.fd, const_cast<unsigned char*>(e.data), e.len, MSG_DONTWAIT)
                          : send(e.fd, e.data, e.len, MSG_DONTWAIT | MSG_NOSIGNAL);
    e.result = n < 0 ? -errno : n;
    ++plain_sends_;
  }
  // The callbacks may write (a partial send's rest through libwebsockets) but not add here.
  for (const Entry& e : entries_) e.done(e.owner, e.result, e.data, e.len);
  entries_.clear();
  arena_used_ = 0;
}

}  // namespace rthub
