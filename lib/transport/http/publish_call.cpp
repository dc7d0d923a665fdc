#include "transport/http/publish_call.hpp"

#include <memory>
#include <vector>

#include "common/json_string.hpp"
#include "core/channel_name.hpp"
#include "core/hub_core.hpp"
#include "core/json_scan.hpp"
#include "rthub/hub.hpp"

namespace rthub {
namespace {

bool is_loopback(const std::string& peer) {
  return peer.rfind("127.", 0) == 0 || peer == "::1" || peer.rfind("::ffff:127.", 0) == 0;
}

// Constant-time comparison, so the key cannot be guessed byte by byte from timings.
bool same_secret(const std::string& given, const std::string& secret) {
  if (secret.empty()) return false;
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  for (size_t i = 0; i < secret.size(); ++i)
    diff |= static_cast<unsigned char>((i < given.size() ? given[i] : 0) ^ secret[i]);
  return diff == 0;
}

PublishAnswer refusal(int status, codec::ErrorCode code, std::string message) {
  return PublishAnswer{status, code, std::move(message)};
}

// The answer to a batch whose every item the broker has answered. 503 only when no item can have
// been published; any other failure leaves the outcome unknown (some items published, or one
// maybe): 504, to retry with the keys.
PublishAnswer batch_answer(const std::vector<PublishOutcome>& outcomes,
                           const std::vector<std::string>& channels, bool array) {
  size_t published = 0, unavailable = 0;
  const PublishOutcome* failed = nullptr;
  const PublishOutcome* refused = nullptr;  // a definite refusal: too many keys, unsupported
  for (const PublishOutcome& o : outcomes) {
    if ((o.error == BrokerError::kTooManyKeys || o.error == BrokerError::kUnsupported) && !refused)
      refused = &o;
    if (o.error == BrokerError::kOk)
      published++;
    else if (o.error == BrokerError::kUnavailable)
      unavailable++;
    if (o.error != BrokerError::kOk && (!failed || failed->error == BrokerError::kUnavailable))
      failed = &o;
  }
  if (refused) {
    std::string why = refused->detail;
    if (array)
      why = std::to_string(published) + " of " + std::to_string(outcomes.size()) +
            " items published; " + why;
    return refused->error == BrokerError::kTooManyKeys
               ? refusal(409, codec::ErrorCode::kTooManyKeys, why)
               : refusal(501, codec::ErrorCode::kUnsupported, why);
  }
  if (unavailable == outcomes.size())
    return refusal(503, codec::ErrorCode::kUnavailable,
                   failed->detail.empty() ? "broker unavailable" : failed->detail);
  if (failed) {
    std::string why = failed->detail.empty() ? "broker unavailable" : failed->detail;
    if (array)
      why = std::to_string(published) + " of " + std::to_string(outcomes.size()) +
            " items published, the others failed or may have been (" + why + ")";
    return refusal(504, codec::ErrorCode::kUnknownOutcome,
                   "publish outcome unknown: " + why + "; retry with the same idempotency_key");
  }
  std::string body;
  for (size_t k = 0; k < outcomes.size(); ++k) {
    const PublishOutcome& o = outcomes[k];
    if (k) body.push_back(',');
    body += "{\"channel\":";
    json::append_string(body, channels[k]);
    body += ",\"epoch\":";
    json::append_string(body, o.position.epoch);
    body += ",\"seq\":" + std::to_string(o.position.seq) + "}";
  }
  return PublishAnswer{200, {}, array ? "[" + body + "]" : body};
}

}  // namespace

std::string error_json(codec::ErrorCode code, const std::string& message) {
  std::string out = "{\"error\":{\"code\":\"";
  out += codec::error_code_name(code);
  out += "\",\"message\":";
  json::append_string(out, message);
  out += "}}";
  return out;
}

std::string publish_answer_body(const PublishAnswer& answer) {
  return answer.status == 200 ? answer.text : error_json(answer.code, answer.text);
}

std::optional<PublishAnswer> publish_refusal(const HubOptions& options, const HubCore& core,
                                             const std::string& origin,
                                             const std::string& authorization,
                                             const std::string& peer) {
  if (!core.origin_allowed(origin))
    return refusal(403, codec::ErrorCode::kForbidden, "origin not allowed");
  const std::string& key = options.publish_key;
  if (!key.empty()) {
    std::string given =
        authorization.rfind("Bearer ", 0) == 0 ? authorization.substr(7) : std::string();
    if (!same_secret(given, key))
      return refusal(401, codec::ErrorCode::kUnauthorized,
                     "publish needs Authorization: Bearer <publish key>");
  } else if (!is_loopback(peer)) {
    return refusal(403, codec::ErrorCode::kForbidden,
                   "without a publish key only loopback peers may publish");
  }
  return std::nullopt;
}

void publish_json(HubCore& core, const std::string& body,
                  std::function<void(const PublishAnswer&)> done) {
  json::Scan scan = json::scan_requests(body, true);
  if (!scan.ok) return done(refusal(400, codec::ErrorCode::kBadRequest, scan.error));
  if (scan.items.empty())
    return done(refusal(400, codec::ErrorCode::kBadRequest, "empty array: nothing to publish"));
  // The whole batch is checked before anything is published.
  std::vector<Message> messages;
  for (size_t i = 0; i < scan.items.size(); ++i) {
    const json::Fields& f = scan.items[i];
    std::string where = scan.array ? "item " + std::to_string(i) + ": " : std::string();
    std::string problem = !f.error.empty()                     ? f.error
                          : !f.has_channel                     ? "missing channel"
                          : !is_valid_channel_name(f.channel)  ? bad_channel_name_text()
                          : f.delete_key && f.key.empty()      ? "delete needs a key"
                          : !f.data.present() && !f.delete_key ? "missing data"
                                                               : "";
    if (!problem.empty()) return done(refusal(400, codec::ErrorCode::kBadRequest, where + problem));
    if (!f.key.empty() && !core.keeps_keys())
      return done(refusal(501, codec::ErrorCode::kUnsupported,
                          where + "keyed messages are not supported with the Redis broker yet"));
    Message m;
    m.channel = f.channel;
    if (f.has_type) m.type = f.type;
    if (f.data.present())
      m.data.assign(f.data.in(body));
    else
      m.data = "null";  // a delete needs no data
    m.idempotency_key = f.idempotency_key;
    m.key = f.key;
    m.deleted = f.delete_key;
    messages.push_back(std::move(m));
  }

  struct Batch {
    std::vector<PublishOutcome> outcomes;
    std::vector<std::string> channels;
    size_t remaining;
    bool array;
    std::function<void(const PublishAnswer&)> done;
  };
  auto batch = std::make_shared<Batch>();
  batch->outcomes.resize(messages.size());
  for (const auto& m : messages) batch->channels.push_back(m.channel);
  batch->remaining = messages.size();
  batch->array = scan.array;
  batch->done = std::move(done);
  for (size_t i = 0; i < messages.size(); ++i) {
    core.publish(std::move(messages[i]), [batch, i](const PublishOutcome& outcome) {
      batch->outcomes[i] = outcome;
      if (--batch->remaining > 0) return;
      batch->done(batch_answer(batch->outcomes, batch->channels, batch->array));
    });
  }
}

}  // namespace rthub
