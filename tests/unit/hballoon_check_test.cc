// Validation logic of the QEMU virtio-hballoon device.  The device runs the
// static inline functions of include/hw/virtio/virtio-hballoon-check.h from
// the patched QEMU tree (TIERVM_QEMU_SRC); this test compiles the very same
// header and drives every rule with hand-built messages and a fake guest
// memory map.

#include "hw/virtio/virtio-hballoon-check.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

constexpr uint64_t kPage = 4096;
constexpr uint64_t kMiB = 1ULL << 20;
constexpr uint64_t kGiB = 1ULL << 30;
constexpr uint32_t k2M = 512;  // 4 KiB pages in a 2 MiB page

// ---------------------------------------------------------------- helpers --

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

std::vector<uint8_t> Req(uint32_t node, uint16_t order, const std::vector<uint64_t>& pfns,
                         uint32_t seq = 1, uint16_t reserved = 0, int64_t num_override = -1) {
    std::vector<uint8_t> b;
    put32(b, node);
    put16(b, order);
    put16(b, reserved);
    put32(b, num_override >= 0 ? uint32_t(num_override) : uint32_t(pfns.size()));
    put32(b, seq);
    for (uint64_t p : pfns) put64(b, p);
    return b;
}

struct StatRec {
    uint16_t tag, node;
    uint32_t reserved;
    uint64_t val;
};

std::vector<uint8_t> Stats(const std::vector<StatRec>& recs, uint32_t seq = 1,
                           int64_t num_override = -1) {
    std::vector<uint8_t> b;
    put32(b, num_override >= 0 ? uint32_t(num_override) : uint32_t(recs.size()));
    put32(b, seq);
    for (const auto& r : recs) {
        put16(b, r.tag);
        put16(b, r.node);
        put32(b, r.reserved);
        put64(b, r.val);
    }
    return b;
}

VirtIOHBalloonProto Decode(const std::vector<uint8_t>& b, uint32_t num_nodes = 2,
                           size_t in_len = VIRTIO_HBALLOON_RESP_SIZE,
                           VirtIOHBalloonReq* out = nullptr) {
    VirtIOHBalloonReq req;
    // The device copies at most REQ_MAX_LEN bytes but passes the real length.
    std::vector<uint8_t> copy(b.begin(),
                              b.begin() + std::min<size_t>(b.size(), VIRTIO_HBALLOON_REQ_MAX_LEN));
    copy.resize(VIRTIO_HBALLOON_REQ_MAX_LEN);
    VirtIOHBalloonProto p = virtio_hballoon_decode_req(copy.data(), b.size(), in_len, num_nodes, &req);
    if (out) *out = req;
    return p;
}

// A fake guest-physical memory map.  Each segment maps [gpa, gpa+len) onto
// the backend of `node` at byte offset `backend_off`.  Anything else is a
// hole (MMIO, unmapped).
struct Segment {
    uint64_t gpa, len;
    uint32_t node;
    uint64_t backend_off;
};

struct FakeMap {
    std::vector<Segment> segs;
    int calls = 0;

    static bool Resolve(void* opaque, uint32_t node, uint64_t gpa, uint64_t len, uint64_t* page_index) {
        auto* m = static_cast<FakeMap*>(opaque);
        m->calls++;
        for (const auto& s : m->segs) {
            if (gpa >= s.gpa && gpa < s.gpa + s.len) {
                // The whole range must stay inside this one segment of the
                // named node's backend.
                if (s.node != node || len > s.gpa + s.len - gpa) return false;
                *page_index = (s.backend_off + (gpa - s.gpa)) / kPage;
                return true;
            }
        }
        return false;
    }
};

// Two 1 GiB nodes like `-numa node,memdev=m0 -numa node,memdev=m1`, with a
// hole above 2 GiB.
FakeMap TwoNodes() { return FakeMap{{{0, kGiB, 0, 0}, {kGiB, kGiB, 1, 0}}}; }

constexpr uint64_t kNode1 = kGiB / kPage;  // first PFN of node 1

struct Checked {
    uint32_t status;
    uint32_t bad_index;
    std::vector<VirtIOHBalloonRun> runs;  // sorted, when status == OK
};

// The device's pipeline for a decoded request, without the host side.
Checked Check(const std::vector<uint8_t>& msg, FakeMap& map, const unsigned long* bitmap, bool inflate) {
    VirtIOHBalloonReq req;
    EXPECT_EQ(Decode(msg, 2, VIRTIO_HBALLOON_RESP_SIZE, &req), VIRTIO_HBALLOON_PROTO_OK);
    Checked c{VIRTIO_HBALLOON_S_OK, 0xffffffffu, std::vector<VirtIOHBalloonRun>(req.num_pfns)};
    c.status = virtio_hballoon_resolve_pfns(&req, msg.data() + VIRTIO_HBALLOON_REQ_SIZE, FakeMap::Resolve,
                                            &map, c.runs.data(), &c.bad_index);
    if (c.status != VIRTIO_HBALLOON_S_OK) return c;
    virtio_hballoon_sort_runs(c.runs.data(), req.num_pfns);
    c.status = virtio_hballoon_check_dups(c.runs.data(), req.num_pfns, &c.bad_index);
    if (c.status != VIRTIO_HBALLOON_S_OK) return c;
    c.status = virtio_hballoon_check_state(bitmap, c.runs.data(), req.num_pfns, inflate, &c.bad_index);
    return c;
}

struct Bitmap {
    std::vector<unsigned long> words;
    explicit Bitmap(uint64_t bits) : words((bits + VIRTIO_HBALLOON_BITS_PER_LONG - 1) / VIRTIO_HBALLOON_BITS_PER_LONG) {}
    void Set(uint64_t start, uint64_t n) {
        for (uint64_t i = start; i < start + n; i++)
            words[i / VIRTIO_HBALLOON_BITS_PER_LONG] |= 1UL << (i % VIRTIO_HBALLOON_BITS_PER_LONG);
    }
    const unsigned long* data() const { return words.data(); }
};

constexpr uint64_t kNodePages = kGiB / kPage;

// ------------------------------------------------- structural: requests --

TEST(HballoonCheckStructure, WellFormedRequestDecodes) {
    VirtIOHBalloonReq req;
    auto msg = Req(1, VIRTIO_HBALLOON_ORDER_2M, {kNode1, kNode1 + k2M}, 0xabcdef01);
    ASSERT_EQ(Decode(msg, 2, VIRTIO_HBALLOON_RESP_SIZE, &req), VIRTIO_HBALLOON_PROTO_OK);
    EXPECT_EQ(req.node, 1u);
    EXPECT_EQ(req.order, VIRTIO_HBALLOON_ORDER_2M);
    EXPECT_EQ(req.num_pfns, 2u);
    EXPECT_EQ(req.seq, 0xabcdef01u);
}

TEST(HballoonCheckStructure, ShortRequest) {
    auto msg = Req(0, 0, {});
    for (size_t len = 0; len < VIRTIO_HBALLOON_REQ_SIZE; len++) {
        std::vector<uint8_t> cut(msg.begin(), msg.begin() + len);
        EXPECT_EQ(Decode(cut), VIRTIO_HBALLOON_PROTO_SHORT_REQ) << len;
    }
}

TEST(HballoonCheckStructure, MissingOrShortResponseBuffer) {
    auto msg = Req(0, 0, {1});
    EXPECT_EQ(Decode(msg, 2, 0), VIRTIO_HBALLOON_PROTO_NO_RESP);
    EXPECT_EQ(Decode(msg, 2, VIRTIO_HBALLOON_RESP_SIZE - 1), VIRTIO_HBALLOON_PROTO_NO_RESP);
    EXPECT_EQ(Decode(msg, 2, VIRTIO_HBALLOON_RESP_SIZE + 100), VIRTIO_HBALLOON_PROTO_OK);
}

TEST(HballoonCheckStructure, ReservedMustBeZero) {
    EXPECT_EQ(Decode(Req(0, 0, {1}, 1, 1)), VIRTIO_HBALLOON_PROTO_REQ_RESERVED);
    EXPECT_EQ(Decode(Req(0, 0, {1}, 1, 0x8000)), VIRTIO_HBALLOON_PROTO_REQ_RESERVED);
}

TEST(HballoonCheckStructure, OnlyOrders4KAnd2M) {
    for (int order = 0; order < 64; order++) {
        auto p = Decode(Req(0, uint16_t(order), {0}));
        if (order == VIRTIO_HBALLOON_ORDER_4K || order == VIRTIO_HBALLOON_ORDER_2M)
            EXPECT_EQ(p, VIRTIO_HBALLOON_PROTO_OK) << order;
        else
            EXPECT_EQ(p, VIRTIO_HBALLOON_PROTO_BAD_ORDER) << order;
    }
    EXPECT_EQ(Decode(Req(0, 0xffff, {0})), VIRTIO_HBALLOON_PROTO_BAD_ORDER);
}

TEST(HballoonCheckStructure, UnknownNode) {
    EXPECT_EQ(Decode(Req(1, 0, {kNode1}), 2), VIRTIO_HBALLOON_PROTO_OK);
    EXPECT_EQ(Decode(Req(2, 0, {kNode1}), 2), VIRTIO_HBALLOON_PROTO_BAD_NODE);
    EXPECT_EQ(Decode(Req(1, 0, {kNode1}), 1), VIRTIO_HBALLOON_PROTO_BAD_NODE);
    EXPECT_EQ(Decode(Req(VIRTIO_HBALLOON_MAX_NODES, 0, {0}), VIRTIO_HBALLOON_MAX_NODES),
              VIRTIO_HBALLOON_PROTO_BAD_NODE);
    EXPECT_EQ(Decode(Req(0xffffffffu, 0, {0}), 2), VIRTIO_HBALLOON_PROTO_BAD_NODE);
}

TEST(HballoonCheckStructure, NumPfnsBounds) {
    EXPECT_EQ(Decode(Req(0, 0, {})), VIRTIO_HBALLOON_PROTO_NO_PFNS);
    std::vector<uint64_t> max(VIRTIO_HBALLOON_MAX_PFNS);
    EXPECT_EQ(Decode(Req(0, 0, max)), VIRTIO_HBALLOON_PROTO_OK);
    std::vector<uint64_t> over(VIRTIO_HBALLOON_MAX_PFNS + 1);
    EXPECT_EQ(Decode(Req(0, 0, over)), VIRTIO_HBALLOON_PROTO_TOO_MANY_PFNS);
    // A huge count is refused on the count, never trusted for a length.
    EXPECT_EQ(Decode(Req(0, 0, {1}, 1, 0, 0xffffffff)), VIRTIO_HBALLOON_PROTO_TOO_MANY_PFNS);
}

TEST(HballoonCheckStructure, LengthMustMatchNumPfns) {
    auto msg = Req(0, 0, {1, 2, 3});
    EXPECT_EQ(Decode(msg), VIRTIO_HBALLOON_PROTO_OK);
    EXPECT_EQ(Decode(Req(0, 0, {1, 2, 3}, 1, 0, 2)), VIRTIO_HBALLOON_PROTO_REQ_LENGTH);
    EXPECT_EQ(Decode(Req(0, 0, {1, 2, 3}, 1, 0, 4)), VIRTIO_HBALLOON_PROTO_REQ_LENGTH);
    auto plus1 = msg;
    plus1.push_back(0);
    EXPECT_EQ(Decode(plus1), VIRTIO_HBALLOON_PROTO_REQ_LENGTH);
    auto minus1 = msg;
    minus1.pop_back();
    EXPECT_EQ(Decode(minus1), VIRTIO_HBALLOON_PROTO_REQ_LENGTH);
    // Longer than the largest legal message: still only a length error.
    std::vector<uint64_t> max(VIRTIO_HBALLOON_MAX_PFNS);
    auto big = Req(0, 0, max);
    big.resize(big.size() + 4096);
    EXPECT_EQ(Decode(big), VIRTIO_HBALLOON_PROTO_REQ_LENGTH);
}

TEST(HballoonCheckStructure, EveryViolationHasADistinctMessage) {
    std::set<std::string> seen;
    for (int p = 0; p < VIRTIO_HBALLOON_PROTO__MAX; p++) {
        const char* s = virtio_hballoon_proto_str(VirtIOHBalloonProto(p));
        ASSERT_NE(s, nullptr);
        EXPECT_GT(std::strlen(s), 1u);
        EXPECT_TRUE(seen.insert(s).second) << s;
    }
}

// -------------------------------------------------------------- PFN rules --

TEST(HballoonCheckPfn, AcceptsPagesOfTheNamedNode) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(1, 0, {kNode1 + 5, kNode1}), map, bm.data(), true);
    ASSERT_EQ(c.status, VIRTIO_HBALLOON_S_OK);
    // Backend page indexes, sorted.
    EXPECT_EQ(c.runs[0].start, 0u);
    EXPECT_EQ(c.runs[0].index, 1u);
    EXPECT_EQ(c.runs[1].start, 5u);
    EXPECT_EQ(c.runs[1].index, 0u);
}

TEST(HballoonCheckPfn, AlignmentToOrder) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    EXPECT_EQ(Check(Req(0, 9, {0, k2M, 3 * k2M}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    for (uint64_t off : {uint64_t(1), uint64_t(8), uint64_t(256), uint64_t(511)}) {
        auto c = Check(Req(0, 9, {0, k2M + off}), map, bm.data(), true);
        EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE) << off;
        EXPECT_EQ(c.bad_index, 1u);
    }
    // Any 4 KiB PFN is aligned for order 0.
    EXPECT_EQ(Check(Req(0, 0, {1, 3, 511}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
}

TEST(HballoonCheckPfn, BeyondGuestRam) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(1, 0, {kNode1, 2 * kNode1}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 1u);
    // Last page of RAM is fine, the one after is not.
    EXPECT_EQ(Check(Req(1, 0, {2 * kNode1 - 1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(Check(Req(1, 9, {2 * kNode1 - k2M}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(Check(Req(1, 9, {2 * kNode1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
}

TEST(HballoonCheckPfn, AddressOverflowNeverReachesTheResolver) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    const uint64_t last = (UINT64_MAX >> VIRTIO_HBALLOON_PFN_SHIFT);  // last 4 KiB frame
    for (uint64_t pfn : {uint64_t(last + 1), uint64_t(UINT64_MAX), uint64_t(UINT64_MAX - 511), uint64_t(1ULL << 63)}) {
        map.calls = 0;
        auto c = Check(Req(0, 0, {pfn}), map, bm.data(), true);
        EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE) << pfn;
        EXPECT_EQ(map.calls, 0) << pfn;
    }
    map.calls = 0;
    EXPECT_EQ(Check(Req(0, 9, {(last + 1) - k2M + k2M}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(map.calls, 0);
}

TEST(HballoonCheckPfn, WrongNode) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {10, 11, kNode1 + 12}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 2u);
    c = Check(Req(1, 9, {0}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 0u);
}

TEST(HballoonCheckPfn, TwoMegRangeStraddlingTwoNodes) {
    // Node 0 ends 1 MiB past a 2 MiB boundary, so the 2 MiB page at 1 GiB is
    // half node 0, half node 1.
    FakeMap map{{{0, kGiB + kMiB, 0, 0}, {kGiB + kMiB, kGiB - kMiB, 1, 0}}};
    Bitmap bm(kNodePages + 256);
    EXPECT_EQ(Check(Req(0, 9, {kNode1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(Check(Req(1, 9, {kNode1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
    // Its 4 KiB pages resolve to their own node.
    EXPECT_EQ(Check(Req(0, 0, {kNode1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(Check(Req(1, 0, {kNode1 + 256}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(Check(Req(0, 0, {kNode1 + 256}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
}

TEST(HballoonCheckPfn, TwoMegRangeStraddlingTwoSectionsOfOneBackend) {
    // One backend mapped in two pieces (like below/above 4 GiB) with a hole
    // between them that is not 2 MiB aligned.
    FakeMap map{{{0, kGiB + kMiB, 0, 0}, {4 * kGiB, kGiB - kMiB, 0, kGiB + kMiB}}};
    Bitmap bm(kNodePages * 2);
    EXPECT_EQ(Check(Req(0, 9, {kNode1}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_RANGE);
    auto c = Check(Req(0, 0, {4 * kNode1}), map, bm.data(), true);
    ASSERT_EQ(c.status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(c.runs[0].start, (kGiB + kMiB) / kPage);
}

TEST(HballoonCheckPfn, HoleInsideRam) {
    FakeMap map{{{0, kGiB / 2, 0, 0}, {kGiB, kGiB / 2, 0, kGiB / 2}}};
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {1, kNode1 / 2 + 7}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 1u);
}

TEST(HballoonCheckPfn, FirstBadIndexInRequestOrder) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {1, 2, 3, kNode1 * 8, kNode1 + 1, 5}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 3u);
}

TEST(HballoonCheckPfn, RangeErrorWinsOverDuplicates) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {7, 7, kNode1}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_RANGE);
    EXPECT_EQ(c.bad_index, 2u);
}

// ------------------------------------------------------------ duplicates --

TEST(HballoonCheckDup, SamePageTwice) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {9, 4, 5, 4}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(c.bad_index, 3u);
    c = Check(Req(1, 9, {kNode1 + k2M, kNode1, kNode1 + k2M}), map, bm.data(), false);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(c.bad_index, 2u);
}

TEST(HballoonCheckDup, FirstDuplicateInRequestOrder) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    // 1 repeats at position 5, 8 repeats at position 3: 3 comes first.
    auto c = Check(Req(0, 0, {1, 8, 2, 8, 3, 1, 8}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(c.bad_index, 3u);
}

TEST(HballoonCheckDup, AdjacentPagesAreNotDuplicates) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    std::vector<uint64_t> pfns;
    for (uint64_t i = 0; i < VIRTIO_HBALLOON_MAX_PFNS; i++) pfns.push_back(1000 + (i * 7919) % VIRTIO_HBALLOON_MAX_PFNS);
    EXPECT_EQ(Check(Req(0, 0, pfns), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
    EXPECT_EQ(Check(Req(0, 9, {0, k2M, 2 * k2M}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
}

TEST(HballoonCheckDup, FourKInsideTwoMegOverlaps) {
    // One request carries one order, but the overlap check works on runs of
    // any length: a 4 KiB run inside a 2 MiB run is a duplicate.
    std::vector<VirtIOHBalloonRun> runs = {
        {1024, k2M, 0},        // 2 MiB at backend page 1024
        {1024 + 17, 1, 1},     // 4 KiB inside it
        {5000, 1, 2},
    };
    virtio_hballoon_sort_runs(runs.data(), uint32_t(runs.size()));
    uint32_t bad = 0;
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), uint32_t(runs.size()), &bad), VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(bad, 1u);

    // 4 KiB first in the request, 2 MiB later: the 2 MiB run is the offender.
    runs = {{1024 + 511, 1, 0}, {1024, k2M, 1}};
    virtio_hballoon_sort_runs(runs.data(), 2);
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), 2, &bad), VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(bad, 1u);

    // Partial overlap of two 2 MiB runs, and touching runs.
    runs = {{0, k2M, 0}, {k2M - 1, k2M, 1}};
    virtio_hballoon_sort_runs(runs.data(), 2);
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), 2, &bad), VIRTIO_HBALLOON_S_DUP);
    runs = {{0, k2M, 0}, {k2M, 1, 1}};
    virtio_hballoon_sort_runs(runs.data(), 2);
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), 2, &bad), VIRTIO_HBALLOON_S_OK);
    // A run nested in a long earlier run but after a short one.
    runs = {{0, 100, 0}, {10, 1, 1}, {50, 1, 2}};
    virtio_hballoon_sort_runs(runs.data(), 3);
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), 3, &bad), VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(bad, 1u);
    EXPECT_EQ(virtio_hballoon_check_dups(runs.data(), 0, &bad), VIRTIO_HBALLOON_S_OK);
}

TEST(HballoonCheckDup, DuplicateAfterTranslationToBackend) {
    // The same backend page reachable at two guest addresses is caught in
    // backend space.
    FakeMap map{{{0, kGiB, 0, 0}, {2 * kGiB, kGiB, 0, 0}}};
    Bitmap bm(kNodePages);
    auto c = Check(Req(0, 0, {3, 2 * kNode1 + 3}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_DUP);
    EXPECT_EQ(c.bad_index, 1u);
}

// ----------------------------------------------------------------- state --

TEST(HballoonCheckState, InflateOfBallooned) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    bm.Set(100, 1);
    auto c = Check(Req(0, 0, {99, 101, 100}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_STATE);
    EXPECT_EQ(c.bad_index, 2u);
    EXPECT_EQ(Check(Req(0, 0, {99, 101}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_OK);
}

TEST(HballoonCheckState, DeflateOfNotBallooned) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    bm.Set(10, 5);
    EXPECT_EQ(Check(Req(0, 0, {10, 14, 12}), map, bm.data(), false).status, VIRTIO_HBALLOON_S_OK);
    auto c = Check(Req(0, 0, {10, 15}), map, bm.data(), false);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_STATE);
    EXPECT_EQ(c.bad_index, 1u);
}

TEST(HballoonCheckState, TwoMegPartlyBallooned) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    bm.Set(k2M, k2M - 1);  // all but the last 4 KiB page of the second 2 MiB
    EXPECT_EQ(Check(Req(0, 9, {k2M}), map, bm.data(), true).status, VIRTIO_HBALLOON_S_STATE);
    EXPECT_EQ(Check(Req(0, 9, {k2M}), map, bm.data(), false).status, VIRTIO_HBALLOON_S_STATE);
    bm.Set(2 * k2M - 1, 1);
    EXPECT_EQ(Check(Req(0, 9, {k2M}), map, bm.data(), false).status, VIRTIO_HBALLOON_S_OK);
    // A 4 KiB page inside a ballooned 2 MiB page cannot be inflated again.
    auto c = Check(Req(0, 0, {0, k2M + 100}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_STATE);
    EXPECT_EQ(c.bad_index, 1u);
}

TEST(HballoonCheckState, SmallestOffendingIndex) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    bm.Set(5, 1);
    bm.Set(900, 1);
    // Sorted order visits 5 (index 3) before 900 (index 1).
    auto c = Check(Req(0, 0, {1, 900, 2, 5}), map, bm.data(), true);
    EXPECT_EQ(c.status, VIRTIO_HBALLOON_S_STATE);
    EXPECT_EQ(c.bad_index, 1u);
}

TEST(HballoonCheckState, RangeIsAcrossWordBoundaries) {
    Bitmap bm(1024);
    const uint64_t bpl = VIRTIO_HBALLOON_BITS_PER_LONG;
    bm.Set(bpl - 3, 2 * bpl + 6);
    EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), bpl - 3, 2 * bpl + 6, true));
    EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), bpl, bpl, true));
    EXPECT_FALSE(virtio_hballoon_range_is(bm.data(), bpl - 4, 2, true));
    EXPECT_FALSE(virtio_hballoon_range_is(bm.data(), bpl - 3, 2 * bpl + 7, true));
    EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), 0, bpl - 3, false));
    EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), 3 * bpl + 3, 500, false));
    EXPECT_FALSE(virtio_hballoon_range_is(bm.data(), 0, bpl, false));
    EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), 7, 0, true));
    // Every single bit agrees with a plain per-bit test.
    for (uint64_t i = 0; i < 1024; i++) {
        bool set = i >= bpl - 3 && i < 3 * bpl + 3;
        EXPECT_EQ(virtio_hballoon_test_bit(bm.data(), i), set) << i;
        EXPECT_TRUE(virtio_hballoon_range_is(bm.data(), i, 1, set)) << i;
    }
}

// ------------------------------------------------------------ coalescing --

std::vector<VirtIOHBalloonRun> Coalesce(std::vector<VirtIOHBalloonRun> runs) {
    virtio_hballoon_sort_runs(runs.data(), uint32_t(runs.size()));
    std::vector<VirtIOHBalloonRun> ext(runs.size());
    uint32_t n = virtio_hballoon_coalesce(runs.data(), uint32_t(runs.size()), ext.data());
    ext.resize(n);
    return ext;
}

TEST(HballoonCheckCoalesce, ContiguousPagesBecomeOneExtent) {
    std::vector<VirtIOHBalloonRun> runs;
    for (uint32_t i = 0; i < VIRTIO_HBALLOON_MAX_PFNS; i++) runs.push_back({5000 + (VIRTIO_HBALLOON_MAX_PFNS - 1 - i), 1, i});
    auto ext = Coalesce(runs);
    ASSERT_EQ(ext.size(), 1u);
    EXPECT_EQ(ext[0].start, 5000u);
    EXPECT_EQ(ext[0].npages, VIRTIO_HBALLOON_MAX_PFNS);
    EXPECT_EQ(ext[0].index, 0u);
}

TEST(HballoonCheckCoalesce, GapsSplitExtents) {
    auto ext = Coalesce({{10, 1, 0}, {12, 1, 1}, {11, 1, 2}, {20, 1, 3}, {21, 1, 4}, {40, 1, 5}});
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[0].start, 10u);
    EXPECT_EQ(ext[0].npages, 3u);
    EXPECT_EQ(ext[1].start, 20u);
    EXPECT_EQ(ext[1].npages, 2u);
    EXPECT_EQ(ext[2].start, 40u);
    EXPECT_EQ(ext[2].npages, 1u);
}

TEST(HballoonCheckCoalesce, TwoMegPages) {
    auto ext = Coalesce({{3 * k2M, k2M, 0}, {0, k2M, 1}, {k2M, k2M, 2}, {10 * k2M, k2M, 3}});
    ASSERT_EQ(ext.size(), 3u);
    EXPECT_EQ(ext[0].start, 0u);
    EXPECT_EQ(ext[0].npages, 2u * k2M);
    EXPECT_EQ(ext[0].index, 1u);
    EXPECT_EQ(ext[1].start, 3u * k2M);
    EXPECT_EQ(ext[1].npages, k2M);
    EXPECT_EQ(ext[2].start, 10u * k2M);
}

TEST(HballoonCheckCoalesce, AlternatingPagesCannotMerge) {
    std::vector<VirtIOHBalloonRun> runs;
    for (uint32_t i = 0; i < VIRTIO_HBALLOON_MAX_PFNS; i++) runs.push_back({2ull * i, 1, i});
    EXPECT_EQ(Coalesce(runs).size(), size_t(VIRTIO_HBALLOON_MAX_PFNS));
}

TEST(HballoonCheckCoalesce, ExtentsAreMinimalAndCoverExactlyTheInput) {
    // Pseudo-random sets: the number of extents equals the number of
    // maximal runs of consecutive page indexes, and the pages are the same.
    uint64_t x = 88172645463325252ULL;
    for (int round = 0; round < 50; round++) {
        std::set<uint64_t> pages;
        std::vector<VirtIOHBalloonRun> runs;
        uint32_t n = 1 + uint32_t(x % VIRTIO_HBALLOON_MAX_PFNS);
        for (uint32_t i = 0; runs.size() < n && i < 10 * n; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            uint64_t p = x % (3 * n);
            if (pages.insert(p).second) runs.push_back({p, 1, uint32_t(runs.size())});
        }
        size_t want = 0;
        for (uint64_t p : pages) {
            if (p == 0 || !pages.count(p - 1)) want++;
        }
        auto ext = Coalesce(runs);
        EXPECT_EQ(ext.size(), want);
        std::set<uint64_t> got;
        for (size_t i = 0; i < ext.size(); i++) {
            if (i) {
                EXPECT_GT(ext[i].start, ext[i - 1].start + ext[i - 1].npages);  // gap between
            }
            for (uint64_t p = ext[i].start; p < ext[i].start + ext[i].npages; p++) got.insert(p);
        }
        EXPECT_EQ(got, pages);
    }
}

TEST(HballoonCheckCoalesce, EmptyAndInPlace) {
    VirtIOHBalloonRun r[3] = {{1, 1, 0}, {2, 1, 1}, {4, 1, 2}};
    EXPECT_EQ(virtio_hballoon_coalesce(r, 0, r), 0u);
    ASSERT_EQ(virtio_hballoon_coalesce(r, 3, r), 2u);  // output aliases input
    EXPECT_EQ(r[0].start, 1u);
    EXPECT_EQ(r[0].npages, 2u);
    EXPECT_EQ(r[1].start, 4u);
}

TEST(HballoonCheckPipeline, MaxRequestOfContiguous2MPages) {
    FakeMap map = TwoNodes();
    Bitmap bm(kNodePages);
    std::vector<uint64_t> pfns;
    // 512 x 2 MiB = all of node 1, given in reverse.
    for (uint64_t i = 0; i < kNodePages / k2M; i++) pfns.push_back(kNode1 + (kNodePages / k2M - 1 - i) * k2M);
    auto c = Check(Req(1, 9, pfns), map, bm.data(), true);
    ASSERT_EQ(c.status, VIRTIO_HBALLOON_S_OK);
    std::vector<VirtIOHBalloonRun> ext(c.runs.size());
    ASSERT_EQ(virtio_hballoon_coalesce(c.runs.data(), uint32_t(c.runs.size()), ext.data()), 1u);
    EXPECT_EQ(ext[0].start, 0u);
    EXPECT_EQ(ext[0].npages, kNodePages);
}

TEST(HballoonCheckResponse, EncodesLittleEndian) {
    uint8_t b[VIRTIO_HBALLOON_RESP_SIZE];
    virtio_hballoon_encode_resp(b, VIRTIO_HBALLOON_S_STATE, 0x11223344, 1023, 0x00abcdef);
    const uint8_t want[] = {3, 0, 0, 0, 0x44, 0x33, 0x22, 0x11, 0xff, 3, 0, 0, 0xef, 0xcd, 0xab, 0};
    EXPECT_EQ(0, std::memcmp(b, want, sizeof(b)));
}

// ----------------------------------------------------------------- stats --

VirtIOHBalloonProto DecodeStats(const std::vector<uint8_t>& b, VirtIOHBalloonStatsHdr* hdr = nullptr) {
    VirtIOHBalloonStatsHdr h;
    std::vector<uint8_t> copy(b.begin(), b.begin() + std::min<size_t>(b.size(), VIRTIO_HBALLOON_STATS_MAX_LEN));
    copy.resize(VIRTIO_HBALLOON_STATS_MAX_LEN);
    auto p = virtio_hballoon_decode_stats(copy.data(), b.size(), &h);
    if (hdr) *hdr = h;
    return p;
}

TEST(HballoonCheckStats, WellFormed) {
    VirtIOHBalloonStatsHdr hdr;
    auto msg = Stats({{VIRTIO_HBALLOON_STAT_FREE_BYTES, 1, 0, 0x1122334455667788ULL},
                      {VIRTIO_HBALLOON_STAT_PSI_FULL_US, VIRTIO_HBALLOON_STAT_NODE_ANY, 0, 5}},
                     99);
    ASSERT_EQ(DecodeStats(msg, &hdr), VIRTIO_HBALLOON_PROTO_OK);
    EXPECT_EQ(hdr.num_stats, 2u);
    EXPECT_EQ(hdr.seq, 99u);
    VirtIOHBalloonStat st;
    virtio_hballoon_get_stat(msg.data(), 0, &st);
    EXPECT_EQ(st.tag, VIRTIO_HBALLOON_STAT_FREE_BYTES);
    EXPECT_EQ(st.node, 1u);
    EXPECT_EQ(st.val, 0x1122334455667788ULL);
    virtio_hballoon_get_stat(msg.data(), 1, &st);
    EXPECT_EQ(st.node, VIRTIO_HBALLOON_STAT_NODE_ANY);
    EXPECT_EQ(st.val, 5u);
}

TEST(HballoonCheckStats, StructuralRules) {
    auto one = Stats({{0, 0, 0, 1}});
    for (size_t len = 0; len < VIRTIO_HBALLOON_STATS_HDR_SIZE; len++)
        EXPECT_EQ(DecodeStats(std::vector<uint8_t>(one.begin(), one.begin() + len)),
                  VIRTIO_HBALLOON_PROTO_SHORT_STATS);
    EXPECT_EQ(DecodeStats(Stats({})), VIRTIO_HBALLOON_PROTO_NO_STATS);
    std::vector<StatRec> max(VIRTIO_HBALLOON_MAX_STATS, StatRec{1, 0, 0, 2});
    EXPECT_EQ(DecodeStats(Stats(max)), VIRTIO_HBALLOON_PROTO_OK);
    std::vector<StatRec> over(VIRTIO_HBALLOON_MAX_STATS + 1, StatRec{1, 0, 0, 2});
    EXPECT_EQ(DecodeStats(Stats(over)), VIRTIO_HBALLOON_PROTO_TOO_MANY_STATS);
    EXPECT_EQ(DecodeStats(Stats({{0, 0, 0, 1}}, 1, 0xffffffff)), VIRTIO_HBALLOON_PROTO_TOO_MANY_STATS);
    EXPECT_EQ(DecodeStats(Stats({{0, 0, 0, 1}, {0, 0, 0, 1}}, 1, 1)), VIRTIO_HBALLOON_PROTO_STATS_LENGTH);
    EXPECT_EQ(DecodeStats(Stats({{0, 0, 0, 1}}, 1, 2)), VIRTIO_HBALLOON_PROTO_STATS_LENGTH);
    auto extra = one;
    extra.push_back(0);
    EXPECT_EQ(DecodeStats(extra), VIRTIO_HBALLOON_PROTO_STATS_LENGTH);
    std::vector<StatRec> res(VIRTIO_HBALLOON_MAX_STATS, StatRec{1, 0, 0, 2});
    res.back().reserved = 0x80000000u;
    EXPECT_EQ(DecodeStats(Stats(res)), VIRTIO_HBALLOON_PROTO_STAT_RESERVED);
}

TEST(HballoonCheckStats, SlotsAreBoundedAndInvertible) {
    std::set<int> slots;
    std::vector<uint32_t> nodes;
    for (uint32_t node = 0; node < 300; node++) nodes.push_back(node);
    for (uint32_t node = 300; node < 0xffff; node += 1009) nodes.push_back(node);
    nodes.push_back(0xfffe);
    nodes.push_back(0xffff);
    for (uint32_t tag = 0; tag <= 0xffff; tag += (tag < 64 ? 1 : 997)) {
        for (uint32_t node : nodes) {
            int s = virtio_hballoon_stat_slot(uint16_t(tag), uint16_t(node));
            bool known = tag < VIRTIO_HBALLOON_STAT_NR_TAGS &&
                         (node < VIRTIO_HBALLOON_MAX_STATS || node == VIRTIO_HBALLOON_STAT_NODE_ANY);
            if (!known) {
                EXPECT_EQ(s, -1) << tag << "/" << node;
                continue;
            }
            ASSERT_GE(s, 0);
            ASSERT_LT(s, VIRTIO_HBALLOON_STAT_SLOTS);
            EXPECT_TRUE(slots.insert(s).second);
            uint16_t t2, n2;
            virtio_hballoon_stat_slot_key(s, &t2, &n2);
            EXPECT_EQ(t2, tag);
            EXPECT_EQ(n2, node);
        }
        if (tag == 0xffff) break;
    }
    EXPECT_EQ(slots.size(), size_t(VIRTIO_HBALLOON_STAT_SLOTS));
    EXPECT_EQ(virtio_hballoon_stat_slot(VIRTIO_HBALLOON_STAT_NR_TAGS, 0), -1);
    EXPECT_EQ(virtio_hballoon_stat_slot(0, VIRTIO_HBALLOON_MAX_STATS), -1);
}

TEST(HballoonCheckStats, RateLimit) {
    EXPECT_TRUE(virtio_hballoon_stats_due(false, 0, 0, 1000));
    EXPECT_FALSE(virtio_hballoon_stats_due(true, 5000, 5999, 1000));
    EXPECT_TRUE(virtio_hballoon_stats_due(true, 5000, 6000, 1000));
    EXPECT_TRUE(virtio_hballoon_stats_due(true, 5000, 5000, 0));
    EXPECT_FALSE(virtio_hballoon_stats_due(true, 5000, 4000, 1000));  // clock went back
}

// ------------------------------------------------------------ the import --

std::string Slurp(const char* path) {
    std::ifstream f(path, std::ios::binary);
    EXPECT_TRUE(f.good()) << path;
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

TEST(HballoonCheckImport, QemuCopyOfWireHeaderIsByteIdentical) {
    std::string a = Slurp(HB_UAPI_HEADER), b = Slurp(HB_QEMU_HEADER);
    EXPECT_FALSE(a.empty());
    EXPECT_TRUE(a == b) << HB_UAPI_HEADER << " and " << HB_QEMU_HEADER << " differ";
}

}  // namespace
