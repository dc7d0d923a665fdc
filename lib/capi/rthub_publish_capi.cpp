// rthub_publish_capi.cpp: the C ABI of publishing from the host: waiting, queued, and with a
// completion called back on the hub's service thread; per-publish options.
#include <atomic>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "capi/guard.hpp"
#include "capi/hub_handle.hpp"
#include "capi/sized_struct.hpp"

namespace {

using rthub::capi::fail;
using rthub::capi::guarded;

using PublishOptionsLayout =
    rthub::capi::Layout<rthub_publish_options, RTHUB_KNOWN_BYTES(rthub_publish_options, flags)>;

rthub::PublishOptions to_options(const rthub_publish_options* in) {
  rthub::PublishOptions out;
  if (!in) return out;
  rthub_publish_options o = PublishOptionsLayout::zeroed();  // the defaults: no key
  PublishOptionsLayout::read(in, o, "options");
  if (o.idempotency_key) out.idempotency_key = o.idempotency_key;
  if (o.key) out.key = o.key;
  if (o.flags & ~uint64_t{RTHUB_PUBLISH_DELETE_KEY})
    throw rthub::Error(rthub::Errc::kInvalid, "options: unknown flags");
  out.delete_key = (o.flags & RTHUB_PUBLISH_DELETE_KEY) != 0;
  return out;
}

void store(const rthub::Position& p, rthub_position& out) {
  std::memset(out.epoch, 0, sizeof out.epoch);
  std::strncpy(out.epoch, p.epoch.c_str(), sizeof out.epoch - 1);
  out.seq = p.seq;
}

// A host's completion, called exactly once: with the outcome, or with RTHUB_ERR_STATE when the
// last reference goes first (the hub stopped and dropped the queued publish). While the call that
// queues it may still fail, it is held back: that failure is reported by the call itself.
class Completion {
 public:
  Completion(rthub_publish_done_fn done, void* user_data) : done_(done), user_data_(user_data) {}
  ~Completion() {
    if (!armed_) return;
    report(RTHUB_ERR_STATE, nullptr);
  }
  Completion(const Completion&) = delete;
  Completion& operator=(const Completion&) = delete;

  void arm() { armed_ = true; }
  void report(rthub_err err, const rthub_position* position) {
    if (reported_.exchange(true)) return;
    if (done_) done_(err, position, user_data_);
  }

 private:
  rthub_publish_done_fn done_;
  void* user_data_;
  std::atomic<bool> armed_{false};
  std::atomic<bool> reported_{false};
};

}  // namespace

extern "C" {

rthub_err rthub_publish_options_init(rthub_publish_options* options, size_t struct_size) {
  return PublishOptionsLayout::init(options, struct_size, PublishOptionsLayout::zeroed(),
                                    "options");
}

rthub_err rthub_hub_publish_with_options(rthub_hub* hub, const char* channel, const char* type,
                                         const char* data, size_t data_len,
                                         const rthub_publish_options* options,
                                         rthub_position* out) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (!data) return fail(RTHUB_ERR_INVALID, "data is NULL");
  return guarded([&] {
    rthub::PublishOptions o = to_options(options);
    std::string payload(data, data_len);
    std::string kind = type ? type : "message";
    if (!out) {
      hub->hub.publish_async(channel, kind, payload, nullptr, o);
      return;
    }
    store(hub->hub.publish(channel, kind, payload, o), *out);
  });
}

rthub_err rthub_hub_publish(rthub_hub* hub, const char* channel, const char* type, const char* data,
                            size_t data_len, rthub_position* out) {
  return rthub_hub_publish_with_options(hub, channel, type, data, data_len, nullptr, out);
}

rthub_err rthub_hub_publish_async(rthub_hub* hub, const char* channel, const char* type,
                                  const char* data, size_t data_len,
                                  const rthub_publish_options* options, rthub_publish_done_fn done,
                                  void* user_data) {
  if (!hub) return fail(RTHUB_ERR_INVALID, "hub is NULL");
  if (!channel) return fail(RTHUB_ERR_INVALID, "channel is NULL");
  if (!data) return fail(RTHUB_ERR_INVALID, "data is NULL");
  std::shared_ptr<Completion> completion;
  rthub_err err = guarded([&] {
    rthub::PublishOptions o = to_options(options);
    completion = std::make_shared<Completion>(done, user_data);
    hub->hub.publish_async(
        channel, type ? type : "message", std::string(data, data_len),
        [completion](rthub::Errc code, const rthub::Position& p) {
          if (code != rthub::Errc::kOk)
            return completion->report(rthub::capi::from_errc(code), nullptr);
          rthub_position position;
          store(p, position);
          completion->report(RTHUB_OK, &position);
        },
        o);
    completion->arm();
  });
  return err;
}

}  // extern "C"
