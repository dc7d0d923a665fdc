// transport_kind.cpp: the process-wide table of transport kinds, filled as each transport's kind
// is constructed (a function-local static of the transport).
#include <array>
#include <mutex>
#include <stdexcept>

#include "rthub/transport.hpp"

namespace rthub {
namespace {

struct Table {
  std::mutex lock;  // kinds may be constructed on several shards' threads at once
  std::array<const TransportKind*, kMaxTransports> kinds{};
  size_t count = 0;
};

Table& table() {
  static Table t;
  return t;
}

}  // namespace

TransportKind::TransportKind(std::string name) : name_(std::move(name)) {
  Table& t = table();
  std::lock_guard<std::mutex> guard(t.lock);
  if (t.count == kMaxTransports)
    throw std::logic_error("more than kMaxTransports transports registered: " + name_);
  index_ = t.count;
  t.kinds[t.count++] = this;
}

size_t TransportKind::registered_count() {
  Table& t = table();
  std::lock_guard<std::mutex> guard(t.lock);
  return t.count;
}

const TransportKind* TransportKind::registered(size_t index) {
  Table& t = table();
  std::lock_guard<std::mutex> guard(t.lock);
  return index < t.count ? t.kinds[index] : nullptr;
}

const TransportKind* TransportKind::find(std::string_view name) {
  Table& t = table();
  std::lock_guard<std::mutex> guard(t.lock);
  for (size_t i = 0; i < t.count; ++i)
    if (t.kinds[i]->name() == name) return t.kinds[i];
  return nullptr;
}

}  // namespace rthub
