// tests/test_module.cpp — nn/module.cpp: Module, StateDict, Sequential, ModuleList.
//
// Hierarchical names and their order, buffers, parameter counts, zero_grad, train/eval reaching
// every child, state_dict round trips, strict and non-strict loads (and that a failed load changes
// nothing), name validation, and the printed tree.
#include <memory>
#include <string>
#include <vector>

#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "tests/helpers.h"

using namespace tessera;
using namespace tessera::testing;

namespace {

// A scale parameter, an MLP child, a dropout child and a buffer:
//   scale           [2]
//   net.0.weight    [4, 3]   net.0.bias [4]
//   (net.1 is ReLU)
//   net.2.weight    [2, 4]   net.2.bias [2]
//   count           [1]      (buffer)
struct Net : nn::Module {
  Net() : Module("Net") {
    scale = register_parameter("scale", full({2}, 1.5));
    net = register_module("net", std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::UnaryModule>>{
                                     std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::ReLU>(),
                                     std::make_shared<nn::Linear>(4, 2)}));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.5));
    count = register_buffer("count", zeros({1}));
  }
  Tensor forward(const Tensor& x) { return drop->forward(net->forward(x)) * scale; }
  nn::Linear& first() { return static_cast<nn::Linear&>(*(*net)[0]); }
  nn::Linear& last() { return static_cast<nn::Linear&>(*(*net)[2]); }

  Tensor scale, count;
  std::shared_ptr<nn::Sequential> net;
  std::shared_ptr<nn::Dropout> drop;
};

// Exposes the protected registration functions so the tests can misuse them.
struct Open : nn::Module {
  Open() : Module("Open") {}
  using Module::register_buffer;
  using Module::register_parameter;
  template <class M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> m) {
    return register_module(name, m);
  }
};

std::vector<std::string> names_of(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) out.push_back(item.first);
  return out;
}

std::vector<std::string> names_of(const nn::StateDict& state) {
  std::vector<std::string> out;
  for (const auto& item : state) out.push_back(item.first);
  return out;
}

// A deep copy of every tensor's values, to see later whether anything changed.
std::vector<std::vector<scalar_t>> snapshot(const nn::Module& m) {
  std::vector<std::vector<scalar_t>> out;
  for (const auto& [name, t] : m.state_dict()) out.push_back(t.to_vector());
  return out;
}

// A state dict with fresh copies of m's tensors (not aliases).
nn::StateDict copied_state(const nn::Module& m) {
  nn::StateDict out;
  for (const auto& [name, t] : m.state_dict()) out.insert(name, from_vector(t.to_vector(), t.shape()));
  return out;
}

bool contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return true;
  MESSAGE("'" << needle << "' not found in:\n" << text);
  return false;
}

}  // namespace

// ---------------- names, order, counts ----------------

TEST_CASE("module: nested modules get hierarchical names in registration order") {
  Net m;
  const std::vector<std::string> expected = {"scale", "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias"};
  CHECK(names_of(m.named_parameters()) == expected);
  // parameters() is the same list, and the handles are the modules' own members
  const std::vector<Tensor> params = m.parameters();
  REQUIRE(params.size() == 5);
  CHECK(params[0].same(m.scale));
  CHECK(params[1].same(m.first().weight));
  CHECK(params[2].same(m.first().bias));
  CHECK(params[3].same(m.last().weight));
  CHECK(params[4].same(m.last().bias));
  for (const Tensor& p : params) CHECK(p.requires_grad());
  CHECK(params[1].shape() == Shape{4, 3});
  CHECK(params[3].shape() == Shape{2, 4});
  // children in order, with their names
  REQUIRE(m.children().size() == 2);
  CHECK(m.children()[0].first == "net");
  CHECK(m.children()[1].first == "drop");
  CHECK(m.children()[0].second.get() == m.net.get());
  REQUIRE(m.net->children().size() == 3);
  CHECK(m.net->children()[1].first == "1");
  CHECK(m.net->children()[1].second->type_name() == "ReLU");
}

TEST_CASE("module: buffers are in state_dict but not among the parameters") {
  Net m;
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"count"});
  CHECK(m.named_buffers()[0].second.same(m.count));
  CHECK_FALSE(m.count.requires_grad());
  for (const auto& [name, t] : m.named_parameters()) CHECK(name != "count");
  const nn::StateDict state = m.state_dict();
  CHECK(names_of(state) ==
        std::vector<std::string>{"scale", "net.0.weight", "net.0.bias", "net.2.weight", "net.2.bias", "count"});
  CHECK(state.at("count").same(m.count));
  CHECK(state.at("net.2.weight").same(m.last().weight));
  CHECK(throws_with([&] { (void)state.at("net.1.weight"); }, "net.1.weight"));
}

TEST_CASE("module: num_parameters sums the parameters' sizes, not the buffers'") {
  Net m;
  // scale 2, Linear(3, 4): 12 + 4, Linear(4, 2): 8 + 2
  CHECK(m.num_parameters() == 2 + 16 + 10);
  CHECK(m.net->num_parameters() == 26);
  CHECK(nn::Linear(5, 7).num_parameters() == 42);
  CHECK(nn::Linear(5, 7, false).num_parameters() == 35);
  CHECK(nn::ReLU().num_parameters() == 0);
}

TEST_CASE("module: ModuleList names its items 0, 1, ... under the list's own name") {
  struct Stack : nn::Module {
    Stack() : Module("Stack") {
      layers = register_module("layers", std::make_shared<nn::ModuleList<nn::Linear>>());
      layers->push_back(std::make_shared<nn::Linear>(2, 3));
      layers->push_back(std::make_shared<nn::Linear>(3, 1, false));
    }
    std::shared_ptr<nn::ModuleList<nn::Linear>> layers;
  } m;
  CHECK(names_of(m.named_parameters()) ==
        std::vector<std::string>{"layers.0.weight", "layers.0.bias", "layers.1.weight"});
  REQUIRE(m.layers->size() == 2);
  CHECK((*m.layers)[1]->out_features == 1);
  CHECK(m.named_parameters()[2].second.same((*m.layers)[1]->weight));
  int n = 0;
  for (const auto& layer : *m.layers) n += static_cast<int>(layer->in_features);
  CHECK(n == 5);
  CHECK(m.layers->children()[0].first == "0");
  CHECK(m.layers->children()[1].first == "1");
}

// ---------------- gradients ----------------

TEST_CASE("module: zero_grad drops every parameter's gradient, in children too") {
  Net m;
  m.eval();
  m.forward(randn({5, 3})).sum().backward();
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(name);
    CHECK(p.grad().defined());
  }
  m.zero_grad();
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(name);
    CHECK_FALSE(p.grad().defined());
  }
}

TEST_CASE("module: gradients reach every parameter of a nested module (gradcheck)") {
  // The function ignores its arguments: gradcheck nudges the parameters in place, so the module
  // sees the nudged values.
  struct Tower : nn::Module {
    Tower() : Module("Tower") {
      body = register_module("body", std::make_shared<nn::Sequential>());
      body->push_back(std::make_shared<nn::Linear>(3, 4));
      body->push_back(std::make_shared<nn::Tanh>());
      body->push_back(std::make_shared<nn::Linear>(4, 2));
    }
    std::shared_ptr<nn::Sequential> body;
  };
  manual_seed(11);
  auto m = std::make_shared<Tower>();
  const Tensor x = uniform({3, 3}, -1, 1);
  CHECK_GRAD([m, x](auto&) { return m->body->forward(x); }, m->parameters());
}

// ---------------- train / eval ----------------

TEST_CASE("module: train() and eval() reach every child, and Dropout follows them") {
  Net m;
  CHECK(m.is_training());
  m.eval();
  CHECK_FALSE(m.is_training());
  CHECK_FALSE(m.net->is_training());
  CHECK_FALSE((*m.net)[1]->is_training());
  CHECK_FALSE(m.drop->is_training());
  const Tensor h = uniform({64, 2}, 1, 2);
  CHECK(m.drop->forward(h).same(h));  // eval: the input itself

  m.train();
  CHECK(m.is_training());
  CHECK((*m.net)[2]->is_training());
  CHECK(m.drop->is_training());
  const Tensor y = m.drop->forward(h);
  int zeros_seen = 0;
  for (scalar_t v : y.to_vector()) zeros_seen += v == 0;
  CHECK(zeros_seen > 0);    // 128 draws at p = 0.5: all kept has probability 2^-128
  CHECK(zeros_seen < 128);

  m.train(false);
  CHECK_FALSE(m.drop->is_training());
  // a child switched alone does not switch its parent
  m.drop->train();
  CHECK_FALSE(m.is_training());
  CHECK(m.drop->is_training());
}

// ---------------- state_dict / load_state_dict ----------------

TEST_CASE("module: a state_dict loaded into a differently seeded model gives identical outputs") {
  manual_seed(1);
  Net a;
  manual_seed(2);
  Net b;
  a.eval();
  b.eval();
  {
    NoGradGuard no_grad;
    Tensor ca = a.count, cb = b.count;
    ca.fill_(7);
    cb.fill_(0);
  }
  const Tensor x = uniform({4, 3}, -2, 2);
  CHECK(a.forward(x).to_vector() != b.forward(x).to_vector());

  const Tensor b_weight = b.first().weight;  // handles must survive the load
  b.load_state_dict(a.state_dict());
  CHECK(a.forward(x).to_vector() == b.forward(x).to_vector());
  CHECK(b.first().weight.same(b_weight));
  CHECK(b.named_parameters()[1].second.same(b_weight));
  CHECK(b.count.item() == 7);  // buffers load too
  CHECK(b.first().weight.requires_grad());

  // the load copied values: changing a afterwards leaves b alone
  {
    NoGradGuard no_grad;
    Tensor w = a.first().weight;
    w.fill_(0);
  }
  CHECK_FALSE(a.forward(x).to_vector() == b.forward(x).to_vector());
  CHECK(b.first().weight.to_vector() != a.first().weight.to_vector());
}

TEST_CASE("module: a strict load lists missing, unexpected and mis-shaped names in one error") {
  manual_seed(3);
  Net a;
  manual_seed(4);
  Net b;
  nn::StateDict state;
  for (const auto& [name, t] : a.state_dict()) {
    if (name == "net.0.bias") continue;                                      // missing
    if (name == "net.2.weight") state.insert(name, zeros({4, 2}));           // transposed shape
    else if (name == "scale") state.insert(name, zeros({3}));                // wrong size
    else state.insert(name, t);
  }
  state.insert("net.3.weight", zeros({2, 2}));  // unexpected
  state.insert("extra", zeros({1}));            // unexpected
  const auto before = snapshot(b);
  std::string msg;
  try {
    b.load_state_dict(state);
  } catch (const Error& e) {
    msg = e.what();
  }
  REQUIRE_FALSE(msg.empty());
  CHECK(contains(msg, "Net"));
  CHECK(contains(msg, "missing"));
  CHECK(contains(msg, "net.0.bias"));
  CHECK(contains(msg, "unexpected"));
  CHECK(contains(msg, "net.3.weight"));
  CHECK(contains(msg, "extra"));
  CHECK(contains(msg, "shape"));
  CHECK(contains(msg, "net.2.weight"));
  CHECK(contains(msg, "[4, 2]"));  // the checkpoint's shape
  CHECK(contains(msg, "[2, 4]"));  // the model's shape
  CHECK(contains(msg, "scale"));
  CHECK(contains(msg, "strict=false"));
  // the names that do fit are not reported
  CHECK(msg.find("net.0.weight") == std::string::npos);
  CHECK(msg.find("net.2.bias") == std::string::npos);
  // and nothing was loaded, not even the entries that fit
  CHECK(snapshot(b) == before);
}

TEST_CASE("module: a strict load with only a missing or only an unexpected key fails and changes nothing") {
  manual_seed(5);
  Net a;
  manual_seed(6);
  Net b;
  const auto before = snapshot(b);
  nn::StateDict missing;
  for (const auto& [name, t] : a.state_dict())
    if (name != "count") missing.insert(name, t);
  CHECK(throws_with([&] { b.load_state_dict(missing); }, "count"));
  CHECK(snapshot(b) == before);

  nn::StateDict extra = a.state_dict();
  extra.insert("net.1.weight", zeros({1}));
  CHECK(throws_with([&] { b.load_state_dict(extra); }, "net.1.weight"));
  CHECK(snapshot(b) == before);
}

TEST_CASE("module: strict=false loads the matching keys only and ignores the rest") {
  manual_seed(7);
  Net a;
  manual_seed(8);
  Net b;
  const std::vector<scalar_t> b_first_weight = b.first().weight.to_vector();
  const std::vector<scalar_t> b_scale = b.scale.to_vector();
  nn::StateDict partial;
  partial.insert("net.2.weight", a.last().weight);
  partial.insert("net.2.bias", a.last().bias);
  partial.insert("decoder.weight", zeros({9}));  // unexpected: ignored
  b.load_state_dict(partial, /*strict=*/false);
  CHECK(b.last().weight.to_vector() == a.last().weight.to_vector());
  CHECK(b.last().bias.to_vector() == a.last().bias.to_vector());
  CHECK(b.first().weight.to_vector() == b_first_weight);  // missing: left as it was
  CHECK(b.scale.to_vector() == b_scale);
  CHECK(b.first().weight.to_vector() != a.first().weight.to_vector());

  // a mis-shaped entry is an error even when not strict, and nothing is loaded
  manual_seed(9);
  Net c;
  const auto before = snapshot(c);
  nn::StateDict bad;
  bad.insert("net.0.weight", a.first().weight);     // fits
  bad.insert("net.2.bias", zeros({3}));             // does not
  CHECK(throws_with([&] { c.load_state_dict(bad, false); }, "net.2.bias"));
  CHECK(snapshot(c) == before);
}

TEST_CASE("module: loading copies fresh tensors (not aliases) and preserves the state exactly") {
  manual_seed(10);
  Net a;
  Net b;
  b.load_state_dict(copied_state(a));
  const nn::StateDict sa = a.state_dict(), sb = b.state_dict();
  REQUIRE(sa.size() == sb.size());
  for (const auto& [name, t] : sa) {
    INFO(name);
    CHECK(sb.at(name).to_vector() == t.to_vector());
    CHECK_FALSE(sb.at(name).same(t));
  }
}

TEST_CASE("state_dict: insert keeps order and replaces an existing name") {
  nn::StateDict s;
  s.insert("b", zeros({1}));
  s.insert("a", ones({2}));
  s.insert("b", full({3}, 2));
  CHECK(s.size() == 2);
  CHECK(names_of(s) == std::vector<std::string>{"b", "a"});
  CHECK(s.at("b").shape() == Shape{3});
  CHECK(s.contains("a"));
  CHECK_FALSE(s.contains("c"));
  CHECK(throws_with([&] { (void)s.at("c"); }, "'c'"));
}

// ---------------- name validation ----------------

TEST_CASE("module: duplicate, empty and dotted names are rejected") {
  Open m;
  m.register_parameter("w", zeros({2}));
  CHECK(throws_with([&] { m.register_parameter("w", zeros({2})); }, "'w' is already registered"));
  CHECK(throws_with([&] { m.register_buffer("w", zeros({2})); }, "'w' is already registered"));
  CHECK(throws_with([&] { m.add("w", std::make_shared<nn::ReLU>()); }, "'w' is already registered"));
  m.add("child", std::make_shared<nn::ReLU>());
  CHECK(throws_with([&] { m.register_parameter("child", zeros({2})); }, "'child' is already registered"));
  m.register_buffer("buf", zeros({2}));
  CHECK(throws_with([&] { m.add("buf", std::make_shared<nn::ReLU>()); }, "'buf' is already registered"));
  CHECK(throws_with([&] { m.register_parameter("a.b", zeros({2})); }, "invalid name 'a.b'"));
  CHECK(throws_with([&] { m.register_buffer("", zeros({2})); }, "invalid name ''"));
  CHECK(throws_with([&] { m.add("x.y", std::make_shared<nn::ReLU>()); }, "invalid name"));
  CHECK(throws_with([&] { m.add("nothing", std::shared_ptr<nn::ReLU>()); }, "null"));
  // the failed registrations left nothing behind
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"w"});
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"buf"});
  CHECK(m.children().size() == 1);
}

TEST_CASE("module: register_parameter makes the tensor require grad; an undefined one is skipped") {
  Open m;
  Tensor w = m.register_parameter("w", zeros({3}));
  CHECK(w.requires_grad());
  m.register_parameter("maybe", Tensor());
  CHECK(names_of(m.named_parameters()) == std::vector<std::string>{"w"});
  CHECK(m.num_parameters() == 3);
  CHECK(throws_with([&] { m.register_parameter("maybe", zeros({1})); }, "already registered"));
}

// ---------------- printing ----------------

TEST_CASE("module: str() shows the tree with type names, child names and parameter counts") {
  Net m;
  const std::string s = m.str();
  CHECK(contains(s, "Net("));
  CHECK(contains(s, "# 28 parameters"));
  CHECK(contains(s, "(net): Sequential("));
  CHECK(contains(s, "# 26 parameters"));
  CHECK(contains(s, "(0): Linear(in_features=3, out_features=4, bias=true)"));
  CHECK(contains(s, "# 16 parameters"));
  CHECK(contains(s, "(1): ReLU()"));
  CHECK(contains(s, "(2): Linear(in_features=4, out_features=2, bias=true)"));
  CHECK(contains(s, "# 10 parameters"));
  CHECK(contains(s, "(drop): Dropout(p=0.5)"));
  // children are indented below their parent, in order
  CHECK(s.find("(net)") < s.find("(0)"));
  CHECK(s.find("(0)") < s.find("(1)"));
  CHECK(s.find("(2)") < s.find("(drop)"));
  CHECK(contains(s, "\n  (net)"));
  CHECK(contains(s, "\n    (0)"));
  // a module without parameters gets no count
  CHECK(s.find("ReLU()  #") == std::string::npos);
  CHECK(contains(nn::Linear(3, 2, false).str(), "Linear(in_features=3, out_features=2, bias=false)  # 6 parameters"));
}

// ---------------- Sequential ----------------

TEST_CASE("sequential: runs its modules in order and counts them") {
  auto first = std::make_shared<nn::Linear>(2, 2), second = std::make_shared<nn::Linear>(2, 1);
  {
    NoGradGuard no_grad;
    first->weight.copy_(from_vector({1, -1, 2, 0}, {2, 2}));
    first->bias.copy_(from_vector({0, -10}));
    second->weight.copy_(from_vector({1, 3}, {1, 2}));
    second->bias.copy_(from_vector({0.5}));
  }
  nn::Sequential seq({first, std::make_shared<nn::ReLU>(), second});
  CHECK(seq.size() == 3);
  CHECK(seq[0].get() == first.get());
  // x = [3, 1]: first -> [3 - 1, 6 - 10] = [2, -4]; relu -> [2, 0]; second -> 2 + 0 + 0.5
  CHECK(all_close(seq(from_vector({3, 1})), {2.5}));
  // order matters: without the ReLU the -4 passes through: 2 + 3 * -4 + 0.5
  nn::Sequential no_relu({first, second});
  CHECK(all_close(no_relu(from_vector({3, 1})), {-9.5}));
  // an empty Sequential is the identity
  nn::Sequential empty_seq;
  const Tensor x = randn({2, 2});
  CHECK(empty_seq(x).same(x));
}

TEST_CASE("a parameter shared by two modules (tied weights) is listed once, saved under both names") {
  Open m;
  auto a = m.add("a", std::make_shared<nn::Linear>(3, 3, false));
  auto b = m.add("b", std::make_shared<nn::Linear>(3, 3, false));
  Open tie;
  Tensor shared = tie.register_parameter("w", ones({3, 3}));
  Open outer;
  auto first = outer.add("first", std::make_shared<Open>());
  first->register_parameter("w", shared);
  auto second = outer.add("second", std::make_shared<Open>());
  second->register_parameter("w", shared);
  CHECK(names_of(outer.named_parameters()) == std::vector<std::string>{"first.w"});
  CHECK(outer.num_parameters() == 9);
  CHECK(names_of(outer.state_dict()) == std::vector<std::string>{"first.w", "second.w"});
  CHECK(m.parameters().size() == 2);  // distinct weights stay distinct
}
