// Wire format of virtio-hballoon: the one header shared by the guest driver
// and the QEMU device (guest-driver/include/uapi/linux/virtio_hballoon.h).
// Sizes and offsets are checked at compile time, and the little-endian
// encoding at run time by building messages byte by byte.

#include <linux/virtio_hballoon.h>

#include <endian.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

// --- compile-time layout ----------------------------------------------------

static_assert(sizeof(struct virtio_hballoon_node_config) == VIRTIO_HBALLOON_NODE_CONFIG_SIZE);
static_assert(sizeof(struct virtio_hballoon_config) == VIRTIO_HBALLOON_CONFIG_SIZE);
static_assert(sizeof(struct virtio_hballoon_req) == VIRTIO_HBALLOON_REQ_SIZE);
static_assert(sizeof(struct virtio_hballoon_resp) == VIRTIO_HBALLOON_RESP_SIZE);
static_assert(sizeof(struct virtio_hballoon_stat) == VIRTIO_HBALLOON_STAT_SIZE);
static_assert(sizeof(struct virtio_hballoon_stats_hdr) == VIRTIO_HBALLOON_STATS_HDR_SIZE);

static_assert(VIRTIO_HBALLOON_NODE_CONFIG_SIZE == 32);
static_assert(VIRTIO_HBALLOON_CONFIG_SIZE == 8 + 32 * 8);
static_assert(VIRTIO_HBALLOON_REQ_SIZE == 16);
static_assert(VIRTIO_HBALLOON_RESP_SIZE == 16);
static_assert(VIRTIO_HBALLOON_STAT_SIZE == 16);
static_assert(VIRTIO_HBALLOON_STATS_HDR_SIZE == 8);

static_assert(offsetof(struct virtio_hballoon_node_config, guest_node) == 0);
static_assert(offsetof(struct virtio_hballoon_node_config, tier) == 4);
static_assert(offsetof(struct virtio_hballoon_node_config, node_pages) == 8);
static_assert(offsetof(struct virtio_hballoon_node_config, target_pages) == 12);
static_assert(offsetof(struct virtio_hballoon_node_config, actual_pages) == 16);
static_assert(offsetof(struct virtio_hballoon_node_config, reserved) == 20);

static_assert(offsetof(struct virtio_hballoon_config, num_nodes) == 0);
static_assert(offsetof(struct virtio_hballoon_config, pressure_level) == 4);
static_assert(offsetof(struct virtio_hballoon_config, nodes) == 8);

static_assert(offsetof(struct virtio_hballoon_req, node) == 0);
static_assert(offsetof(struct virtio_hballoon_req, order) == 4);
static_assert(offsetof(struct virtio_hballoon_req, reserved) == 6);
static_assert(offsetof(struct virtio_hballoon_req, num_pfns) == 8);
static_assert(offsetof(struct virtio_hballoon_req, seq) == 12);

static_assert(offsetof(struct virtio_hballoon_resp, status) == 0);
static_assert(offsetof(struct virtio_hballoon_resp, seq) == 4);
static_assert(offsetof(struct virtio_hballoon_resp, bad_index) == 8);
static_assert(offsetof(struct virtio_hballoon_resp, node_actual_pages) == 12);

static_assert(offsetof(struct virtio_hballoon_stat, tag) == 0);
static_assert(offsetof(struct virtio_hballoon_stat, node) == 2);
static_assert(offsetof(struct virtio_hballoon_stat, reserved) == 4);
static_assert(offsetof(struct virtio_hballoon_stat, val) == 8);

static_assert(offsetof(struct virtio_hballoon_stats_hdr, num_stats) == 0);
static_assert(offsetof(struct virtio_hballoon_stats_hdr, seq) == 4);

// Constants both sides depend on.
static_assert(VIRTIO_ID_HBALLOON == 57);
static_assert(0x1040 + VIRTIO_ID_HBALLOON == 0x1079, "modern virtio-pci device id");
static_assert(VIRTIO_ID_HBALLOON < 64);
static_assert(VIRTIO_HBALLOON_F_DEFLATE_ON_OOM == 0);
static_assert(VIRTIO_HBALLOON_PFN_SHIFT == 12);
static_assert(VIRTIO_HBALLOON_ORDER_4K == 0 && VIRTIO_HBALLOON_ORDER_2M == 9);
static_assert(VIRTIO_HBALLOON_S_OK == 0 && VIRTIO_HBALLOON_S_RANGE == 1 &&
              VIRTIO_HBALLOON_S_DUP == 2 && VIRTIO_HBALLOON_S_STATE == 3 &&
              VIRTIO_HBALLOON_S_REFUSED == 4);
static_assert(VIRTIO_HBALLOON_TIER_FMEM == 0 && VIRTIO_HBALLOON_TIER_SMEM == 1);
static_assert(VIRTIO_HBALLOON_PRESSURE_NONE == 0 && VIRTIO_HBALLOON_PRESSURE_LOW == 1 &&
              VIRTIO_HBALLOON_PRESSURE_HIGH == 2);
static_assert(VIRTIO_HBALLOON_STAT_NR_TAGS == 10);
static_assert(VIRTIO_HBALLOON_STAT_NODE_ANY == 0xffff);
// A full request fits in a few pages and its length in 32 bits.
static_assert(VIRTIO_HBALLOON_REQ_SIZE + 8 * VIRTIO_HBALLOON_MAX_PFNS == 8208);
static_assert(VIRTIO_HBALLOON_STATS_HDR_SIZE + VIRTIO_HBALLOON_STAT_SIZE * VIRTIO_HBALLOON_MAX_STATS ==
              2056);

// --- run-time encoding --------------------------------------------------------

void put16(std::vector<uint8_t>& b, uint16_t v) {
    b.push_back(uint8_t(v));
    b.push_back(uint8_t(v >> 8));
}
void put32(std::vector<uint8_t>& b, uint32_t v) {
    for (int i = 0; i < 4; i++) b.push_back(uint8_t(v >> (8 * i)));
}
void put64(std::vector<uint8_t>& b, uint64_t v) {
    for (int i = 0; i < 8; i++) b.push_back(uint8_t(v >> (8 * i)));
}

TEST(HballoonWire, RequestDecodesFromLittleEndianBytes) {
    std::vector<uint8_t> b;
    put32(b, 1);           // node
    put16(b, 9);           // order
    put16(b, 0);           // reserved
    put32(b, 2);           // num_pfns
    put32(b, 0xdeadbeef);  // seq
    put64(b, 0x40000);
    put64(b, 0x0123456789abcdefULL);
    ASSERT_EQ(b.size(), VIRTIO_HBALLOON_REQ_SIZE + 2 * 8u);

    struct virtio_hballoon_req req;
    std::memcpy(&req, b.data(), sizeof(req));
    EXPECT_EQ(le32toh(req.node), 1u);
    EXPECT_EQ(le16toh(req.order), 9u);
    EXPECT_EQ(le16toh(req.reserved), 0u);
    EXPECT_EQ(le32toh(req.num_pfns), 2u);
    EXPECT_EQ(le32toh(req.seq), 0xdeadbeefu);

    __le64 pfns[2];
    std::memcpy(pfns, b.data() + sizeof(req), sizeof(pfns));
    EXPECT_EQ(le64toh(pfns[0]), 0x40000u);
    EXPECT_EQ(le64toh(pfns[1]), 0x0123456789abcdefULL);
    // Least significant byte first.
    EXPECT_EQ(b[16 + 8], 0xef);
    EXPECT_EQ(b[12], 0xef);
    EXPECT_EQ(b[15], 0xde);
}

TEST(HballoonWire, ResponseEncodesToLittleEndianBytes) {
    struct virtio_hballoon_resp resp;
    resp.status = htole32(VIRTIO_HBALLOON_S_DUP);
    resp.seq = htole32(0x01020304);
    resp.bad_index = htole32(1023);
    resp.node_actual_pages = htole32(0xa0b0c0d0);
    uint8_t raw[sizeof(resp)];
    std::memcpy(raw, &resp, sizeof(resp));

    std::vector<uint8_t> want;
    put32(want, 2);
    put32(want, 0x01020304);
    put32(want, 1023);
    put32(want, 0xa0b0c0d0);
    ASSERT_EQ(want.size(), sizeof(raw));
    EXPECT_EQ(0, std::memcmp(raw, want.data(), sizeof(raw)));
}

TEST(HballoonWire, StatsMessageDecodesFromLittleEndianBytes) {
    std::vector<uint8_t> b;
    put32(b, 2);  // num_stats
    put32(b, 77);
    put16(b, VIRTIO_HBALLOON_STAT_FREE_BYTES);
    put16(b, 1);
    put32(b, 0);
    put64(b, 0x1122334455667788ULL);
    put16(b, VIRTIO_HBALLOON_STAT_PSI_SOME_US);
    put16(b, VIRTIO_HBALLOON_STAT_NODE_ANY);
    put32(b, 0);
    put64(b, 42);
    ASSERT_EQ(b.size(), VIRTIO_HBALLOON_STATS_HDR_SIZE + 2 * VIRTIO_HBALLOON_STAT_SIZE);

    struct virtio_hballoon_stats_hdr hdr;
    struct virtio_hballoon_stat st[2];
    std::memcpy(&hdr, b.data(), sizeof(hdr));
    std::memcpy(st, b.data() + sizeof(hdr), sizeof(st));
    EXPECT_EQ(le32toh(hdr.num_stats), 2u);
    EXPECT_EQ(le32toh(hdr.seq), 77u);
    EXPECT_EQ(le16toh(st[0].tag), VIRTIO_HBALLOON_STAT_FREE_BYTES);
    EXPECT_EQ(le16toh(st[0].node), 1u);
    EXPECT_EQ(le64toh(st[0].val), 0x1122334455667788ULL);
    EXPECT_EQ(le16toh(st[1].tag), VIRTIO_HBALLOON_STAT_PSI_SOME_US);
    EXPECT_EQ(le16toh(st[1].node), VIRTIO_HBALLOON_STAT_NODE_ANY);
    EXPECT_EQ(le64toh(st[1].val), 42u);
}

TEST(HballoonWire, ConfigEntryOffsets) {
    struct virtio_hballoon_config cfg;
    std::memset(&cfg, 0, sizeof(cfg));
    cfg.num_nodes = htole32(2);
    cfg.pressure_level = htole32(VIRTIO_HBALLOON_PRESSURE_HIGH);
    cfg.nodes[1].guest_node = htole32(1);
    cfg.nodes[1].tier = htole32(VIRTIO_HBALLOON_TIER_SMEM);
    cfg.nodes[1].node_pages = htole32(262144);
    cfg.nodes[1].target_pages = htole32(0x01020304);
    cfg.nodes[1].actual_pages = htole32(0x0a0b0c0d);
    uint8_t raw[sizeof(cfg)];
    std::memcpy(raw, &cfg, sizeof(cfg));

    EXPECT_EQ(raw[0], 2);
    EXPECT_EQ(raw[4], 2);
    const uint8_t* n1 = raw + 8 + 32;
    EXPECT_EQ(n1[0], 1);
    EXPECT_EQ(n1[4], 1);
    EXPECT_EQ(n1[8] | n1[9] << 8 | n1[10] << 16, 262144);
    EXPECT_EQ(n1[12], 0x04);
    EXPECT_EQ(n1[15], 0x01);
    // The only driver-writable field of a node entry sits at offset 16.
    EXPECT_EQ(n1[16], 0x0d);
    EXPECT_EQ(n1[19], 0x0a);
    for (int i = 20; i < 32; i++) EXPECT_EQ(n1[i], 0) << i;
    // Last entry ends exactly at the config size.
    EXPECT_EQ(offsetof(struct virtio_hballoon_config, nodes) +
                  VIRTIO_HBALLOON_MAX_NODES * sizeof(struct virtio_hballoon_node_config),
              size_t(VIRTIO_HBALLOON_CONFIG_SIZE));
}

}  // namespace
