#include "core/gatekeeper.hpp"

#include <algorithm>
#include <chrono>

#include "core/jwt.hpp"

namespace rthub {
namespace {

int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

AuthFailure failure_of(jwt::Verdict v) {
  switch (v) {
    case jwt::Verdict::kMalformed:
      return AuthFailure::kMalformed;
    case jwt::Verdict::kBadAlgorithm:
      return AuthFailure::kBadAlgorithm;
    case jwt::Verdict::kBadSignature:
      return AuthFailure::kBadSignature;
    case jwt::Verdict::kExpired:
      return AuthFailure::kExpired;
    case jwt::Verdict::kNotYetValid:
      return AuthFailure::kNotYetValid;
    case jwt::Verdict::kValid:
      break;
  }
  return AuthFailure::kMalformed;
}

}  // namespace

bool Gatekeeper::origin_allowed(const std::string& origin) const {
  if (options_.allowed_origins.empty() || origin.empty()) return true;
  for (const auto& allowed : options_.allowed_origins)
    if (allowed == "*" || allowed == origin) return true;
  return false;
}

std::shared_ptr<const Rights> Gatekeeper::verify_token(const std::string& token, std::string& why) {
  if (token.empty()) {
    why = "missing token";
    metrics_.auth_failures[static_cast<size_t>(AuthFailure::kMissing)].add();
    return nullptr;
  }
  Rights rights;
  jwt::Verdict verdict = jwt::verify(token, options_.jwt_secret, unix_seconds(), rights);
  if (verdict != jwt::Verdict::kValid) {
    why = jwt::verdict_text(verdict);
    metrics_.auth_failures[static_cast<size_t>(failure_of(verdict))].add();
    return nullptr;
  }
  return std::make_shared<const Rights>(std::move(rights));
}

Admission Gatekeeper::admit(const ConnectRequest& request, size_t open_total, size_t open_from_peer,
                            int64_t now_ms) {
  if (!origin_allowed(request.origin)) {
    metrics_.refused[static_cast<size_t>(Refusal::kOrigin)].add();
    return refuse(403, "origin not allowed");
  }
  if (options_.max_connections && open_total >= options_.max_connections) {
    metrics_.refused[static_cast<size_t>(Refusal::kMaxConnections)].add();
    return refuse(503, "too many connections");
  }
  if (options_.max_connections_per_ip && open_from_peer >= options_.max_connections_per_ip) {
    metrics_.refused[static_cast<size_t>(Refusal::kMaxPerIp)].add();
    return refuse(503, "too many connections from this address");
  }
  if (options_.max_connect_rate > 0) {
    // A token bucket per address: `rate` tokens a second, bursts of up to `rate` (at least 1).
    double rate = options_.max_connect_rate;
    double burst = rate < 1 ? 1 : rate;
    auto [it, fresh] = buckets_.try_emplace(request.peer, Bucket{burst, now_ms});
    Bucket& b = it->second;
    if (!fresh) {
      b.tokens =
          std::min(burst, b.tokens + rate * static_cast<double>(now_ms - b.last_ms) / 1000.0);
      b.last_ms = now_ms;
    }
    if (b.tokens < 1) {
      metrics_.refused[static_cast<size_t>(Refusal::kConnectRate)].add();
      return refuse(429, "connecting too often");
    }
    b.tokens -= 1;
  }

  Admission admitted;
  ConnectRequest seen = request;
  if (!options_.jwt_secret.empty()) {
    std::string why;
    admitted.rights = verify_token(request.token, why);
    // With a hook, the host may still accept a connection the token rules refuse.
    if (!admitted.rights && !options_.auth_hooks.on_connect) return refuse(401, why);
    seen.token_rights = admitted.rights.get();
    if (!admitted.rights) admitted = refuse(401, why);
  }
  if (options_.auth_hooks.on_connect) {
    ConnectDecision decision;
    try {
      decision = options_.auth_hooks.on_connect(seen);
    } catch (...) {  // a host's exception must not unwind through the transport's C library
      metrics_.auth_failures[static_cast<size_t>(AuthFailure::kHook)].add();
      return refuse(500, "connect hook failed");
    }
    if (decision.verdict == ConnectDecision::Verdict::kRefuse) {
      metrics_.auth_failures[static_cast<size_t>(AuthFailure::kHook)].add();
      return refuse(decision.status == 403 ? 403 : 401, "refused by the host");
    }
    if (decision.verdict == ConnectDecision::Verdict::kAccept) {
      decision.rights.anonymous = false;
      return Admission{0, {}, std::make_shared<const Rights>(std::move(decision.rights))};
    }
  }
  return admitted;
}

void Gatekeeper::tick(int64_t now_ms) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (now_ms - it->second.last_ms > 60000)
      it = buckets_.erase(it);
    else
      ++it;
  }
}

}  // namespace rthub
