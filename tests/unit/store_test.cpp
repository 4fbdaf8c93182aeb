// The model store (src/store/): names, manifests, the Modelfile parser, the hub's file
// selection, the store's operations on a temporary directory, and the resolver.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gguf/writer.h"
#include "store/hub.h"
#include "store/manifest.h"
#include "store/model_name.h"
#include "store/model_store.h"
#include "store/modelfile.h"
#include "store/resolver.h"
#include "store/sha256.h"

namespace kiln::store {
namespace {

namespace fs = std::filesystem;

// ---- names ----

TEST(StoreModelName, TagDefaultsToLatest) {
  auto n = ModelName::parse("qwen2.5-coder");
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(n->name, "qwen2.5-coder");
  EXPECT_EQ(n->tag, "latest");
  EXPECT_EQ(n->full(), "qwen2.5-coder:latest");
}

TEST(StoreModelName, HubNameKeepsItsParts) {
  auto n = ModelName::parse("hf.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q4_K_M");
  ASSERT_TRUE(n.ok()) << n.message();
  EXPECT_EQ(n->name, "hf.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF");
  EXPECT_EQ(n->tag, "Q4_K_M");
}

TEST(StoreModelName, DirectoryRoundTrips) {
  for (const char* text : {"a:b", "hf.co/o/r:Q4_K_M", "x.y_z-1:0.5b"}) {
    auto n = ModelName::parse(text);
    ASSERT_TRUE(n.ok()) << text;
    EXPECT_EQ(n->directory().find('/'), std::string::npos) << n->directory();
    auto back = ModelName::from_directory(n->directory());
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(back->full(), n->full());
  }
  EXPECT_EQ(ModelName::parse("hf.co/o/r:Q4")->directory(), "hf.co%2Fo%2Fr%3AQ4");
  EXPECT_FALSE(ModelName::from_directory("model.gguf").ok());  // no tag: a loose file's name
  EXPECT_FALSE(ModelName::from_directory("a%3").ok());
}

TEST(StoreModelName, RejectsBadNames) {
  struct Case {
    const char* text;
    const char* message_part;
  };
  for (const Case& c : {Case{"", "empty"}, Case{"a:", "empty tag"}, Case{"a b", "character ' '"},
                        Case{"a//b", "empty name part"}, Case{"../x", "'..'"},
                        Case{"a:b:c", "character ':'"}, Case{"/abs", "empty name part"}}) {
    auto n = ModelName::parse(c.text);
    ASSERT_FALSE(n.ok()) << c.text;
    EXPECT_NE(n.message().find(c.message_part), std::string::npos) << c.text << ": " << n.message();
  }
}

// ---- manifest ----

TEST(StoreManifest, RoundTrip) {
  Manifest m;
  m.name = "hf.co/o/r:Q4_1";
  m.source = "hf.co/o/r:Q4_1";
  m.revision = "abc123";
  m.file = "r-Q4_1-00001-of-00002.gguf";
  m.parts = {"r-Q4_1-00001-of-00002.gguf", "r-Q4_1-00002-of-00002.gguf"};
  m.sha256 = std::string(64, 'a');
  m.size_bytes = 123456789012ull;
  m.architecture = "llama";
  m.quantization = "Q4_1";
  m.added = "2026-12-05T07:00:00Z";
  m.defaults.parameters = {{"temperature", 0.5}, {"stop", {"a", "b"}}, {"num_ctx", 2048}};
  m.defaults.system = "be brief";
  m.defaults.chat_template = "{{ messages }}";
  m.defaults.license = "MIT";
  auto back = Manifest::from_json(nlohmann::json::parse(m.to_json().dump()));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->to_json(), m.to_json());
  EXPECT_EQ(back->size_bytes, m.size_bytes);
  EXPECT_EQ(back->parts, m.parts);
  EXPECT_EQ(*back->defaults.system, "be brief");
}

TEST(StoreManifest, RejectsBrokenManifests) {
  Manifest m;
  m.name = "a:latest";
  m.file = "a.gguf";
  nlohmann::json good = m.to_json();
  ASSERT_TRUE(Manifest::from_json(good).ok());
  auto without_name = good;
  without_name.erase("name");
  EXPECT_NE(Manifest::from_json(without_name).message().find("'name'"), std::string::npos);
  auto both = good;
  both["base"] = "b:latest";
  EXPECT_NE(Manifest::from_json(both).message().find("not both"), std::string::npos);
  auto future = good;
  future["version"] = 99;
  EXPECT_NE(Manifest::from_json(future).message().find("version 99"), std::string::npos);
  auto bad_size = good;
  bad_size["size"] = "big";
  EXPECT_FALSE(Manifest::from_json(bad_size).ok());
}

TEST(StoreManifest, MergeLetsTheVariantWin) {
  ModelDefaults base, over;
  base.parameters = {{"temperature", 0.7}, {"top_k", 40}};
  base.system = "base system";
  over.parameters = {{"temperature", 0.0}};
  auto merged = ModelDefaults::merge(base, over);
  EXPECT_EQ(merged.parameters["temperature"], 0.0);
  EXPECT_EQ(merged.parameters["top_k"], 40);
  EXPECT_EQ(*merged.system, "base system");
}

// ---- Modelfile ----

TEST(StoreModelfile, ParsesEveryInstruction) {
  const char* text =
      "# a comment\n"
      "from ./model.gguf\n"
      "PARAMETER temperature 0.2\n"
      "PARAMETER top_k 7\n"
      "parameter stop \"<|end|>\"\n"
      "PARAMETER stop \"say \\\"hi\\\"\"\n"
      "PARAMETER num_ctx 2048\n"
      "PARAMETER seed -3\n"
      "SYSTEM \"\"\"You are\n"
      "a pirate.\"\"\"\n"
      "TEMPLATE {{ messages }}\n"
      "LICENSE   MIT   \n";
  auto mf = parse_modelfile(text);
  ASSERT_TRUE(mf.ok()) << mf.message();
  EXPECT_EQ(mf->from, "./model.gguf");
  EXPECT_DOUBLE_EQ(mf->defaults.parameters["temperature"].get<double>(), 0.2);
  EXPECT_EQ(mf->defaults.parameters["top_k"], 7);
  EXPECT_EQ(mf->defaults.parameters["stop"], nlohmann::json({"<|end|>", "say \"hi\""}));
  EXPECT_EQ(mf->defaults.parameters["num_ctx"], 2048);
  EXPECT_EQ(mf->defaults.parameters["seed"], -3);
  EXPECT_EQ(*mf->defaults.system, "You are\na pirate.");
  EXPECT_EQ(*mf->defaults.chat_template, "{{ messages }}");
  EXPECT_EQ(*mf->defaults.license, "MIT");
}

TEST(StoreModelfile, FormatRoundTrips) {
  auto mf = parse_modelfile(
      "FROM base:latest\nPARAMETER temperature 0.25\nPARAMETER stop a\nPARAMETER stop \"b c\"\n"
      "SYSTEM \"\"\"two\nlines\"\"\"\nTEMPLATE \"{{ x }}\"\n");
  ASSERT_TRUE(mf.ok()) << mf.message();
  const std::string text = format_modelfile(mf->from, mf->defaults);
  auto again = parse_modelfile(text);
  ASSERT_TRUE(again.ok()) << again.message() << "\n" << text;
  EXPECT_EQ(again->from, "base:latest");
  EXPECT_EQ(again->defaults.parameters, mf->defaults.parameters);
  EXPECT_EQ(again->defaults.system, mf->defaults.system);
  EXPECT_EQ(again->defaults.chat_template, mf->defaults.chat_template);
}

TEST(StoreModelfile, ErrorsCarryLineAndColumn) {
  struct Case {
    const char* text;
    const char* expected;  // the whole message
  };
  const Case cases[] = {
      {"FROM a\nFROB b\n",
       "line 2, column 1: unknown instruction 'FROB' (expected FROM, PARAMETER, SYSTEM, TEMPLATE "
       "or LICENSE)"},
      {"FROM a\n  PARAMETER warmth 3\n",
       "line 2, column 13: unknown parameter 'warmth' (kiln knows: temperature, top_k, top_p, "
       "min_p, num_predict, "
       "stop, seed, repeat_penalty, presence_penalty, frequency_penalty, num_ctx)"},
      {"FROM a\nPARAMETER top_k 1.5\n", "line 2, column 17: top_k expects an integer, got '1.5'"},
      {"FROM a\nPARAMETER temperature hot\n",
       "line 2, column 23: temperature expects a number, got 'hot'"},
      {"FROM a\nPARAMETER top_p 2\n", "line 2, column 17: top_p must be in [0, 1], got 2"},
      {"FROM a\nPARAMETER num_ctx 8\n",
       "line 2, column 19: num_ctx must be in [16, 4194304], got 8"},
      {"FROM a\nPARAMETER top_k\n", "line 2, column 16: PARAMETER top_k needs an argument"},
      {"FROM a\nPARAMETER\n", "line 2, column 10: PARAMETER needs a name and a value"},
      {"FROM a\nSYSTEM \"\"\"never\nclosed\n",
       "line 2, column 8: unterminated \"\"\" (no closing \"\"\")"},
      {"FROM a\nSYSTEM \"open\n", "line 2, column 8: unterminated \" (no closing \" on this line)"},
      {"FROM a\nSYSTEM \"x\" y\n", "line 2, column 12: unexpected text after the closing quote"},
      {"FROM\n", "line 1, column 5: FROM needs an argument"},
      {"# only a comment\nSYSTEM hi\n", "line 3, column 1: no FROM instruction"},
      {"FROM a\nFROM b\n", "line 2, column 1: a second FROM (one is allowed)"},
      {"FROM a\nADAPTER x.gguf\n",
       "line 2, column 1: ADAPTER is not supported by kiln (FROM, PARAMETER, SYSTEM, TEMPLATE and "
       "LICENSE are)"},
      {"FROM a\nPARAMETER stop \"\"\n", "line 2, column 16: stop needs a non-empty string"},
  };
  for (const Case& c : cases) {
    auto mf = parse_modelfile(c.text);
    ASSERT_FALSE(mf.ok()) << c.text;
    EXPECT_EQ(mf.message(), c.expected) << c.text;
  }
}

// ---- hub sources and file selection ----

TEST(StoreHub, ParsesSources) {
  auto repo = parse_pull_source("hf.co/Qwen/Qwen2.5-GGUF:q4_k_m", false);
  ASSERT_TRUE(repo.ok()) << repo.message();
  EXPECT_EQ(repo->kind, SourceKind::kHubRepo);
  EXPECT_EQ(repo->repo, "Qwen/Qwen2.5-GGUF");
  EXPECT_EQ(repo->quant, "q4_k_m");
  EXPECT_EQ(repo->default_name, "hf.co/Qwen/Qwen2.5-GGUF:q4_k_m");

  auto bare = parse_pull_source("huggingface.co/o/r", false);
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->quant, "");
  EXPECT_EQ(bare->default_name, "hf.co/o/r:latest");

  auto file = parse_pull_source("o/r/sub/model-Q8_0.gguf", false);
  ASSERT_TRUE(file.ok()) << file.message();
  EXPECT_EQ(file->kind, SourceKind::kHubFile);
  EXPECT_EQ(file->repo, "o/r");
  EXPECT_EQ(file->file, "sub/model-Q8_0.gguf");
  EXPECT_EQ(file->default_name, "hf.co/o/r:Q8_0");

  auto url = parse_pull_source("https://example.com/x/My Model.gguf?download=1", false);
  ASSERT_TRUE(url.ok());
  EXPECT_EQ(url->kind, SourceKind::kUrl);
  EXPECT_EQ(url->default_name, "My-Model:latest");

  auto local = parse_pull_source("/tmp/some.model.gguf", true);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->kind, SourceKind::kLocalFile);
  EXPECT_EQ(local->default_name, "some.model:latest");

  EXPECT_NE(parse_pull_source("/no/such.gguf", false).message().find("no such file"),
            std::string::npos);
  EXPECT_NE(
      parse_pull_source("justaword", false).message().find("expected hf.co/OWNER/REPO[:QUANT]"),
      std::string::npos);
  EXPECT_FALSE(parse_pull_source("o/r/notes.txt", false).ok());
}

TEST(StoreHub, QuantizationInFileName) {
  EXPECT_EQ(quantization_in_filename("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"), "Q4_K_M");
  EXPECT_EQ(quantization_in_filename("SmolLM2-135M-Instruct.Q4_1.gguf"), "Q4_1");
  EXPECT_EQ(quantization_in_filename("dir/Model-IQ4_XS-00002-of-00003.gguf"), "IQ4_XS");
  EXPECT_EQ(quantization_in_filename("model-bf16.gguf"), "BF16");
  EXPECT_EQ(quantization_in_filename("model.gguf"), "");
}

TEST(StoreHub, SplitPartNames) {
  auto p = split_part_of("dir/m-Q4_K_M-00002-of-00003.gguf");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->group, "dir/m-Q4_K_M");
  EXPECT_EQ(p->index, 2);
  EXPECT_EQ(p->count, 3);
  EXPECT_FALSE(split_part_of("m-0002-of-00003.gguf").has_value());
  EXPECT_FALSE(split_part_of("m-00004-of-00003.gguf").has_value());
  EXPECT_FALSE(split_part_of("m-00001-of-00003.bin").has_value());
  EXPECT_FALSE(split_part_of("-00001-of-00003.gguf").has_value());
}

std::vector<HubFile> listing() {
  return {{"README.md", 10, ""},
          {"m-Q4_K_M.gguf", 100, std::string(64, '1')},
          {"m-Q8_0.gguf", 200, std::string(64, '2')},
          {"mmproj-m-Q4_K_M.gguf", 5, ""},
          {"big/m-F16-00002-of-00002.gguf", 300, ""},
          {"big/m-F16-00001-of-00002.gguf", 300, ""}};
}

TEST(StoreHub, SelectsByQuantizationCaseInsensitively) {
  auto q = select_by_quantization(listing(), "q8_0", "o/r");
  ASSERT_TRUE(q.ok()) << q.message();
  ASSERT_EQ(q->size(), 1u);
  EXPECT_EQ((*q)[0].path, "m-Q8_0.gguf");
  auto def = select_by_quantization(listing(), "", "o/r");  // several: Ollama's Q4_K_M
  ASSERT_TRUE(def.ok());
  EXPECT_EQ((*def)[0].path, "m-Q4_K_M.gguf");
  auto split = select_by_quantization(listing(), "F16", "o/r");
  ASSERT_TRUE(split.ok()) << split.message();
  ASSERT_EQ(split->size(), 2u);
  EXPECT_EQ((*split)[0].path, "big/m-F16-00001-of-00002.gguf");
  EXPECT_EQ((*split)[1].path, "big/m-F16-00002-of-00002.gguf");
  auto missing = select_by_quantization(listing(), "Q2_K", "o/r");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(),
            "hf.co/o/r has no GGUF file for quantization 'Q2_K' (available: F16, Q4_K_M, Q8_0)");
  EXPECT_EQ(select_by_quantization({{"README.md", 1, ""}}, "", "o/r").message(),
            "hf.co/o/r holds no .gguf files");
}

TEST(StoreHub, SelectsByPathWithSplitSiblings) {
  auto one = select_by_path(listing(), "big/m-F16-00002-of-00002.gguf", "o/r");
  ASSERT_TRUE(one.ok()) << one.message();
  EXPECT_EQ(one->size(), 2u);
  auto missing = select_by_path(listing(), "nope.gguf", "o/r");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("has no file 'nope.gguf'"), std::string::npos);
  std::vector<HubFile> incomplete = {{"m-F16-00001-of-00003.gguf", 1, ""}};
  EXPECT_NE(select_by_path(incomplete, "m-F16-00001-of-00003.gguf", "o/r")
                .message()
                .find("1 of its 3 parts"),
            std::string::npos);
}

TEST(StoreHub, ParsesTheTreeListing) {
  auto files = parse_hub_tree(R"([
    {"type": "directory", "path": "big", "oid": "x", "size": 0},
    {"type": "file", "path": "README.md", "oid": "0123", "size": 12},
    {"type": "file", "path": "m.gguf", "oid": "f00", "size": 134,
     "lfs": {"oid": "ABCDEF0000000000000000000000000000000000000000000000000000000000", "size": 1000, "pointerSize": 134}}
  ])");
  ASSERT_TRUE(files.ok()) << files.message();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].sha256, "");
  EXPECT_EQ((*files)[1].size_bytes, 1000u);
  EXPECT_EQ((*files)[1].sha256, "abcdef0000000000000000000000000000000000000000000000000000000000");
  EXPECT_FALSE(parse_hub_tree("{\"error\": \"x\"}").ok());
}

TEST(StoreSha256, KnownVectors) {
  Sha256 empty;
  EXPECT_EQ(empty.hex_digest(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 abc;
  abc.update("abc", 3);
  EXPECT_EQ(abc.hex_digest(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// ---- the store on disk ----

class StoreOnDisk : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = ::testing::TempDir() + "kiln_store_" + info->name();
    fs::remove_all(root_);
    fs::create_directories(root_);
    work_ = root_ + "-work";
    fs::remove_all(work_);
    fs::create_directories(work_);
  }
  void TearDown() override {
    fs::remove_all(root_);
    fs::remove_all(work_);
  }

  // A metadata-only GGUF (no tensors): enough for the store, which never loads weights.
  std::string write_gguf(const std::string& file, const std::string& arch = "llama") {
    gguf::Writer w;
    w.set_string("general.architecture", arch);
    w.set_uint32("general.file_type", 3);  // Q4_1
    std::vector<float> data(32, 1.0f);
    EXPECT_TRUE(w.add_tensor("t", DType::F32, {32}, data.data()).ok());
    const std::string path = work_ + "/" + file;
    EXPECT_TRUE(w.write(path).ok());
    return path;
  }

  std::string root_, work_;
};

TEST_F(StoreOnDisk, CreateFromAFileThenVariantsFindListCopyRemove) {
  ModelStore store(root_);
  const std::string gguf = write_gguf("tiny.gguf");
  auto base =
      store.create("tiny", "FROM tiny.gguf\nPARAMETER temperature 0.7\nPARAMETER top_k 5\n", work_);
  ASSERT_TRUE(base.ok()) << base.message();
  EXPECT_EQ(base->architecture, "llama");
  EXPECT_EQ(base->quantization, "Q4_1");
  auto sha = sha256_file(gguf);
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(base->sha256, *sha);

  auto variant =
      store.create("tiny:pirate", "FROM tiny\nPARAMETER temperature 0\nSYSTEM Arr.\n", work_);
  ASSERT_TRUE(variant.ok()) << variant.message();
  EXPECT_EQ(variant->base, "tiny:latest");
  EXPECT_TRUE(variant->file.empty());

  auto found = store.find("tiny:pirate");
  ASSERT_TRUE(found.ok()) << found.message();
  EXPECT_EQ(found->gguf_path, fs::absolute(root_ + "/tiny%3Alatest/tiny.gguf").string());
  EXPECT_EQ(found->defaults.parameters["temperature"], 0.0);
  EXPECT_EQ(found->defaults.parameters["top_k"], 5);
  EXPECT_EQ(*found->defaults.system, "Arr.");
  EXPECT_EQ(found->weights_manifest.name, "tiny:latest");

  ASSERT_TRUE(store.copy("tiny", "copy:1").ok());
  std::vector<std::string> names;
  for (const Manifest& m : store.list()) names.push_back(m.name);
  EXPECT_EQ(names, (std::vector<std::string>{"copy:1", "tiny:latest", "tiny:pirate"}));
  // The copy has its own link to the same bytes.
  EXPECT_EQ(fs::hard_link_count(store.find("copy:1")->gguf_path), 3u);  // source, tiny, copy

  auto refused = store.remove("tiny");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.message(),
            "model 'tiny:latest' is the base of tiny:pirate; remove those first");
  ASSERT_TRUE(store.remove("tiny:pirate").ok());
  ASSERT_TRUE(store.remove("tiny").ok());
  EXPECT_TRUE(store.find("copy:1").ok());
  auto gone = store.find("tiny");
  ASSERT_FALSE(gone.ok());
  EXPECT_NE(
      gone.message().find("model 'tiny:latest' not found; the store (" + root_ + ") holds: copy:1"),
      std::string::npos)
      << gone.message();
}

TEST_F(StoreOnDisk, PartialDownloadsAndLooseFilesAreNeverListed) {
  ModelStore store(root_);
  // What a pull in progress leaves, what fetch_model.sh leaves, and a stray directory.
  fs::create_directories(root_ + "/.tmp/half%3Alatest.partial");
  std::ofstream(root_ + "/.tmp/half%3Alatest.partial/half.gguf") << "GGUF partial";
  fs::create_directories(root_ + "/.tmp/stage-0123");
  std::ofstream(root_ + "/.tmp/stage-0123/manifest.json") << "{}";
  std::ofstream(root_ + "/SmolLM2-135M-Instruct.Q4_1.gguf") << "loose";
  fs::create_directories(root_ + "/nomanifest%3Alatest");
  EXPECT_TRUE(store.list().empty());
  EXPECT_FALSE(store.find("half").ok());
  // A manifest naming another model than its directory is not trusted.
  fs::create_directories(root_ + "/liar%3Alatest");
  Manifest m;
  m.name = "other:latest";
  m.file = "x.gguf";
  std::ofstream(root_ + "/liar%3Alatest/manifest.json") << m.to_json().dump();
  EXPECT_TRUE(store.list().empty());
}

TEST_F(StoreOnDisk, ImportRefusesWhatKilnCannotRun) {
  ModelStore store(root_);
  const std::string mamba = write_gguf("mamba.gguf", "mamba");
  auto refused = store.pull(mamba, nullptr, nullptr);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.message().find(
                "kiln cannot run architecture 'mamba' (supported: llama, qwen2, qwen3, gemma3)"),
            std::string::npos)
      << refused.message();
  std::ofstream(work_ + "/text.gguf") << "not a gguf at all, just text";
  auto not_gguf = store.pull(work_ + "/text.gguf", nullptr, nullptr);
  ASSERT_FALSE(not_gguf.ok());
  EXPECT_TRUE(store.list().empty());
  // Nothing half-made stays behind.
  if (fs::exists(store.tmp_dir())) {
    for (const auto& e : fs::directory_iterator(store.tmp_dir())) ADD_FAILURE() << e.path();
  }
}

TEST_F(StoreOnDisk, PullOfALocalFileImportsIt) {
  ModelStore store(root_);
  const std::string gguf = write_gguf("Local.Q4_1.gguf");
  std::vector<std::string> statuses;
  auto m = store.pull(
      gguf, [&](const PullProgress& p) { statuses.push_back(p.status); }, nullptr);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->name, "Local.Q4_1:latest");
  EXPECT_EQ(statuses.back(), "success");
  auto found = store.find("Local.Q4_1");
  ASSERT_TRUE(found.ok());
  auto a = sha256_file(gguf), b = sha256_file(found->gguf_path);
  EXPECT_EQ(*a, *b);
  // Pulling again replaces it in one exchange of directories.
  auto again = store.pull(gguf, nullptr, nullptr);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(store.list().size(), 1u);
}

TEST_F(StoreOnDisk, CreateErrors) {
  ModelStore store(root_);
  auto bad = store.create("x", "FROM nothing-here\n", work_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(
                "Modelfile FROM 'nothing-here' is neither a file nor a model in the store"),
            std::string::npos)
      << bad.message();
  auto syntax = store.create("x", "FROM a\nPARAMETER top_k many\n", work_);
  EXPECT_EQ(syntax.message(), "Modelfile line 2, column 17: top_k expects an integer, got 'many'");
  write_gguf("t.gguf");
  auto tmpl = store.create("x", "FROM t.gguf\nTEMPLATE \"{% if %}\"\n", work_);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_NE(tmpl.message().find("Modelfile TEMPLATE:"), std::string::npos);
  EXPECT_TRUE(store.list().empty());
}

TEST_F(StoreOnDisk, ResolverTakesPathsAndNames) {
  ModelStore store(root_);
  const std::string gguf = write_gguf("r.gguf");
  auto as_path = resolve_model(gguf, store);
  ASSERT_TRUE(as_path.ok());
  EXPECT_EQ(as_path->gguf_path, gguf);
  EXPECT_FALSE(as_path->from_store);
  ASSERT_TRUE(store.create("r:v1", "FROM " + gguf + "\n", work_).ok());
  auto as_name = resolve_model("r:v1", store);
  ASSERT_TRUE(as_name.ok()) << as_name.message();
  EXPECT_TRUE(as_name->from_store);
  EXPECT_TRUE(fs::exists(as_name->gguf_path));
  auto unknown = resolve_model("r:v2", store);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(
      unknown.message(),
      "'r:v2' is neither a file nor a model in the store: model 'r:v2' not found; the store (" +
          root_ + ") holds: r:v1");
  auto typo = resolve_model("./missing file.gguf", store);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.message().find("./missing file.gguf: no such file"), std::string::npos);
}

TEST_F(StoreOnDisk, DefaultRootFollowsKilnHome) {
  const char* old = std::getenv("KILN_HOME");
  std::string saved = old ? old : "";
  setenv("KILN_HOME", "/some/where", 1);
  EXPECT_EQ(ModelStore::default_root(), "/some/where/models");
  if (old) {
    setenv("KILN_HOME", saved.c_str(), 1);
  } else {
    unsetenv("KILN_HOME");
  }
}

}  // namespace
}  // namespace kiln::store
