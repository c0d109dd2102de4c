"""RandWire-WS, small regime (Xie, Kirillov, Girshick, He, "Exploring Randomly
Wired Neural Networks for Image Recognition", ICCV 2019, Table 1 and §3).

- Random graphs: Watts-Strogatz WS(N=32, K=4, P=0.75), made a DAG by
  orienting every edge from the lower to the higher node index; one random
  graph per stage (conv3, conv4, conv5) from a seeded generator written here.
- Node: weighted sum of its inputs with weights sigmoid(w) (the learned w are
  seeded here; the sigmoid is folded into constant Mul scales; a node with a
  single input needs no Mul, its positive scale is folded into the following
  depthwise weights since ReLU commutes with it), then ReLU, 3x3 separable
  convolution (depthwise 3x3 + pointwise 1x1), BN (folded).
- Nodes without inputs read the stage input with stride 2; the stage output is
  the (unweighted) mean of the nodes without outputs.
- Small regime, C=78, 224x224: conv1 3x3 stride 2 to C/2 (BN); conv2 ReLU, 3x3
  stride 2 to C (BN); conv3/conv4/conv5 random stages with C, 2C, 4C channels
  at 28, 14, 7; classifier ReLU, 1x1 conv to 1280 (BN), ReLU, global average
  pool, fully connected to 1000. Published: 5.6M parameters, 583M FLOPs
  (multiply-adds).
- randwire_ws_c78_32 (our CIFAR-size variant; the paper has none): the same
  network on 32x32 inputs with conv1 and conv2 at stride 1, so the stages run
  at 16, 8, 4, and 10 classes.
"""
import numpy as np

from .builder import Builder


def watts_strogatz(n, k, p, seed):
  """Undirected WS graph as a set of (low, high) edges: a ring lattice where
  each node links to its k/2 neighbours on each side, then every lattice edge
  (u, u+j), j = 1..k/2 in that order, is rewired with probability p to
  (u, w) for a uniformly chosen w that is neither u nor already a neighbour."""
  rng = np.random.RandomState(seed)
  adj = [set() for _ in range(n)]
  for u in range(n):
    for j in range(1, k // 2 + 1):
      v = (u + j) % n
      adj[u].add(v)
      adj[v].add(u)
  for j in range(1, k // 2 + 1):
    for u in range(n):
      v = (u + j) % n
      if v not in adj[u] or rng.random_sample() >= p:
        continue
      if len(adj[u]) >= n - 1:
        continue
      w = rng.randint(n)
      while w == u or w in adj[u]:
        w = rng.randint(n)
      adj[u].discard(v)
      adj[v].discard(u)
      adj[u].add(w)
      adj[w].add(u)
  return sorted({(min(u, v), max(u, v)) for u in range(n) for v in adj[u]})


def random_stage(b, x, cout, edges, n, name):
  preds = [[] for _ in range(n)]
  succs = [[] for _ in range(n)]
  for u, v in edges:
    preds[v].append(u)
    succs[u].append(v)
  outs = {}
  for node in range(n):
    nn = "%s/node%d" % (name, node)
    if preds[node]:
      ins = [outs[p] for p in sorted(preds[node])]
      stride = 1
    else:
      ins = [x]
      stride = 2
    if len(ins) == 1:
      agg = ins[0]
    else:
      w = b.rng.standard_normal(len(ins))
      scales = 1.0 / (1.0 + np.exp(-w))
      terms = [b.mul_const(t, float(s), name="%s/weight%d" % (nn, i))
               for i, (t, s) in enumerate(zip(ins, scales))]
      agg = b.sum(terms, name=nn + "/sum")
    h = b.relu(agg, nn + "/relu")
    cin = b.channels(h)
    h = b.conv(h, cin, 3, stride, 1, groups=cin, bias=False,
               name=nn + "/sep_conv/depthwise")
    outs[node] = b.conv(h, cout, 1, 1, 0, name=nn + "/sep_conv/pointwise")
  sinks = [outs[v] for v in range(n) if not succs[v]]
  if len(sinks) == 1:
    return sinks[0]
  return b.mean(sinks, name=name + "/output_mean")


def build(size):
  c, n, k, p = 78, 32, 4, 0.75
  imagenet = size == 224
  name = "randwire_ws_c78_%d" % size
  b = Builder(name, seed=400 + size)
  x = b.input("input", [1, 3, size, size])
  stem_stride = 2 if imagenet else 1
  h = b.conv(x, c // 2, 3, stem_stride, 1, name="conv1")
  h = b.relu(h, "conv2/relu")
  h = b.conv(h, c, 3, stem_stride, 1, name="conv2/conv")
  for stage, (mult, seed) in enumerate(((1, 1), (2, 2), (4, 3))):
    edges = watts_strogatz(n, k, p, seed)
    h = random_stage(b, h, c * mult, edges, n, "conv%d" % (stage + 3))
  h = b.relu(h, "classifier/relu")
  h = b.conv(h, 1280, 1, 1, 0, name="classifier/conv")
  h = b.relu(h, "classifier/relu_2")
  h = b.global_avgpool(h, "classifier/pool")
  h = b.flatten(h, "classifier/flatten")
  b.output(b.gemm(h, 1000 if imagenet else 10, "classifier/fc"))
  return b.model(doc=__doc__)
