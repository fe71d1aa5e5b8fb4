// A fixture file tree in a fresh temp dir, removed at destruction.
#ifndef TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_TEST_TREE_H_
#define TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_TEST_TREE_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace tiervm::adapters::testing {

class TestTree {
 public:
  TestTree() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tiervm-adp-XXXXXX").string();
    char* dir = ::mkdtemp(tmpl.data());
    EXPECT_NE(dir, nullptr);
    root_ = tmpl;
  }
  ~TestTree() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TestTree(const TestTree&) = delete;
  TestTree& operator=(const TestTree&) = delete;

  const std::string& root() const { return root_; }

  // Writes `content` to root/rel, creating directories.
  std::string Write(const std::string& rel, const std::string& content) const {
    const std::filesystem::path p = std::filesystem::path(root_) / rel;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary);
    out << content;
    return p.string();
  }

 private:
  std::string root_;
};

}  // namespace tiervm::adapters::testing

#endif  // TIERVM_TESTS_UNIT_PLACEMENT_ADAPTERS_TEST_TREE_H_
