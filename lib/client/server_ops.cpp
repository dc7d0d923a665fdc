#include "client/server_ops.hpp"

namespace rthub::client {

ServerOps::ServerOps(ChannelBook& book, RequestBook& requests, EventSink& sink,
                     ClientCounters& counters, Hooks hooks)
    : book_(book),
      requests_(requests),
      sink_(sink),
      counters_(counters),
      hooks_(std::move(hooks)) {}

void ServerOps::dispatch(ServerObject& o) {
  std::optional<RequestBook::Pending> answered = requests_.take(o.ref);
  switch (o.op) {
    case ServerOp::kMessage:
      return message(o);
    case ServerOp::kSubscribed:
      return subscribed(o);
    case ServerOp::kUnsubscribed:
      if (answered) sink_.unsubscribed(o.channel);
      return;
    case ServerOp::kPublished: {
      if (!answered) return;
      ClientEvent event;
      event.kind = ClientEvent::Kind::kPublished;
      event.channel = o.channel;
      event.position = Position{o.epoch, o.seq};
      event.request_id = *o.ref;
      return sink_.emit(std::move(event));
    }
    case ServerOp::kError:
      return error(o, answered);
    case ServerOp::kSnapshot:
      return snapshot(o);
    case ServerOp::kPresence:
      return presence(o, answered);
    case ServerOp::kJoin:
    case ServerOp::kLeave:
      return member_change(o);
    case ServerOp::kPing:
    case ServerOp::kPong:
    case ServerOp::kUnknown:
      return;  // liveness only; unknown ops are for newer clients
  }
}

// A gap (a later seq, or a new epoch) keeps the connection: the host gets a reset (reload the
// channel's state), then the message. docs/CLIENT.md, "Gaps".
void ServerOps::message(ServerObject& o) {
  if (!o.has_seq) return sink_.error("protocol", "a message without seq on " + o.channel);
  Position position{o.epoch, o.seq};
  std::optional<Position> before = book_.position(o.channel);
  switch (book_.on_message(o.channel, position)) {
    case ChannelBook::Verdict::kNotSubscribed:
      return;
    case ChannelBook::Verdict::kDuplicate:
      counters_.duplicates++;
      return;
    case ChannelBook::Verdict::kDeliverAfterGap: {
      std::string why = before && before->epoch == o.epoch
                            ? "messages " + std::to_string(before->seq + 1) + ".." +
                                  std::to_string(o.seq - 1) + " were skipped"
                            : "the channel's numbering restarted (epoch " + o.epoch + ")";
      sink_.reset(o.channel, Position{o.epoch, o.seq - 1}, why);
      break;
    }
    case ChannelBook::Verdict::kDeliver:
      break;
  }
  counters_.messages++;
  ClientEvent event;
  event.kind = ClientEvent::Kind::kMessage;
  event.channel = std::move(o.channel);
  event.position = std::move(position);
  event.type = std::move(o.type);
  event.data = std::move(o.data);
  event.ts_ms = o.ts_ms;
  event.key = std::move(o.key);
  event.deleted = o.deleted;
  sink_.emit(std::move(event));
}

void ServerOps::subscribed(const ServerObject& o) {
  // Only the answer to the latest subscribe of the channel counts.
  if (o.ref && !requests_.take_latest_subscribe(o.channel, *o.ref)) return;
  Position latest{o.epoch, o.seq};
  ChannelBook::Confirmation confirmation = book_.on_subscribed(o.channel, latest, o.recovered);
  if (!confirmation.known) return;
  parts_.erase(o.channel);  // a new subscription: its snapshot starts afresh
  ClientEvent event;
  event.kind = ClientEvent::Kind::kSubscribed;
  event.channel = o.channel;
  event.position = latest;
  event.recovered = o.recovered;
  sink_.emit(std::move(event));
  if (confirmation.reset)
    sink_.reset(o.channel, latest,
                book_.wants_snapshot(o.channel)
                    ? "the hub cannot replay the missed messages; a fresh snapshot follows"
                    : "the hub cannot replay the missed messages (history gone or hub restarted)");
  // The members as of now; join and leave events keep them current from here.
  if (book_.wants_presence(o.channel)) hooks_.ask_presence(o.channel);
}

void ServerOps::error(const ServerObject& o, const std::optional<RequestBook::Pending>& answered) {
  if (!answered) return sink_.error(o.code, o.message);
  switch (answered->kind) {
    case RequestKind::kPublish:
    case RequestKind::kPresence:
      return sink_.error(o.code, o.message, answered->channel, *o.ref);
    case RequestKind::kAutoPresence:
      return sink_.error(o.code, o.message, answered->channel);
    case RequestKind::kUnsubscribe:
      if (o.code == "not_found") return sink_.unsubscribed(answered->channel);  // already gone
      return sink_.error(o.code, o.message, answered->channel);
    case RequestKind::kSubscribe:
      if (!requests_.take_latest_subscribe(answered->channel, *o.ref)) return;  // superseded
      sink_.error(o.code, o.message, answered->channel);
      if (o.code == "unsupported" &&
          (book_.wants_snapshot(answered->channel) || book_.wants_presence(answered->channel))) {
        // A hub that keeps no snapshots or presence (Redis mode, shards): subscribe plainly so
        // that the channel still streams; the error event says what is missing.
        book_.make_plain(answered->channel);
        hooks_.resubscribe(answered->channel);
      } else if (o.code == "unavailable") {  // the hub's history store is down: try again later
        hooks_.drop_connection("the hub could not subscribe " + answered->channel + ": " +
                               o.message);
      } else {  // refused for good (forbidden, bad name, limit): stop asking
        book_.drop(answered->channel);
      }
      return;
  }
}

}  // namespace rthub::client
