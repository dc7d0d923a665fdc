// gatekeeper.hpp: decides whether a new connection may open, before any upgrade or stream:
// Origin allow list, connection limits, connect rate per address, token, then the host's hook.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>

#include "core/metrics.hpp"
#include "rthub/auth.hpp"
#include "rthub/hub.hpp"
#include "rthub/transport.hpp"

namespace rthub {

class Gatekeeper {
 public:
  Gatekeeper(const HubOptions& options, Metrics& metrics) : options_(options), metrics_(metrics) {}

  // `open_total` and `open_from_peer` are the sessions open now; `now_ms` monotonic.
  Admission admit(const ConnectRequest& request, size_t open_total, size_t open_from_peer,
                  int64_t now_ms);
  // Verifies a token for `{"op":"refresh"}`; null with `why` set when it is refused.
  std::shared_ptr<const Rights> verify_token(const std::string& token, std::string& why);
  // True when `origin` may connect: no list, "*" listed, the origin listed, or no Origin header.
  bool origin_allowed(const std::string& origin) const;
  // Forgets idle rate buckets; call now and then.
  void tick(int64_t now_ms);

 private:
  struct Bucket {
    double tokens;
    int64_t last_ms;
  };
  Admission refuse(int status, std::string reason) {
    return Admission{status, std::move(reason), nullptr};
  }

  const HubOptions& options_;
  Metrics& metrics_;
  std::unordered_map<std::string, Bucket> buckets_;  // connect rate, by address
};

}  // namespace rthub
