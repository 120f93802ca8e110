#include "http/address_table.h"

#include <cassert>
#include <cstring>
#include <string_view>

#include "common/metrics.h"

namespace bookd::http {

AddressTable::Key AddressTable::KeyOf(const boost::asio::ip::address& a) {
  const auto v6 = a.is_v4()
                      ? boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a.to_v4())
                      : a.to_v6();
  const auto bytes = v6.to_bytes();
  Key key;
  static_assert(sizeof(key) == sizeof(bytes));
  std::memcpy(key.data(), bytes.data(), key.size());
  return key;
}

std::size_t AddressTable::Hash::operator()(const Key& k) const {
  return std::hash<std::string_view>{}(
      std::string_view(reinterpret_cast<const char*>(k.data()), k.size()));
}

bool AddressTable::Admit(const Key& key) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = counts_.try_emplace(key, 0);
  if (per_address_max_ != 0 && it->second >= per_address_max_) return false;
  ++it->second;
  if (inserted) metrics::SetConnectionAddresses(static_cast<std::int64_t>(counts_.size()));
  return true;
}

void AddressTable::Release(const Key& key) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  assert(it != counts_.end() && it->second > 0 && "Release without Admit");
  if (it == counts_.end()) return;
  if (--it->second == 0) {
    counts_.erase(it);
    metrics::SetConnectionAddresses(static_cast<std::int64_t>(counts_.size()));
  }
}

std::size_t AddressTable::addresses() const {
  std::lock_guard lock(mu_);
  return counts_.size();
}

std::size_t AddressTable::connections(const Key& key) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace bookd::http
