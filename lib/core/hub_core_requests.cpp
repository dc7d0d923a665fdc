// hub_core_requests.cpp: HubCore's answers to client requests (subscribe, unsubscribe, publish,
// presence, refresh, ping), publishing, and the control and error objects it queues.
#include "core/hub_core.hpp"

#include "core/channel_name.hpp"
#include "core/utf8.hpp"

namespace rthub {

void HubCore::on_request(Session& session, std::string_view text) {
  refresh_clock();
  json::Scan scan = json::scan_requests(text, false);
  if (!scan.ok) {
    send_error(session, codec::ErrorCode::kBadRequest, scan.error);
    return;
  }
  const json::Fields& f = scan.items.front();
  std::string ref(f.id.in(text));
  if (!f.error.empty()) return send_error(session, codec::ErrorCode::kBadRequest, f.error, ref);
  if (!f.has_op) return send_error(session, codec::ErrorCode::kBadRequest, "missing op", ref);

  if (f.op == "ping") return send_control(session, codec::pong(ref));
  if (f.op == "refresh") return refresh(session, f, ref);
  if (f.op != "subscribe" && f.op != "unsubscribe" && f.op != "publish" && f.op != "presence")
    return send_error(session, codec::ErrorCode::kBadRequest,
                      "unknown op: " + std::string(utf8_prefix(f.op, 64)), ref);
  if (!f.has_channel)
    return send_error(session, codec::ErrorCode::kBadRequest, "missing channel", ref);
  if (!is_valid_channel_name(f.channel))
    return send_error(session, codec::ErrorCode::kBadRequest, bad_channel_name_text(), ref);

  if (f.op == "unsubscribe") return unsubscribe(session, f.channel, ref);
  if ((f.op == "presence" || (f.op == "subscribe" && f.presence)) && !presence_supported())
    return send_error(session, codec::ErrorCode::kUnsupported,
                      "presence needs the memory broker (not --redis) for now", ref);
  if (f.op == "presence") {
    return check_channel(session, ChannelRequest::Action::kSubscribe, f.channel,
                         [this, channel = f.channel, ref](Session& s, bool allow) {
                           if (!allow) {
                             metrics_.forbidden.add();
                             return send_error(s, codec::ErrorCode::kForbidden,
                                               "may not subscribe to " + channel, ref);
                           }
                           presence_request(s, channel, ref);
                         });
  }
  if (f.op == "subscribe") {
    std::optional<Position> since;
    if (f.has_since) since = Position{f.since_epoch, f.since_seq};
    if (f.snapshot && !keeps_keys())
      return send_error(session, codec::ErrorCode::kUnsupported,
                        "snapshots are not supported by this broker", ref);
    return check_channel(session, ChannelRequest::Action::kSubscribe, f.channel,
                         [this, channel = f.channel, since, ref, snapshot = f.snapshot,
                          presence = f.presence](Session& s, bool allow) {
                           if (!allow) {
                             metrics_.forbidden.add();
                             return send_error(s, codec::ErrorCode::kForbidden,
                                               "may not subscribe to " + channel, ref);
                           }
                           subscribe(s, channel, since, ref, nullptr, snapshot, presence);
                         });
  }
  if (f.delete_key && f.key.empty())
    return send_error(session, codec::ErrorCode::kBadRequest, "delete needs a key", ref);
  // A delete needs no data: it carries null.
  if (!f.data.present() && !f.delete_key)
    return send_error(session, codec::ErrorCode::kBadRequest, "missing data", ref);
  json::Fields fields = f;
  std::string raw_data(f.data.present() ? f.data.in(text) : std::string_view("null"));
  check_channel(session, ChannelRequest::Action::kPublish, f.channel,
                [this, fields, raw_data, ref](Session& s, bool allow) {
                  if (!allow) {
                    metrics_.forbidden.add();
                    return send_error(s, codec::ErrorCode::kForbidden,
                                      "may not publish to " + fields.channel, ref);
                  }
                  publish_request(s, fields, raw_data, ref);
                });
}

void HubCore::refresh(Session& session, const json::Fields& f, std::string_view ref) {
  if (options_.jwt_secret.empty())
    return send_error(session, codec::ErrorCode::kBadRequest, "no tokens are configured", ref);
  if (!f.has_token) return send_error(session, codec::ErrorCode::kBadRequest, "missing token", ref);
  std::string why;
  auto rights = gatekeeper_.verify_token(f.token, why);
  if (!rights) return send_error(session, codec::ErrorCode::kUnauthorized, why, ref);
  if (session.rights && !session.rights->identity.empty() &&
      rights->identity != session.rights->identity)
    return send_error(session, codec::ErrorCode::kForbidden, "token is for another subject", ref);
  session.rights = rights;
  send_control(session, codec::refreshed(rights->expires_at, ref));
}

void HubCore::publish_request(Session& session, const json::Fields& f, const std::string& data,
                              const std::string& ref) {
  Message m;
  m.channel = f.channel;
  if (f.has_type) m.type = f.type;
  m.data = data;
  m.idempotency_key = f.idempotency_key;
  m.key = f.key;
  m.deleted = f.delete_key;
  uint64_t id = session.id;
  publish(std::move(m), [this, id, ref, channel = f.channel](const PublishOutcome& outcome) {
    Session* target = find_session(id);  // the session may have gone while the broker worked
    if (!target) return;
    if (outcome.error == BrokerError::kUnknownOutcome)
      return send_error(
          *target, codec::ErrorCode::kUnknownOutcome,
          "publish outcome unknown (" + outcome.detail + "): retry with the same idempotency_key",
          ref);
    if (outcome.error == BrokerError::kTooManyKeys)
      return send_error(*target, codec::ErrorCode::kTooManyKeys, outcome.detail, ref);
    if (outcome.error == BrokerError::kUnsupported)
      return send_error(*target, codec::ErrorCode::kUnsupported, outcome.detail, ref);
    if (outcome.error != BrokerError::kOk)
      return send_error(*target, codec::ErrorCode::kUnavailable,
                        outcome.detail.empty() ? "broker unavailable" : outcome.detail, ref);
    send_control(*target, codec::published(channel, outcome.position, ref));
  });
}

void HubCore::publish(Message message, std::function<void(const PublishOutcome&)> done) {
  if (!message.key.empty() && !broker_->keeps_keys()) {
    PublishOutcome refused;
    refused.error = BrokerError::kUnsupported;
    refused.detail = "keyed messages are not supported by this broker";
    if (done) done(refused);
    return;
  }
  message.ts_ms = wall_ms();
  broker_->publish(std::move(message), std::move(done));
}

void HubCore::send_control(Session& session, std::string json) {
  Outbound item;
  item.frame = codec::make_frame(session.kind(), json);
  enqueue(session, std::move(item));
}

void HubCore::send_error(Session& session, codec::ErrorCode code, std::string_view text,
                         std::string_view ref) {
  metrics_.count_error(code);
  send_control(session, codec::error(code, text, ref));
}

}  // namespace rthub
