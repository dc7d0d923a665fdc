#include "client/channel_book.hpp"

#include <algorithm>

#include "common/sse_cursor.hpp"

namespace rthub::client {

bool ChannelBook::want(const std::string& channel, const std::optional<Position>& since,
                       bool snapshot, bool presence) {
  if (entries_.count(channel)) return false;
  Entry entry;
  entry.position = since;
  entry.snapshot = snapshot;
  entry.presence = presence;
  entries_.emplace(channel, std::move(entry));
  order_.push_back(channel);
  return true;
}

bool ChannelBook::drop(const std::string& channel) {
  if (!entries_.erase(channel)) return false;
  order_.erase(std::find(order_.begin(), order_.end(), channel));
  return true;
}

std::optional<Position> ChannelBook::position(const std::string& channel) const {
  auto it = entries_.find(channel);
  return it == entries_.end() ? std::nullopt : it->second.position;
}

bool ChannelBook::confirmed(const std::string& channel) const {
  auto it = entries_.find(channel);
  return it != entries_.end() && it->second.confirmed;
}

const ChannelBook::Entry* ChannelBook::find(const std::string& channel) const {
  auto it = entries_.find(channel);
  return it == entries_.end() ? nullptr : &it->second;
}

bool ChannelBook::wants_snapshot(const std::string& channel) const {
  const Entry* entry = find(channel);
  return entry && entry->snapshot;
}

bool ChannelBook::wants_presence(const std::string& channel) const {
  const Entry* entry = find(channel);
  return entry && entry->presence;
}

bool ChannelBook::any_wants_snapshot() const {
  for (const auto& [name, entry] : entries_)
    if (entry.snapshot) return true;
  return false;
}

void ChannelBook::make_plain(const std::string& channel) {
  auto it = entries_.find(channel);
  if (it == entries_.end()) return;
  it->second.snapshot = it->second.presence = false;
}

bool ChannelBook::on_snapshot(const std::string& channel, const Position& position) {
  auto it = entries_.find(channel);
  if (it == entries_.end() || !it->second.confirmed || !it->second.snapshot) return false;
  it->second.position = position;
  return true;
}

void ChannelBook::connection_lost() {
  for (auto& [name, entry] : entries_) entry.confirmed = false;
}

ChannelBook::Confirmation ChannelBook::on_subscribed(const std::string& channel,
                                                     const Position& latest,
                                                     std::optional<bool> recovered) {
  Confirmation out;
  auto it = entries_.find(channel);
  if (it == entries_.end()) return out;
  out.known = true;
  Entry& entry = it->second;
  entry.confirmed = true;
  if (recovered.value_or(false) && entry.position && entry.position->epoch == latest.epoch) {
    // Honoured: the replay of everything after our position follows; keep it.
    return out;
  }
  // Refused (history gone, epoch changed) or not asked: the hub continues from its latest
  // message. When we had a position, the host has missed what lies between.
  out.reset = entry.position.has_value() && recovered.has_value();
  entry.position = latest;
  return out;
}

ChannelBook::Verdict ChannelBook::on_message(const std::string& channel, const Position& position) {
  auto it = entries_.find(channel);
  if (it == entries_.end() || !it->second.confirmed) return Verdict::kNotSubscribed;
  Entry& entry = it->second;
  if (!entry.position) {
    entry.position = position;
    return Verdict::kDeliver;
  }
  if (entry.position->epoch == position.epoch) {
    if (position.seq <= entry.position->seq) return Verdict::kDuplicate;
    bool next = position.seq == entry.position->seq + 1;
    entry.position->seq = position.seq;
    return next ? Verdict::kDeliver : Verdict::kDeliverAfterGap;
  }
  entry.position = position;
  return Verdict::kDeliverAfterGap;
}

std::string ChannelBook::cursor() const {
  std::string out;
  for (const auto& channel : order_) {
    const Entry& entry = entries_.at(channel);
    if (!entry.position) continue;
    sse_cursor::append_entry(out, out.empty(), channel, entry.position->epoch, entry.position->seq);
  }
  return out;
}

}  // namespace rthub::client
