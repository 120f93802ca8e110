// Counts the open connections of each client address, so that one address
// cannot take every connection slot.
//
// Invariants (all under `mu_`):
//   1. counts_[a] is the number of admitted, not yet released connections
//      from address a, and is never 0: an entry is erased when its count
//      drops to 0, so the table holds at most as many entries as there are
//      open connections (bounded by Limits::connections_max).
//   2. Admit succeeds only while counts_[a] < per_address_max; every
//      successful Admit is paired with exactly one Release.
// The process-wide gauge bookd_connection_addresses follows the table's size.
// Addresses are compared as 16 bytes: IPv4 as its IPv4-mapped IPv6 form, so
// one client reached through a dual-stack socket counts once.
#pragma once

#include <array>
#include <boost/asio/ip/address.hpp>
#include <cstddef>
#include <mutex>
#include <unordered_map>

namespace bookd::http {

class AddressTable {
 public:
  using Key = std::array<unsigned char, 16>;

  // per_address_max == 0: no cap (addresses are still counted).
  explicit AddressTable(std::size_t per_address_max) : per_address_max_(per_address_max) {}

  static Key KeyOf(const boost::asio::ip::address& a);

  // Counts a new connection from `key`, unless the address is at the cap.
  bool Admit(const Key& key);
  void Release(const Key& key);

  std::size_t addresses() const;
  std::size_t connections(const Key& key) const;

 private:
  struct Hash {
    std::size_t operator()(const Key& k) const;
  };

  const std::size_t per_address_max_;
  mutable std::mutex mu_;
  std::unordered_map<Key, std::size_t, Hash> counts_;  // GUARDED_BY(mu_)
};

}  // namespace bookd::http
