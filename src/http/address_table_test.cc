// AddressTable: the cap is per address, releases free the slot, and the table
// forgets an address with no connection left.
#include "http/address_table.h"

#include <gtest/gtest.h>

namespace bookd::http {
namespace {

using boost::asio::ip::make_address;

TEST(AddressTableTest, CapsEachAddressSeparately) {
  AddressTable table(2);
  const auto a = AddressTable::KeyOf(make_address("10.0.0.1"));
  const auto b = AddressTable::KeyOf(make_address("10.0.0.2"));

  EXPECT_TRUE(table.Admit(a));
  EXPECT_TRUE(table.Admit(a));
  EXPECT_FALSE(table.Admit(a));
  EXPECT_TRUE(table.Admit(b));
  EXPECT_EQ(table.connections(a), 2u);
  EXPECT_EQ(table.addresses(), 2u);

  table.Release(a);
  EXPECT_TRUE(table.Admit(a));
  EXPECT_FALSE(table.Admit(a));
}

TEST(AddressTableTest, ForgetsAddressesWithoutConnections) {
  AddressTable table(5);
  const auto a = AddressTable::KeyOf(make_address("192.0.2.7"));
  ASSERT_TRUE(table.Admit(a));
  ASSERT_TRUE(table.Admit(a));
  table.Release(a);
  EXPECT_EQ(table.addresses(), 1u);
  table.Release(a);
  EXPECT_EQ(table.addresses(), 0u);
  EXPECT_EQ(table.connections(a), 0u);
}

TEST(AddressTableTest, RefusedAdmitLeavesNoEntry) {
  AddressTable table(1);
  const auto a = AddressTable::KeyOf(make_address("192.0.2.8"));
  ASSERT_TRUE(table.Admit(a));
  EXPECT_FALSE(table.Admit(a));
  table.Release(a);
  EXPECT_EQ(table.addresses(), 0u);
}

TEST(AddressTableTest, ZeroMeansNoCap) {
  AddressTable table(0);
  const auto a = AddressTable::KeyOf(make_address("2001:db8::1"));
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(table.Admit(a));
  EXPECT_EQ(table.connections(a), 5000u);
}

TEST(AddressTableTest, Ipv4AndItsMappedFormAreOneAddress) {
  AddressTable table(1);
  ASSERT_TRUE(table.Admit(AddressTable::KeyOf(make_address("127.0.0.1"))));
  EXPECT_FALSE(table.Admit(AddressTable::KeyOf(make_address("::ffff:127.0.0.1"))));
  EXPECT_TRUE(table.Admit(AddressTable::KeyOf(make_address("::1"))));
}

}  // namespace
}  // namespace bookd::http
